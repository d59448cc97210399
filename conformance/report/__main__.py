"""Command line: `python -m conformance.report prepare|generate`.

prepare   environment.properties + categories.json into the results; prints a summary
generate  one self-contained index.html (opens from file://), history carried over
sample    a tiny real session with every outcome in every tier, then its report (a preview)
merge     copy several results dirs (one per CI job) into --results, environments merged

  python -m conformance.report prepare --results build/allure-results
  python -m conformance.report generate --results build/allure-results --report build/allure-report
  python -m conformance.report merge --results build/allure-results parts/static parts/slo
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .allure_html import Paths, ReportError, generate, merge_parts, prepare
from .sample import write_sample

DEFAULT_RESULTS = Path("build/allure-results")
DEFAULT_REPORT = Path("build/allure-report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.report", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("prepare", "generate", "sample", "merge"))
    parser.add_argument("parts", nargs="*", type=Path, help="merge: results dirs to copy into --results")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="allure-pytest --alluredir")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="report folder (index.html)")
    args = parser.parse_args(argv)
    paths = Paths(args.results, args.report)
    started = time.monotonic()
    try:
        if args.command == "prepare":
            lines = prepare(paths)
            print(f"report: {args.results} prepared in {time.monotonic() - started:.1f} s")
            for line in lines:
                print(line)
        elif args.command == "merge":
            if not args.parts:
                parser.error("merge needs one or more results dirs to copy from")
            copied = merge_parts(args.parts, args.results)
            print(f"report: merged {copied} file(s) from {len(args.parts)} dir(s) into {args.results}")
        elif args.command == "sample":
            workdir = args.report.parent / "report-sample"
            sample = write_sample(workdir)
            paths = Paths(sample.results, workdir / "allure-report")
            prepare(paths)
            index = generate(paths)
            print(f"report: sample report (pytest exit {sample.exit_code}): {index.resolve().as_uri()}")
        else:
            index = generate(paths)
            print(f"report: generated in {time.monotonic() - started:.1f} s: {index.resolve().as_uri()}")
    except ReportError as err:
        print(f"report: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
