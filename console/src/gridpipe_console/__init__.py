"""Web console that shows alerts live."""
