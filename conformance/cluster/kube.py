"""A small Kubernetes API client: raw REST calls with discovery, apply, dry-run and eviction.

Built on the official client's ApiClient (so every kubeconfig auth method works)
but speaking plain dicts, returning status codes and `Warning` headers instead of
generated models, because the suite needs exactly those (dry-run verdicts, 429
vs 403 messages, PodSecurity warnings).

    kube = Kube(Path("kubeconfig"))
    kube.apply(deployment, dry_run=True)           # server-side apply, fieldValidation=Strict
    kube.get("v1", "Namespace", "tartware")
    kube.evict("tartware", "api-gateway-abc")       # raises ApiError(429, ...) when a PDB blocks
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from ..errors import InfraError

FIELD_MANAGER = "tartware-conformance"


@dataclass
class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status message and field causes."""

    status: int
    reason: str
    message: str
    causes: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.status} {self.reason}: {self.message}"]
        lines += [f"  * {c}" for c in sorted(self.causes)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Response:
    """A 2xx answer: status, parsed body, and the API server's Warning headers (e.g. PodSecurity)."""

    status: int
    body: dict[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "", sub: str = "") -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


def _warnings(headers: Any) -> tuple[str, ...]:
    values: list[str] = list(headers.getlist("Warning")) if hasattr(headers, "getlist") else []
    out = []
    for value in values:
        # RFC 7234 form the API server uses: 299 - "text"
        text = value.split(" ", 2)[-1].strip() if value.startswith("299") else value
        out.append(text.strip('"'))
    return tuple(out)


def api_error(status: int, payload: bytes | str | None) -> ApiError:
    """ApiError from a non-2xx body (a Status object; anything else becomes its message)."""
    try:
        body = json.loads(payload or b"{}")
    except (ValueError, TypeError):
        body = {"message": str(payload)[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    details = body.get("details") or {}
    causes = [
        f"{c.get('field', '')}: {c.get('message', '')}".strip(": ")
        for c in (details.get("causes") or [])
        if isinstance(c, dict)
    ]
    return ApiError(status, str(body.get("reason", "")), str(body.get("message", "")), causes, body)


class Kube:
    """Thread-safe enough for the suite: discovery is guarded, the ApiClient pools connections."""

    def __init__(self, kubeconfig: Path, timeout_s: float = 30.0) -> None:
        from kubernetes import config as kube_config  # import late: 0.3 s, only the behaviour tier needs it

        self.kubeconfig = kubeconfig
        self.timeout_s = timeout_s
        try:
            load: Any = kube_config.new_client_from_config  # untyped in the client package
            self._client: Any = load(config_file=str(kubeconfig))
        except Exception as err:  # the loader raises several unrelated types for a bad file
            raise InfraError(f"cannot load kubeconfig {kubeconfig}: {err}") from None
        self.host = str(self._client.configuration.host)
        self._resources: dict[tuple[str, str], Resource] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    # -- raw requests ---------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Iterable[tuple[str, str]] = (),
        content_type: str = "application/json",
        timeout_s: float | None = None,
    ) -> Response:
        """One call; non-2xx raises ApiError, an unreachable server raises InfraError."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            req = self._client.param_serialize(
                method, path, query_params=list(query), header_params=headers, body=body
            )
            raw = self._client.call_api(*req, _request_timeout=timeout_s or self.timeout_s)
            data = raw.read()
        except (urllib3.exceptions.HTTPError, OSError) as err:  # refused, reset, TLS, timeouts
            raise InfraError(f"API server {self.host} unreachable ({method} {path}): {err}") from None
        if not 200 <= raw.status <= 299:
            raise api_error(raw.status, data)
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"raw": data.decode(errors="replace") if isinstance(data, bytes) else str(data)}
        return Response(
            raw.status, parsed if isinstance(parsed, dict) else {"items": parsed}, _warnings(raw.headers)
        )

    # -- discovery ------------------------------------------------------------------
    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource of a kind (discovery, cached; re-read once on a miss, e.g. after a CRD)."""
        key = (api_version, kind)
        with self._lock:
            if key not in self._resources:
                self._discover(api_version)
            if key not in self._resources:
                raise ApiError(404, "NotFound", f"the server has no kind {kind} in {api_version}")
            return self._resources[key]

    def forget(self, api_version: str) -> None:
        """Drop cached discovery of a group version (after installing or removing CRDs)."""
        with self._lock:
            for key in [k for k in self._resources if k[0] == api_version]:
                del self._resources[key]

    def _discover(self, api_version: str) -> None:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = self.request("GET", path).body
        except ApiError as err:
            if err.status == 404:
                return
            raise
        for res in listing.get("resources") or []:
            if "/" in str(res.get("name", "")):
                continue  # subresources
            self._resources[(api_version, str(res["kind"]))] = Resource(
                api_version, str(res["kind"]), str(res["name"]), bool(res.get("namespaced"))
            )

    def has_kind(self, api_version: str, kind: str) -> bool:
        """Does the server serve this kind? Example: ``kube.has_kind("batch/v1", "Job")``"""
        try:
            self.resource(api_version, kind)
        except ApiError:
            return False
        return True

    # -- objects --------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any]:
        """One object. Example: ``kube.get("apps/v1", "Deployment", "guests", "tartware")``"""
        return self.request("GET", self.resource(api_version, kind).path(namespace, name)).body

    def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any] | None:
        """Like get(), None when the object does not exist."""
        try:
            return self.get(api_version, kind, name, namespace)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str = "",
        labels: Mapping[str, str] | None = None,
        fields: str = "",
    ) -> list[dict[str, Any]]:
        """Objects of a kind, each with apiVersion and kind set (list items lack them).

        Example: ``kube.list("v1", "Pod", "tartware", labels={"app.kubernetes.io/name": "guests"})``
        """
        query = []
        if labels:
            query.append(("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))))
        if fields:
            query.append(("fieldSelector", fields))
        body = self.request("GET", self.resource(api_version, kind).path(namespace), query=query).body
        # Items of a list carry no apiVersion/kind; put them back so each is a whole object.
        return [
            {"apiVersion": api_version, "kind": kind, **i}
            for i in body.get("items") or []
            if isinstance(i, dict)
        ]

    def _target(self, body: Mapping[str, Any]) -> tuple[Resource, str, str]:
        api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
        meta = body.get("metadata") or {}
        res = self.resource(api_version, kind)
        namespace = str(meta.get("namespace") or "") if res.namespaced else ""
        if res.namespaced and not namespace:
            namespace = "default"
        return res, namespace, str(meta.get("name", ""))

    def create(self, body: Mapping[str, Any], *, dry_run: bool = False) -> Response:
        """POST (fieldValidation=Strict); dry_run runs admission (e.g. PodSecurity) without storing."""
        res, namespace, _ = self._target(body)
        query = [("fieldValidation", "Strict"), ("fieldManager", FIELD_MANAGER)] + (
            [("dryRun", "All")] if dry_run else []
        )
        return self.request("POST", res.path(namespace), body=dict(body), query=query)

    def apply(
        self, body: Mapping[str, Any], *, dry_run: bool = False, validation: str = "Strict"
    ) -> Response:
        """Server-side apply (force, fieldValidation=Strict as `kubectl apply` does by default)."""
        res, namespace, name = self._target(body)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), ("fieldValidation", validation)]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            res.path(namespace, name),
            body=dict(body),
            query=query,
            content_type="application/apply-patch+yaml",
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str = "",
        patch_type: str = "merge",
        sub: str = "",
    ) -> dict[str, Any]:
        """Merge (default), strategic or JSON patch: ``kube.patch("v1", "Node", n, {"spec": {...}})``"""
        content = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[patch_type]
        path = self.resource(api_version, kind).path(namespace, name, sub)
        return self.request("PATCH", path, body=patch, content_type=content).body

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str = "",
        *,
        propagation: str = "Background",
        grace_s: int | None = None,
    ) -> bool:
        """Delete; False when it was already gone."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if grace_s is not None:
            body["gracePeriodSeconds"] = grace_s
        try:
            self.request("DELETE", self.resource(api_version, kind).path(namespace, name), body=body)
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    def evict(self, namespace: str, pod: str) -> Response:
        """The Eviction subresource, as `kubectl drain` calls it; a PDB refusal raises ApiError(429)."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        return self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", body=body)
