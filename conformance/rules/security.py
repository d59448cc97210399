"""Rules for the Pod Security "restricted" profile, host access and credentials in manifests.

A container-level securityContext field overrides the pod-level one, so the
effective value is the container's when set, else the pod's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..credentials import embeds_credential, fingerprint, is_credential
from ..inventory.model import K8sObject
from ..k8s import WORKLOADS, as_dict, as_int, as_list, containers, pod_spec, show
from .registry import Context, Severity, Violation, object_rule


def _effective(obj: K8sObject, container: dict[str, Any], key: str) -> tuple[Any, str]:
    """(effective securityContext value, where it was set: "container", "pod" or "")."""
    own = as_dict(container.get("securityContext"))
    if key in own:
        return own[key], "container"
    spec, _ = pod_spec(obj)
    pod = as_dict(spec.get("securityContext"))
    if key in pod:
        return pod[key], "pod"
    return None, ""


@object_rule(
    "run-as-non-root",
    family="security",
    severity=Severity.BLOCKER,
    kinds=WORKLOADS,
    description="Every container runs as non-root: runAsNonRoot is true (container or pod securityContext) "
    "and runAsUser is not 0. "
    "Same concern as kube-linter run-as-non-root and Polaris runAsRootAllowed.",
    remediation="Set securityContext.runAsNonRoot: true (and a non-zero runAsUser) on the pod, and do not "
    "override it in a container.",
)
def run_as_non_root(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    _, spec_path = pod_spec(obj)
    seen: set[str] = set()  # a pod-level setting is reported once, not once per container
    for container, path in containers(obj):
        value, where = _effective(obj, container, "runAsNonRoot")
        if value is not True:
            if where == "container":
                hint = f"the container sets runAsNonRoot to {show(value)}"
            elif where == "pod":
                hint = f"the pod securityContext sets runAsNonRoot to {show(value)}"
            else:
                hint = "neither the container nor the pod securityContext sets runAsNonRoot"
            base = spec_path if where == "pod" else path
            yield from _once(seen, Violation(obj, f"{base}.securityContext.runAsNonRoot", value, True, hint))
        user, where = _effective(obj, container, "runAsUser")
        if as_int(user) == 0:
            base = spec_path if where == "pod" else path
            yield from _once(
                seen,
                Violation(
                    obj,
                    f"{base}.securityContext.runAsUser",
                    0,
                    "a non-zero uid",
                    f"the {where} securityContext runs as uid 0 (root)",
                ),
            )


def _once(seen: set[str], violation: Violation) -> Iterator[Violation]:
    if violation.field not in seen:
        seen.add(violation.field)
        yield violation


@object_rule(
    "no-privilege-escalation",
    family="security",
    severity=Severity.BLOCKER,
    kinds=WORKLOADS,
    description="Every container sets securityContext.allowPrivilegeEscalation: false. "
    "Same concern as kube-linter privilege-escalation-container and Polaris privilegeEscalationAllowed.",
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container (it has no pod-level "
    "equivalent).",
)
def no_privilege_escalation(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    return _container_flag(obj, "allowPrivilegeEscalation", False, "is unset, and defaults to true")


ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


@object_rule(
    "capabilities-drop-all",
    family="security",
    severity=Severity.BLOCKER,
    kinds=WORKLOADS,
    description="Every container drops ALL capabilities and adds none except NET_BIND_SERVICE. "
    "Same concern as kube-linter drop-net-raw-capability and Polaris dangerousCapabilities / "
    "insecureCapabilities.",
    remediation="Set securityContext.capabilities.drop: [ALL]; add back only NET_BIND_SERVICE if the "
    "container binds a port below 1024.",
)
def capabilities_drop_all(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        caps = as_dict(as_dict(container.get("securityContext")).get("capabilities"))
        drop = [c for c in as_list(caps.get("drop")) if isinstance(c, str)]
        if "ALL" not in drop:
            if any(c.upper() in ("ALL", "CAP_ALL") for c in drop):
                hint = f"drop lists {drop!r}, but only the exact upper-case `ALL` drops every capability"
            elif drop:
                hint = f"drop lists only {', '.join(drop)}"
            else:
                hint = "container drops no capabilities"
            yield Violation(obj, f"{path}.securityContext.capabilities.drop", caps.get("drop"), ["ALL"], hint)
        added = as_list(caps.get("add"))
        extra = [c for c in added if not (isinstance(c, str) and c in ALLOWED_ADDED_CAPABILITIES)]
        if extra:
            yield Violation(
                obj,
                f"{path}.securityContext.capabilities.add",
                added,
                "at most [NET_BIND_SERVICE]",
                f"container adds capabilities {', '.join(map(str, extra))}",
            )


_SECCOMP_OK = ("RuntimeDefault", "Localhost")


@object_rule(
    "seccomp-runtime-default",
    family="security",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="Every container runs with a seccomp profile of type RuntimeDefault (or Localhost), set on "
    "the pod or on each container; Unconfined is never allowed. "
    "Same concern as kube-score container-seccomp-profile and Polaris linuxHardening.",
    remediation="Set spec.securityContext.seccompProfile.type: RuntimeDefault on the pod template.",
)
def seccomp_runtime_default(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    _, spec_path = pod_spec(obj)
    seen: set[str] = set()
    for container, path in containers(obj):
        profile, where = _effective(obj, container, "seccompProfile")
        kind = as_dict(profile).get("type")
        if kind in _SECCOMP_OK:
            continue
        field = f"{path}.securityContext.seccompProfile.type"
        if where == "pod":
            field = f"{spec_path}.securityContext.seccompProfile.type"
        if where:
            hint = f"the {where} securityContext sets seccompProfile type {show(kind)}"
        else:
            hint = "neither the container nor the pod securityContext sets a seccompProfile"
        yield from _once(seen, Violation(obj, field, kind, "RuntimeDefault", hint))


@object_rule(
    "read-only-root-filesystem",
    family="security",
    severity=Severity.NORMAL,
    kinds=WORKLOADS,
    description="Every container mounts its root filesystem read-only. "
    "Same concern as kube-score container-security-context-readonlyrootfilesystem and Polaris "
    "notReadOnlyRootFilesystem.",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process "
    "must write (e.g. /tmp).",
)
def read_only_root_filesystem(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    return _container_flag(obj, "readOnlyRootFilesystem", True, "is unset (the root filesystem is writable)")


def _container_flag(obj: K8sObject, field: str, want: bool, unset: str) -> Iterator[Violation]:
    """Every container's securityContext.<field> must be exactly `want` (no pod-level fallback)."""
    for container, path in containers(obj):
        value = as_dict(container.get("securityContext")).get(field)
        if value is not want:
            hint = unset if value is None else f"is {show(value)}"
            yield Violation(obj, f"{path}.securityContext.{field}", value, want, f"{field} {hint}")


@object_rule(
    "no-host-namespaces-or-paths",
    family="security",
    severity=Severity.BLOCKER,
    kinds=WORKLOADS,
    description="Pods share no host namespace (hostNetwork, hostPID, hostIPC), mount no hostPath volume, "
    "bind no hostPort and run no privileged container. "
    "Same concern as kube-linter host-network / host-pid / host-ipc / privileged-container / "
    "sensitive-host-mounts and Polaris hostNetworkSet / hostPathSet / hostPortSet / runAsPrivileged.",
    remediation="Remove hostNetwork/hostPID/hostIPC, hostPath volumes, hostPort and privileged: true; use a "
    "Service for traffic and a PersistentVolumeClaim or emptyDir for storage.",
)
def no_host_namespaces_or_paths(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec, spec_path = pod_spec(obj)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield Violation(
                obj,
                f"{spec_path}.{key}",
                True,
                False,
                f"{key} is true: the pod shares the host's {key[4:].lower()} namespace",
            )
    for i, volume in enumerate(as_list(spec.get("volumes"))):
        if isinstance(volume, dict) and volume.get("hostPath") is not None:
            name = volume.get("name", i)
            host = as_dict(volume.get("hostPath")).get("path")
            yield Violation(
                obj,
                f"{spec_path}.volumes[{name}].hostPath",
                volume.get("hostPath"),
                "no hostPath volume",
                f"volume {name} mounts host path {host!r}",
            )
    for container, path in containers(obj):
        if as_dict(container.get("securityContext")).get("privileged") is True:
            yield Violation(
                obj,
                f"{path}.securityContext.privileged",
                True,
                False,
                "container runs privileged (full access to the host)",
            )
        for port in as_list(container.get("ports")):
            host_port = as_int(as_dict(port).get("hostPort"))
            if host_port:  # 0 means "not set" for hostPort
                name = as_dict(port).get("name") or as_dict(port).get("containerPort")
                yield Violation(
                    obj,
                    f"{path}.ports[{name}].hostPort",
                    host_port,
                    "unset",
                    f"container binds host port {host_port}",
                )


@object_rule(
    "service-account-token-opt-in",
    family="security",
    severity=Severity.NORMAL,
    kinds=WORKLOADS,
    description="A pod mounts a ServiceAccount token only when it asks for one: automountServiceAccountToken "
    "is false, or set to true on the pod or its ServiceAccount as a stated need (the API default mounts a "
    "token into every pod, handing the API to whoever compromises it). Same concern as Polaris "
    "automountServiceAccountToken, which also flags an explicit true.",
    remediation="Set spec.automountServiceAccountToken: false on the pod template (or its "
    "ServiceAccount); set it to true only for pods that call the Kubernetes API.",
)
def service_account_token_opt_in(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec, spec_path = pod_spec(obj)
    if isinstance(spec.get("automountServiceAccountToken"), bool):
        return  # stated on the pod: false, or true as a reviewed need
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    account = ctx.inventory.get("ServiceAccount", obj.namespace, str(name))
    if account is not None and isinstance(account.body.get("automountServiceAccountToken"), bool):
        return
    where = (
        f"its ServiceAccount {name} does not set it either"
        if account
        else f"ServiceAccount {name} is not in the input"
    )
    yield Violation(
        obj,
        f"{spec_path}.automountServiceAccountToken",
        None,
        "false (or true where the pod calls the API)",
        f"the pod does not set automountServiceAccountToken and {where}, so a token is mounted by default",
    )


@object_rule(
    "no-literal-credentials-in-env",
    family="security",
    severity=Severity.BLOCKER,
    kinds=WORKLOADS,
    description="No container env var carries a literal credential: a credential-looking name (password, "
    "token, secret, api key, DSN, ...) with a value written down as one, or any value embedding a "
    "`password=` pair, a URL with user:password or a known token format (`ghp_...`, a JWT). Values are "
    "judged, not names alone: names about a credential (`*_SECRET_NAME`, `*_FILE`, `*_CMD`), switches "
    "(`ALLOW_EMPTY_PASSWORD=yes`), `$(VAR)`/`${VAR}`/`$VAR`/`$(cat ...)` references, short numbers and "
    "images are not credentials, nor is a short id named a token (`ETCD_INITIAL_CLUSTER_TOKEN`). Same "
    "concern as kube-linter env-var-secret and Polaris sensitiveContainerEnvVar.",
    remediation="Replace `value:` with `valueFrom.secretKeyRef` naming a Secret key (or mount the Secret "
    "as a file).",
)
def no_literal_credentials_in_env(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        for i, item in enumerate(as_list(container.get("env"))):
            name, value = as_dict(item).get("name"), as_dict(item).get("value")
            if not isinstance(name, str) or not is_credential(name, value):
                continue
            # Never echo the value (findings end up in reports and CI logs): its fingerprint only.
            shown = fingerprint(value)
            what = "embeds a credential" if embeds_credential(str(value)) else "looks like a credential"
            yield Violation(
                obj,
                f"{path}.env[{name or i}].value",
                shown,
                "valueFrom.secretKeyRef",
                f"env var {name} {what} and has a literal value {shown}",
            )


@object_rule(
    "no-credentials-in-configmap",
    family="security",
    severity=Severity.BLOCKER,
    kinds=("ConfigMap",),
    description="ConfigMaps hold no credentials: no credential-looking key with a literal value and no "
    "value embedding `password=...`-style pairs on one line, `scheme://user:password@host` URLs or known "
    "token formats (values judged as for env vars; comments and keys over nested mappings are not pairs). "
    "Same concern as Polaris sensitiveConfigmapContent.",
    remediation="Move the credential into a Secret and reference it (secretKeyRef, or a URL assembled from "
    "env vars at start-up).",
)
def no_credentials_in_configmap(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for key, value in as_dict(obj.body.get("data")).items():
        if not isinstance(value, str) or not is_credential(str(key), value):
            continue
        required = "no credential in a ConfigMap (use a Secret)"
        if embeds_credential(value):
            yield Violation(
                obj,
                f"data.{key}",
                fingerprint(value),
                required,
                f"value of key {key} embeds a credential: a password pair or a URL with user:password",
            )
        else:
            yield Violation(
                obj,
                f"data.{key}",
                fingerprint(value),
                required,
                f"key {key} looks like a credential and holds a literal value {fingerprint(value)}",
            )
