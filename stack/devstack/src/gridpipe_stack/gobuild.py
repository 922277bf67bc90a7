"""Native servers and tools (influxd, weed, kube-apiserver, kube-controller-manager, etcd, helm, helm-unittest,
runc) built from the Go module proxy, once, with progress.

Each binary is one declarative ``GoBinary`` spec plus a committed wrapper module, ``stack/devstack/go/<name>/``,
whose go.mod and go.sum pin the whole dependency graph: the upstream modules carry replace directives that ``go install
pkg@version`` refuses, and the wrapper repeats them. A build is a plain ``go build -mod=readonly`` in a copy of that
wrapper, so nothing is resolved at build time. The result lands in ``<cache>/bin/<name>-<version>/<name>`` beside the
spec key it was built from; the same key means there is nothing to do. Go's own caches (GOCACHE, GOMODCACHE) stay
at their defaults, so a rebuild after the first one takes seconds.

To change a pin: edit versions.py and the wrapper's go.mod, run ``go mod tidy`` in ``stack/devstack/go/<name>/`` (with
``GOFLAGS=-mod=mod``), and commit both files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from gridpipe_stack import versions
from gridpipe_stack.errors import StackError

Echo = Callable[[str], None]

WRAPPERS_DIR = Path(__file__).resolve().parents[2] / "go"
BUILD_TIMEOUT = 3600.0
LOCK_TIMEOUT = BUILD_TIMEOUT
HEARTBEAT_SECONDS = 15.0
_VERSION_CHECK_TIMEOUT = 60.0
GO_INSTALL_DEFAULT = Path("/usr/local/go/bin/go")  # where go.dev's tarball installs, often not on PATH


@dataclass(frozen=True)
class GoBinary:
    """How to build one binary. ``module`` is the upstream module whose ``version`` the wrapper's go.mod pins.

    ``tool_env`` names other specs whose binaries the build needs, exported as environment variables (influxd's
    ``PKG_CONFIG``); ``script_env`` names files of the wrapper directory exported by absolute path (a rustc wrapper).
    ``version_args`` is run on a fresh build to prove it starts (skipped when empty).
    """

    name: str
    module: str
    version: str
    package: str
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ("-s", "-w")
    ldflags_for_all_packages: bool = False
    cgo: bool = False
    env: tuple[tuple[str, str], ...] = ()
    tool_env: tuple[tuple[str, str], ...] = ()
    script_env: tuple[tuple[str, str], ...] = ()
    needs_rust: bool = False
    version_args: tuple[str, ...] = ("version",)

    @property
    def wrapper_dir(self) -> Path:
        return WRAPPERS_DIR / self.name


def _kubernetes_ldflags(version: str, build_date: str) -> tuple[str, ...]:
    major, minor = version.removeprefix("v").split(".")[:2]
    flags: list[str] = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        values = {
            "gitVersion": version,
            "gitMajor": major,
            "gitMinor": minor,
            "gitTreeState": "clean",
            "buildDate": build_date,
        }
        for key, value in values.items():
            flags += ["-X", f"{package}.{key}={value}"]
    return (*flags, "-s", "-w")


# Build dates are the modules' publish times on the proxy, so a rebuild gives the same binary.
_INFLUXDB_PUBLISHED = "2025-12-02T20:22:32Z"
_KUBERNETES_PUBLISHED = "2026-10-27T12:01:04Z"

SPECS: dict[str, GoBinary] = {
    spec.name: spec
    for spec in (
        GoBinary(
            name="pkg-config",
            module="github.com/influxdata/pkg-config",
            version=versions.INFLUXDB_PKG_CONFIG,
            package="github.com/influxdata/pkg-config",
            version_args=(),  # it exits 1 on every informational flag, so it is checked by influxd's build instead
        ),
        GoBinary(
            name="influxd",
            module="github.com/influxdata/influxdb/v2",
            version=versions.INFLUXDB,
            package="github.com/influxdata/influxdb/v2/cmd/influxd",
            tags=("sqlite_foreign_keys", "sqlite_json"),
            ldflags=(
                "-s",
                "-w",
                "-X",
                f"main.version={versions.INFLUXDB}",
                "-X",
                f"main.commit=oss-{versions.INFLUXDB}",
                "-X",
                f"main.date={_INFLUXDB_PUBLISHED}",
            ),
            cgo=True,
            # flux pins a Rust toolchain that cannot be downloaded here; current stable builds it.
            env=(("RUSTUP_TOOLCHAIN", "stable"),),
            # flux's Rust core is compiled by influxdata's pkg-config, which go's cgo step calls.
            tool_env=(("PKG_CONFIG", "pkg-config"),),
            # flux denies warnings, and current stable Rust warns on its code; RUSTFLAGS does not reach the host
            # build of flux-core, a workspace wrapper does.
            script_env=(("RUSTC_WORKSPACE_WRAPPER", "rustc-cap-lints.sh"),),
            needs_rust=True,
        ),
        GoBinary(
            name="weed",
            module="github.com/seaweedfs/seaweedfs",
            version=versions.SEAWEEDFS,
            package="github.com/seaweedfs/seaweedfs/weed",
            ldflags=("-s", "-w", "-X", "github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=7506e5f91cd6"),
        ),
        GoBinary(
            name="kube-apiserver",
            module="k8s.io/kubernetes",
            version=versions.KUBERNETES,
            package="k8s.io/kubernetes/cmd/kube-apiserver",
            tags=("selinux", "notest", "grpcnotrace"),
            ldflags=_kubernetes_ldflags(versions.KUBERNETES, _KUBERNETES_PUBLISHED),
            ldflags_for_all_packages=True,
            version_args=("--version",),
        ),
        GoBinary(
            # Only its garbage-collector, namespace and service-account controllers run in the test cluster.
            name="kube-controller-manager",
            module="k8s.io/kubernetes",
            version=versions.KUBERNETES,
            package="k8s.io/kubernetes/cmd/kube-controller-manager",
            tags=("selinux", "notest", "grpcnotrace"),
            ldflags=_kubernetes_ldflags(versions.KUBERNETES, _KUBERNETES_PUBLISHED),
            ldflags_for_all_packages=True,
            version_args=("--version",),
        ),
        GoBinary(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version=versions.ETCD,
            package="go.etcd.io/etcd/server/v3",
            ldflags=("-s", "-w", "-X", f"go.etcd.io/etcd/api/v3/version.GitSHA={versions.ETCD}-goproxy"),
            version_args=("--version",),
        ),
        GoBinary(
            name="helm",
            module="helm.sh/helm/v3",
            version=versions.HELM,
            package="helm.sh/helm/v3/cmd/helm",
            ldflags=(
                "-s",
                "-w",
                "-X",
                f"helm.sh/helm/v3/internal/version.version={versions.HELM}",
                "-X",
                "helm.sh/helm/v3/internal/version.gitTreeState=clean",
                # The default --kube-version of `helm template`: the kube-apiserver built above.
                "-X",
                "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
                "-X",
                f"helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={versions.KUBERNETES.split('.')[1]}",
            ),
        ),
        GoBinary(
            # The chart tests' helm-unittest suites; the binary is the plugin's own command, run without helm.
            name="helm-unittest",
            module="github.com/helm-unittest/helm-unittest",
            version=versions.HELM_UNITTEST,
            package="github.com/helm-unittest/helm-unittest/cmd/helm-unittest",
            version_args=("--help",),
        ),
        GoBinary(
            # For the image smoke tests (podman --runtime): cgo for runc's nsenter; no seccomp tag, so no libseccomp
            # headers are needed, and the tests run their containers with seccomp=unconfined.
            name="runc",
            module="github.com/opencontainers/runc",
            version=versions.RUNC,
            package="github.com/opencontainers/runc",
            cgo=True,
            ldflags=("-s", "-w", "-X", f"main.version={versions.RUNC.removeprefix('v')}"),
            version_args=("--version",),
        ),
    )
}


def spec_for(name: str) -> GoBinary:
    try:
        return SPECS[name]
    except KeyError:
        raise StackError(f"no Go build spec named '{name}'", f"use one of: {', '.join(sorted(SPECS))}") from None


def binary_path(spec: GoBinary, cache_dir: Path) -> Path:
    return cache_dir / "bin" / f"{spec.name}-{spec.version}" / spec.name


def wrapper_files(spec: GoBinary) -> list[Path]:
    if not (spec.wrapper_dir / "go.mod").is_file() or not (spec.wrapper_dir / "go.sum").is_file():
        raise StackError(
            f"the wrapper module of {spec.name} is incomplete: {spec.wrapper_dir} needs go.mod and go.sum",
            "restore them from git (`git checkout -- stack/devstack/go`)",
        )
    return sorted(p for p in spec.wrapper_dir.iterdir() if p.is_file())


def spec_key(spec: GoBinary) -> str:
    """Changes whenever anything that shapes the binary changes: the spec, the wrapper's files, the tools it uses."""
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for path in wrapper_files(spec):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for _, tool in spec.tool_env:
        digest.update(spec_key(spec_for(tool)).encode())
    return digest.hexdigest()[:20]


def ldflags_argument(spec: GoBinary) -> str:
    joined = " ".join(spec.ldflags)
    return f"all={joined}" if spec.ldflags_for_all_packages else joined


def build_command(spec: GoBinary, go: Path, output: Path) -> list[str]:
    """``go build`` against the committed go.sum only (-mod=readonly), at the lowest CPU priority."""
    command = ["nice", "-n", "19"] if shutil.which("nice") else []
    command += [str(go), "build", "-mod=readonly", "-trimpath", "-v"]
    if spec.tags:
        command += ["-tags", ",".join(spec.tags)]
    command += ["-ldflags", ldflags_argument(spec), "-o", str(output), spec.package]
    return command


def required_go(go_mod: str) -> tuple[int, ...]:
    """The Go version a go.mod asks for (its ``go`` line; a ``toolchain`` line can only raise it)."""
    found = [m.group(2) for m in re.finditer(r"^(go|toolchain)\s+(?:go)?(\d+(?:\.\d+)*)", go_mod, re.MULTILINE)]
    return max((parse_go_version(v) for v in found), default=(1,))


def parse_go_version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


def pinned_version(go_mod: str, module: str) -> str | None:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.MULTILINE)
    return match.group(1) if match else None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def find_go() -> Path:
    candidates = [shutil.which("go")]
    if goroot := os.environ.get("GOROOT"):
        candidates.append(str(Path(goroot) / "bin" / "go"))
    candidates.append(str(GO_INSTALL_DEFAULT))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StackError(
        "Go is not installed: the native servers (InfluxDB, SeaweedFS, kube-apiserver, etcd, helm) are built with it",
        "install Go 1.26 or newer (https://go.dev/dl/) and put its bin/ directory on PATH",
    )


def _check_go(go: Path, spec: GoBinary) -> None:
    done = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=False)
    have = parse_go_version(done.stdout)
    need = required_go((spec.wrapper_dir / "go.mod").read_text())
    if done.returncode != 0 or have < need:
        raise StackError(
            f"{go} is Go {_dotted(have)}, older than the Go {_dotted(need)} that {spec.name}'s wrapper module needs",
            f"install Go {_dotted(need)} or newer (https://go.dev/dl/) first on PATH; builds run with "
            "GOTOOLCHAIN=local, so go never downloads a toolchain by itself",
        )


def _find_tool(name: str) -> Path | None:
    found = shutil.which(name) or str(Path.home() / ".cargo" / "bin" / name)
    return Path(found) if Path(found).is_file() else None


def _check_native_toolchain(spec: GoBinary, env: dict[str, str]) -> None:
    if spec.cgo and not shutil.which("gcc", path=env["PATH"]):
        raise StackError(
            f"building {spec.name} needs a C compiler (cgo) and gcc is not on PATH",
            "install it: apt-get install gcc",
        )
    if not spec.needs_rust:
        return
    for tool in ("cargo", "rustc"):
        if not shutil.which(tool, path=env["PATH"]):
            raise StackError(
                f"building {spec.name} needs Rust ({tool} not found): flux's core is Rust",
                "install Rust stable with rustup (https://rustup.rs), then `rustup toolchain install stable`",
            )
    done = subprocess.run(["rustc", "--version"], env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise StackError(
            f"rustc does not run with RUSTUP_TOOLCHAIN=stable: {done.stderr.strip()[-200:]}",
            "run `rustup toolchain install stable`",
        )


def build_env(spec: GoBinary, go: Path, workdir: Path, tools: dict[str, Path]) -> dict[str, str]:
    path_entries = [str(go.parent)]
    if cargo := _find_tool("cargo"):
        path_entries.append(str(cargo.parent))
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*path_entries, os.environ.get("PATH", "")]),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-buildvcs=false",
        "CGO_ENABLED": "1" if spec.cgo else "0",
        **dict(spec.env),
    }
    env.update({variable: str(tools[tool]) for variable, tool in spec.tool_env})
    env.update({variable: str(workdir / script) for variable, script in spec.script_env})
    return env


@contextlib.contextmanager
def _exclusive(lock_file: Path, what: str, echo: Echo) -> Iterator[None]:
    """One build of a binary at a time across processes (stacks and test sessions share the cache)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    echo(f"waiting for another process that is building {what}…")
                    announced = True
                if time.monotonic() > deadline:
                    raise StackError(
                        f"another process held the build lock of {what} for {LOCK_TIMEOUT:.0f}s",
                        f"stop that build (`fuser {lock_file}` names it) and run again",
                    ) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _last_line(log: Path) -> str:
    with log.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 4096))
        lines = fh.read().decode(errors="replace").strip().splitlines()
    return lines[-1][:100] if lines else "starting"


def _tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    return "\n".join(text.splitlines()[-lines:])


def _run_logged(command: list[str], env: dict[str, str], cwd: Path, log: Path, label: str, echo: Echo) -> None:
    """Run ``command`` with its output in ``log``; every HEARTBEAT_SECONDS say how long and what it is doing."""
    began = time.monotonic()
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        next_beat = began + HEARTBEAT_SECONDS
        while process.poll() is None:
            now = time.monotonic()
            if now - began > BUILD_TIMEOUT:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise StackError(
                    f"{label} took longer than {BUILD_TIMEOUT:.0f}s and was stopped",
                    f"read {log}; on a very busy machine run it again (finished steps are cached)",
                    _tail(log),
                )
            if now >= next_beat:
                echo(f"  {label}: {now - began:4.0f}s, now: {_last_line(log)}")
                next_beat = now + HEARTBEAT_SECONDS
            time.sleep(0.5)
    if process.returncode != 0:
        raise StackError(
            f"{label} failed (exit {process.returncode})", f"read the build log {log} (its tail is above)", _tail(log)
        )


def _prepare_workdir(spec: GoBinary, cache_dir: Path) -> Path:
    """A fresh copy of the wrapper module: the build must never touch the committed files."""
    workdir = cache_dir / "gobuild" / f"{spec.name}-{spec.version}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    for path in wrapper_files(spec):
        shutil.copy2(path, workdir / path.name)
    for _, script in spec.script_env:
        (workdir / script).chmod(0o755)
    return workdir


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def ensure_binary(name: str, cache_dir: Path, echo: Echo = print) -> Path:
    """The binary ``name`` built from its pinned spec: from the cache when built before, else built now (minutes)."""
    spec = spec_for(name)
    target = binary_path(spec, cache_dir)
    key_file = target.with_name(".spec-key")
    key = spec_key(spec)

    def current() -> bool:
        return target.is_file() and key_file.is_file() and key_file.read_text().strip() == key

    if current():
        return target
    label = f"building {spec.name} {spec.version}"
    with _exclusive(target.parent.with_name(f".{target.parent.name}.lock"), f"{spec.name} {spec.version}", echo):
        if current():  # built by whoever held the lock
            return target
        tools = {tool: ensure_binary(tool, cache_dir, echo) for _, tool in spec.tool_env}
        go = find_go()
        _check_go(go, spec)
        workdir = _prepare_workdir(spec, cache_dir)
        env = build_env(spec, go, workdir, tools)
        _check_native_toolchain(spec, env)
        target.parent.mkdir(parents=True, exist_ok=True)
        log = target.with_name("build.log")
        log.write_text(f"{label} (spec key {key}) in {workdir}\n")
        partial = target.with_name(target.name + ".partial")
        echo(f"{label} from the Go module proxy, cached afterwards (log: {log})…")
        began = time.monotonic()
        _run_logged(build_command(spec, go, partial), env, workdir, log, label, echo)
        _check_runs(spec, partial, log)
        partial.replace(target)
        _write_atomically(key_file, key + "\n")
        echo(f"built {spec.name} {spec.version} in {time.monotonic() - began:.0f}s: {target}")
    return target


def _check_runs(spec: GoBinary, binary: Path, log: Path) -> None:
    if not spec.version_args:
        return
    try:
        done = subprocess.run(
            [str(binary), *spec.version_args], capture_output=True, text=True, timeout=_VERSION_CHECK_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise StackError(f"the freshly built {spec.name} does not run: {error}", f"read {log}") from error
    if done.returncode != 0:
        raise StackError(
            f"the freshly built {spec.name} fails `{' '.join(spec.version_args)}` (exit {done.returncode})",
            f"read {log}",
            (done.stdout + done.stderr)[-2000:],
        )
