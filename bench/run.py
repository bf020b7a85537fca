"""`make bench`: every performance figure of the issue, ours against its baseline, in one run.

Starts the local stand-ins, measures cold starts, warm per-record time, peak memory and round trips,
reads the package sizes of the `sam build` output, prints the breakdown and the summary table, writes
the raw figures to bench/results.json and the summary between the performance markers of
docs/reliability.md.
Progress goes to stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    cold_start,
    latency,
    machine,
    memory,
    package_size,
    report,
    restore,
    round_trips,
    stand_ins,
    tracking,
    warm,
)
from bench.spawn import BUILD, BUILT, ROOT

RESULTS = ROOT / "bench" / "results.json"
FUNCTION_LOG = ROOT / "bench" / "function.log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="cold starts per variant (at least 7)")
    parser.add_argument("--warm-records", type=int, default=100, help="direct invocations per interpreter")
    parser.add_argument(
        "--page", "--readme", dest="page", type=Path, default=report.PAGE, help="the page to update"
    )
    parser.add_argument(
        "--no-page",
        "--no-readme",
        dest="no_page",
        action="store_true",
        help="print only; leave the page alone",
    )
    args = parser.parse_args(argv)
    if args.rounds < 7:
        parser.error("--rounds must be at least 7")
    started = time.monotonic()
    results = measure_all(args.rounds, args.warm_records)
    results["settings"]["seconds"] = time.monotonic() - started
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    summary = report.summary(results)
    print(report.breakdown(results))
    print("## Summary (the performance table of docs/reliability.md)\n")
    print(summary)
    if not args.no_page:
        report.write_page(args.page, summary)
        _progress(f"wrote {args.page.name} and {RESULTS.relative_to(ROOT)}")
    return 0


def measure_all(rounds: int, warm_records: int) -> dict[str, Any]:
    results: dict[str, Any] = {"command": report.COMMAND, "machine": machine.describe()}
    with stand_ins.running() as stands:
        results["settings"] = {
            "rounds": rounds,
            "log_level": stands.function_environment()["POWERTOOLS_LOG_LEVEL"],
        }
        _progress(f"cold starts from the source tree ({rounds} per variant)")
        results["cold_start"] = {"source": cold_start.measure(stands, rounds)}
        if (BUILD / "DependenciesLayer").is_dir():
            _progress(f"cold starts from the sam build output ({rounds} per variant)")
            results["cold_start"]["built"] = cold_start.measure(stands, rounds, BUILT)
        _progress("import breakdown (-X importtime) and first-call profiles (cProfile)")
        results["imports"] = cold_start.import_breakdown(stands, repeats=3)
        results["profiles"] = cold_start.first_call_profiles(stands)
        _progress(f"warm per-record time ({warm_records} direct + 10 batches of 10, per interpreter)")
        pooled = warm.measure(stands, rounds=2, direct=warm_records, batches=10)
        results["warm"] = {
            **warm.summary(pooled),
            "counts": {
                "direct": len(pooled["ours"]["direct_ms"]),
                "batches": len(pooled["ours"]["batch_record_ms"]),
            },
        }
        _progress("peak memory after a batch of 10")
        results["memory"] = memory.measure(stands, rounds=3)
        _progress("many exports at once, GES answering in 200 ms")
        results["latency"] = latency.measure(stands)
        _progress("the job tracker: time per tracking message, AWS requests per check and per job")
        results["tracking"] = tracking.measure(stands)
        _progress("round trips")
        results["round_trips"] = round_trips.count(stands, FUNCTION_LOG)
        _progress('the restore tester: a restore test\'s requests, a "*" test over 20 graphs at 200 ms')
        results["restore"] = restore.measure(stands)  # after round_trips: it loads a handler in-process
    _progress("package sizes")
    results["package"] = package_size.measure()
    return results


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
