"""On Kubernetes the console follows GridPipeline resources: a pipeline applied with kubectl appears without a
restart, a deleted one goes, and its job state is read from the GridPipeline's status the operator writes.

It only reads (get, list, watch on gridpipelines: ``RBAC_RULES``). The watch runs on a thread and starts over from a
fresh list whenever it ends or fails, so a restarted API server or an expired resourceVersion loses nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from gridpipe_console.settings import Pipelines, PipelineView
from gridpipe_schemas.crd import PLURAL
from gridpipe_schemas.pipeline import API_GROUP, API_VERSION, KIND, PipelineInvalid, parse_pipeline

log = logging.getLogger("gridpipe.console")
WATCH_SECONDS = 60
RETRY_SECONDS = 5.0
# What the console's ServiceAccount needs, and all it gets: reading GridPipelines.
RBAC_RULES = [{"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch"]}]


def load_api_client(kubeconfig: str | None) -> Any:
    """An ApiClient from the pod's ServiceAccount in a cluster, else from the kubeconfig given or $KUBECONFIG."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        except config.ConfigException:
            kubeconfig = os.environ.get("KUBECONFIG")
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def view_of(obj: dict[str, Any]) -> tuple[PipelineView, str | None]:
    """A GridPipeline object as the console sees it, with the job state its status reports."""
    document = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")},
        "spec": obj.get("spec") or {},
    }
    status = obj.get("status") or {}
    job_state = status.get("jobState") or status.get("phase") or "NONE"
    return PipelineView.of(parse_pipeline(document, source=f"GridPipeline {obj['metadata']['name']}")), job_state


class PipelineWatch(threading.Thread):
    def __init__(self, pipelines: Pipelines, namespace: str | None, kubeconfig: str | None) -> None:
        super().__init__(name="console-gridpipelines", daemon=True)
        self.pipelines = pipelines
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.stopping = threading.Event()
        self.synced = threading.Event()

    def run(self) -> None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        while not self.stopping.is_set():
            try:
                self._list_then_watch()
            except (ApiException, HTTPError, OSError) as failed:
                log.warning("watching GridPipelines failed (%s); starting over in %.0f s", failed, RETRY_SECONDS)
                self.stopping.wait(RETRY_SECONDS)

    def _calls(self, api: Any) -> tuple[Any, dict[str, Any]]:
        if self.namespace:
            return api.list_namespaced_custom_object, {
                "group": API_GROUP,
                "version": API_VERSION,
                "namespace": self.namespace,
                "plural": PLURAL,
            }
        return api.list_cluster_custom_object, {"group": API_GROUP, "version": API_VERSION, "plural": PLURAL}

    def _list_then_watch(self) -> None:
        from kubernetes import client, watch

        with load_api_client(self.kubeconfig) as api_client:
            api = client.CustomObjectsApi(api_client)
            list_call, where = self._calls(api)
            listed = list_call(**where)
            present = set()
            for obj in listed.get("items", []):
                present.add(self._apply(obj))
            for view in self.pipelines.all():
                if view.name not in present:
                    self.pipelines.remove(view.name)
            self.synced.set()
            version = listed["metadata"]["resourceVersion"]
            for event in watch.Watch().stream(  # type: ignore[no-untyped-call]
                list_call, **where, resource_version=version, timeout_seconds=WATCH_SECONDS
            ):
                if self.stopping.is_set():
                    return
                obj = event["object"]
                if event["type"] == "DELETED":
                    self.pipelines.remove(obj["metadata"]["name"])
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self._apply(obj)
                elif event["type"] == "ERROR":
                    return  # e.g. 410 Gone: list again

    def _apply(self, obj: dict[str, Any]) -> str:
        name = str(obj["metadata"]["name"])
        try:
            view, job_state = view_of(obj)
        except PipelineInvalid as invalid:
            log.warning("GridPipeline %s is not valid, not shown: %s", name, invalid)
            self.pipelines.remove(name)
            return name
        self.pipelines.put(view, job_state)
        return name
