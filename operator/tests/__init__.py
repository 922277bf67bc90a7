"""Tests of the operator (a package, so pytest does not name them after the stdlib operator module)."""
