"""`python -m gridpipe_console -f FILE ...`: the console without gridctl (how the local stack supervises it)."""

import typer

from gridpipe_console.cli import console
from gridpipe_schemas.errors import run_with_one_line_errors

app = typer.Typer(add_completion=False)
app.command()(console)
run_with_one_line_errors(typer.main.get_command(app))
