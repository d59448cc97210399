"""The whole rendered platform passes real API validation (server-side dry-run apply).

test_render_is_complete                 the render loaded without problems (nothing left out)
test_server_side_apply[<Kind/ns/name>]  one per object: applied (namespaces, cluster-scoped),
                                        accepted by dry-run, or failed; a custom kind without a CRD
                                        fails unless policy.yaml exempts it (skipped, with the
                                        exemption); a generated CRD the server refuses is broken
"""

from __future__ import annotations

import json

import pytest

from conformance.behaviour.platform import Outcome
from conformance.errors import InfraError
from conformance.report.allure_labels import attach_text, label

from .conftest import TIER, BehaviourEnv


def test_render_is_complete(behaviour_env: BehaviourEnv) -> None:
    """Every manifest became objects; custom kinds and their validation are listed."""
    label(TIER, "server-side apply", severity="critical")
    inventory, platform = behaviour_env.inventory, behaviour_env.platform
    crds = "\n".join(
        f"  {api}/{kind}: {status.outcome.value + ': ' if status.outcome else ''}{status.message}"
        for (api, kind), status in sorted(platform.crds.items())
    )
    extra = ", ".join(platform.extra_namespaces) or "none"
    attach_text(
        "kinds",
        f"kinds and how they are validated:\n{crds}\n\nnamespaces used but not declared "
        f"(created for the dry-run): {extra}",
    )
    if inventory.problems:
        listing = "\n".join(f"  - {p}" for p in inventory.problems)
        pytest.fail(
            f"{len(inventory.problems)} input problem(s): these objects could not be judged:\n{listing}",
            pytrace=False,
        )


def test_server_side_apply(platform_ref: str, behaviour_env: BehaviourEnv) -> None:
    """The API server accepts the object as rendered (fieldValidation=Strict)."""
    obj = next(o for o in behaviour_env.inventory.objects if o.ref == platform_ref)
    label(TIER, "server-side apply", [obj.labels.get("app.kubernetes.io/name", obj.name)], "critical")
    result = behaviour_env.platform.results[platform_ref]
    if result.warnings:
        attach_text("API warnings", "\n".join(result.warnings))
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(f"not validated: {result.message}")
    if result.outcome is Outcome.BROKEN:
        raise InfraError(f"{platform_ref} could not be judged: {result.message}")
    if result.outcome is Outcome.FAILED:
        attach_text("object", json.dumps(obj.body, indent=2))
        pytest.fail(
            f"{obj.api_version} {platform_ref} ({result.source}) rejected by the API server:\n"
            f"{result.message}",
            pytrace=False,
        )
