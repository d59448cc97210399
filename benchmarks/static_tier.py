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
alone on the plain files and the renders. Then a chart repo (--charts N copies of the platform
chart, `--charts-only` for just this row): `helm template` alone, one chart after another as the
tier used to render, next to the tier's render stage (cached by content, several charts at once)
cold and warm, with helm runs and cache hits counted, and the whole tier cold and warm.
Prints figures and the issue's goals;
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
from conformance.inventory import discover_inputs  # noqa: E402
from conformance.inventory.build import chart_inputs  # noqa: E402
from conformance.inventory.render import RENDER_WORKERS, values_files  # noqa: E402
from conformance.inventory.render_cache import STATS  # noqa: E402
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


def helm_alone(charts: list[Path], profiles: tuple[str, ...], k8s: str) -> float:
    """`helm template` of every chart and profile, one after another (how the tier rendered before)."""
    start = time.perf_counter()
    for chart, profile in itertools.product(charts, profiles):
        cmd = [str(tools.find("helm")), "template", chart.name, str(chart), "--include-crds"]
        cmd += ["--namespace", "tartware", "--kube-version", k8s]
        for values in values_files(chart, profile):
            cmd += ["--values", str(values)]
        subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - start


def render_stage(repo: Path, profiles: tuple[str, ...], k8s: str, cache: Path) -> tuple[float, int, int]:
    """The tier's render stage on `repo` (every chart, every profile): (seconds, helm runs, cache hits)."""
    os.environ["CONFORMANCE_STATIC_CACHE"] = str(cache)
    before = dict(STATS)
    found = discover_inputs(repo)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as work:
        for profile in profiles:
            chart_inputs(found, profile, "tartware", Path(work), k8s)
    took = time.perf_counter() - start
    return took, STATS["helm"] - before.get("helm", 0), STATS["hit"] - before.get("hit", 0)


def chart_repo_row(settings: Settings, tmp: Path, copies: int) -> None:
    repo = tmp / "chart-repo"
    charts = [repo / "charts" / f"tartware-{i}" for i in range(copies)]
    for chart in charts:
        shutil.copytree(CHART, chart, symlinks=True)
    profiles, k8s = settings.profiles, settings.k8s_version
    helm = helm_alone(charts, profiles, k8s)
    cold, cold_helm, _ = render_stage(repo, profiles, k8s, tmp / "render-cache")
    warm, warm_helm, warm_hits = render_stage(repo, profiles, k8s, tmp / "render-cache")
    renders = len(charts) * len(profiles)
    print(
        f"chart repo: {copies} copies of the platform chart x {len(profiles)} profiles = {renders} renders "
        f"({RENDER_WORKERS} at once)"
    )
    print(
        f"{'':>2}{'helm alone':>12} {'render cold':>12} {'render warm':>12}  {'cold/helm':>9} {'warm/helm':>9}"
    )
    print(
        f"{'':>2}{helm:>10.2f} s {cold:>10.2f} s {warm:>10.2f} s  {cold / helm:>9.2f} {warm / helm:>9.2f}"
        f"   helm runs cold {cold_helm}, warm {warm_helm} ({warm_hits} cache hits)"
    )
    out = tmp / "out-chart-repo"
    out.mkdir()
    tier_cold = tier(repo, out, ",".join(profiles))  # its own empty cache: renders, schema, parsing cold
    tier_warm = tier(repo, out, ",".join(profiles))
    print(
        f"  static tier on the chart repo: cold {tier_cold:.2f} s, warm {tier_warm:.2f} s; "
        f"warm/cold {tier_warm / tier_cold:.2f}, warm / helm alone {tier_warm / helm:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also the 50k-object corpus (minutes)")
    parser.add_argument("--sizes", default="", help="comma-separated object counts (overrides the default)")
    parser.add_argument(
        "--charts", type=int, default=10, help="copies of the platform chart in the chart repo"
    )
    parser.add_argument("--charts-only", action="store_true", help="only the chart-repo row")
    args = parser.parse_args()
    default = [1_000, 5_000, 10_000] + ([50_000] if args.large else [])
    sizes = [int(s) for s in args.sizes.split(",") if s] or default
    settings = Settings.from_env()
    locations = SchemaLocations.from_settings(settings)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-static-") as name:
        tmp = Path(name)
        if not args.charts_only:
            growth = corpus_rows(sizes, locations, tmp)
            print_growth(growth)
            print("goals: cold/kc <= 1.5 at 10k (both profiles); 1-file/cold <= 0.10")
            platform_row(settings, locations, tmp)
        chart_repo_row(settings, tmp, args.charts)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
