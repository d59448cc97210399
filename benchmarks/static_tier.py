"""Static-tier benchmark: kubeconform alone vs the whole static tier, side by side in one run.

    make bench                                   (1k, 5k and 10k objects)
    python benchmarks/static_tier.py --large     (also 50k objects: a few minutes)

Corpus (benchmarks/corpus.py): N/5 apps, each a Deployment, Service, HPA, PDB and
ConfigMap, over 20 namespaces and 200 files. For each size, in the same run:
  A. kubeconform -strict -n <cores> alone on the files (the floor: schema check only)
  B. the static tier as `make static` runs it (pytest, JUnit, Allure, SARIF), profiles
     prod+ci and prod only; cold (first run, empty caches: best of two), warm (run again:
     parsing, schema stage and positions come from the caches), one-file change (one file
     edited, run again)
Then the platform itself: the tier next to `helm template` (both profiles) + kubeconform
alone on the plain files and the renders. Prints figures and the issue's goals;
asserts nothing (wall-clock goals are never tests). Ratios are taken within one run,
so a busy machine slows both sides; the spread of repeated A runs shows the noise.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from corpus import make_corpus  # noqa: E402  (this folder is on sys.path: run as a script)

from conformance import tools  # noqa: E402
from conformance.inventory.render import values_files  # noqa: E402
from conformance.schema.locations import SchemaLocations  # noqa: E402
from conformance.settings import Settings  # noqa: E402

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", "-p", "conformance.plugin"]
CHART = REPO / "manifests" / "helm" / "tartware"


def timed(cmd: list[str], **kwargs: object) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False, cwd=REPO, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - start


def kubeconform(locations: SchemaLocations, paths: list[Path]) -> float:
    workers = str(max(1, os.cpu_count() or 1))
    cmd = [str(tools.find("kubeconform")), "-strict", "-ignore-missing-schemas", "-summary", "-n", workers]
    return timed(cmd + locations.args() + [str(p) for p in paths])


def tier(manifests: Path, out: Path, profiles: str, extra: tuple[str, ...] = ()) -> float:
    """The static tier with the outputs `make static` writes (into `out`, not build/)."""
    cmd = [*PYTEST, "conformance/suites/static", f"--manifests={manifests}", f"--profile={profiles}"]
    cmd += ["-q", "-p", "no:randomly", f"--junitxml={out}/static.xml", f"--alluredir={out}/allure"]
    cmd += [f"--sarif={out}/static.sarif", *extra]
    shutil.rmtree(out / "allure", ignore_errors=True)
    (out / "static.xml").unlink(missing_ok=True)
    # The schema cache of this corpus and profile set only: the first run is cold.
    took = timed(
        cmd, env={**os.environ, "PYTHONPATH": str(REPO), "CONFORMANCE_STATIC_CACHE": str(out / "cache")}
    )
    if not (out / "static.xml").is_file():
        print(f"  (the tier wrote no JUnit report on {manifests}: the figure is not a tier run)")
    return took


def edit_one_file(corpus: Path) -> None:
    """A one-file change: one app's ConfigMap gets another value."""
    first = sorted(corpus.glob("*.yaml"))[0]
    first.write_text(first.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug", 1))


def corpus_rows(sizes: list[int], locations: SchemaLocations, tmp: Path) -> list[tuple[int, float, float]]:
    print(f"{'objects':>8} {'profiles':>9} {'kubeconform':>12} {'cold':>7} {'warm':>7} {'1-file':>7}  "
          f"{'cold/kc':>7} {'warm/kc':>7} {'1-file/cold':>11}")  # fmt: skip
    growth = []
    for size in sizes:
        corpus = tmp / f"corpus-{size}"
        count = make_corpus(corpus, size)
        files = sorted(corpus.glob("*.yaml"))
        kc_runs = [kubeconform(locations, files) for _ in range(2)]
        kc = min(kc_runs)
        for profiles in ("prod,ci", "prod"):
            out = tmp / f"out-{size}-{profiles.replace(',', '-')}"
            (out / "first").mkdir(parents=True)
            # Cold twice (the second with its own empty cache), the best counts: on a shared
            # 2-core machine one run can lose seconds to a neighbour, as kubeconform's spread shows.
            cold = min(tier(corpus, out / "first", profiles), tier(corpus, out, profiles))
            warm = tier(corpus, out, profiles)
            edit_one_file(corpus)
            one = tier(corpus, out, profiles)
            print(
                f"{count:>8} {profiles:>9} {kc:>10.2f} s {cold:>5.2f} s {warm:>5.2f} s {one:>5.2f} s  "
                f"{cold / kc:>7.2f} {warm / kc:>7.2f} {one / cold:>11.2f}"
            )
            if profiles == "prod,ci":
                growth.append((count, cold, kc))
        print(f"{'':>8} {'':>9} kubeconform runs: {', '.join(f'{t:.2f}' for t in kc_runs)} s (noise)")
        shutil.rmtree(corpus)
    return growth


def print_growth(growth: list[tuple[int, float, float]]) -> None:
    """Linear growth is a constant cost per added object: the fixed start (pytest, imports, the
    tools' own start) is the intercept, so whole-run time per object would hide it."""
    if len(growth) < 2:
        return
    steps = []
    for (n0, t0, k0), (n1, t1, k1) in itertools.pairwise(growth):
        per = 1000 / (n1 - n0)
        steps.append(((t1 - t0) * per, (k1 - k0) * per))
        print(
            f"growth {n0} -> {n1} objects: each 1,000 more cost the tier {steps[-1][0]:.2f} s, "
            f"kubeconform {steps[-1][1]:.2f} s (cold, prod+ci)"
        )
    if len(steps) > 1:
        first, last = steps[0][0], steps[-1][0]
        print(
            f"growth: the tier's cost per 1,000 objects, last step / first step x{last / first:.2f} "
            "(goal: linear, x1.00 +- 20 %)"
        )


def platform_row(settings: Settings, locations: SchemaLocations, tmp: Path) -> None:
    namespace = "tartware"
    renders = []
    start = time.perf_counter()
    for profile in settings.profiles:
        cmd = [str(tools.find("helm")), "template", CHART.name, str(CHART), "--include-crds"]
        cmd += ["--namespace", namespace, "--kube-version", settings.k8s_version]
        for values in values_files(CHART, profile):
            cmd += ["--values", str(values)]
        rendered = subprocess.run(cmd, capture_output=True, check=False)
        renders.append(tmp / f"render-{profile}.yaml")
        renders[-1].write_bytes(rendered.stdout)
    helm = time.perf_counter() - start
    plain = [
        p
        for p in sorted((REPO / "manifests").rglob("*.yaml"))
        if CHART not in p.parents and p.name not in ("policy.yaml", "flows.yaml")
    ]
    kc = kubeconform(locations, plain + renders)
    out = tmp / "out-platform"
    out.mkdir()
    runs = [tier(REPO / "manifests", out, ",".join(settings.profiles)) for _ in range(3)]
    floor = helm + kc
    print(
        f"platform: helm template ({len(settings.profiles)} profiles) {helm:.2f} s + kubeconform alone "
        f"{kc:.2f} s = {floor:.2f} s; static tier best {min(runs):.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in runs)}); ratio {min(runs) / floor:.2f} (goal <= 1.5)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also the 50k-object corpus (minutes)")
    parser.add_argument("--sizes", default="", help="comma-separated object counts (overrides the default)")
    args = parser.parse_args()
    default = [1_000, 5_000, 10_000] + ([50_000] if args.large else [])
    sizes = [int(s) for s in args.sizes.split(",") if s] or default
    settings = Settings.from_env()
    locations = SchemaLocations.from_settings(settings)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-static-") as name:
        tmp = Path(name)
        growth = corpus_rows(sizes, locations, tmp)
        print_growth(growth)
        print("goals: cold/kc <= 1.5 at 10k (both profiles); 1-file/cold <= 0.10")
        platform_row(settings, locations, tmp)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
