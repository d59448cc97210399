"""The report's Environment panel: `environment.properties` in the results directory.

Two writers, one file, merged key by key:
  * each tier's pytest session records the settings it actually ran with
    (`record_session`, from conformance.report.hooks), so flags passed with
    ARGS show up, not only env vars;
  * `python -m conformance.report prepare` adds what is the same for the whole
    run: pinned tool versions (as the tools report them), git revisions, and
    settings from env vars/defaults for any key no session recorded.

Example: ``write_properties(path, {"provider": "local"})`` then
``read_properties(path) == {"provider": "local"}``.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from ..settings import Settings
from ..tools import REPO, TOOLS, version_of

FILE = "environment.properties"
SEPARATOR = " | "  # between differing values that two tier sessions recorded for one key


# What the SLO tier measures when no --slo-target is given: say so wherever its figures appear.
STAND_IN = "SLO measured on the reference target (stand-in); run with --slo-target to measure a deployment"


def slo_target_id(settings: Settings) -> str:
    """The target as it appears in SLO test ids: `reference-target`, or the URL's host[:port]."""
    if not settings.slo_target:
        return "reference-target"
    from urllib.parse import urlsplit

    return urlsplit(settings.slo_target).netloc or settings.slo_target


def settings_properties(settings: Settings) -> dict[str, str]:
    """What the suite was pointed at (keys are the report's Environment rows)."""
    return {
        "kubernetes.version": settings.k8s_version,
        "provider": settings.provider,
        "profiles.static": ",".join(settings.profiles),
        "profile.run": settings.run_profile,
        "manifests": str(settings.manifests),
        "policy": settings.policy_label,
        "slo.target": settings.slo_target or STAND_IN,
        "data.plane": "on"
        if settings.data_plane
        else "off (--data-plane off): declared NetworkPolicy flows are not probed",
    }


def git_revision(path: Path) -> str | None:
    """`<short sha>` of the checkout holding `path`, `-dirty` if tracked files changed; None outside git."""
    where = path if path.is_dir() else path.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def _toplevel(path: Path) -> Path | None:
    where = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out).resolve()


def run_properties(settings: Settings) -> dict[str, str]:
    """Tool versions and revisions: one value for the whole run."""
    props = {f"tool.{tool.name}": version_of(tool.name) for tool in TOOLS}
    props["tool.allure"] = version_of("allure")
    props["python"] = platform.python_version()
    for package in ("pytest", "allure-pytest"):
        try:
            props[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            props[package] = "missing"
    props["git.revision"] = git_revision(REPO) or "unknown (not a git checkout)"
    top = _toplevel(settings.manifests)
    if top is not None and top != REPO.resolve():
        props["manifests.revision"] = git_revision(settings.manifests) or "unknown"
    return props


def merge(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """Keys of both; where both have a key with different values, keep each once."""
    out = dict(old)
    for key, value in new.items():
        if key not in out or not out[key]:
            out[key] = value
            continue
        values = out[key].split(SEPARATOR)
        if value not in values:
            out[key] = SEPARATOR.join([*values, value])
    return out


def record_session(results: Path, settings: Settings, tier: str | None) -> None:
    """Merge one pytest session's settings (and its tier) into results/environment.properties."""
    props = settings_properties(settings)
    if tier:
        props["tiers"] = tier
    path = results / FILE
    write_properties(path, merge(read_properties(path), props))


def _escape(text: str, key: bool = False) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if key:
        for ch in " =:#!":
            out = out.replace(ch, "\\" + ch)
    return out


def write_properties(path: Path, props: Mapping[str, str]) -> None:
    """Java .properties, sorted keys, UTF-8 (Allure reads it as UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{_escape(k, key=True)}={_escape(v)}" for k, v in sorted(props.items())]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t"}


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPE.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def read_properties(path: Path) -> dict[str, str]:
    """The pairs of a .properties file this module wrote ({} if there is none)."""
    if not path.is_file():
        return {}
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key_chars: list[str] = []
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\" and i + 1 < len(line):
                key_chars.append(line[i : i + 2])
                i += 2
                continue
            if ch in "=:":
                break
            key_chars.append(ch)
            i += 1
        props[_unescape("".join(key_chars)).strip()] = _unescape(line[i + 1 :].strip())
    return props
