"""The static tier's closing summary: one table of rule x findings, and what was not checked.

    check                      severity  findings  exempted
    inputs (load/render)       blocker          0
    schema (kubeconform)       critical         2
    image-pinned               critical         3         0
    rules without findings (30): ...
Printed at the end of `make static` so a 10k-object repo gives a readable last screen.
"""

from __future__ import annotations

from ..static import StaticRun, failing_schema, input_problems, rule_verdicts, schema_groups

MAX_LISTED = 10  # left-out files named before "and N more"


def summary_lines(run: StaticRun) -> list[str]:
    verdicts = sorted(rule_verdicts(run), key=lambda v: (-len(v.findings) - len(v.expired), v.rule.id))
    problems = input_problems(run)
    schema = {kind: len(failing_schema(run, results)) for kind, results in schema_groups(run).items()}
    objects = sum(1 for o in run.targets[0].inventory.objects if not o.provided) if run.targets else 0
    profiles = ", ".join(dict.fromkeys(t.profile for t in run.targets))
    # Several environments (chart, kustomize roots) are named once, not with every profile.
    envs = ", ".join(dict.fromkeys(t.environment for t in run.targets if t.environment))
    profiles += f"; environments {envs}" if envs else ""
    first = run.targets[0].name if run.targets else "-"
    lines = [
        f"inputs: {run.settings.manifests} (profiles {profiles}; {objects} objects in {first}; "
        f"policy {run.settings.policy_label}; charts in namespace {run.namespace or 'default'})"
    ]
    if not run.has_objects:
        lines.append(f"no Kubernetes objects: nothing was checked ({len(problems)} input problem(s))")
        verdicts = []
    width = max([len(v.rule.id) for v in verdicts] + [24])
    lines.append(f"{'check':<{width}}  {'severity':<8}  {'findings':>8}  {'exempted':>8}")
    lines.append(f"{'inputs (load/render)':<{width}}  {'blocker':<8}  {len(problems):>8}  {'':>8}")
    lines.append(f"{'schema (kubeconform)':<{width}}  {'critical':<8}  {sum(schema.values()):>8}  {'':>8}")
    skipped: dict[str, list[str]] = {}
    passed = []
    for v in verdicts:
        if not v.checked:
            skipped.setdefault(next(iter(v.not_applicable.values())), []).append(v.rule.id)
            continue
        count = len(v.findings) + len(v.expired)
        if count or v.exempted:
            lines.append(
                f"{v.rule.id:<{width}}  {v.rule.severity.value:<8}  {count:>8}  {len(v.exempted):>8}"
            )
        else:
            passed.append(v.rule.id)
    if passed:
        lines.append(f"rules without findings ({len(passed)}): " + ", ".join(passed))
    if skipped:
        count = sum(len(ids) for ids in skipped.values())
        lines.append(f"did not apply ({count}):")
        lines += [f"  {', '.join(sorted(ids))}: {reason}" for reason, ids in sorted(skipped.items())]
    if run.disabled and run.has_objects:
        lines.append(
            f"switched off by the policy ({len(run.disabled)}): " + ", ".join(r for r, _ in run.disabled)
        )
    left = run.left_out
    if left:
        named = ", ".join(f"{path} ({what})" for path, what in left[:MAX_LISTED])
        more = f", and {len(left) - MAX_LISTED} more" if len(left) > MAX_LISTED else ""
        lines.append(f"left out as not manifests ({len(left)}): {named}{more}")
    excluded = run.excluded
    if excluded:
        lines.append(f"excluded by --exclude ({len(excluded)}): " + ", ".join(excluded[:MAX_LISTED]))
    return lines


def capped(blocks: list[str], limit: int, what: str) -> str:
    """The first `limit` blocks (0: all), then how many more there are and where they are."""
    if not limit or len(blocks) <= limit:
        return "\n".join(blocks)
    return "\n".join(blocks[:limit]) + (
        f"\n... and {len(blocks) - limit} more {what} (--max-findings-per-rule {limit}; all are in the "
        "SARIF output and the Allure attachment)"
    )
