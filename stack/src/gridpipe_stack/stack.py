"""The local stack as a whole: provision, start in order, report, stop and prove nothing is left."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.java import find_java
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


def plan(cfg: StackConfig, echo: Echo = print) -> list[Service]:
    java = find_java()
    installation = provision(cfg.cache_dir, java, echo)
    scale = _timeout_scale()
    return [replace(s, ready_timeout=s.ready_timeout * scale) for s in plan_services(cfg, installation, java)]


def up(cfg: StackConfig, echo: Echo = print) -> list[Service]:
    """Start every service not already running, in order, each ready before the next. Idempotent."""
    services = plan(cfg, echo)
    supervisor = Supervisor(cfg)
    if not supervisor.running():
        # Leftovers of a stack whose supervisord was killed would hold the ports; they are ours to clear.
        if killed := reap_leftovers(str(cfg.run_dir)):
            echo(f"cleared {len(killed)} process(es) left by an earlier run of stack '{cfg.name}'")
        check_ports_free(services)
        supervisor.start_daemon(services)
    elif missing := [s.name for s in services if s.name not in supervisor.start_order()]:
        raise StackError(
            f"stack '{cfg.name}' is running without {', '.join(missing)} (started by an older gridpipe)",
            "restart it: `gridctl stack down && gridctl stack up`",
        )
    for svc in services:
        took = supervisor.start(svc)
        echo(f"{svc.name:<18} ready in {took:5.1f}s  {svc.url}")
    return services


@dataclass(frozen=True)
class DownReport:
    stopped: list[str]
    killed_leftovers: list[int]
    seconds: float


def down(cfg: StackConfig, echo: Echo = print) -> DownReport:
    """Stop every service in reverse order, stop supervisord, and kill anything of ours that survived."""
    began = time.monotonic()
    supervisor = Supervisor(cfg)
    stopped: list[str] = []
    if supervisor.running():
        order = list(reversed(supervisor.start_order()))
        supervisor.shutdown(order, echo)
        stopped = order
    leftovers = reap_leftovers(str(cfg.run_dir))
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
    services = {s.name: s for s in plan(cfg, echo)}
    if name not in services:
        raise StackError(f"stack '{cfg.name}' has no service '{name}'", f"use one of: {', '.join(services)}")
    return supervisor.start(services[name])
