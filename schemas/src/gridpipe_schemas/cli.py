"""`gridctl schemas …`: register and inspect gridpipe's schemas."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridpipe_schemas.catalog import AVRO_NAMES, JSON_NAMES, avro, json_schema
from gridpipe_schemas.registry import RegistryError, SchemaRegistry
from gridpipe_schemas.subjects import PipelineKind, subjects_for

app = typer.Typer(help="Event schemas and their registration in the schema registry.", no_args_is_help=True)
console = Console(soft_wrap=True)

RegistryUrl = Annotated[
    str | None,
    typer.Option("--schema-registry-url", help="Confluent-compatible API; default: the local stack's registry."),
]


def _default_registry_url() -> str:
    from gridpipe_stack.config import StackConfig

    return StackConfig.from_env().registry_url


@app.command()
def register(
    kind: Annotated[list[PipelineKind] | None, typer.Option("--kind", help="grid, rocket; default both.")] = None,
    schema_registry_url: RegistryUrl = None,
) -> None:
    """Register every schema with BACKWARD compatibility. Idempotent."""
    url = schema_registry_url or _default_registry_url()
    table = Table(title=f"schemas in {url}")
    for column in ("subject", "id", "version", ""):
        table.add_column(column)
    try:
        with SchemaRegistry(url) as registry:
            for pipeline_kind in kind or list(PipelineKind):
                for done in registry.register_all(subjects_for(pipeline_kind)):
                    table.add_row(
                        done.subject,
                        str(done.schema_id),
                        str(done.version),
                        "registered" if done.created else "unchanged",
                    )
    except RegistryError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(2) from error
    console.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help=f"One of {', '.join(AVRO_NAMES)}")],
    json_form: Annotated[bool, typer.Option("--json", help="The JSON Schema form (rocket records).")] = False,
) -> None:
    """Print a self-contained schema."""
    if json_form and name not in JSON_NAMES:
        raise typer.BadParameter(f"{name} has no JSON Schema form; those that do: {', '.join(JSON_NAMES)}")
    doc = json_schema(name) if json_form else avro(name)
    console.print_json(json.dumps(doc.parsed))
