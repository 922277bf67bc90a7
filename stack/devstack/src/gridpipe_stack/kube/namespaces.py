"""Remove a namespace and everything in it at once, even objects held by finalizers of absent controllers.

The namespace controller would empty a deleted namespace, but it waits for every object's finalizers, and a test
that stopped its operator leaves finalizers nobody will remove. So this deletes every namespaced collection the
apiserver serves, strips finalizers left behind, and finalizes the namespace itself rather than waiting for the
controller's next pass.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from gridpipe_stack.errors import StackError

GONE_TIMEOUT = 30.0
_MERGE_PATCH = "application/merge-patch+json"


def _namespaced_collections(dynamic: Any) -> list[Any]:
    seen: set[tuple[str, str]] = set()
    found = []
    for resource in dynamic.resources.search(namespaced=True):
        key = (resource.group, resource.name)
        if "/" in resource.name or "deletecollection" not in (resource.verbs or []) or key in seen:
            continue
        seen.add(key)
        found.append(resource)
    return found


def _empty(dynamic: Any, namespace: str) -> None:
    collections = _namespaced_collections(dynamic)
    for resource in collections:
        dynamic.request("delete", resource.path(namespace=namespace))
    for resource in collections:
        for item in dynamic.get(resource, namespace=namespace).items:
            if item.metadata.finalizers:
                dynamic.patch(
                    resource,
                    {"metadata": {"finalizers": None}},
                    name=item.metadata.name,
                    namespace=namespace,
                    content_type=_MERGE_PATCH,
                )


def delete_namespace(api_client: client.ApiClient, name: str, timeout: float = GONE_TIMEOUT) -> None:
    """Delete ``name`` with all its objects and wait until the namespace no longer exists."""
    core = client.CoreV1Api(api_client)
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return
        raise
    _empty(DynamicClient(api_client), name)  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    while True:
        try:
            live = core.read_namespace(name)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        if live.spec and live.spec.finalizers:
            live.spec.finalizers = []
            try:
                core.replace_namespace_finalize(name, live)
            except ApiException as error:
                if error.status not in (404, 409):  # gone, or changed by the namespace controller: look again
                    raise
        if time.monotonic() > deadline:
            raise StackError(f"namespace {name} still exists {timeout:.0f}s after deletion", "read the apiserver log")
        time.sleep(0.1)
