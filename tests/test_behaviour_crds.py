"""Custom resources on a real API server: the installed CRDs judge them, nothing is skipped silently.

One behaviour run (its own local cluster) over a copy of the platform plus:
  a ServiceMonitor breaking its generated CRD's enum        -> failure with the server's answer
  fixtures/crds (a CRD + custom resources, some broken)      -> the input's CRD is installed and used
  a custom kind no CRD defines                               -> failure "no CRD for Gadget"
  an API removed before the cluster's version                -> failure naming the replacement
and the unbroken platform objects still pass (the control).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_behaviour_negative import broken_copy, run_behaviour

from conformance.tools import REPO

pytestmark = pytest.mark.slow

EXTRA = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: bad-scheme, namespace: tartware}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: guests}}
  endpoints: [{port: http, scheme: ftp}]
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: lonely, namespace: tartware}
spec: {size: 1}
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: legacy, namespace: tartware}
spec:
  backend: {serviceName: guests, servicePort: 80}
"""


def test_custom_resources_are_judged_by_the_installed_crds(tmp_path: Path) -> None:
    def add_cases(root: Path) -> None:
        (root / "zz-crd-cases.yaml").write_text(EXTRA)
        shutil.copytree(REPO / "fixtures" / "crds", root / "zz-widgets")

    root = broken_copy(tmp_path, add_cases)
    verdicts = run_behaviour(root, ["test_platform_apply.py::test_server_side_apply"], tmp_path)

    def verdict(ref: str) -> tuple[str, str]:
        v = verdicts[f"test_server_side_apply[{ref}]"]
        return v.outcome, v.message

    # Control: the platform's own custom resources pass on the generated CRDs.
    for ref in (
        "ServiceMonitor/monitoring/prometheus",
        "PeerAuthentication/tartware/default",
        "Widget/shop/blue",
    ):
        assert verdict(ref)[0] == "passed", verdict(ref)
    outcome, message = verdict("ServiceMonitor/tartware/bad-scheme")
    assert outcome == "failure" and 'spec.endpoints[0].scheme: Unsupported value: "ftp"' in message, message
    outcome, message = verdict("Widget/shop/bad-enum")
    assert outcome == "failure" and 'spec.size: Unsupported value: "medium"' in message, message
    outcome, message = verdict("Widget/shop/unknown-field")
    assert outcome == "failure" and ".spec.colour: field not declared in schema" in message, message
    outcome, message = verdict("Widget/shop/unserved-version")
    assert outcome == "failure" and "does not serve example.com/v1alpha1 (serves: v1)" in message, message
    outcome, message = verdict("Gadget/tartware/lonely")
    assert outcome == "failure" and "no CRD for Gadget (example.com)" in message, message
    outcome, message = verdict("Ingress/tartware/legacy")
    assert outcome == "failure", message
    assert "extensions/v1beta1 Ingress was removed in Kubernetes 1.22" in message
    assert "use networking.k8s.io/v1 Ingress instead" in message
    exempt = [v for name, v in verdicts.items() if "VmwarevsphereConfig" in name]
    assert exempt and all(
        v.outcome == "skipped" and "exempted from schema checks" in v.message for v in exempt
    )
