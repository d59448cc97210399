"""How fast is the reference target on this machine, and how far below it is the ci load?

    .venv/bin/python benchmarks/slo_target_capacity.py [--duration 10] [--vus 10,30]

1. Plain loops (constant-vus, no think time) for `--duration` seconds: one
   cheap route, then the realistic user mix at each VU count. The best user-mix
   figure is the target's maximum rate *with k6 on the same cores* (what a local
   SLO run can ever see).
2. A fixed-rate sweep (constant-arrival-rate, the tier's executor) at fractions
   of that maximum: achieved rate, dropped iterations and p95 show where an
   open-model run still holds its rate.
3. The policy's ci load rate as a share of the maximum.

All traffic goes to 127.0.0.1; the target and temp files are always removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.policy import load_policy
from conformance.settings import Settings
from conformance.slo.config import build_config, write_config
from conformance.slo.evaluate import RunOptions, run_scenario
from conformance.slo.k6_summary import parse_summary
from conformance.slo.launcher import ReferenceTarget
from conformance.slo.runner import run_k6
from conformance.tools import REPO

LOOP_SCRIPT = """\
import {{ nextRequest, weightedUser }} from '{lib}/users.js';
import * as api from '{lib}/routes.js';
export {{ handleSummary }} from '{lib}/summary.js';
export const options = {{
  scenarios: {{ loop: {{ executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION }} }},
  discardResponseBodies: true,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'count'],
}};
export default function () {{
  if (__ENV.ROUTE_ONLY) api.listRooms(); else nextRequest(weightedUser);
}}
"""


def loop(
    work: Path, config: Path, name: str, vus: int, duration_s: float, *, route_only: bool
) -> tuple[float, float]:
    """One plain-loop k6 run; returns (req/s, p95 ms)."""
    script = work / "loop.js"
    script.write_text(LOOP_SCRIPT.format(lib=(REPO / "k6" / "lib").as_uri()))
    summary = work / f"{name}.json"
    env = {
        "TARTWARE_K6_CONFIG": str(config),
        "TARTWARE_K6_SUMMARY": str(summary),
        "VUS": str(vus),
        "DURATION": f"{duration_s:g}s",
        **({"ROUTE_ONLY": "1"} if route_only else {}),
    }
    proc = run_k6(script, work / name, env, timeout_s=duration_s + 60)
    if proc.exit_code != 0:
        raise SystemExit(f"k6 loop {name} failed: {proc.describe_exit()}\n{proc.stderr_tail()}")
    s = parse_summary(summary.read_text(), str(summary))
    return (s.value("http_reqs", "count") or 0) / duration_s, s.value("http_req_duration", "p(95)") or 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per plain loop")
    parser.add_argument("--vus", default="10,30", help="comma-separated VU counts for the user-mix loops")
    parser.add_argument("--sweep", default="0.25,0.5,0.75", help="fixed rates as fractions of the maximum")
    parser.add_argument("--sweep-duration", type=float, default=5.0)
    args = parser.parse_args()
    settings = Settings.from_env()
    policy = load_policy(settings.policy)
    began = time.monotonic()
    print(f"reference target capacity ({os.cpu_count()} CPUs, k6 and target share them)")
    with (
        tempfile.TemporaryDirectory(prefix="slo-capacity-") as tmp,
        ReferenceTarget().start(Path(tmp)) as target,
    ):
        work = Path(tmp)
        config = write_config(build_config(policy, "ci", target.url), work / "k6-config.json")
        rps, p95 = loop(work, config, "route", 30, args.duration, route_only=True)
        print(f"  plain loop, GET /api/v1/rooms only, 30 VUs: {rps:>8,.0f} req/s   p95 {p95:6.1f} ms")
        best = 0.0
        for vus in (int(v) for v in args.vus.split(",")):
            rps, p95 = loop(work, config, f"mix{vus}", vus, args.duration, route_only=False)
            best = max(best, rps)
            print(f"  plain loop, user mix, {vus:>3} VUs:            {rps:>8,.0f} req/s   p95 {p95:6.1f} ms")
        print(f"  maximum rate (user mix):                    {best:>8,.0f} req/s")
        print("  fixed rate (constant-arrival-rate, user mix):")
        print(f"    {'requested':>9} {'achieved':>9} {'ratio':>7} {'dropped':>8} {'p95 ms':>7}")
        for frac in (float(f) for f in args.sweep.split(",")):
            rate = round(best * frac / 50) * 50 or 50
            sizes = {"rate": rate, "duration_s": args.sweep_duration, "pre_allocated_vus": 50, "max_vus": 300}
            run = run_scenario(
                policy,
                "ci",
                "load",
                target.url,
                work / f"rate{rate}",
                # The sweep measures the shortfall itself: no calibration that would stop it first.
                options=RunOptions(overrides={"load": sizes}, calibrate_above=None),
            )
            achieved = (run.summary.value("http_reqs", "count") or 0) / args.sweep_duration
            dropped = run.summary.value("dropped_iterations", "count") or 0
            p95 = run.summary.value("http_req_duration", "p(95)") or 0.0
            print(f"    {rate:>9,} {achieved:>9,.0f} {achieved / rate:>7.1%} {dropped:>8.0f} {p95:>7.1f}")
    ci_rate = float(policy.load["ci"]["load"]["rate"])
    stress = policy.load["ci"]["stress"]["stages"]
    ci_peak = max(float(policy.load["ci"]["spike"]["peak_rate"]), *(float(r) for r, _ in stress))
    print(
        f"  ci load rate {ci_rate:,.0f} req/s = {ci_rate / best:.1%} of the maximum; "
        f"ci stress/spike peak {ci_peak:,.0f} req/s = {ci_peak / best:.1%}"
    )
    print(f"  benchmark wall time {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
