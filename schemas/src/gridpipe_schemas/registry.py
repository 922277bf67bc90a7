"""Register schemas through the registry's Confluent-compatible API, with BACKWARD compatibility enforced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from gridpipe_schemas.catalog import SchemaDoc, SchemaType

COMPATIBILITY = "BACKWARD"
_CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


class RegistryError(Exception):
    """The registry refused or could not be reached; ``str()`` names the problem and the fix."""


@dataclass(frozen=True)
class Registered:
    subject: str
    schema_id: int
    version: int
    created: bool


class SchemaRegistry:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout, headers=_CONTENT_TYPE)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SchemaRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"schema registry at {self.url} is unreachable ({type(exc).__name__}) -- fix: start it with "
                "`gridctl stack up`, or pass the right --schema-registry-url"
            ) from exc

    @staticmethod
    def _reason(response: httpx.Response) -> str:
        try:
            return str(response.json().get("message") or response.text)
        except ValueError:
            return response.text

    def versions(self, subject: str) -> list[int]:
        response = self._call("GET", f"/subjects/{quote(subject, safe='')}/versions")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return [int(v) for v in response.json()]

    def set_compatibility(self, subject: str, level: str = COMPATIBILITY) -> None:
        response = self._call("PUT", f"/config/{quote(subject, safe='')}", {"compatibility": level})
        if response.status_code >= 400:
            raise RegistryError(f"could not set {level} compatibility on {subject}: {self._reason(response)}")

    def is_compatible(self, subject: str, doc: SchemaDoc) -> tuple[bool, str]:
        """Ask the registry whether ``doc`` may follow the latest version of ``subject``, and why not."""
        response = self._call(
            "POST", f"/compatibility/subjects/{quote(subject, safe='')}/versions/latest?verbose=true", _body(doc)
        )
        if response.status_code == 404:
            return True, ""
        if response.status_code >= 400:
            return False, self._reason(response)
        payload = response.json()
        messages = payload.get("messages") or []
        return bool(payload.get("is_compatible")), "; ".join(str(m) for m in messages)

    def register(self, subject: str, doc: SchemaDoc) -> Registered:
        """Register ``doc`` under ``subject`` (a no-op returning the existing id when it is already there)."""
        before = self.versions(subject)
        if not before:
            self.set_compatibility(subject)
        compatible, why = self.is_compatible(subject, doc) if before else (True, "")
        if not compatible:
            raise RegistryError(
                f"the registry refused {doc.name} for subject {subject} as incompatible ({COMPATIBILITY}): "
                f"{why or 'no reason given'} -- fix: make the change compatible (add fields with defaults, "
                "never change a field's type) or publish it under a new subject"
            )
        response = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", _body(doc))
        if response.status_code >= 400:
            raise RegistryError(
                f"the registry refused {doc.name} for subject {subject} (HTTP {response.status_code}): "
                f"{self._reason(response)}"
            )
        schema_id = int(response.json()["id"])
        after = self.versions(subject)
        return Registered(subject, schema_id, max(after) if after else 1, created=len(after) > len(before))

    def register_all(self, entries: Iterable[tuple[str, SchemaDoc]]) -> list[Registered]:
        return [self.register(subject, doc) for subject, doc in entries]


def _body(doc: SchemaDoc) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": doc.text}
    if doc.type is not SchemaType.AVRO:
        body["schemaType"] = doc.type.value
    return body
