"""`gridctl stack …` and `gridctl smoke`: the local stack's commands, plugged into gridctl by entry point."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridpipe_stack import stack as local_stack
from gridpipe_stack.config import StackConfig
from gridpipe_stack.credentials import secrets_dir
from gridpipe_stack.errors import StackError
from gridpipe_stack.java import find_java
from gridpipe_stack.kube.cluster import cluster_of
from gridpipe_stack.kube.provision import provision_kube
from gridpipe_stack.provision import provision as provision_components
from gridpipe_stack.services import service_urls

stack_app = typer.Typer(
    help="The real local services (Kafka, Apicurio, InfluxDB, SeaweedFS, Flink, Prometheus, Alertmanager) as plain "
    "processes.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

StackName = Annotated[str | None, typer.Option("--name", help="Stack name (its run directory); env GRIDPIPE_STACK.")]
WithK8s = Annotated[
    bool, typer.Option("--with-k8s", help="Also a Kubernetes API (etcd + kube-apiserver with the CRDs; no kubelet).")
]


def _fail(error: StackError) -> None:
    if error.detail:
        err_console.print(error.detail, style="dim", highlight=False, markup=False, soft_wrap=True)
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _echo(message: str) -> None:
    console.print(message, highlight=False)


@stack_app.command()
def provision(
    verify: Annotated[bool, typer.Option(help="Re-hash every cached file.")] = False, with_k8s: WithK8s = False
) -> None:
    """Download and verify every pinned component into the cache (nothing to do when present)."""
    cfg = StackConfig.from_env()
    try:
        provision_components(cfg.cache_dir, find_java(), _echo, rehash=verify)
        if with_k8s:
            provision_kube(cfg.cache_dir, _echo)
    except StackError as error:
        _fail(error)
    _echo(f"all components present and verified in {cfg.cache_dir}")


@stack_app.command()
def up(name: StackName = None, with_k8s: WithK8s = False) -> None:
    """Start the stack (idempotent): each service is checked ready before the next starts."""
    cfg = StackConfig.from_env(name)
    _echo(f"stack '{cfg.name}': run directory {cfg.run_dir}")
    try:
        local_stack.up(cfg, _echo, with_k8s=with_k8s)
    except StackError as error:
        _fail(error)
    _echo(
        f"logs: {cfg.logs_dir}    Flink UI: {cfg.flink_url}    Prometheus: {cfg.prometheus_url}    "
        f"Alertmanager: {cfg.alertmanager_url}    InfluxDB: {cfg.influxdb_url}    S3: {cfg.s3_endpoint}"
    )
    if with_k8s:
        _echo(f"Kubernetes API: export KUBECONFIG={cluster_of(cfg).kubeconfig}   (then kubectl get crds)")
    _echo(
        "a TaskManager and broker that have just started are cold, and a new pipeline's alerts come seconds late in "
        "its first minute: `gridctl warmup` compiles the alert path first (about 40 s; `make up` runs it)"
    )


@stack_app.command()
def down(
    name: StackName = None,
    delete_data: Annotated[
        bool,
        typer.Option(help="Also delete the stack's data (Kafka topics, archive, InfluxDB, checkpoints); keeps logs"),
    ] = False,
) -> None:
    """Stop every service and verify that no process of the stack is left."""
    cfg = StackConfig.from_env(name)
    report = local_stack.down(cfg, _echo, delete_data=delete_data)
    if report.killed_leftovers:
        _echo(
            f"also stopped {len(report.killed_leftovers)} process(es) of the stack running outside the supervisor "
            f"(such as demo generators): {report.killed_leftovers}"
        )
    _echo(f"stack '{cfg.name}' is down; no process left behind (checked) in {report.seconds:.1f}s")
    if delete_data:
        _echo(f"deleted its data in {cfg.data_dir}; the next `gridctl stack up` starts empty")


@stack_app.command()
def status(name: StackName = None) -> None:
    """Show each service's state, pid, uptime and log."""
    cfg = StackConfig.from_env(name)
    processes = local_stack.status(cfg)
    if not processes:
        _echo(f"stack '{cfg.name}' is not running (run directory {cfg.run_dir})")
        raise typer.Exit(1)
    table = Table(title=f"stack '{cfg.name}'")
    for column in ("service", "state", "pid", "uptime", "log"):
        table.add_column(column)
    for p in processes:
        table.add_row(p.name, p.state, str(p.pid or "-"), f"{p.uptime:.0f}s", str(p.log))
    console.print(table)
    for service, url in service_urls(cfg).items():
        _echo(f"{service:<18} {url}")
    _echo(f"credentials (InfluxDB token, S3 keys): {secrets_dir(cfg)} (mode 0600)")
    if any(p.name == "kube-apiserver" for p in processes):
        _echo(f"Kubernetes API {cluster_of(cfg).server}  export KUBECONFIG={cluster_of(cfg).kubeconfig}")


@stack_app.command("stop-service")
def stop_service(
    service: Annotated[str, typer.Argument(help="influxdb, seaweedfs, kafka, apicurio, flink-taskmanager, ...")],
    name: StackName = None,
) -> None:
    """Stop one service of the running stack (to try failure handling); `start-service` brings it back."""
    cfg = StackConfig.from_env(name)
    try:
        local_stack.stop_service(cfg, service)
    except StackError as error:
        _fail(error)
    _echo(f"{service} stopped")


@stack_app.command("start-service")
def start_service(service: Annotated[str, typer.Argument(help="A stopped service.")], name: StackName = None) -> None:
    """Start one stopped service of the running stack again and wait until it is ready."""
    cfg = StackConfig.from_env(name)
    try:
        took = local_stack.start_service(cfg, service, _echo)
    except StackError as error:
        _fail(error)
    _echo(f"{service} ready in {took:.1f}s")


@stack_app.command()
def logs(
    service: Annotated[
        str,
        typer.Argument(
            help="kafka, apicurio, influxdb, seaweedfs, flink-jobmanager, flink-taskmanager, prometheus, "
            "alertmanager, console, etcd, kube-apiserver, kube-controller-manager"
        ),
    ],
    lines: Annotated[int, typer.Option("-n", help="How many lines.")] = 50,
    follow: Annotated[bool, typer.Option("-f", help="Keep printing as the log grows.")] = False,
    name: StackName = None,
) -> None:
    """Print a service's log."""
    cfg = StackConfig.from_env(name)
    log = cfg.logs_dir / f"{service}.log"
    if not log.is_file():
        known = sorted(p.stem for p in cfg.logs_dir.glob("*.log")) if cfg.logs_dir.is_dir() else []
        _fail(StackError(f"no log for '{service}' in {cfg.logs_dir}", f"pick one of: {', '.join(known) or 'none yet'}"))
    command = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(log)]
    raise typer.Exit(subprocess.call(command))


def smoke(
    records: Annotated[int, typer.Option(help="How many readings to send through.")] = 1000,
    name: StackName = None,
) -> None:
    """Run the smoke pipeline: Avro readings -> Kafka -> Flink SQL (flags surges) -> Kafka, and read them back."""
    from gridpipe_jobs import flinkrest
    from gridpipe_stack import smoke as smoke_pipeline

    cfg = StackConfig.from_env(name)
    topics = smoke_pipeline.SmokeTopics()
    try:
        job_id = smoke_pipeline.run_smoke_job(cfg, topics)
        flinkrest.wait_for_state(cfg.flink_url, job_id, "RUNNING")
        readings = smoke_pipeline.sample_readings(records)
        start = smoke_pipeline.end_offsets(cfg, topics.sink)
        schema_id = smoke_pipeline.produce_readings(cfg, topics.source, readings)
        _echo(f"sent {records} Avro readings to '{topics.source}' (registry schema id {schema_id})")
        flagged = sum(1 for r in smoke_pipeline.consume_avro(cfg, topics.sink, records, start=start) if r["high"])
    except StackError as error:
        _fail(error)
    _echo(f"Flink job {job_id} flagged {flagged} surges in '{topics.sink}'")
    _echo(
        f"watch it: {cfg.flink_url}/#/job/running/{job_id}/overview   "
        f"metrics: {cfg.prometheus_url}/graph?g0.expr=flink_taskmanager_job_task_numRecordsIn"
    )


@stack_app.command()
def lock() -> None:
    """Regenerate the artifact lock from versions.py (maintainers, after changing a pin)."""
    from gridpipe_stack.lockgen import generate

    try:
        generate(_echo)
    except StackError as error:
        _fail(error)
