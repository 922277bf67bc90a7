"""Run the stack's services under supervisord, in order, each checked ready before the next starts.

supervisord owns the processes: it captures each one's output into its log file, restarts a service that dies
unexpectedly, and stops whole process groups. What it lacks, start order and readiness, is added here. Every
process of a stack carries ``GRIDPIPE_STACK_MARK`` in its environment so ``down`` can prove nothing survived.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.credentials import write_private
from gridpipe_stack.errors import StackError
from gridpipe_stack.services import Service

Echo = Callable[[str], None]
MARK_VARIABLE = "GRIDPIPE_STACK_MARK"
_SUPERVISOR_START_TIMEOUT = 15.0
_SHUTDOWN_TIMEOUT = 60.0


def _quote_env(env: dict[str, str]) -> str:
    # supervisord reads KEY="value" pairs and expands %(...)s, so percent signs are doubled.
    return ",".join(f'{k}="{v.replace("%", "%%")}"' for k, v in env.items())


def render_supervisor_conf(cfg: StackConfig, services: list[Service]) -> str:
    mark = str(cfg.run_dir)
    sections = [
        f"[unix_http_server]\nfile={cfg.run_dir / 'supervisor.sock'}\nchmod=0700\n",
        "[supervisord]\n"
        f"logfile={cfg.logs_dir / 'supervisord.log'}\npidfile={cfg.run_dir / 'supervisord.pid'}\n"
        f"directory={cfg.run_dir}\nidentifier=gridpipe-{cfg.name}\nnodaemon=false\nsilent=true\n"
        f"environment={_quote_env({MARK_VARIABLE: mark})}\n",
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{cfg.run_dir / 'supervisor.sock'}\n",
    ]
    for svc in services:
        env = {MARK_VARIABLE: mark, **svc.env}
        sections.append(
            f"[program:{svc.name}]\n"
            f"command={shlex.join(svc.command).replace('%', '%%')}\n"
            f"directory={svc.directory or cfg.run_dir}\n"
            f"environment={_quote_env(env)}\n"
            "autostart=false\nautorestart=unexpected\nexitcodes=0\nstartsecs=1\nstartretries=2\n"
            f"stopsignal=TERM\nstopwaitsecs={svc.stop_timeout}\nstopasgroup=true\nkillasgroup=true\n"
            f"redirect_stderr=true\nstdout_logfile={cfg.logs_dir / (svc.name + '.log')}\n"
            "stdout_logfile_maxbytes=50MB\nstdout_logfile_backups=2\n"
        )
    return "\n".join(sections)


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return f"(no log at {path})"
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def check_ports_free(services: list[Service]) -> None:
    for svc in services:
        for role, port in svc.ports.items():
            if port_in_use(port):
                raise StackError(
                    f"port {port} on {HOST} ({svc.name} {role}) is already in use by another process",
                    f"stop that process (`ss -ltnp 'sport = :{port}'` names it), `gridctl stack down` if it is an "
                    "old gridpipe stack, or move this stack with GRIDPIPE_PORT_BASE=<another base>",
                )


@dataclass(frozen=True)
class ProcessState:
    name: str
    state: str
    pid: int
    uptime: float
    log: Path


class Supervisor:
    """A handle on one stack's supervisord."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.socket = cfg.run_dir / "supervisor.sock"
        self.conf = cfg.run_dir / "supervisord.conf"
        self.pidfile = cfg.run_dir / "supervisord.pid"
        self.order_file = cfg.run_dir / "start-order"

    @property
    def _rpc(self) -> Any:  # XML-RPC answers are dynamically typed
        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(self._rpc.supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            return False

    def start_daemon(self, services: list[Service]) -> None:
        # Services' environments hold secrets (the InfluxDB token of the Flink processes): owner-only.
        write_private(self.conf, render_supervisor_conf(self.cfg, services))
        self.order_file.write_text("".join(f"{s.name}\n" for s in services))
        self.socket.unlink(missing_ok=True)
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            check=True,
            timeout=_SUPERVISOR_START_TIMEOUT,
        )
        deadline = time.monotonic() + _SUPERVISOR_START_TIMEOUT
        while not self.running():
            if time.monotonic() > deadline:
                raise StackError(
                    f"supervisord did not answer on {self.socket} within {_SUPERVISOR_START_TIMEOUT:.0f}s",
                    f"read {self.cfg.logs_dir / 'supervisord.log'}",
                    log_tail(self.cfg.logs_dir / "supervisord.log"),
                )
            time.sleep(0.1)

    def start_order(self) -> list[str]:
        """Service names in the order they were started, so they can be stopped in reverse."""
        try:
            return self.order_file.read_text().split()
        except OSError:
            return [p.name for p in self.processes()]

    def process(self, name: str) -> ProcessState:
        info = self._rpc.supervisor.getProcessInfo(name)
        uptime = float(info["now"] - info["start"]) if info["pid"] else 0.0
        return ProcessState(name, str(info["statename"]), int(info["pid"]), uptime, Path(info["stdout_logfile"]))

    def processes(self) -> list[ProcessState]:
        return [self.process(str(info["name"])) for info in self._rpc.supervisor.getAllProcessInfo()]

    def start(self, svc: Service) -> float:
        """Start ``svc`` (unless already up) and wait until its probe passes; return seconds taken."""
        began = time.monotonic()
        log = self.cfg.logs_dir / f"{svc.name}.log"
        if self.process(svc.name).state != "RUNNING":
            self._rpc.supervisor.startProcess(svc.name, False)
        deadline = began + svc.ready_timeout
        while not svc.probe():
            state = self.process(svc.name).state
            if state in {"FATAL", "EXITED", "BACKOFF"}:
                raise StackError(
                    f"{svc.name} exited while starting (state {state})", f"read its log: {log}", log_tail(log)
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{svc.name} did not become ready within {svc.ready_timeout:.3g}s",
                    f"read its log ({log}); if the machine is just slow, raise GRIDPIPE_READY_TIMEOUT_SCALE",
                    log_tail(log),
                )
            time.sleep(0.25)
        if svc.after_ready is not None:
            svc.after_ready()
        return time.monotonic() - began

    def stop(self, name: str) -> None:
        self._rpc.supervisor.stopProcess(name, True)

    def shutdown(self, names_in_stop_order: list[str], echo: Echo) -> None:
        if not self.running():
            return
        rpc = self._rpc
        for name in names_in_stop_order:
            with contextlib.suppress(xmlrpc.client.Fault):
                if rpc.supervisor.getProcessInfo(name)["statename"] in {"RUNNING", "STARTING", "BACKOFF"}:
                    echo(f"stopping {name}…")
                    rpc.supervisor.stopProcess(name, True)
        pid = self._daemon_pid()
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            rpc.supervisor.shutdown()
        deadline = time.monotonic() + _SHUTDOWN_TIMEOUT
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _daemon_pid(self) -> int:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def marked_processes(mark: str) -> Iterator[int]:
    """Pids of live processes whose environment carries this stack's mark."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry.name)):
            yield int(entry.name)


def reap_leftovers(mark: str, grace: float = 10.0) -> list[int]:
    """TERM then KILL any process still carrying the mark; return the pids that had to be killed."""
    leftovers = list(marked_processes(mark))
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in leftovers) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in leftovers:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return leftovers
