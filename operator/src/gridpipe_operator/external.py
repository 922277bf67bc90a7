"""External resources of a pipeline, as status outcomes. The work itself is ``gridpipe_schemas.resources``, shared
with `gridctl run` so a GridPipeline gets the same schemas and buckets locally and on Kubernetes."""

from __future__ import annotations

import httpx

from gridpipe_operator.status import Outcome
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.registry import RegistryError
from gridpipe_schemas.resources import register_schemas


def ensure_schemas(pipeline: GridPipeline, registry_url: str) -> Outcome:
    try:
        done = register_schemas(pipeline, registry_url)
    except (RegistryError, httpx.HTTPError) as error:
        return Outcome(False, "RegistryError", str(error))
    return Outcome(True, "Registered", f"{len(done)} subjects registered with BACKWARD compatibility")
