"""gridctl: the one command line for gridpipe. Every package's commands plug in through the `gridpipe.cli`
entry-point group; this package also registers the local stack as the `gridpipe.endpoints` resolver, so product
commands reach the local stack's services unless told otherwise."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from gridpipe_cli.demo import demo
from gridpipe_cli.warmup import warmup
from gridpipe_schemas.errors import GridpipeError, run_with_one_line_errors

COMMAND_GROUP = "gridpipe.cli"


def gridctl() -> typer.Typer:
    """The gridctl application with every installed package's commands plugged in."""
    app = typer.Typer(help="gridpipe: streaming anomaly detection on Kafka and Flink.", no_args_is_help=True)
    app.command(name="demo")(demo)
    app.command(name="warmup")(warmup)
    _plug_in(app)
    return app


def _plug_in(app: typer.Typer) -> None:
    """Each entry point is a command group (a Typer) or a command. A dotted name such as ``pipeline.sql`` adds the
    command ``sql`` to the group another package registered as ``pipeline``."""
    groups: dict[str, typer.Typer] = {"": app}
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name.count(".")):
        plugin = entry.load()
        group, _, name = entry.name.rpartition(".")
        if group not in groups:
            raise GridpipeError(
                f"the gridctl command {entry.name} ({entry.value}) belongs to no group named {group}",
                f"install the package whose gridpipe.cli entry point {group} defines the group",
            )
        if isinstance(plugin, typer.Typer):
            groups[group].add_typer(plugin, name=name)
            groups[entry.name] = plugin
        else:
            groups[group].command(name=name)(plugin)


def main() -> None:
    run_with_one_line_errors(typer.main.get_command(gridctl()))


if __name__ == "__main__":
    main()
