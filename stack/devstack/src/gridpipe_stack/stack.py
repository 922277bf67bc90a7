"""The local stack as a whole: provision, start in order, report, stop and prove nothing is left."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.java import find_java
from gridpipe_stack.kube.provision import KubeInstallation, provision_kube
from gridpipe_stack.kube.services import kube_services
from gridpipe_stack.provision import provision
from gridpipe_stack.services import Service, plan_services
from gridpipe_stack.supervise import ProcessState, Supervisor, check_ports_free, reap_leftovers

Echo = Callable[[str], None]


def _timeout_scale() -> float:
    raw = os.environ.get("GRIDPIPE_READY_TIMEOUT_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError as exc:
        raise StackError(f"GRIDPIPE_READY_TIMEOUT_SCALE={raw!r} is not a number", "set it to e.g. 2") from exc
    if scale <= 0:
        raise StackError(f"GRIDPIPE_READY_TIMEOUT_SCALE={raw!r} must be positive", "set it to e.g. 2")
    return scale


def scaled(services: list[Service]) -> list[Service]:
    scale = _timeout_scale()
    return [replace(s, ready_timeout=s.ready_timeout * scale) for s in services]


def plan(cfg: StackConfig, echo: Echo = print, kube: KubeInstallation | None = None) -> list[Service]:
    java = find_java()
    installation = provision(cfg.cache_dir, java, echo)
    services = plan_services(cfg, installation, java)
    if kube:
        services += kube_services(cfg, kube)
    return scaled(services)


def up(cfg: StackConfig, echo: Echo = print, *, with_k8s: bool = False) -> list[Service]:
    """Start every service not already running, in order, each ready before the next. Idempotent.

    ``with_k8s`` adds etcd, kube-apiserver (ready once the CRDs are Established) and kube-controller-manager.
    """
    services = plan(cfg, echo, provision_kube(cfg.cache_dir, echo) if with_k8s else None)
    start(cfg, services, echo)
    return services


def start(cfg: StackConfig, services: list[Service], echo: Echo = print) -> None:
    """Start ``services`` under the stack's supervisord (started first if need be), each ready before the next."""
    supervisor = Supervisor(cfg)
    if not supervisor.running():
        # Leftovers of a stack whose supervisord was killed would hold the ports; they are ours to clear.
        if killed := reap_leftovers(str(cfg.run_dir)):
            echo(f"cleared {len(killed)} process(es) left by an earlier run of stack '{cfg.name}'")
        check_ports_free(services)
        supervisor.start_daemon(services)
    elif missing := [s.name for s in services if s.name not in supervisor.start_order()]:
        raise StackError(
            f"stack '{cfg.name}' is running without {', '.join(missing)}",
            "restart it with the options you want: `gridctl stack down && gridctl stack up [--with-k8s]`",
        )
    for svc in services:
        took = supervisor.start(svc)
        echo(f"{svc.name:<23} ready in {took:5.1f}s  {svc.url}")


@dataclass(frozen=True)
class DownReport:
    stopped: list[str]
    killed_leftovers: list[int]
    seconds: float


def down(cfg: StackConfig, echo: Echo = print, *, delete_data: bool = False) -> DownReport:
    """Stop every service in reverse order, stop supervisord, and kill anything of ours that survived; then, if
    asked, delete the services' data (only once nothing can still be writing it)."""
    began = time.monotonic()
    supervisor = Supervisor(cfg)
    stopped: list[str] = []
    if supervisor.running():
        order = list(reversed(supervisor.start_order()))
        supervisor.shutdown(order, echo)
        stopped = order
    leftovers = reap_leftovers(str(cfg.run_dir))
    if delete_data:
        shutil.rmtree(cfg.data_dir, ignore_errors=True)
    return DownReport(stopped, leftovers, time.monotonic() - began)


def status(cfg: StackConfig) -> list[ProcessState]:
    supervisor = Supervisor(cfg)
    return supervisor.processes() if supervisor.running() else []


def _running_supervisor(cfg: StackConfig) -> Supervisor:
    supervisor = Supervisor(cfg)
    if not supervisor.running():
        raise StackError(f"stack '{cfg.name}' is not running", "start it with `gridctl stack up`")
    return supervisor


def stop_service(cfg: StackConfig, name: str) -> None:
    """Stop one service of a running stack and wait until it is gone (failure tests stop InfluxDB or SeaweedFS)."""
    supervisor = _running_supervisor(cfg)
    known = supervisor.start_order()
    if name not in known:
        raise StackError(f"stack '{cfg.name}' has no service '{name}'", f"use one of: {', '.join(known)}")
    supervisor.stop(name)


def start_service(cfg: StackConfig, name: str, echo: Echo = print) -> float:
    """Start one stopped service of a running stack again and wait until it is ready; return seconds taken."""
    supervisor = _running_supervisor(cfg)
    with_k8s = "kube-apiserver" in supervisor.start_order()
    services = {s.name: s for s in plan(cfg, echo, provision_kube(cfg.cache_dir, echo) if with_k8s else None)}
    if name not in services:
        raise StackError(f"stack '{cfg.name}' has no service '{name}'", f"use one of: {', '.join(services)}")
    return supervisor.start(services[name])
