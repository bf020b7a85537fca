"""What a redrive run prints: counts by reason, then a few messages of each reason."""

from __future__ import annotations

from ops.redrive.moving import HOLD_SECONDS
from ops.redrive.plan import Plan, Tally

SHOWN_CHARACTERS = 300


def report(plan: Plan, tally: Tally) -> str:
    """Counts by reason (found, moved or would move, left), then a few messages of each reason."""
    verb = "moved" if plan.apply else "would move"
    lines = [
        f"{'Redrive' if plan.apply else 'Dry run, nothing moved (add --apply to move)'}: "
        f"{plan.source} -> {plan.target}",
        f"selected: {', '.join(plan.reasons) if plan.reasons else 'every reason'}"
        + (f", only messages {', '.join(sorted(plan.message_ids))}" if plan.message_ids else "")
        + (f", at most {plan.limit}" if plan.limit is not None else ""),
        "",
    ]
    rows = [(reason, tally.found[reason], tally.moved[reason]) for reason in sorted(tally.found)]
    rows.append(("total", sum(tally.found.values()), sum(tally.moved.values())))
    width = max(len(row[0]) for row in rows)
    lines.append(f"{'reason':<{width}}  {'found':>6}  {verb:>10}  {'left':>6}")
    lines += [
        f"{reason:<{width}}  {found:>6}  {moved:>10}  {found - moved:>6}" for reason, found, moved in rows
    ]
    lines += _samples(tally)
    if tally.unreleased:
        lines.append(
            f"\n{tally.unreleased} messages could not be made visible again: they are back in "
            f"{HOLD_SECONDS} s at the latest."
        )
    return "\n".join(lines)


def _samples(tally: Tally) -> list[str]:
    lines: list[str] = []
    for reason in sorted(tally.samples):
        shown = tally.samples[reason]
        if not shown:
            continue
        lines.append(f"\n{reason} ({len(shown)} of {tally.found[reason]}):")
        for candidate in shown:
            lines.append(f"  message {candidate.message_id}")
            if candidate.detail:
                lines.append(f"    error: {_short(candidate.detail)}")
            body = "(cannot be redriven)" if candidate.body is None else _short(candidate.body)
            lines.append(f"    body:  {body}")
    return lines


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_CHARACTERS else line[: SHOWN_CHARACTERS - 3] + "..."
