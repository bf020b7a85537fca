"""The benchmark's output: the breakdown sections, and the summary that is also the performance table of
docs/reliability.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from bench.cold_start import STEPS
from bench.report_tables import (
    latency_table,
    met,
    ms,
    package_table,
    ratio,
    restore_table,
    round_trip_table,
    table,
    tracking_table,
)

COMMAND = "make bench"
GOAL_RATIO = 1.3
GOAL_RSS_MB = 100
BEGIN, END = "<!-- performance-table:begin -->", "<!-- performance-table:end -->"
# Where the summary is written, between BEGIN and END.
PAGE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


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
        *table(
            ("figure", "ours", "baseline", "ratio", "goal", "met?"),
            _main_rows(results),
            {1, 2, 3},
        ),
        "",
        *latency_table(results["latency"]),
        "",
        *round_trip_table(results["round_trips"]),
        "",
        *tracking_table(results["tracking"], results["warm"]),
        "",
        *restore_table(results["restore"]),
        "",
        *package_table(results["package"]),
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
            ratio(memory["ours"], memory["baseline"]),
            f"≤ {GOAL_RSS_MB} MB",
            met(memory["ours"] <= GOAL_RSS_MB),
        )
    )
    return rows


# Goals of the concurrency issue at 200 ms GES latency, in milliseconds.
def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def _time_row(
    figure: str, values: dict[str, float], with_goal: bool = False, note: str = "—"
) -> tuple[str, ...]:
    """A timing row; `with_goal`: the ratio goal applies to it, else `note` stands in the goal column."""
    ours, baseline = values["ours"], values["baseline"]
    goal, reached = (f"≤ {GOAL_RATIO}x", met(ours / baseline <= GOAL_RATIO)) if with_goal else (note, "—")
    return figure, ms(ours), ms(baseline), ratio(ours, baseline), goal, reached


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
        return group, ms(mine), ms(theirs), ms(mine - theirs)

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
        f"Init phase: ours {ms(sum(imports['ours']['init'].values()))}, baseline "
        f"{ms(sum(imports['baseline']['init'].values()))}. Imported during the first call: ours "
        f"{ms(sum(lazy.values()))} ({lazy_names}), baseline "
        f"{ms(sum(imports['baseline']['first_call'].values()))}. A module's self time includes its body: "
        "`baseline_handler` creates its three clients at import, ours creates them in the first call. "
        "importtime slows imports down: compare the two columns, do not add them to the timings above.",
        "",
        "Largest:",
        "",
        *table(header, [row(group) for group in largest], {1, 2, 3}),
        "",
        "What ours imports beyond the baseline:",
        "",
        *table(header, [row(group) for group in extra], {1, 2, 3}),
    ]


def _profile_section(profiles: dict[str, dict[str, Any]]) -> list[str]:
    ours, baseline = profiles["ours"], profiles["baseline"]
    rows = [
        (label, ms(ours["steps"][label]), ms(baseline["steps"][label]),
         ms(ours["steps"][label] - baseline["steps"][label]))
        for label in (step.label for step in STEPS)
    ]  # fmt: skip
    rest = {name: p["total_ms"] - sum(p["steps"].values()) for name, p in profiles.items()}
    rows.append(("everything else (trigger, checks, logging, idempotency plumbing)",
                 ms(rest["ours"]), ms(rest["baseline"]), ms(rest["ours"] - rest["baseline"])))  # fmt: skip
    rows.append(("**first call, profiled**", ms(ours["total_ms"]), ms(baseline["total_ms"]),
                 ms(ours["total_ms"] - baseline["total_ms"])))  # fmt: skip
    lines = [
        "## First call, step by step (cProfile, one profiled cold start each; the profiler slows calls)",
        "",
        *table(("step", "ours", "baseline", "ours - baseline"), rows, {1, 2, 3}),
        "",
        "Ours, first call: self time by package",
        "",
        *table(("package", "ours", "baseline"),
                [(pkg, ms(took), ms(baseline["self_by_package"].get(pkg, 0.0)))
                 for pkg, took in ours["self_by_package"].items()], {1, 2}),
        "",
        "Ours, first call: top functions by cumulative time (below the handler's wrappers; of a chain of "
        "calls passing the time on, the outermost)",
        "",
        *table(("cumulative", "function"), [(ms(took), f"`{name}`") for took, name in ours["top_cumulative"]],
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
