"""`gridpipe-operator run` (and `gridctl operator run`): run the operator against the current kubeconfig's cluster."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The GridPipeline operator (kopf).", no_args_is_help=True)


@app.callback()
def operator() -> None:
    """The GridPipeline operator: reconciles GridPipelines into KafkaTopics, a FlinkDeployment and storage."""


@app.command()
def run(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or in-cluster.")
    ] = None,
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Watch only these namespaces; default: all.")
    ] = None,
    health_port: Annotated[int, typer.Option(help="Liveness endpoint port (/healthz).")] = 8080,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port (/metrics); 0: off.")] = 9090,
    peering: Annotated[
        str | None,
        typer.Option(help="Peering name: replicas with the same name elect one active operator. Default: standalone."),
    ] = None,
    priority: Annotated[
        int | None, typer.Option(help="Peering priority; default: random, so ties are unlikely.")
    ] = None,
    json_logs: Annotated[bool, typer.Option("--json-logs/--text-logs", help="One JSON object per log line.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the operator until interrupted."""
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise typer.BadParameter(f"{kubeconfig} does not exist", param_hint="--kubeconfig")
        # before the client library is imported: it reads $KUBECONFIG once, at import
        os.environ["KUBECONFIG"] = str(kubeconfig.resolve())
    import kopf

    import gridpipe_operator.main  # noqa: F401 -- registers the handlers
    from gridpipe_operator import metrics
    from gridpipe_operator.settings import Settings, SettingsInvalid

    try:
        Settings.from_env()
    except SettingsInvalid as invalid:
        raise typer.BadParameter(str(invalid)) from invalid
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.PLAIN)
    logging.getLogger("gridpipe_operator").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if metrics_port:
        metrics.serve(metrics_port)
    chosen_priority = priority if priority is not None else random.randint(1, 2**31 - 1)  # noqa: S311 -- tie-break
    kopf.run(
        clusterwide=not namespace,
        namespaces=namespace or (),
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
        standalone=peering is None,
        peering_name=peering,
        priority=chosen_priority,
        memo=kopf.Memo(namespaces=tuple(namespace or ()), peering=peering, priority=chosen_priority),
    )


def main() -> None:
    from typer.main import get_command

    get_command(app).main(prog_name="gridpipe-operator")
