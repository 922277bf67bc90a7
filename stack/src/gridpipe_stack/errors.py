"""The one error type the stack raises: a cause and a fix, printed as one line."""

from __future__ import annotations


class StackError(Exception):
    """A failure a user can act on. ``str()`` is a single line: what went wrong, then how to fix it."""

    def __init__(self, cause: str, fix: str, detail: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.cause} -- fix: {self.fix}"
