"""The error the stack raises: a GridpipeError (cause and fix, printed as one line) that comes from the stack."""

from __future__ import annotations

from gridpipe_schemas.errors import GridpipeError


class StackError(GridpipeError):
    """A failure of the local stack a user can act on. ``str()`` is a single line: what went wrong, then the fix."""
