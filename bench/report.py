"""The benchmark's output: the breakdown sections, and the summary that is also the performance table of
docs/reliability.md."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.cold_start import STEPS
from bench.latency import BATCHES as BATCHES_SHOWN
from bench.restore import TIMED as _TIMED

COMMAND = "make bench"
GOAL_RATIO = 1.3
GOAL_RSS_MB = 100
BEGIN, END = "<!-- performance-table:begin -->", "<!-- performance-table:end -->"
# Where the summary is written, between BEGIN and END.
PAGE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline else "n/a"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


# -- summary (printed, and written to docs/reliability.md) ------------------------------------------


def summary(results: dict[str, Any]) -> str:
    machine = results["machine"]
    settings = results["settings"]
    lines = [
        f"Reproduce with `{COMMAND}` (bench/run.py: {settings['seconds']:.0f} s here, after `sam build`). "
        "One run, "
        f"{machine['date']}: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"{machine['os']}; load average {machine['load_average']} at the start ({machine['packages']}).",
        "",
        "Ours is the handler as shipped, with the template's environment (log level "
        f"{settings['log_level']}); the baseline makes the same calls with bare boto3 and requests "
        "(bench/baseline_handler.py). Both run against the same zero-latency local stand-ins (moto server "
        "behind a counting proxy, the fake GES; both answering with TCP_NODELAY, see local/), each fresh "
        "interpreter starting on empty queues (moto's SendMessage slows down as a queue fills).",
        "",
        *_table(
            ("figure", "ours", "baseline", "ratio", "goal", "met?"),
            _main_rows(results),
            {1, 2, 3},
        ),
        "",
        *_latency_table(results["latency"]),
        "",
        *_round_trip_table(results["round_trips"]),
        "",
        *_tracking_table(results["tracking"], results["warm"]),
        "",
        *restore_table(results["restore"]),
        "",
        *_package_table(results["package"]),
    ]
    return "\n".join(lines)


def _main_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    rounds = results["settings"]["rounds"]
    rows = _cold_rows(results["cold_start"]["source"], rounds)
    if results["cold_start"].get("built"):
        built = {
            v: _median(samples, "cold_start_ms") for v, samples in results["cold_start"]["built"].items()
        }
        rows.append(
            _time_row(
                "**cold start** from the `sam build` output, read-only as on Lambda (the layer's own "
                f".pyc), median of {rounds}",
                built,
                with_goal=True,
            )
        )
    rows.extend(_warm_rows(results["warm"]))
    memory = results["memory"]
    rows.append(
        (
            "peak RSS of a fresh interpreter after a batch of 10 (GES_CONCURRENCY 8: 8 at a time)",
            f"{memory['ours']:.0f} MB",
            f"{memory['baseline']:.0f} MB",
            _ratio(memory["ours"], memory["baseline"]),
            f"≤ {GOAL_RSS_MB} MB",
            _met(memory["ours"] <= GOAL_RSS_MB),
        )
    )
    return rows


# Goals of the concurrency issue at 200 ms GES latency, in milliseconds.
GOAL_BATCH_MS = 600
GOAL_LIST_MS = 4000


def _latency_table(latency: dict[str, Any]) -> list[str]:
    """Many exports at once (bench/latency.py): ours concurrent, ours one at a time, the baseline, ideal."""
    ours, one, baseline = latency["ours"], latency["ours_one_at_a_time"], latency["baseline"]
    rows = [
        (f"SQS batch of 10 new exports (median of {BATCHES_SHOWN})", _ms(ours["batch_ms"]),
         _ms(one["batch_ms"]), _ms(baseline["batch_ms"]), _ms(latency["ideal_batch_ms"]),
         f"≤ {_ms(GOAL_BATCH_MS)}", _met(ours["batch_ms"] <= GOAL_BATCH_MS)),
        ("`exports` list of 100 new exports", _ms(ours["list_ms"]), _ms(one["list_ms"]), "— (no lists)",
         _ms(latency["ideal_list_ms"]), f"≤ {_ms(GOAL_LIST_MS)}", _met(ours["list_ms"] <= GOAL_LIST_MS)),
    ]  # fmt: skip
    return [
        f"Many exports at once, the fake GES answering every call in {_ms(latency['latency_ms'])} "
        f"(bench/latency.py): ideal is ceil(records / {latency['concurrency']}) x latency, what the GES "
        "calls alone take.",
        "",
        *_table(
            ("figure, one invocation", f"ours, GES_CONCURRENCY {latency['concurrency']}",
             "ours, GES_CONCURRENCY 1", "baseline (one at a time)", "ideal", "goal", "met?"),
            rows, {1, 2, 3, 4},
        ),
    ]  # fmt: skip


def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def _time_row(
    figure: str, values: dict[str, float], with_goal: bool = False, note: str = "—"
) -> tuple[str, ...]:
    """A timing row; `with_goal`: the ratio goal applies to it, else `note` stands in the goal column."""
    ours, baseline = values["ours"], values["baseline"]
    goal, met = (f"≤ {GOAL_RATIO}x", _met(ours / baseline <= GOAL_RATIO)) if with_goal else (note, "—")
    return figure, _ms(ours), _ms(baseline), _ratio(ours, baseline), goal, met


def _cold_rows(samples: dict[str, list[dict[str, float]]], rounds: int) -> list[tuple[str, ...]]:
    def values(key: str) -> dict[str, float]:
        return {variant: _median(variant_samples, key) for variant, variant_samples in samples.items()}

    return [
        _time_row(f"**cold start**: init + first call (one new export), median of {rounds}",
                  values("cold_start_ms"), with_goal=True),
        _time_row("… init: import of the handler module", values("init_ms")),
        _time_row("… first call (ours creates its clients here, the baseline at import)",
                  values("first_call_ms")),
        _time_row("… whole process, spawn to exit (incl. interpreter start)", values("process_ms")),
    ]  # fmt: skip


def _warm_rows(warm: dict[str, dict[str, float]]) -> list[tuple[str, ...]]:
    count = warm["counts"]
    return [
        _time_row(f"**warm**, per record: direct invocation, median of {count['direct']}",
                  {v: warm[v]["direct_ms_median"] for v in ("ours", "baseline")}, with_goal=True),
        _time_row(f"**warm**, per record: SQS batches of 10, median of {count['batches']} batches",
                  {v: warm[v]["batch_record_ms_median"] for v in ("ours", "baseline")}, with_goal=True),
    ]  # fmt: skip


# Goals of the issue for AWS requests and GES calls, per scenario (None: no goal).
_TRIP_GOALS: dict[str, tuple[Callable[[float], bool] | None, str, Callable[[float], bool] | None, str]] = {
    "new export, cold (secret read)": (None, "— (amortised)", None, "—"),
    "new export": (lambda n: n <= 4, "≤ 4 (with tracking)", lambda n: n <= 1, "≤ 1"),
    "duplicate": (lambda n: n <= 1, "≤ 1", lambda n: n == 0, "0"),
    "batch of 10 queue records": (lambda n: n <= 4, "≤ 4 per record", None, "—"),
    "new export, without TRACKING_QUEUE_URL": (lambda n: n <= 3, "≤ 3", lambda n: n <= 1, "≤ 1"),
}


def _round_trip_table(trips: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
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
            _count(ours_aws, per), _count(base_aws, per), _ratio(ours_aws, base_aws), aws_goal,
            f"{ours['ges']} / {baseline['ges']}", ges_goal, _met(ok),
        ))  # fmt: skip
    return _table(
        ("scenario", "ours: AWS requests by action", "AWS ours", "AWS baseline", "ratio", "goal",
         "GES calls ours / baseline", "goal", "met?"),
        rows, {2, 3, 4},
    )  # fmt: skip


def _tracking_table(tracking: dict[str, Any], warm: dict[str, dict[str, float]]) -> list[str]:
    """The job tracker (bench/tracking.py), beside the export's own figures."""
    ms = tracking["ms_per_message"]
    rows = [
        (scenario, _by_action(counts), str(sum(counts.values())))
        for scenario, counts in tracking["requests"].items()
    ]
    return [
        "The job tracker (bench/tracking.py): warm, per tracking message of SQS batches of 10, "
        f"{_ms(ms['ended'])} for a job that ended (its status, then its completion event) and "
        f"{_ms(ms['running'])} for one still running (its status, then the message again, delayed); "
        f"the export takes {_ms(warm['ours']['batch_record_ms_median'])} per record. AWS requests (the "
        "receive and delete of Lambda's event source mapping not counted, as for the export):",
        "",
        *_table(("tracker", "AWS requests by action", "AWS requests"), rows, {2}),
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
        rows.append((scenario, by_action, str(ours_aws), str(base_aws), _ratio(ours_aws, base_aws),
                     f"{counts['ges']} / {baseline['ges']}"))  # fmt: skip
    return [
        f"The restore tester (bench/restore.py): a `\"*\"` restore test over {every['graphs']} graphs, the "
        f"fake GES answering every call in {_ms(every['latency_ms'])}, takes {_ms(ours['ms'])} at "
        f"GES_CONCURRENCY {every['concurrency']} ({_ratio(ours['ms'], every['ideal_ms'])} the ideal "
        f"{_ms(every['ideal_ms'])}: the graph list, then ceil(2 x {every['graphs']} / "
        f"{every['concurrency']}) rounds of one backup list or import per graph, what the GES calls alone "
        f"take) and {_ms(one['ms'])} at GES_CONCURRENCY 1; {ours['ges_calls']:.0f} GES calls, median of "
        f"{_TIMED} tests, warm. A restore "
        "test's requests, ours beside a bare boto3/requests baseline making the same calls "
        "(bench/baseline_restore.py; Lambda's receive and delete not counted):",
        "",
        *_table(
            ("restore test", "ours: AWS requests by action", "AWS ours", "AWS baseline", "ratio",
             "GES calls ours / baseline"),
            rows, {2, 3, 4},
        ),
    ]  # fmt: skip


def _by_action(counts: dict[str, int]) -> str:
    return ", ".join(f"{action} {n}" for action, n in counts.items())


def _count(total: int, records: int) -> str:
    return str(total) if records == 1 else f"{total} ({total / records:.1f}/record)"


def _package_table(package: dict[str, Any]) -> list[str]:
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
                _ratio(layer[key], bundled[key]),
            )
            for key in ("zipped", "unzipped")
        ],
        (
            "layer, files",
            str(layer["files"]),
            str(bundled["files"]),
            _ratio(layer["files"], bundled["files"]),
        ),
    ]
    return [
        *_table(("package (`sam build`)", "as shipped: no boto3", "boto3 bundled", "ratio"), rows, {1, 2, 3}),
        "",
        "The template ships the layer without boto3 (layers/requirements.txt): the python3.13 runtime "
        "provides boto3, and bundling it (the tests' pins) would add "
        f"{_mb(bundled['zipped'] - layer['zipped'])} zipped to every deployment of the layer, for a pinned "
        "boto3 version the function does not need.",
    ]


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


# -- breakdown (printed only) ----------------------------------------------------------------------


def breakdown(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            *_import_section(results["imports"]),
            "",
            *_profile_section(results["profiles"]),
            "",
        ]
    )


def _import_section(imports: dict[str, dict[str, dict[str, float]]], top: int = 12) -> list[str]:
    cost = {
        variant: {group: phases["init"].get(group, 0.0) + phases["first_call"].get(group, 0.0)
                  for group in {*phases["init"], *phases["first_call"]}}
        for variant, phases in imports.items()
    }  # fmt: skip
    ours, baseline = cost["ours"], cost["baseline"]
    groups = {*ours, *baseline}

    def row(group: str) -> tuple[str, ...]:
        mine, theirs = ours.get(group, 0.0), baseline.get(group, 0.0)
        return group, _ms(mine), _ms(theirs), _ms(mine - theirs)

    largest = sorted(groups, key=lambda g: -max(ours.get(g, 0.0), baseline.get(g, 0.0)))[:top]
    extra = sorted(
        (g for g in groups if ours.get(g, 0.0) > baseline.get(g, 0.0)),
        key=lambda g: baseline.get(g, 0.0) - ours.get(g, 0.0),
    )[:top]
    lazy = imports["ours"]["first_call"]
    lazy_names = ", ".join(sorted(lazy, key=lambda g: -lazy[g])[:5]) or "nothing"
    header = ("package", "ours", "baseline", "ours - baseline")
    return [
        "## Import cost by package (`python -X importtime`: self time, median of the runs)",
        "",
        f"Init phase: ours {_ms(sum(imports['ours']['init'].values()))}, baseline "
        f"{_ms(sum(imports['baseline']['init'].values()))}. Imported during the first call: ours "
        f"{_ms(sum(lazy.values()))} ({lazy_names}), baseline "
        f"{_ms(sum(imports['baseline']['first_call'].values()))}. A module's self time includes its body: "
        "`baseline_handler` creates its three clients at import, ours creates them in the first call. "
        "importtime slows imports down: compare the two columns, do not add them to the timings above.",
        "",
        "Largest:",
        "",
        *_table(header, [row(group) for group in largest], {1, 2, 3}),
        "",
        "What ours imports beyond the baseline:",
        "",
        *_table(header, [row(group) for group in extra], {1, 2, 3}),
    ]


def _profile_section(profiles: dict[str, dict[str, Any]]) -> list[str]:
    ours, baseline = profiles["ours"], profiles["baseline"]
    rows = [
        (label, _ms(ours["steps"][label]), _ms(baseline["steps"][label]),
         _ms(ours["steps"][label] - baseline["steps"][label]))
        for label in (step.label for step in STEPS)
    ]  # fmt: skip
    rest = {name: p["total_ms"] - sum(p["steps"].values()) for name, p in profiles.items()}
    rows.append(("everything else (trigger, checks, logging, idempotency plumbing)",
                 _ms(rest["ours"]), _ms(rest["baseline"]), _ms(rest["ours"] - rest["baseline"])))  # fmt: skip
    rows.append(("**first call, profiled**", _ms(ours["total_ms"]), _ms(baseline["total_ms"]),
                 _ms(ours["total_ms"] - baseline["total_ms"])))  # fmt: skip
    lines = [
        "## First call, step by step (cProfile, one profiled cold start each; the profiler slows calls)",
        "",
        *_table(("step", "ours", "baseline", "ours - baseline"), rows, {1, 2, 3}),
        "",
        "Ours, first call: self time by package",
        "",
        *_table(("package", "ours", "baseline"),
                [(pkg, _ms(ms), _ms(baseline["self_by_package"].get(pkg, 0.0)))
                 for pkg, ms in ours["self_by_package"].items()], {1, 2}),
        "",
        "Ours, first call: top functions by cumulative time (below the handler's wrappers; of a chain of "
        "calls passing the time on, the outermost)",
        "",
        *_table(("cumulative", "function"), [(_ms(ms), f"`{name}`") for ms, name in ours["top_cumulative"]],
                {0}),
    ]  # fmt: skip
    return lines


# -- the page ---------------------------------------------------------------------------------------


def write_page(page: Path, text: str) -> None:
    """Replace what lies between the performance-table markers (kept) with `text`."""
    content = page.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(content):
        raise SystemExit(f"bench: {page} has no {BEGIN} ... {END} markers")
    page.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", content, count=1))
