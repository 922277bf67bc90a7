"""gridctl: the one command line for gridpipe. Every package's commands plug in through the `gridpipe.cli`
entry-point group; this package also registers the local stack as the `gridpipe.endpoints` resolver, so product
commands reach the local stack's services unless told otherwise."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from gridpipe_cli.demo import demo
from gridpipe_schemas.errors import run_with_one_line_errors

COMMAND_GROUP = "gridpipe.cli"


def gridctl() -> typer.Typer:
    """The gridctl application with every installed package's commands plugged in."""
    app = typer.Typer(help="gridpipe: streaming anomaly detection on Kafka and Flink.", no_args_is_help=True)
    app.command(name="demo")(demo)
    for entry in entry_points(group=COMMAND_GROUP):
        plugin = entry.load()
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=entry.name)
        else:
            app.command(name=entry.name)(plugin)
    return app


def main() -> None:
    run_with_one_line_errors(typer.main.get_command(gridctl()))


if __name__ == "__main__":
    main()
