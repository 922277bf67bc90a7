"""The error every gridpipe package raises for a failure a user can act on, and how a command line reports it."""

from __future__ import annotations

import sys
from typing import Any


class GridpipeError(Exception):
    """A failure a user can act on. ``str()`` is a single line: what went wrong, then how to fix it."""

    def __init__(self, cause: str, fix: str, detail: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.cause} -- fix: {self.fix}"


def run_with_one_line_errors(command: Any) -> None:
    """Run a click command so that bad flags and GridpipeErrors end in one line naming the problem, and exit code 2."""
    from rich.console import Console
    from typer._click.exceptions import ClickException  # typer vendors click
    from typer.exceptions import Abort

    try:
        code = command.main(standalone_mode=False)
    except ClickException as error:
        print(f"error: {error.format_message()} (see --help)", file=sys.stderr)
        sys.exit(2)
    except Abort:
        sys.exit(130)
    except GridpipeError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
