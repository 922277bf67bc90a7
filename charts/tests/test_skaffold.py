"""skaffold.yaml and the kind setup, checked without skaffold or kind (neither can run here: the Go module proxy
refuses skaffold, and kind's node images come from a registry): every artifact's context, Dockerfile and staging
hook exist, and the chart release it deploys renders, with the kind profile's values, into pods that run exactly
the images skaffold builds and the services it forwards."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridpipe_stack.images import images_app

ROOT = Path(__file__).resolve().parents[2]
SKAFFOLD = ROOT / "skaffold.yaml"
TAG = "skaffold-dev"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SKAFFOLD.read_text())
    return loaded


def test_config_names_the_documented_schema_and_three_images(config: dict[str, Any]) -> None:
    assert config["apiVersion"] == "skaffold/v4beta13" and config["kind"] == "Config"
    images = [a["image"] for a in config["build"]["artifacts"]]
    assert images == ["gridpipe/operator", "gridpipe/console", "gridpipe/flink-job"]


def test_every_artifact_builds_from_files_that_exist(config: dict[str, Any]) -> None:
    commands = {c.name for c in images_app.registered_commands}
    for artifact in config["build"]["artifacts"]:
        context = ROOT / artifact["context"]
        assert context.is_dir(), artifact
        dockerfile = context / artifact["docker"]["dockerfile"]
        assert dockerfile.is_file(), f"{artifact['image']}: no {dockerfile}"
        assert (ROOT / ".dockerignore").is_file()
        hook = artifact["hooks"]["before"][0]["command"]
        assert hook[-3:] == ["gridctl", "images", "stage"] and "stage" in commands
        staged = re.findall(r"^(?:COPY|ADD)\s+(?:--\S+\s+)*(build/images/\S+)", dockerfile.read_text(), re.MULTILINE)
        assert staged, f"{dockerfile} copies nothing that `gridctl images stage` prepares"


def _release(config: dict[str, Any], profile: str | None) -> dict[str, Any]:
    release = dict(config["manifests"]["helm"]["releases"][0])
    for entry in config.get("profiles", []):
        if entry["name"] != profile:
            continue
        for patch in entry["patches"]:
            assert patch["op"] == "add" and patch["path"] == "/manifests/helm/releases/0/valuesFiles"
            release["valuesFiles"] = patch["value"]
    return release


def _render(helm_binary: Path, release: dict[str, Any], artifacts: list[str]) -> list[dict[str, Any]]:
    """What skaffold deploys: its templated values filled as skaffold fills them for a local build (IMAGE_REPO_<x> and
    IMAGE_TAG_<x>, x the image name with every character that is not a letter or digit made an underscore)."""
    by_key = {re.sub(r"[^A-Za-z0-9]", "_", image): image for image in artifacts}
    chart = ROOT / release["chartPath"]
    subprocess.run([str(helm_binary), "dependency", "build", str(chart), "--skip-refresh"], check=True, timeout=120)
    args = ["template", release["name"], str(chart), "--namespace", release["namespace"]]
    for values in release.get("valuesFiles", []):
        assert (ROOT / values).is_file(), values
        args += ["--values", str(ROOT / values)]
    for key, template in release["setValueTemplates"].items():
        image = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", template)
        assert image, f"{key}: {template}"
        assert image[2] in by_key, f"{key}: {template} names no artifact"
        args += ["--set", f"{key}={TAG if image[1] == 'TAG' else by_key[image[2]]}"]
    done = subprocess.run([str(helm_binary), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.mark.parametrize("profile", [None, "kind"])
def test_the_release_runs_the_images_skaffold_builds(
    config: dict[str, Any], helm_binary: Path, profile: str | None
) -> None:
    artifacts = [a["image"] for a in config["build"]["artifacts"]]
    documents = _render(helm_binary, _release(config, profile), artifacts)
    images: set[str] = set()
    for doc in documents:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            images.add(container["image"])
            images.update(e["value"] for e in container.get("env", []) if e["name"].endswith("FLINK_IMAGE"))
    for image in artifacts:
        assert f"{image}:{TAG}" in images, (image, sorted(images))

    services = {
        (d["metadata"]["name"], p["port"]) for d in documents if d["kind"] == "Service" for p in d["spec"]["ports"]
    }
    forwarded = [f for f in config["portForward"] if not f["resourceName"].endswith("-rest")]  # pipeline UIs come later
    assert all((f["resourceName"], f["port"]) in services for f in forwarded), services
    if profile == "kind":
        pool = next(d for d in documents if d["kind"] == "KafkaNodePool")
        assert pool["spec"]["replicas"] == 1


def test_the_kind_cluster_is_the_one_the_profile_and_make_use(config: dict[str, Any]) -> None:
    cluster = yaml.safe_load((ROOT / "charts" / "kind" / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (activation,) = next(p for p in config["profiles"] if p["name"] == "kind")["activation"]
    assert activation["kubeContext"] == f"kind-{cluster['name']}"
    makefile = (ROOT / "Makefile").read_text()
    assert "--config charts/kind/cluster.yaml" in makefile and f"--kube-context kind-{cluster['name']}" in makefile
