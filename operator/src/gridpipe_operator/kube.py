"""The few Kubernetes calls the operator makes, over the official client: apply, read, delete, write status."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gridpipe_operator.render import FIELD_MANAGER, Child
from gridpipe_schemas.crd import PLURAL
from gridpipe_schemas.pipeline import API_GROUP, API_VERSION

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


def load_api_client(pool_size: int = 16) -> Any:
    """An ApiClient from the pod's service account in a cluster, else from $KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        # the client reads $KUBECONFIG when it is imported; read it now, as it may have been set since
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def is_not_found(error: Exception) -> bool:
    return isinstance(error, ApiException) and error.status == 404


def api_message(error: Exception) -> str:
    """The API server's one-line message from an ApiException, else the exception's text."""
    import json

    if isinstance(error, ApiException):
        try:
            return str(json.loads(error.body or "").get("message") or error.reason)
        except (TypeError, ValueError):
            return f"HTTP {error.status} {error.reason}"
    return str(error)


class Kube:
    def __init__(self, api_client: Any) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    def apply(self, child: Child) -> dict[str, Any]:
        """Server-side apply: the child's fields owned by us become exactly as rendered, whoever changed them."""
        result: Any = self.custom.patch_namespaced_custom_object(
            child.group,
            child.version,
            child.body["metadata"]["namespace"],
            child.plural,
            child.name,
            child.body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
        )
        return dict(result)

    def get(self, coordinates: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any] | None:
        group, version, plural = coordinates
        try:
            found: Any = self.custom.get_namespaced_custom_object(group, version, namespace, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(found)

    def delete(self, coordinates: tuple[str, str, str], namespace: str, name: str) -> bool:
        group, version, plural = coordinates
        try:
            self.custom.delete_namespaced_custom_object(group, version, namespace, plural, name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get((API_GROUP, API_VERSION, PLURAL), namespace, name)

    def list_pipelines(self, namespaces: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """GridPipelines in these namespaces, or in the whole cluster when none are given."""
        if not namespaces:
            found: Any = self.custom.list_cluster_custom_object(API_GROUP, API_VERSION, PLURAL)
            return list(found.get("items", []))
        items: list[dict[str, Any]] = []
        for namespace in namespaces:
            listed: Any = self.custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL)
            items.extend(listed.get("items", []))
        return items

    def write_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge the status in (conditions, a list, are replaced whole). Reconciles of one pipeline never overlap."""
        body = {"status": dict(status)}
        self.custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, PLURAL, name, body, _content_type=MERGE
        )

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return {key: str(value) for key, value in (secret.data or {}).items()}

    def ensure_peering(self, name: str, namespaces: tuple[str, ...]) -> None:
        """The kopf peering object replicas meet in: cluster-wide, or one per watched namespace (created if absent)."""
        body = {"apiVersion": "kopf.dev/v1", "metadata": {"name": name}}
        try:
            if not namespaces:
                self.custom.create_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", {**body, "kind": "ClusterKopfPeering"}
                )
            for namespace in namespaces:
                self.custom.create_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, "kopfpeerings", {**body, "kind": "KopfPeering"}
                )
        except ApiException as error:
            if error.status != 409:  # already there
                raise

    def peers(self, name: str, namespaces: tuple[str, ...]) -> dict[str, Any] | None:
        """The peers kopf recorded in the peering object(s): identity -> {priority, lastseen, lifetime}; None when
        a peering object is missing (kopf then keeps the operator paused)."""
        records: list[Any] = []
        try:
            if not namespaces:
                records.append(self.custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name))
            for namespace in namespaces:
                records.append(
                    self.custom.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", name)
                )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        found: dict[str, Any] = {}
        for record in records:
            found.update(record.get("status") or {})
        return found
