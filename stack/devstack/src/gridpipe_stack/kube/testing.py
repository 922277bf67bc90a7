"""pytest fixtures for tests against a real kube-apiserver (loaded from the root conftest.py).

``kube_cluster`` starts a stack of its own holding just etcd, kube-apiserver (with the CRDs) and
kube-controller-manager (a few seconds), its apiserver auditing writes and Secret accesses (``audit_events()``), and at
the end stops it and checks that no process of it survived.
``kube_namespace`` gives each test a fresh namespace and removes it afterwards, with everything in it, even objects
whose finalizer's owner (a stopped operator) is gone. ``helm_binary`` is the pinned helm, ``helm_unittest_binary``
the pinned helm-unittest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack import stack
from gridpipe_stack.kube.binaries import ensure_kube_binaries
from gridpipe_stack.kube.cluster import KubeCluster, cluster_of
from gridpipe_stack.kube.namespaces import delete_namespace
from gridpipe_stack.kube.provision import provision_kube
from gridpipe_stack.kube.services import kube_services
from gridpipe_stack.supervise import marked_processes
from gridpipe_stack.testing import stack_config

# The k8s ports (+43, +78, +79) are reserved in every stack's range, so the test base is shared with local_stack.
KUBE_TEST_PORT_BASE = int(os.environ.get("GRIDPIPE_TEST_PORT_BASE", "28000"))


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    cfg = stack_config("test-k8s", tmp_path_factory.mktemp("kube"), KUBE_TEST_PORT_BASE)
    try:
        stack.start(cfg, stack.scaled(kube_services(cfg, provision_kube(cfg.cache_dir), audit=True)))
        yield cluster_of(cfg)
    finally:
        stack.down(cfg)
        survivors = list(marked_processes(str(cfg.run_dir)))
        assert not survivors, f"processes of the test cluster survived `down`: {survivors}"


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return ensure_kube_binaries(default_cache_dir(), print).helm


@pytest.fixture(scope="session")
def helm_unittest_binary() -> Path:
    """helm-unittest's command (the plugin's binary), built from the Go module proxy; it embeds helm's engine."""
    return ensure_kube_binaries(default_cache_dir(), print).helm_unittest


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    with kube_cluster.api_client() as api_client:
        client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        with kube_cluster.api_client() as api_client:
            delete_namespace(api_client, name)
