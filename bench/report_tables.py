"""The tables of the benchmark's report, one per figure it measures (report.py assembles them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.latency import BATCHES as BATCHES_SHOWN
from bench.restore import TIMED as _TIMED


def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline else "n/a"


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


# -- summary (printed, and written to docs/reliability.md) ------------------------------------------


GOAL_BATCH_MS = 600
GOAL_LIST_MS = 4000


def latency_table(latency: dict[str, Any]) -> list[str]:
    """Many exports at once (bench/latency.py): ours concurrent, ours one at a time, the baseline, ideal."""
    ours, one, baseline = latency["ours"], latency["ours_one_at_a_time"], latency["baseline"]
    rows = [
        (f"SQS batch of 10 new exports (median of {BATCHES_SHOWN})", ms(ours["batch_ms"]),
         ms(one["batch_ms"]), ms(baseline["batch_ms"]), ms(latency["ideal_batch_ms"]),
         f"≤ {ms(GOAL_BATCH_MS)}", met(ours["batch_ms"] <= GOAL_BATCH_MS)),
        ("`exports` list of 100 new exports", ms(ours["list_ms"]), ms(one["list_ms"]), "— (no lists)",
         ms(latency["ideal_list_ms"]), f"≤ {ms(GOAL_LIST_MS)}", met(ours["list_ms"] <= GOAL_LIST_MS)),
    ]  # fmt: skip
    return [
        f"Many exports at once, the fake GES answering every call in {ms(latency['latency_ms'])} "
        f"(bench/latency.py): ideal is ceil(records / {latency['concurrency']}) x latency, what the GES "
        "calls alone take.",
        "",
        *table(
            ("figure, one invocation", f"ours, GES_CONCURRENCY {latency['concurrency']}",
             "ours, GES_CONCURRENCY 1", "baseline (one at a time)", "ideal", "goal", "met?"),
            rows, {1, 2, 3, 4},
        ),
    ]  # fmt: skip


_TRIP_GOALS: dict[str, tuple[Callable[[float], bool] | None, str, Callable[[float], bool] | None, str]] = {
    "new export, cold (secret read)": (None, "— (amortised)", None, "—"),
    "new export": (lambda n: n <= 4, "≤ 4 (with tracking)", lambda n: n <= 1, "≤ 1"),
    "duplicate": (lambda n: n <= 1, "≤ 1", lambda n: n == 0, "0"),
    "batch of 10 queue records": (lambda n: n <= 4, "≤ 4 per record", None, "—"),
    "new export, without TRACKING_QUEUE_URL": (lambda n: n <= 3, "≤ 3", lambda n: n <= 1, "≤ 1"),
}


def round_trip_table(trips: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    rows = []
    for scenario, ours in trips["ours"].items():
        baseline = trips["baseline"][scenario]
        aws_ok, aws_goal, ges_ok, ges_goal = _TRIP_GOALS[scenario]
        ours_aws, base_aws = sum(ours["aws"].values()), sum(baseline["aws"].values())
        per = ours["records"]
        ours_per = ours_aws / per
        ok = None if aws_ok is None else aws_ok(ours_per) and (ges_ok is None or ges_ok(ours["ges"] / per))
        by_action = _by_action(ours["aws"])
        if baseline["aws"] != ours["aws"]:
            by_action += f"; baseline: {_by_action(baseline['aws'])}"
        rows.append((
            scenario,
            by_action,
            _count(ours_aws, per), _count(base_aws, per), ratio(ours_aws, base_aws), aws_goal,
            f"{ours['ges']} / {baseline['ges']}", ges_goal, met(ok),
        ))  # fmt: skip
    return table(
        ("scenario", "ours: AWS requests by action", "AWS ours", "AWS baseline", "ratio", "goal",
         "GES calls ours / baseline", "goal", "met?"),
        rows, {2, 3, 4},
    )  # fmt: skip


def tracking_table(tracking: dict[str, Any], warm: dict[str, dict[str, float]]) -> list[str]:
    """The job tracker (bench/tracking.py), beside the export's own figures."""
    per_message = tracking["ms_per_message"]
    rows = [
        (scenario, _by_action(counts), str(sum(counts.values())))
        for scenario, counts in tracking["requests"].items()
    ]
    return [
        "The job tracker (bench/tracking.py): warm, per tracking message of SQS batches of 10, "
        f"{ms(per_message['ended'])} for a job that ended (its status, then its completion event) and "
        f"{ms(per_message['running'])} for one still running (its status, then the message again, delayed); "
        f"the export takes {ms(warm['ours']['batch_record_ms_median'])} per record. AWS requests (the "
        "receive and delete of Lambda's event source mapping not counted, as for the export):",
        "",
        *table(("tracker", "AWS requests by action", "AWS requests"), rows, {2}),
    ]


def restore_table(restore: dict[str, Any]) -> list[str]:
    """The restore tester (bench/restore.py): a `"*"` test's time, and a test's requests beside the
    baseline's."""
    every = restore["all_graphs"]
    ours, one = every["ours"], every["ours_one_at_a_time"]
    rows = []
    for scenario, counts in restore["requests"]["ours"].items():
        baseline = restore["requests"]["baseline"][scenario]
        ours_aws, base_aws = sum(counts["aws"].values()), sum(baseline["aws"].values())
        by_action = _by_action(counts["aws"])
        if baseline["aws"] != counts["aws"]:
            by_action += f"; baseline: {_by_action(baseline['aws'])}"
        rows.append((scenario, by_action, str(ours_aws), str(base_aws), ratio(ours_aws, base_aws),
                     f"{counts['ges']} / {baseline['ges']}"))  # fmt: skip
    return [
        f"The restore tester (bench/restore.py): a `\"*\"` restore test over {every['graphs']} graphs, the "
        f"fake GES answering every call in {ms(every['latency_ms'])}, takes {ms(ours['ms'])} at "
        f"GES_CONCURRENCY {every['concurrency']} ({ratio(ours['ms'], every['ideal_ms'])} the ideal "
        f"{ms(every['ideal_ms'])}: the graph list, then ceil(2 x {every['graphs']} / "
        f"{every['concurrency']}) rounds of one backup list or import per graph, what the GES calls alone "
        f"take) and {ms(one['ms'])} at GES_CONCURRENCY 1; {ours['ges_calls']:.0f} GES calls, median of "
        f"{_TIMED} tests, warm. A restore "
        "test's requests, ours beside a bare boto3/requests baseline making the same calls "
        "(bench/baseline_restore.py; Lambda's receive and delete not counted):",
        "",
        *table(
            ("restore test", "ours: AWS requests by action", "AWS ours", "AWS baseline", "ratio",
             "GES calls ours / baseline"),
            rows, {2, 3, 4},
        ),
    ]  # fmt: skip


def _by_action(counts: dict[str, int]) -> str:
    return ", ".join(f"{action} {n}" for action, n in counts.items())


def _count(total: int, records: int) -> str:
    return str(total) if records == 1 else f"{total} ({total / records:.1f}/record)"


def package_table(package: dict[str, Any]) -> list[str]:
    if "error" in package:
        return [f"Package size: {package['error']}"]
    function, layer, bundled = package["function"], package["layer"], package["layer_with_boto3"]
    if isinstance(bundled, str):  # pip could not add boto3
        return [
            f"Package size: function {_mb(function['zipped'])} zipped; layer {_mb(layer['zipped'])} zipped, "
            f"{_mb(layer['unzipped'])} unzipped, without boto3 (the runtime provides it). "
            f"With boto3: not measured ({bundled})."
        ]
    rows = [
        (
            "function (ExportBackupFunction), zipped",
            _mb(function["zipped"]),
            _mb(function["zipped"]),
            "1.00x",
        ),
        *[
            (
                f"layer (DependenciesLayer), {key}",
                _mb(layer[key]),
                _mb(bundled[key]),
                ratio(layer[key], bundled[key]),
            )
            for key in ("zipped", "unzipped")
        ],
        (
            "layer, files",
            str(layer["files"]),
            str(bundled["files"]),
            ratio(layer["files"], bundled["files"]),
        ),
    ]
    return [
        *table(("package (`sam build`)", "as shipped: no boto3", "boto3 bundled", "ratio"), rows, {1, 2, 3}),
        "",
        "The template ships the layer without boto3 (layers/requirements.txt): the python3.13 runtime "
        "provides boto3, and bundling it (the tests' pins) would add "
        f"{_mb(bundled['zipped'] - layer['zipped'])} zipped to every deployment of the layer, for a pinned "
        "boto3 version the function does not need.",
    ]


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


# -- breakdown (printed only) ----------------------------------------------------------------------
