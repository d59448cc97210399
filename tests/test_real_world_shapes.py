"""Shapes public repositories really use, which the static tier once judged wrongly (issue 18).

Each case pins both sides: the shape that used to fail through the tool's own fault now passes,
and the true positive next to it still fails. Inputs live in fixtures/real-world/ (modelled on
public charts and manifests) and fixtures/rules/<rule>/ (credential, probe and priority rules).

  * a chart's crds/ file that starts with `---` (controller-gen output) or holds several CRDs;
  * lists kubectl applies item by item: `v1 List`, `ConfigMapList`, `RoleList`, `RoleBindingList`;
  * credential look-alikes: counts, cluster ids, commands, references, images, comments, nested keys;
  * YAML merge keys (`<<: *app`): kubectl resolves them, kubeconform -strict refused the file;
  * `port: null` in a NetworkPolicy: the API server reads it as every port, the schema check gave an
    unreadable oneOf error; now one finding of netpol-port-null;
  * containers from a named template (`include` of a define in _helpers.tpl): findings pointed at
    the include line, now at the definition.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance import tools
from conformance.credentials import embeds_credential, fingerprint, is_credential
from conformance.inventory import K8sObject, Problem, load_bytes
from conformance.inventory.locate import locate
from conformance.inventory.render import parse_rendered
from conformance.report.redact import redact_object, redact_text
from conformance.schema.locations import SchemaLocations
from conformance.settings import Settings
from conformance.static import (
    StaticRun,
    failing_schema,
    input_problems,
    rule_verdicts,
    run_static,
    schema_groups,
)
from conformance.tools import REPO

REAL = REPO / "fixtures" / "real-world"
CRD = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {}}}\n"


def _run(manifests: Path) -> StaticRun:
    return run_static(Settings.resolve({"manifests": str(manifests)}.get, {}))


def _copy(case: str, dest: Path) -> Path:
    shutil.copytree(REAL / case, dest / case)
    return dest / case


def _line_of(path: Path, text: str, after: str = "") -> int:
    """1-based line of the first `text` at or after the first line containing `after`."""
    lines = path.read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i in range(start, len(lines)) if text in lines[i]) + 1


# --- 1. chart CRDs after a leading `---` --------------------------------------------------------


def test_crds_after_a_leading_separator_keep_their_source() -> None:
    """helm prints a crds/ file as written after its `# Source:` line: its own `---` lines cut the
    documents off from it. Every document belongs to the last source seen."""
    rendered = (
        "---\n# Source: op/crds/all.yaml\n# generated\n---\n"
        + CRD.format("a.example.io")
        + "---\n"
        + CRD.format("b.example.io")
        + "\n---\n# Source: op/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    items = parse_rendered(rendered, "charts/op", "prod", "default")
    objects = [i for i in items if isinstance(i, K8sObject)]
    assert objects == items, items
    assert [(o.source.path, o.source.document, o.ref) for o in objects] == [
        ("charts/op/crds/all.yaml", 0, "CustomResourceDefinition/a.example.io"),
        ("charts/op/crds/all.yaml", 1, "CustomResourceDefinition/b.example.io"),
        ("charts/op/templates/cm.yaml", 0, "ConfigMap/default/c"),
    ]


def test_output_before_any_source_line_is_still_a_problem() -> None:
    (item,) = parse_rendered(CRD.format("a.example.io"), "charts/op", "prod", "default")
    assert isinstance(item, Problem) and "without a `# Source:` line" in item.message


def test_a_chart_with_controller_gen_crds_is_judged_by_them(tmp_path: Path) -> None:
    run = _run(REAL / "chart-crds-leading-separator")
    assert not input_problems(run), [str(m.item) for m in input_problems(run)]
    objects = run.targets[0].inventory.objects
    crds = sorted((o.name, o.source.path) for o in objects if o.kind == "CustomResourceDefinition")
    folder = "chart-crds-leading-separator/queue-operator/crds"
    assert crds == [
        ("queues.messaging.example.io", f"{folder}/messaging.example.io_queues.yaml"),
        ("subscriptions.messaging.example.io", f"{folder}/bundle.yaml"),
        ("topics.messaging.example.io", f"{folder}/bundle.yaml"),
    ]
    groups = schema_groups(run)
    for kind in ("Queue", "Topic", "Subscription"):
        statuses = {m.item.status.value for m in groups[f"messaging.example.io/v1alpha1 {kind}"]}
        assert statuses == {"valid"}, (kind, statuses)
    assert not [v.rule.id for v in rule_verdicts(run) if v.findings]

    # True positive: a custom resource that breaks its CRD fails, by the CRD from crds/.
    root = _copy("chart-crds-leading-separator", tmp_path)
    template = root / "queue-operator" / "templates" / "messaging.yaml"
    template.write_text(template.read_text().replace("partitions: 3", "partitions: 0"))
    broken = _run(root)
    (bad,) = failing_schema(broken, schema_groups(broken)["messaging.example.io/v1alpha1 Queue"])
    assert bad.item.errors and bad.item.errors[0].path == "spec.partitions"


# --- 2. lists kubectl applies item by item ----------------------------------------------------

LISTS = REAL / "list-kinds" / "monitoring"


@pytest.mark.parametrize(
    ("name", "refs"),
    [
        (
            "prometheus-roleSpecificNamespaces.yaml",
            [
                "Role/default/prometheus-k8s",
                "Role/kube-system/prometheus-k8s",
                "Role/monitoring/prometheus-k8s",
            ],
        ),
        (
            "prometheus-roleBindingSpecificNamespaces.yaml",
            [
                "RoleBinding/default/prometheus-k8s",
                "RoleBinding/kube-system/prometheus-k8s",
                "RoleBinding/monitoring/prometheus-k8s",
            ],
        ),
        (
            "grafana-dashboardDefinitions.yaml",
            [
                "ConfigMap/monitoring/grafana-dashboard-apiserver",
                "ConfigMap/monitoring/grafana-dashboard-nodes",
            ],
        ),
        ("service-accounts.yaml", ["ServiceAccount/monitoring/prometheus-k8s"]),
    ],
)
def test_list_kinds_expand_into_their_items(name: str, refs: list[str]) -> None:
    items = load_bytes((LISTS / name).read_bytes(), f"monitoring/{name}")
    assert [i.ref if isinstance(i, K8sObject) else str(i) for i in items] == refs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMapList\n", r"a ConfigMapList must have an `items` array"),
        (
            "apiVersion: v1\nkind: RoleList\nitems:\n- {kind: Role, metadata: {name: r}}\n",
            "missing apiVersion",
        ),
    ],
)
def test_broken_lists_are_still_problems(text: str, message: str) -> None:
    (problem,) = load_bytes(text.encode(), "lists.yaml")
    assert isinstance(problem, Problem) and message in problem.message, problem


def test_list_items_are_schema_checked_and_judged_by_rules(tmp_path: Path) -> None:
    run = _run(REAL / "list-kinds")
    assert not input_problems(run), [str(m.item) for m in input_problems(run)]
    assert len(run.targets[0].inventory.objects) == 9
    assert all(m.item.status.value == "valid" for g in schema_groups(run).values() for m in g)
    assert not [v.rule.id for v in rule_verdicts(run) if v.findings], "the clean lists pass every rule"

    # True positives: one Role of three takes every verb, one dashboard's data is a number.
    root = _copy("list-kinds", tmp_path)
    roles = root / "monitoring" / "prometheus-roleSpecificNamespaces.yaml"
    text = roles.read_text()
    at = text.index("namespace: kube-system")
    roles.write_text(text[:at] + text[at:].replace("verbs: [get, list, watch]", 'verbs: ["*"]', 1))
    dashboards = root / "monitoring" / "grafana-dashboardDefinitions.yaml"
    dashboards.write_text(dashboards.read_text().replace("nodes.json: |-", "nodes.json: 42\n    unused: |-"))
    broken = _run(root)

    (verdict,) = [v for v in rule_verdicts(broken) if v.findings]
    assert verdict.rule.id == "rbac-no-wildcards"
    (finding,) = verdict.findings
    assert finding.item.obj.ref == "Role/kube-system/prometheus-k8s"
    location = finding.item.location
    assert location.path == "list-kinds/monitoring/prometheus-roleSpecificNamespaces.yaml"
    assert location.line == _line_of(roles, "verbs:", after="namespace: kube-system"), location

    (bad,) = failing_schema(broken, schema_groups(broken)["v1 ConfigMap"])
    assert bad.item.obj.ref == "ConfigMap/monitoring/grafana-dashboard-nodes"
    assert bad.item.errors[0].path == "data.nodes.json"


def test_a_list_item_built_by_kustomize_points_at_its_item(tmp_path: Path) -> None:
    """kustomize flattens the list; the finding names the base file and the item's line."""
    base = tmp_path / "rbac"
    base.mkdir()
    roles = base / "roles.yaml"
    text = (LISTS / "prometheus-roleSpecificNamespaces.yaml").read_text()
    at = text.index("namespace: monitoring")
    roles.write_text(text[:at] + text[at:].replace("[services, endpoints, pods]", '["*"]', 1))
    (base / "kustomization.yaml").write_text("resources: [roles.yaml]\n")
    (verdict,) = [v for v in rule_verdicts(_run(base)) if v.findings]
    (finding,) = verdict.findings
    assert finding.item.obj.ref == "Role/monitoring/prometheus-k8s"
    location = finding.item.location
    assert location.path == "rbac/roles.yaml"
    assert location.line == _line_of(roles, "resources:", after="namespace: monitoring"), location


# --- 3. credentials: judge values, not names alone ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CASSANDRA_NUM_TOKENS", "256"),  # a count
        ("ETCD_INITIAL_CLUSTER_TOKEN", "etcd-cluster-k8s"),  # the cluster's id
        ("AIRFLOW__WEBSERVER__SECRET_KEY_CMD", "cat /run/secrets/webserver/secret-key"),  # a command
        ("REDIS_PASSWORD", "$(cat /run/secrets/redis/password)"),  # a shell's command output
        ("REDISCLI_AUTH_PASSWORD", "$REDIS_PASSWORD"),  # a shell variable
        ("PGPASSWORD", "${POSTGRES_PASSWORD}"),
        ("SECRETS_INIT_IMAGE", "ghcr.io/example/secrets-init:1.21.0"),  # an image, by name
        ("SIDECAR_SECRET_AGENT", "ghcr.io/example/secrets-agent:1.21.0"),  # an image, by value
        ("SECRET_KEY_BITS", 2048),
        ("config.yaml", "auth:\n  token:\n    enabled: true\n  secret:\n    name: app-auth\n"),  # nested keys
        ("sidecars.yaml", "- name: init\n  image: ghcr.io/example/vault-secrets-webhook:1.21.0\n"),
        ("app.ini", "; the admin password: set by the operator\n# token: see the Secret\nport = 8080\n"),
        ("values.yaml", "password: |\n  ${DB_PASSWORD}\n"),  # a block scalar's indicator is no value
    ],
)
def test_look_alikes_are_not_credentials(name: str, value: Any) -> None:
    assert not is_credential(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONSUL_HTTP_TOKEN", "6c0ef5bb-6d4c-4c3b-b4a1-0f0c1f3e2a9d"),  # a UUID token is no short id
        ("VAULT_TOKEN", "hvs.CAESIJ3kx9w2Lq8ZbR7tYp0uVn1sK6dZ5eR"),  # long and random-looking
        ("GH_PAT", "ghp_0EXAMPLE0only0for0tests0EXAMPLE00000"),  # its format says it, not its name
        ("MINIO_SECRET_KEY", "minio123"),  # a secret anyone can read is still written down
        ("ETCD_ROOT_PASSWORD", "etcd-root"),  # a password may look like an id
        ("REDIS_PASSWORD", 123456),  # or like a number
        ("exporter.yaml", "upstream:\n  api_token: 3q2x7WIm9xYb0cF8LtP4uVn1sK6dZ5eR\n"),
        ("application.properties", "spring.datasource.password=Xk29-wq\n# token: see the Secret\n"),
        (
            "kubeconfig",
            "token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJlLW5vdC1yZWFsLWF0LWFsbA",
        ),
        ("DATABASE_URL", "postgres://app:Xk29-wq@db:5432/app"),
    ],
)
def test_real_credentials_are_still_credentials(name: str, value: Any) -> None:
    assert is_credential(name, value)


def test_a_key_in_a_comment_is_prose_but_a_known_token_there_is_still_a_leak() -> None:
    assert not embeds_credential("# the password: is read from the Secret")
    assert embeds_credential("# old: ghp_0EXAMPLE0only0for0tests0EXAMPLE00000")


def test_redaction_still_hides_every_credential_named_value() -> None:
    """Display errs towards hiding: what the rules now accept is fingerprinted all the same."""
    env = [
        {"name": "CASSANDRA_NUM_TOKENS", "value": "256"},
        {"name": "ETCD_INITIAL_CLUSTER_TOKEN", "value": "etcd-cluster-k8s"},
        {"name": "REDIS_PASSWORD", "value": "$(cat /run/secrets/redis/password)"},
        {"name": "GH_PAT", "value": "ghp_0EXAMPLE0only0for0tests0EXAMPLE00000"},
    ]
    body = {"kind": "Pod", "spec": {"containers": [{"name": "app", "env": env}]}}
    shown = redact_object(body)["spec"]["containers"][0]["env"]
    assert [e["value"] for e in shown] == [fingerprint(e["value"]) for e in env]
    cm = {"kind": "ConfigMap", "data": {"exporter.yaml": "api_token: 3q2x7WIm9x\nbearer: eyJhbGciOi.x"}}
    assert "3q2x7WIm9x" not in str(redact_object(cm))


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("token: etcd-cluster-k8s", "etcd-cluster-k8s"),  # a look-alike is scrubbed all the same
        ("num_tokens=256", "256"),
        ("GH_PAT ghp_0EXAMPLE0only0for0tests0EXAMPLE00000 leaked", "EXAMPLE0only"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJlLW5vdC1yZWFsLWF0LWFsbA", "eyJzdWIi"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ],
)
def test_free_text_redaction_hides_look_alikes_and_known_tokens(text: str, hidden: str) -> None:
    scrubbed = redact_text(text)
    assert hidden not in scrubbed and "<redacted:" in scrubbed, scrubbed


# --- 4. YAML merge keys ------------------------------------------------------------------------

MERGE = REAL / "merge-keys"


def test_kubeconform_alone_refuses_a_merged_key_set_again() -> None:
    """Why the file is not handed to kubeconform as written: go-yaml's strict decoding refuses a
    key the merge already set, though kubectl (and the API server) take the overriding value."""
    no_flags: dict[str, str] = {}
    locations = SchemaLocations.from_settings(Settings.resolve(no_flags.get, {}))
    file = MERGE / "shop" / "deployment.yaml"
    cmd = [str(tools.find("kubeconform")), "-strict", "-output", "json", *locations.args(), str(file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    (entry,) = json.loads(out.stdout)["resources"]
    assert entry["status"] == "statusError" and "already set in map" in entry["msg"], entry


def test_merge_keys_are_resolved_before_the_schema_check() -> None:
    run = _run(MERGE)
    assert not input_problems(run), [str(m.item) for m in input_problems(run)]
    groups = schema_groups(run)
    assert {m.item.status.value for g in groups.values() for m in g} == {"valid"}, groups
    assert not [v.rule.id for v in rule_verdicts(run) if v.findings], "the merged containers pass every rule"
    deployment = next(o for o in run.targets[0].inventory.objects if o.kind == "Deployment")
    web, worker = deployment.body["spec"]["template"]["spec"]["containers"]
    assert (worker["name"], worker["args"], worker["image"]) == ("worker", ["work"], web["image"])
    assert worker["securityContext"] == web["securityContext"]


def test_an_unknown_field_in_a_merged_mapping_still_fails(tmp_path: Path) -> None:
    """True positive: strict validation of the resolved object, findings at the file's own lines."""
    root = _copy("merge-keys", tmp_path)
    file = root / "shop" / "deployment.yaml"
    text = file.read_text()
    at = text.index("- <<: *app")
    file.write_text(text[:at] + text[at:].replace("livenessProbe:", "livenesProbe:", 1))
    broken = _run(root)
    (bad,) = failing_schema(broken, schema_groups(broken)["apps/v1 Deployment"])
    assert bad.item.obj.source.path == "merge-keys/shop/deployment.yaml"
    error = bad.item.errors[0]
    assert bad.item.errors == (error,), bad.item.errors
    assert error.path == "spec.template.spec.containers[1]" and "livenesProbe" in error.message, error
    assert locate(bad.item.obj, error.path).line == _line_of(file, "- <<: *app"), error

    # A field only the merge gives is located in the mapping it comes from.
    limits = "limits: {cpu: 500m, memory: 256Mi}"
    file.write_text(text.replace(limits, f"{limits}\n            limts: {{cpu: 500m}}", 1))
    broken = _run(root)
    (bad,) = failing_schema(broken, schema_groups(broken)["apps/v1 Deployment"])
    paths = sorted(e.path for e in bad.item.errors)
    assert paths == [
        "spec.template.spec.containers[0].resources",
        "spec.template.spec.containers[1].resources",
    ], bad.item.errors
    assert all("limts" in e.message for e in bad.item.errors), bad.item.errors
    assert {locate(bad.item.obj, p).line for p in paths} == {_line_of(file, "resources:")}, paths


# --- 5. `port: null` in a NetworkPolicy --------------------------------------------------------

NULL_PORT = REAL / "netpol-port-null"


def test_a_null_port_is_one_finding_not_a_schema_error() -> None:
    """The API server stores `port: null` as unset (every TCP port): no unreadable oneOf error from
    the schema check, one finding naming the file, the document, the object and the field."""
    run = _run(NULL_PORT)
    assert not input_problems(run), [str(m.item) for m in input_problems(run)]
    results = schema_groups(run)["networking.k8s.io/v1 NetworkPolicy"]
    assert {m.item.status.value for m in results} == {"valid"}, [m.item.message for m in results]
    (verdict,) = [v for v in rule_verdicts(run) if v.findings]
    assert verdict.rule.id == "netpol-port-null" and verdict.rule.severity.value == "critical"
    (finding,) = verdict.findings
    file = NULL_PORT / "shop" / "networkpolicies.yaml"
    assert finding.item.obj.ref == "NetworkPolicy/shop/allow-metrics"
    assert finding.item.obj.source.document == 1
    assert finding.item.violation.field == "spec.ingress[0].ports[0].port"
    assert "every TCP port" in finding.item.violation.message
    location = finding.item.location
    assert location.path == "netpol-port-null/shop/networkpolicies.yaml"
    assert location.line == _line_of(file, "port: null"), location


def test_a_null_port_does_not_hide_a_real_schema_error(tmp_path: Path) -> None:
    """True positive: the null is read as unset, a misspelt field next to it still fails strict."""
    root = _copy("netpol-port-null", tmp_path)
    file = root / "shop" / "networkpolicies.yaml"
    file.write_text(file.read_text().replace("          protocol: TCP", "          protocl: TCP"))
    broken = _run(root)
    (bad,) = failing_schema(broken, schema_groups(broken)["networking.k8s.io/v1 NetworkPolicy"])
    assert bad.item.obj.ref == "NetworkPolicy/shop/allow-metrics"
    (error,) = bad.item.errors
    assert error.path == "spec.ingress[0].ports[0]" and "protocl" in error.message, error
    assert "oneOf" not in bad.item.message, bad.item.message


def test_a_null_port_with_merge_keys_is_judged_from_memory_the_same_way(tmp_path: Path) -> None:
    """Both paths of the schema check (the file as written, the loaded objects) read null as unset."""
    root = _copy("netpol-port-null", tmp_path)
    file = root / "shop" / "networkpolicies.yaml"
    text = file.read_text().replace("podSelector: {}", "podSelector: &all {}")
    file.write_text(text.replace("    - from:\n", "    - <<: {}\n      from:\n"))
    run = _run(root)
    results = schema_groups(run)["networking.k8s.io/v1 NetworkPolicy"]
    assert {m.item.status.value for m in results} == {"valid"}, [m.item.message for m in results]
    assert [v.rule.id for v in rule_verdicts(run) if v.findings] == ["netpol-port-null"]


# --- include'd templates: findings point at the definition ---------------------------------------


def test_a_finding_in_an_included_template_points_at_its_definition() -> None:
    """The containers come from `{{ include "web.container" . }}` (defined in _helpers.tpl): a field
    written there is located on its line in _helpers.tpl, a missing one at the define; a field of
    the including template (the pod's labels) stays in deployment.yaml. Before, every container
    finding pointed at the include's `containers:` line of deployment.yaml."""
    case = REAL / "chart-included-containers" / "web" / "templates"
    helpers, deployment = case / "_helpers.tpl", case / "deployment.yaml"
    where = {
        (v.rule.id, f.item.violation.field): f.item.location
        for v in rule_verdicts(_run(REAL / "chart-included-containers"))
        for f in v.findings
    }
    shown = "chart-included-containers/web/templates/"
    field = "spec.template.spec.containers[web].securityContext."
    privileged = where["no-host-namespaces-or-paths", field + "privileged"]
    assert (privileged.path, privileged.line) == (
        shown + "_helpers.tpl",
        _line_of(helpers, "privileged: true"),
    )
    escalation = where["no-privilege-escalation", field + "allowPrivilegeEscalation"]
    assert (
        escalation.line == _line_of(helpers, "allowPrivilegeEscalation: true") and escalation.disk == helpers
    )
    probe = where["probes-set", "spec.template.spec.containers[web].livenessProbe"]
    assert (probe.path, probe.line) == (shown + "_helpers.tpl", _line_of(helpers, 'define "web.container"'))
    labels = where["pdb-per-workload", "spec.template.metadata.labels"]
    assert (labels.path, labels.line) == (
        shown + "deployment.yaml",
        _line_of(deployment, "labels:", "template:"),
    )
