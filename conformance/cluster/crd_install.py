"""The CRDs a cluster the suite owns gets, so custom resources meet real API validation.

They are the same CRDs the static tier turns into kubeconform schemas
(conformance/schema/crds.py): a CRD in the input wins, else the catalogue `make tools`
generated from pinned upstream sources. Nothing is rebuilt from JSON schemas.

    choice = choose("monitoring.coreos.com", "ServiceMonitor", {}, catalogue)
    kube.apply(choice.crd)      # choice.origin: "prometheus-operator ...@v0.95.2 (controller-gen v0.23.0)"
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.cluster.base import MANAGED_BY
from conformance.schema.crds import Catalogue


@dataclass(frozen=True)
class CrdChoice:
    crd: dict[str, Any]  # ready to apply (see for_cluster)
    origin: str  # where it came from, for messages
    from_input: bool


def for_cluster(crd: Mapping[str, Any]) -> dict[str, Any]:
    """The CRD as this cluster can serve it.

    Only apiVersion, kind, name, labels, annotations and spec are kept (a CRD copied
    from a live cluster carries status and server fields). A Webhook conversion needs the
    operator's conversion service, which does not run here, so versions convert with
    strategy None: each object is judged against the schema of the version it is written in.
    """
    meta = crd.get("metadata") or {}
    spec = copy.deepcopy(dict(crd.get("spec") or {}))
    if (spec.get("conversion") or {}).get("strategy") == "Webhook":
        spec["conversion"] = {"strategy": "None"}
    out_meta: dict[str, Any] = {
        "name": meta.get("name"),
        "labels": {**(meta.get("labels") or {}), **MANAGED_BY},
    }
    if meta.get("annotations"):
        out_meta["annotations"] = dict(meta["annotations"])
    return {"apiVersion": crd.get("apiVersion"), "kind": crd.get("kind"), "metadata": out_meta, "spec": spec}


def choose(
    group: str,
    kind: str,
    inputs: Mapping[tuple[str, str], tuple[Mapping[str, Any], str]],
    catalogue: Catalogue,
) -> CrdChoice | None:
    """The CRD for a kind: the input's ((group, kind) -> (crd, where)), else the catalogue's."""
    if (group, kind) in inputs:
        crd, where = inputs[(group, kind)]
        return CrdChoice(for_cluster(crd), f"the input ({where})", True)
    found = catalogue.crd_for(group, kind)
    if found is None:
        return None
    crd, source = found
    return CrdChoice(for_cluster(crd), f"{source.name} {source.describe()}", False)
