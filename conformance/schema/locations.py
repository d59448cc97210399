"""Where kubeconform looks for schemas, in order, and the target version's API lifecycle.

Its own module: the result cache keys on it and the kubeconform runner uses it, and neither
imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InfraError
from ..settings import Settings
from .api_lifecycle import LifecycleTable
from .crds import Catalogue


@dataclass(frozen=True)
class SchemaLocations:
    """Where kubeconform looks, in order, and the target version's API lifecycle.

    core: converted Kubernetes schemas of one version; crds: folders laid out
    <group>/<kind>_<version>.json (CRDs of the input first, then the generated
    catalogue, then --crd-schemas folders).
    """

    core: Path
    crds: tuple[Path, ...]
    k8s_version: str = ""  # e.g. 1.36.0; "" skips the lifecycle check
    lifecycle: LifecycleTable | None = None
    missing: tuple[Path, ...] = ()  # --crd-schemas folders that do not exist (named in messages)

    @classmethod
    def from_settings(cls, settings: Settings) -> SchemaLocations:
        """The core schemas of --k8s-version, the generated CRDs and API table (both from
        `make tools`, under --schemas) and any --crd-schemas folders."""
        schemas, version = settings.schemas, settings.k8s_version
        core = core_folder(schemas, version)
        catalogue = Catalogue.load(schemas / "crds")
        extra = settings.crd_schemas
        return cls(
            core,
            tuple(s.schemas for s in catalogue.sources) + tuple(p for p in extra if p.is_dir()),
            version,
            LifecycleTable.load(schemas / "api-lifecycle"),
            tuple(p for p in extra if not p.is_dir()),
        )

    def with_crds_first(self, folder: Path) -> SchemaLocations:
        return replace(self, crds=(folder, *self.crds))

    def args(self) -> list[str]:
        args = ["-schema-location", f"{self.core}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"]
        for folder in self.crds:
            args += [
                "-schema-location",
                f"{folder}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            ]
        return args


def core_folder(schemas: Path, version: str) -> Path:
    """<schemas>/v<version>; "1.36" picks the newest 1.36.x there. InfraError naming the fix."""
    available = sorted(p.name for p in schemas.glob("v*") if (p / "_definitions.json").is_file())
    wanted = f"v{version.lstrip('v')}"
    matches = [a for a in available if a == wanted or a.startswith(f"{wanted}.")]
    if not matches:
        raise InfraError(
            f"no offline schemas for Kubernetes {version} in {schemas} "
            f"(have: {', '.join(available) or 'none'}); "
            "run `make tools`, or add the version to KUBERNETES_SCHEMA_VERSIONS in tools/versions.env"
        )
    return schemas / max(matches, key=lambda a: [int(x) for x in a[1:].split(".") if x.isdigit()])
