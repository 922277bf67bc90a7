"""The three container images (Flink job, operator, console), built without a Docker daemon: `gridctl images build`.

The Dockerfiles (``jobs/Dockerfile``, ``operator/Dockerfile``, ``console/Dockerfile``) are plain Dockerfiles whose
build context is the repository root; everything they take that is not committed is staged under ``build/images/``
first (`gridctl images stage`): the hash-pinned requirements exported from ``uv.lock``, the workspace packages as
wheels, and for the Flink image the pinned Maven jars from the cache and the functions jar. Users with Docker stage
and then run ``docker build``; here Debian's buildah builds the same files (vfs storage, chroot isolation, no pull),
on a ``debian:bookworm-slim`` bootstrapped from Debian's packages with mmdebstrap once, because no image registry is
reachable. docs/images.md has the figures.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack.errors import StackError
from gridpipe_stack.fetch import PinnedFile, ensure_files
from gridpipe_stack.maven import load_lock
from gridpipe_stack.provision import ensure_debian_package

Echo = Callable[[str], None]

REPO = Path(__file__).resolve().parents[4]
STAGING = REPO / "build" / "images"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
BASE_SUITE = "bookworm"
# What the official image's /etc/apt/sources.list.d/debian.sources lists; the bootstrap gets the same three suites.
BASE_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# As debian:*-slim does: dpkg leaves out manuals, documentation (but the copyright files) and translations, for the
# bootstrap and for every later `apt-get install` in an image built on it.
SLIM_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
)
STORAGE = ("--storage-driver", "vfs")
HEARTBEAT_SECONDS = 15


@dataclass(frozen=True)
class ImageSpec:
    """One image: its repository name, its Dockerfile (relative to the repository root) and how long a build may
    take on a 2-core machine before it is stopped."""

    name: str
    dockerfile: str
    timeout_s: int

    def tag(self, version: str) -> str:
        return f"{self.name}:{version}"

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("gridpipe/operator", "operator/Dockerfile", 1800),
    ImageSpec("gridpipe/console", "console/Dockerfile", 1800),
    ImageSpec("gridpipe/flink-job", "jobs/Dockerfile", 3600),
)

# Workspace packages each image installs (as wheels), and the uv package whose locked closure it installs.
WHEELS: dict[str, tuple[str, ...]] = {
    "operator": ("gridpipe-schemas", "gridpipe-operator"),
    "console": ("gridpipe-schemas", "gridpipe-dashboards", "gridpipe-console"),
    "flink-job": ("gridpipe-schemas", "gridpipe-jobs"),
}
REQUIREMENTS: dict[str, str] = {
    "operator": "gridpipe-operator",
    "console": "gridpipe-console",
    "flink-job": "gridpipe-jobs",
}
# Packages that must never be in the operator's or the console's closure (they belong to the Flink image).
FLINK_ONLY = ("apache-flink", "apache-flink-libraries", "apache-beam", "pemja")


def version() -> str:
    """The platform's version: the root project's, which every image is tagged with (and the charts' appVersion)."""
    with (REPO / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def _uv() -> list[str]:
    """uv as the Makefile finds it: `uv run` exports its own path as $UV; else uv on PATH; else python3 -m uv."""
    if explicit := os.environ.get("UV"):
        return [explicit]
    if found := shutil.which("uv"):
        return [found]
    return [shutil.which("python3") or sys.executable, "-m", "uv"]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_step(
    label: str, command: Sequence[str], *, log: Path, timeout_s: int, echo: Echo, cwd: Path | None = None
) -> float:
    """Run ``command`` with its output in ``log``, a progress line every 15 s (elapsed, the log's last line), and a
    hard timeout (the whole process group is stopped). Returns the seconds taken; raises StackError on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    echo(f"{label}… (log: {log})")
    with log.open("w") as out:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        while True:
            try:
                process.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if elapsed > timeout_s:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait(timeout=30)
                    raise StackError(
                        f"{label} did not finish within {timeout_s} s", f"see {log}", detail=_tail(log)
                    ) from None
                last = _tail(log, 1).strip()[:110]
                echo(f"  {label}: {elapsed:.0f}s{', now: ' + last if last else ''}")
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise StackError(
            f"{label} failed (exit {process.returncode}) after {elapsed:.0f} s", f"see {log}", detail=_tail(log)
        )
    echo(f"{label}: done in {elapsed:.0f}s")
    return elapsed


def _buildah(*args: str, timeout_s: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=timeout_s, check=False)


def image_exists(reference: str) -> bool:
    return _buildah("inspect", "--type", "image", reference).returncode == 0


def image_size(reference: str) -> int:
    """The image's size in bytes (the sum of its uncompressed layers), from podman, which reports bytes (buildah
    rounds to a text such as "127 MB"); both read the same storage."""
    done = subprocess.run(
        ["podman", *STORAGE, "image", "inspect", "--format", "{{.Size}}", reference],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"no image {reference}: {done.stderr.strip()}", "build it: `gridctl images build`")
    return int(done.stdout.strip())


def ensure_tools(echo: Echo) -> None:
    why = "building container images without a daemon"
    ensure_debian_package("buildah", "buildah", echo, why)
    ensure_debian_package("mmdebstrap", "mmdebstrap", echo, why)
    ensure_debian_package("podman", "podman", echo, "measuring and running the built images")


def ensure_base(echo: Echo) -> bool:
    """``debian:bookworm-slim`` in buildah's storage: bootstrapped from Debian's packages with mmdebstrap when absent
    (no image registry is reachable here), so `FROM debian:bookworm-slim` builds here as it does with Docker. Returns
    whether it had to be bootstrapped."""
    if image_exists(BASE_IMAGE):
        echo(f"base image {BASE_IMAGE} is present in buildah's storage")
        return False
    logs = STAGING / "logs"
    with tempfile.TemporaryDirectory(prefix="gridpipe-base-") as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        run_step(
            f"bootstrapping {BASE_IMAGE} from Debian's packages (mmdebstrap, about a minute)",
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                # /usr merged by symlinks before the essential packages, as debian:bookworm-slim is; without this hook
                # mmdebstrap installs the usrmerge package, and with it perl (46 MB), into the image.
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                *(f"--dpkgopt={option}" for option in SLIM_DPKG_OPTIONS),
                '--aptopt=Acquire::Retries "3"',
                '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
                BASE_SUITE,
                str(rootfs),
                *BASE_MIRRORS,
            ],
            log=logs / "base-mmdebstrap.log",
            timeout_s=900,
            echo=echo,
        )
        container = _checked(_buildah("from", "scratch")).stdout.strip()
        try:
            mount = _checked(_buildah("mount", container)).stdout.strip()
            _checked(
                subprocess.run(
                    ["tar", "--numeric-owner", "-xpf", str(rootfs), "-C", mount],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
            )
            _checked(_buildah("unmount", container))
            _checked(
                _buildah(
                    "config",
                    "--cmd",
                    "bash",
                    "--env",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--os",
                    "linux",
                    "--arch",
                    "amd64",
                    container,
                )
            )
            _checked(_buildah("commit", "--rm", container, BASE_IMAGE, timeout_s=900))
        except BaseException:
            _buildah("rm", container)
            raise
    echo(f"bootstrapped {BASE_IMAGE} ({image_size(BASE_IMAGE) / 1e6:.0f} MB)")
    return True


def _checked(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        command = " ".join(str(a) for a in done.args)
        raise StackError(f"`{command}` failed: {done.stderr.strip()[-400:]}", "see the message; rerun when fixed")
    return done


def _replace_dir(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _place(source: Path, target: Path) -> None:
    """A hard link when the cache is on the same filesystem (no copy), else a copy; the context must hold real files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _run_uv(*args: str, failure: str, fix: str) -> None:
    """``uv`` with ``args`` from the repository root; a StackError naming ``failure`` and ``fix`` when it fails."""
    done = subprocess.run([*_uv(), *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise StackError(f"{failure}: {done.stderr.strip()[-400:]}", fix)


def export_requirements(package: str, target: Path) -> None:
    """The locked closure of ``package`` (no dev group, no workspace members) with every artifact's hash."""
    _run_uv(
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-workspace",
        "--no-header",
        "--format",
        "requirements-txt",
        "--package",
        package,
        "--output-file",
        str(target),
        failure=f"uv export for {package} failed",
        fix="check uv.lock (`uv lock`)",
    )


def requirement_names(requirements: Path) -> set[str]:
    """The package names a requirements file pins (``name==version`` lines)."""
    names = set()
    for line in requirements.read_text().splitlines():
        head = line.strip()
        if head and not head.startswith(("#", "-")) and "==" in head:
            names.add(head.split("==", 1)[0].split("[", 1)[0].strip().lower())
    return names


def stage(echo: Echo) -> Path:
    """Put everything the Dockerfiles COPY that is not committed under build/images/ (regenerated each time; the same
    inputs give the same bytes, so buildah's and Docker's layer caches still hit)."""
    requirements = _replace_dir(STAGING / "requirements")
    for image, package in REQUIREMENTS.items():
        target = requirements / f"{image}.txt"
        export_requirements(package, target)
        if image != "flink-job" and (carried := requirement_names(target) & set(FLINK_ONLY)):
            raise StackError(
                f"the {image} image's locked closure carries {', '.join(sorted(carried))}",
                f"remove the dependency path to Flink from {package} (docs/architecture.md, the package map)",
            )
    echo(f"exported hash-pinned requirements from uv.lock into {requirements}")

    # One directory per image, so each Dockerfile COPYs a single directory (buildah 1.28 never reuses the cached layer
    # of a COPY with several glob sources, even for the same bytes).
    wheels = _replace_dir(STAGING / "wheels")
    built = wheels / ".built"
    for package in sorted({p for packages in WHEELS.values() for p in packages}):
        _run_uv(
            "build",
            "--wheel",
            "--package",
            package,
            "--out-dir",
            str(built),
            failure=f"uv build of {package} failed",
            fix="fix the package build",
        )
    for image, packages in WHEELS.items():
        for package in packages:
            (wheel,) = built.glob(f"{package.replace('-', '_')}-*.whl")
            _place(wheel, wheels / image / wheel.name)
    shutil.rmtree(built)
    echo(f"built the workspace packages' wheels into {wheels}/<image>/")

    flink = _replace_dir(STAGING / "flink")
    cache_dir = default_cache_dir()
    lock = load_lock()
    lib, s3 = (
        [PinnedFile(f.url, f.sha256, f.size, cache_dir / "maven" / f.path) for f in lock[component]]
        for component in ("flink-lib", "flink-s3-plugin")
    )
    ensure_files([*lib, *s3], label="Flink connector, format and filesystem jars")
    for pinned in lib:
        _place(pinned.target, flink / "lib" / pinned.target.name)
    for pinned in s3:
        # Installed as a plugin, and kept in opt/ as the official image does (ENABLE_BUILT_IN_PLUGINS names it there).
        _place(pinned.target, flink / "opt" / pinned.target.name)
        _place(pinned.target, flink / "plugins" / "s3-fs-hadoop" / pinned.target.name)
    from gridpipe_jobs.functions_jar import functions_jar

    _place(functions_jar(), flink / "functions" / "gridpipe-flink-functions.jar")
    echo(f"staged {len(lib)} lib jar(s), the S3 filesystem plugin and the functions jar into {flink}")
    return STAGING


BUILD_CA = "/run/gridpipe-build/ca-certificates.crt"


def _ca_options(environ: dict[str, str] | None = None) -> list[str]:
    """When the host's pip trusts a CA bundle of its own (PIP_CERT: a TLS-inspecting proxy between this machine and
    PyPI), the build's pip gets the same bundle: bind-mounted for the RUN steps only, never stored in a layer."""
    env = os.environ if environ is None else environ
    bundle = env.get("PIP_CERT") or env.get("REQUESTS_CA_BUNDLE")
    if not bundle or not Path(bundle).is_file():
        return []
    return ["--volume", f"{Path(bundle).resolve()}:{BUILD_CA}:ro", "--build-arg", f"PIP_CERT={BUILD_CA}"]


def build(spec: ImageSpec, tag: str, echo: Echo) -> float:
    """``buildah bud`` of one Dockerfile with the repository root as context; layers are cached between builds."""
    return run_step(
        f"building {tag}",
        [
            "nice",
            "-n",
            "10",
            "buildah",
            *STORAGE,
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers",
            "--network",
            "host",
            *_ca_options(),
            "--file",
            str(REPO / spec.dockerfile),
            "--tag",
            tag,
            str(REPO),
        ],
        log=STAGING / "logs" / f"{spec.short}.log",
        timeout_s=spec.timeout_s,
        echo=echo,
    )


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    size_bytes: int


def build_all(echo: Echo, only: Sequence[str] = ()) -> list[Built]:
    ensure_tools(echo)
    ensure_base(echo)
    stage(echo)
    tag_version = version()
    chosen = [spec for spec in IMAGES if not only or spec.short in only or spec.name in only]
    if not chosen:
        raise StackError(f"no image named {', '.join(only)}", f"choose from {', '.join(s.short for s in IMAGES)}")
    results = []
    for spec in chosen:
        tag = spec.tag(tag_version)
        seconds = build(spec, tag, echo)
        results.append(Built(tag, seconds, image_size(tag)))
    for result in results:
        echo(f"{result.tag}: {result.size_bytes / 1e6:.0f} MB, built in {result.seconds:.0f}s")
    return results


images_app = typer.Typer(help="The container images: build them here without a daemon (buildah).", no_args_is_help=True)


def _echo(message: str) -> None:
    print(message, flush=True)


def _fail(error: StackError) -> None:
    if error.detail:
        print(error.detail, file=sys.stderr)
    print(f"error: {error}", file=sys.stderr)
    raise typer.Exit(2)


@images_app.command("build")
def build_command(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Build only this image (operator, console, flink-job).")
    ] = None,
) -> None:
    """Bootstrap the base image if absent, stage the build context, and build gridpipe/{operator,console,flink-job}."""
    try:
        build_all(_echo, only or ())
    except StackError as error:
        _fail(error)


@images_app.command("stage")
def stage_command() -> None:
    """Only stage build/images/ (requirements, wheels, jars): what `docker build` needs before it runs."""
    try:
        stage(_echo)
    except StackError as error:
        _fail(error)
