"""The CustomResourceDefinitions the test cluster serves, with their real schemas, and their installation.

- gridpipelines.gridpipe.io: ours, generated from the pipeline models and committed under charts/.
- flink.apache.org (FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot): the YAMLs fabric8 generated into
  the Flink Kubernetes Operator's API jar (``META-INF/fabric8/*-v1.yml``; the ``-v1beta1.yml`` twins are for the
  removed apiextensions.k8s.io/v1beta1), with the Flink 2.x values added to the ``flinkVersion`` enum.
- kafka.strimzi.io (KafkaTopic, which the operator writes; Kafka, KafkaNodePool and KafkaUser, which the platform
  chart renders): generated once from Strimzi's API classes by Strimzi's own crd-generator, cached under the cache
  directory keyed by version and kinds. The generator needs Java 21+, looked for beside the Java 17 that the stack
  runs on.
- monitoring.coreos.com (PodMonitor, ServiceMonitor, PrometheusRule), which the platform chart renders: the YAML in
  the Prometheus operator's Go module (``example/prometheus-operator-crd/``), whose zip comes from the Go module
  proxy pinned by SHA-256, unpacked once into the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gridpipe_stack.errors import StackError
from gridpipe_stack.fetch import PinnedFile, ensure_files
from gridpipe_stack.java import Java, find_java, parse_major
from gridpipe_stack.versions import (
    FLINK_KUBERNETES_OPERATOR,
    PROMETHEUS_OPERATOR,
    PROMETHEUS_OPERATOR_ZIP_SHA256,
    PROMETHEUS_OPERATOR_ZIP_SIZE,
    STRIMZI,
    STRIMZI_GENERATOR_JAVA_MIN,
)

Echo = Callable[[str], None]

GRIDPIPE_CRD_DIR = Path("charts") / "gridpipe-operator" / "crds"
# Strimzi kinds the operator writes (KafkaTopic) and the platform chart renders: Java class -> CRD file name.
STRIMZI_KINDS = {
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "kafkatopics.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.kafka.Kafka": "kafkas.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "kafkanodepools.kafka.strimzi.io.yaml",
    "io.strimzi.api.kafka.model.user.KafkaUser": "kafkausers.kafka.strimzi.io.yaml",
}
# The Prometheus operator's CRDs the platform chart renders, as named in its Go module.
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_CRD_DIR = "example/prometheus-operator-crd"
PROMETHEUS_OPERATOR_CRDS = (
    "monitoring.coreos.com_podmonitors.yaml",
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
)
DEFAULT_GOPROXY = "https://proxy.golang.org"
ESTABLISH_TIMEOUT = 60.0
# The newest operator API jar on Maven Central (1.10.0) predates Flink 2, so its FlinkVersion enum ends at v1_20;
# later operator releases (not on Maven Central) add the 2.x values. gridpipe runs Flink 2.2, so the installed CRD
# gets exactly these enum values added and nothing else changed.
FLINK_2_VERSIONS = ("v2_0", "v2_1", "v2_2")
FLINK_CRD_HEADER = (
    f"# From org.apache.flink:flink-kubernetes-operator-api:{FLINK_KUBERNETES_OPERATOR} (META-INF/fabric8), with\n"
    f"# flinkVersion enum values {', '.join(FLINK_2_VERSIONS)} added by gridpipe_stack.kube.crds."
)
FIELD_MANAGER = "gridpipe-stack"


def gridpipe_crd_dir(start: Path | None = None) -> Path:
    """charts/gridpipe-operator/crds of the checkout this package runs from."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / GRIDPIPE_CRD_DIR
        if candidate.is_dir():
            return candidate
    raise StackError(
        f"no {GRIDPIPE_CRD_DIR} above {here}",
        "run from a gridpipe checkout (the stack package is installed editable by `uv sync`)",
    )


def with_flink_2_versions(document: Any) -> Any:
    """Add FLINK_2_VERSIONS to every ``flinkVersion`` enum in a Flink operator CRD (see FLINK_2_VERSIONS)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "flinkVersion" and isinstance(value, dict) and isinstance(value.get("enum"), list):
                value["enum"] += [v for v in FLINK_2_VERSIONS if v not in value["enum"]]
            else:
                with_flink_2_versions(value)
    elif isinstance(document, list):
        for item in document:
            with_flink_2_versions(item)
    return document


def _cached_yamls(target: Path, stamp: str, fill: Callable[[Path], None]) -> list[Path]:
    """The YAML files in ``target``. Unless it was completed for ``stamp``, ``fill`` writes them into a fresh staging
    directory first, which then replaces ``target`` whole (a failed fill leaves no half-written cache)."""
    marker = target / ".complete"
    if not marker.is_file() or marker.read_text() != stamp:
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        fill(staging)
        (staging / ".complete").write_text(stamp)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return sorted(target.glob("*.yaml"))


def extract_flink_crds(jar: Path, cache_dir: Path) -> list[Path]:
    """The Flink operator's apiextensions/v1 CRDs, unpacked from its API jar once (flinkVersion enum extended)."""

    def unpack(staging: Path) -> None:
        with zipfile.ZipFile(jar) as archive:
            names = [n for n in archive.namelist() if n.startswith("META-INF/fabric8/") and n.endswith("-v1.yml")]
            if not names:
                raise StackError(f"{jar} holds no META-INF/fabric8/*-v1.yml CRDs", f"delete {jar} and provision again")
            for name in names:
                document = with_flink_2_versions(yaml.safe_load(archive.read(name)))
                out = staging / Path(name).name.replace("-v1.yml", ".yaml")
                out.write_text(f"{FLINK_CRD_HEADER}\n{yaml.safe_dump(document, sort_keys=False)}")

    target = cache_dir / "crds" / f"flink-kubernetes-operator-{FLINK_KUBERNETES_OPERATOR}"
    return _cached_yamls(target, FLINK_CRD_HEADER, unpack)


def _java_candidates() -> Iterable[Path]:
    yield from sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)


def find_generator_java() -> Java:
    """A Java new enough for Strimzi's crd-generator: $GRIDPIPE_JAVA_HOME/$JAVA_HOME/PATH, then /usr/lib/jvm/*."""
    try:
        return find_java(STRIMZI_GENERATOR_JAVA_MIN)
    except StackError:
        pass
    for executable in _java_candidates():
        try:
            done = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        major = parse_major(done.stderr + done.stdout)
        if major is not None and major >= STRIMZI_GENERATOR_JAVA_MIN:
            return Java(executable, major)
    raise StackError(
        f"Strimzi's crd-generator {STRIMZI} needs Java {STRIMZI_GENERATOR_JAVA_MIN}+ and none was found "
        "(looked at GRIDPIPE_JAVA_HOME, JAVA_HOME, PATH and /usr/lib/jvm)",
        f"install a JDK {STRIMZI_GENERATOR_JAVA_MIN}+ under /usr/lib/jvm (the stack itself keeps using Java 17)",
    )


def _strimzi_marker() -> str:
    return "\n".join([STRIMZI, *sorted(STRIMZI_KINDS)])


def generate_strimzi_crds(classpath: list[Path], cache_dir: Path, echo: Echo) -> list[Path]:
    """Run Strimzi's crd-generator over its API classes once per version and set of kinds; later calls reuse the
    files."""

    def generate(staging: Path) -> None:
        java = find_generator_java()
        echo(f"generating Strimzi {STRIMZI} CRDs from its API classes (Java {java.major}, once)…")
        outputs = [f"{cls}={staging / name}" for cls, name in STRIMZI_KINDS.items()]
        command = [
            str(java.executable),
            "-cp",
            ":".join(str(p) for p in classpath),
            "io.strimzi.crdgenerator.CrdGenerator",
            "--yaml",
            "--crd-api-version",
            "v1",
            "--api-versions",
            "v1",
            "--storage-version",
            "v1",
            *outputs,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        missing = [n for n in STRIMZI_KINDS.values() if not (staging / n).is_file()]
        if done.returncode != 0 or missing:
            raise StackError(
                f"Strimzi's crd-generator failed (exit {done.returncode}; missing {missing})",
                "read the output above; delete the cached Strimzi jars and provision again if they are damaged",
                (done.stdout + done.stderr)[-4000:],
            )

    return _cached_yamls(cache_dir / "crds" / f"strimzi-{STRIMZI}", _strimzi_marker(), generate)


def goproxy_base(environ: Mapping[str, str] = os.environ) -> str:
    """The first HTTP(S) proxy of $GOPROXY (as the go command would try first), else proxy.golang.org."""
    for entry in environ.get("GOPROXY", "").replace("|", ",").split(","):
        if entry.startswith(("https://", "http://")):
            return entry.rstrip("/")
    return DEFAULT_GOPROXY


def prometheus_operator_module_zip(cache_dir: Path) -> Path:
    """The Prometheus operator's module zip from the Go module proxy, verified against its pinned SHA-256 and cached."""
    pinned = PinnedFile(
        f"{goproxy_base()}/{PROMETHEUS_OPERATOR_MODULE}/@v/{PROMETHEUS_OPERATOR}.zip",
        PROMETHEUS_OPERATOR_ZIP_SHA256,
        PROMETHEUS_OPERATOR_ZIP_SIZE,
        cache_dir / "gomod" / PROMETHEUS_OPERATOR_MODULE / f"{PROMETHEUS_OPERATOR}.zip",
    )
    ensure_files([pinned], label="downloading the Prometheus operator's module")
    return pinned.target


def extract_prometheus_operator_crds(module_zip: Path, cache_dir: Path) -> list[Path]:
    """PodMonitor, ServiceMonitor and PrometheusRule CRDs, unpacked from the module zip once."""
    prefix = f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR}/{PROMETHEUS_OPERATOR_CRD_DIR}/"

    def unpack(staging: Path) -> None:
        with zipfile.ZipFile(module_zip) as archive:
            for name in PROMETHEUS_OPERATOR_CRDS:
                try:
                    (staging / name).write_bytes(archive.read(prefix + name))
                except KeyError:
                    raise StackError(
                        f"{module_zip} holds no {prefix}{name}",
                        "the pinned module version no longer ships that CRD there: pick the file's new path",
                    ) from None

    target = cache_dir / "crds" / f"prometheus-operator-{PROMETHEUS_OPERATOR}"
    return _cached_yamls(target, PROMETHEUS_OPERATOR_ZIP_SHA256, unpack)


def load_crds(files: Iterable[Path]) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                documents.append(document)
    return documents


def _apply(api: client.ApiextensionsV1Api, crd: dict[str, Any]) -> None:
    """Server-side apply: creates or updates in one idempotent call (and no 256 KiB last-applied annotation)."""
    name = crd["metadata"]["name"]
    try:
        api.patch_custom_resource_definition(
            name, crd, field_manager=FIELD_MANAGER, force=True, _content_type="application/apply-patch+yaml"
        )
    except ApiException as error:
        raise StackError(
            f"the apiserver refused CRD {name}: {error.reason}", "read the message below", str(error.body or "")
        ) from error


def _established(api: client.ApiextensionsV1Api, name: str) -> bool:
    crd = api.read_custom_resource_definition(name)
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def install_crds(api_client: client.ApiClient, files: Iterable[Path], timeout: float = ESTABLISH_TIMEOUT) -> list[str]:
    """Create or replace every CRD in ``files`` and wait until each is Established; return their names."""
    api = client.ApiextensionsV1Api(api_client)
    crds = load_crds(files)
    for crd in crds:
        _apply(api, crd)
    names = [c["metadata"]["name"] for c in crds]
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if not _established(api, n)]
        if pending and time.monotonic() > deadline:
            raise StackError(
                f"CRDs not Established within {timeout:.0f}s: {', '.join(pending)}",
                "read the kube-apiserver log (`gridctl stack logs kube-apiserver`)",
            )
        if pending:
            time.sleep(0.1)
    return names
