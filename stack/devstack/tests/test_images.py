"""The built images, run for real with podman (Debian's, rootful, vfs storage shared with buildah, host network,
runc built from the Go module proxy as its runtime, because Debian's crun refuses this machine's hybrid cgroup v1
layout): the operator answers /healthz against the real kube-apiserver, the console serves its page, and the Flink
job image starts Flink and runs a Python job through Flink's PythonDriver in Flink's own application mode (a
standalone-job JobManager and a TaskManager, two containers of the image).

Needs `make images` first (`make images-test` does both); docs/images.md.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack.gobuild import ensure_binary
from gridpipe_stack.images import image_exists, version
from gridpipe_stack.kube.cluster import KubeCluster
from gridpipe_stack.provision import ensure_debian_package

pytestmark = [pytest.mark.images, pytest.mark.timeout(600)]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PODMAN_OPTIONS = ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
# What every container gets here: podman's default rlimits are above this machine's hard limits (raising them needs
# CAP_SYS_RESOURCE, which the machine lacks), and the runtime is built without libseccomp.
RUN_OPTIONS = (
    "--pull=never",
    "--network=host",
    "--ulimit=nofile=8192:8192",
    "--ulimit=nproc=4096:4096",
    "--security-opt=seccomp=unconfined",
)
PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *PODMAN_OPTIONS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    ensure_debian_package("podman", "podman", print, "running the built images in their tests")
    runc = ensure_binary("runc", default_cache_dir(), print)
    if "--runtime" not in PODMAN_OPTIONS:
        PODMAN_OPTIONS.extend(["--runtime", str(runc)])
    tags = {short: f"gridpipe/{short}:{version()}" for short in ("operator", "console", "flink-job")}
    missing = [tag for tag in tags.values() if not image_exists(tag)]
    if missing:
        pytest.fail(f"images not built: {', '.join(missing)} -- fix: `make images` (or `make images-test`)")
    return tags


class Containers:
    """Detached containers started by one test, removed (with their logs shown on failure) at its end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def start(
        self, image: str, args: Sequence[str], *, env: dict[str, str] | None = None, volumes: Sequence[str] = ()
    ) -> str:
        name = f"gridpipe-test-{uuid.uuid4().hex[:8]}"
        options = [f"--env={key}={value}" for key, value in (env or {}).items()]
        options += [f"--volume={volume}" for volume in volumes]
        done = podman("run", "--detach", *RUN_OPTIONS, f"--name={name}", *options, image, *args)
        assert done.returncode == 0, f"podman run {image} failed: {done.stderr}"
        self.names.append(name)
        return name

    def logs(self, name: str) -> str:
        done = podman("logs", name)
        return done.stdout + done.stderr

    def state(self, name: str) -> tuple[str, int]:
        done = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
        status, _, code = done.stdout.strip().partition(" ")
        return status, int(code or 0)

    def wait_exit(self, name: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, code = self.state(name)
            if status in ("exited", "stopped"):
                return code
            time.sleep(1)
        raise AssertionError(f"{name} still running after {timeout:.0f}s:\n{self.logs(name)[-3000:]}")

    def remove_all(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--time=5", name, timeout=60)


@pytest.fixture
def containers() -> Iterator[Containers]:
    started = Containers()
    try:
        yield started
    finally:
        started.remove_all()


def wait_http(url: str, timeout: float, explain: str = "") -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
            last = response.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last}){explain}")


def run_once(image: str, *args: str, entrypoint: str | None = None, timeout: float = 120) -> str:
    options = [f"--entrypoint={entrypoint}"] if entrypoint else []
    done = podman("run", "--rm", *RUN_OPTIONS, *options, image, *args, timeout=timeout)
    assert done.returncode == 0, (
        f"{image} {args} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done.stdout


def config_user(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()


@pytest.mark.parametrize("short", ["operator", "console"])
def test_operator_and_console_images_carry_no_flink_and_run_as_a_numeric_user(
    images: dict[str, str], short: str
) -> None:
    image = images[short]
    assert config_user(image) == "10001:10001"
    probe = "import importlib.util as u; print([m for m in ('pyflink', 'apache_beam') if u.find_spec(m)])"
    assert run_once(image, "-c", probe, entrypoint="python").strip() == "[]"
    assert run_once(image, "-c", "import shutil; print(shutil.which('java'))", entrypoint="python").strip() == "None"


def test_operator_answers_healthz(
    images: dict[str, str], containers: Containers, kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    # The admin kubeconfig is 0600 root; the container runs as 10001, so it gets a readable copy.
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copyfile(kube_cluster.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o644)
    health, metrics = free_port(), free_port()
    name = containers.start(
        images["operator"],
        [
            "run",
            "--kubeconfig=/var/run/gridpipe/kubeconfig",
            f"--namespace={kube_namespace}",
            f"--health-port={health}",
            f"--metrics-port={metrics}",
            "--text-logs",
        ],
        volumes=[f"{kubeconfig}:/var/run/gridpipe/kubeconfig:ro"],
    )
    wait_http(f"http://127.0.0.1:{health}/healthz", 90, explain=f"\n{containers.logs(name)[-3000:]}")
    assert "gridpipe" in wait_http(f"http://127.0.0.1:{metrics}/metrics", 10).text


def test_console_serves_its_page(images: dict[str, str], containers: Containers) -> None:
    port = free_port()
    name = containers.start(
        images["console"],
        ["-f", "/etc/gridpipe/grid.yaml", "--host=127.0.0.1", f"--port={port}"],
        # Nothing listens on the discard port: the page and /healthz must not depend on Kafka being there.
        env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "GRIDPIPE_SCHEMA_REGISTRY_URL": "http://127.0.0.1:9"},
        volumes=[f"{EXAMPLES / 'grid.yaml'}:/etc/gridpipe/grid.yaml:ro"],
    )
    page = wait_http(f"http://127.0.0.1:{port}/", 60, explain=f"\n{containers.logs(name)[-3000:]}")
    assert "<html" in page.text.lower()
    assert "text/html" in page.headers["content-type"]


def test_flink_job_image_starts_flink_the_way_the_operators_call_it(images: dict[str, str]) -> None:
    image = images["flink-job"]
    assert config_user(image) == "9999:9999"
    # The Flink Kubernetes Operator's form: /docker-entrypoint.sh bash -c "<script on PATH> ...".
    assert "Version: 2.2.1" in run_once(image, "bash", "-c", "flink --version")
    # The jarURI the gridpipe operator renders, with PythonDriver in it; the functions jar where the job looks.
    listing = run_once(
        image,
        "bash",
        "-c",
        "python -c 'import zipfile, sys; print(*zipfile.ZipFile(sys.argv[1]).namelist(), sep=chr(10))' "
        "/opt/flink/opt/flink-python-2.2.1.jar && ls $GRIDPIPE_FUNCTIONS_JAR /opt/flink/plugins/*/ /opt/flink/lib/",
    )
    assert "org/apache/flink/client/python/PythonDriver.class" in listing
    for jar in (
        "flink-sql-connector-kafka-",
        "flink-sql-avro-confluent-registry-",
        "flink-parquet-",
        "gridpipe-flink-functions.jar",
        "flink-s3-fs-hadoop-",
        "flink-metrics-prometheus-",
    ):
        assert jar in listing, f"{jar} missing from the image"
    # The operator renders ENABLE_BUILT_IN_PLUGINS=flink-s3-fs-hadoop-<release>.jar: accepted, the plugin is in place.
    done = podman(
        "run", "--rm", *RUN_OPTIONS, "--env=ENABLE_BUILT_IN_PLUGINS=flink-s3-fs-hadoop-2.2.1.jar", image, "true"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed already" in done.stdout
    assert "gridpipe_jobs.job" in run_once(image, "python", "-m", "gridpipe_jobs.job", "--help")


SMOKE_JOB = textwrap.dedent(
    """
    # Runs under Flink's PythonDriver in application mode: plans a Kafka + Avro-registry source (the connector and
    # format jars must be in lib/), then runs a small bounded job on the TaskManager.
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.execute_sql(
        "CREATE TABLE readings (sensor STRING, v DOUBLE) WITH ('connector' = 'kafka', 'topic' = 't', "
        "'properties.bootstrap.servers' = '127.0.0.1:9', 'format' = 'avro-confluent', "
        "'avro-confluent.url' = 'http://127.0.0.1:9', 'scan.startup.mode' = 'earliest-offset')"
    )
    env.execute_sql("CREATE TABLE discarded (sensor STRING, v DOUBLE) WITH ('connector' = 'blackhole')")
    print(env.explain_sql("INSERT INTO discarded SELECT sensor, v FROM readings")[:80])
    env.execute_sql("CREATE TABLE counted (n BIGINT) WITH ('connector' = 'print')")
    env.execute_sql(
        "INSERT INTO counted SELECT COUNT(*) FROM (VALUES (1), (2), (3)) AS t(x)"
    ).wait()
    print("gridpipe smoke job done")
    """
)


def test_flink_job_image_runs_a_python_job_in_application_mode(
    images: dict[str, str], containers: Containers, tmp_path: Path
) -> None:
    image = images["flink-job"]
    job = tmp_path / "smoke_job.py"
    job.write_text(SMOKE_JOB)
    job.chmod(0o644)
    tmp_path.chmod(0o755)
    rpc, rest = free_port(), free_port()
    properties = "\n".join(
        [
            "jobmanager.rpc.address: 127.0.0.1",
            f"jobmanager.rpc.port: {rpc}",
            f"rest.port: {rest}",
            "rest.address: 127.0.0.1",
            "jobmanager.bind-host: 127.0.0.1",
            "taskmanager.bind-host: 127.0.0.1",
            "taskmanager.host: 127.0.0.1",
            "taskmanager.numberOfTaskSlots: 1",
            "jobmanager.memory.process.size: 1024m",
            "taskmanager.memory.process.size: 1280m",
        ]
    )
    env = {"FLINK_PROPERTIES": properties}
    jobmanager = containers.start(
        image,
        ["standalone-job", "--job-classname", PYTHON_DRIVER, "-py", "/opt/smoke/smoke_job.py"],
        env=env,
        volumes=[f"{tmp_path}:/opt/smoke:ro"],
    )
    wait_http(f"http://127.0.0.1:{rest}/overview", 120, explain=f"\n{containers.logs(jobmanager)[-3000:]}")
    taskmanager = containers.start(image, ["taskmanager"], env=env)
    code = containers.wait_exit(jobmanager, 300)
    logs = containers.logs(jobmanager)
    python_error = logs[logs.find("Traceback") :][:4000] if "Traceback" in logs else logs[-4000:]
    assert code == 0, f"the application-mode JobManager exited {code}:\n{python_error}"
    assert "gridpipe smoke job done" in logs, logs[-4000:]
    assert re.search(r"[+][IU]\[3\]", containers.logs(taskmanager)), containers.logs(taskmanager)[-3000:]
