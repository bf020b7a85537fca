"""The repository stands on its own: a clone has nothing beside it, so no file may point outside it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import report as bench_report
from tests import reliability

ROOT = Path(__file__).resolve().parents[2]
# A relative path that climbs (`../x`), as code comments, docs links and scripts write one.
_CLIMBING = re.compile(r"(?<![.\w])(?:\.\./)+[\w.-][\w./-]*")
# Documents that exist only outside the repository.
_OUTSIDE = ("CONTRACT.md", "shared/docs", "/work/")


def tracked_names() -> list[str]:
    git = shutil.which("git") or "git"
    listed = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    return [name for name in listed if name]


def tracked_text_files() -> list[Path]:
    files = [ROOT / name for name in tracked_names()]
    return [path for path in files if path.is_file() and b"\0" not in path.read_bytes()[:4096]]


# A Markdown link's target: [text](target), without the title that may follow it.
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
# What every page the README links to is for: each has a home in docs/, and the README links to it.
GUIDES = (
    "local.md", "requests.md", "failures.md", "tracking.md", "settings.md", "deploy.md", "operations.md",
    "token-rotation.md", "reliability.md",
)  # fmt: skip


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to '-'."""
    headings = re.findall(r"^#{1,6} (.+)$", _CODE_BLOCK.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def relative_links(page: Path) -> list[str]:
    text = _CODE_BLOCK.sub("", page.read_text())
    return [target for target in _LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_the_repository_has_its_own_docs() -> None:
    docs = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {"ges-api.md", "iam-api.md", "design.md", "open-questions.md"} <= docs
    assert "(docs/" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("page", documents(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_of_the_readme_and_docs_resolves(page: Path) -> None:
    """A link to a file that moved, or to a heading that was renamed, fails here, not in a reader's hands."""
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def test_the_readme_is_a_front_door_that_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text()

    assert len(readme.splitlines()) <= 300
    assert {f"docs/{guide}" for guide in GUIDES} <= set(relative_links(ROOT / "README.md"))
    index = set(relative_links(ROOT / "docs" / "README.md"))
    assert {path.name for path in (ROOT / "docs").glob("*.md")} - {"README.md"} <= index


def test_no_file_refers_to_a_document_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in tracked_text_files()
        if path != Path(__file__)
        for name in _OUTSIDE
        if name in path.read_text(errors="replace")
    ]
    assert found == []


def test_no_relative_path_climbs_out_of_the_repository() -> None:
    outside = []
    for path in tracked_text_files():
        for match in _CLIMBING.finditer(path.read_text(errors="replace")):
            target = (path.parent / match.group()).resolve()
            if not target.is_relative_to(ROOT):
                outside.append(f"{path.relative_to(ROOT)}: {match.group()}")
    assert outside == []


# --- the whole suite's reliability check -----------------------------------------------------------


def whole_run(**changes: int) -> dict[str, int]:
    counts = {key: 0 for key in reliability.ROWS}
    counts.update(fault_injections=337, bad_inputs=2309, soak_messages=500, soak_unknown_outcomes=17)
    return {**counts, **changes}


def test_a_whole_run_whose_figures_differ_from_the_documented_ones_is_still_green() -> None:
    """How many faults fire depends on the retries a run happened to make: not a reason to fail."""
    documented = reliability.table(whole_run())

    assert reliability.verdict(whole_run(fault_injections=336), documented) is None


@pytest.mark.parametrize("row", reliability.MUST_BE_ZERO)
def test_a_whole_run_with_anything_lost_duplicated_or_leaked_fails(row: str) -> None:
    problem = reliability.verdict(whole_run(**{row: 1}), reliability.table(whole_run()))

    assert problem is not None
    assert f"{reliability.ROWS[row]}: 1" in problem


def test_the_tables_make_reliability_and_make_bench_write_live_in_docs_reliability_md() -> None:
    page = (ROOT / "docs" / "reliability.md").read_text()

    assert reliability.PAGE == ROOT / "docs" / "reliability.md"
    assert reliability.verdict(whole_run(), reliability.page_table()) is None
    assert bench_report.PAGE == reliability.PAGE
    assert bench_report.BEGIN in page
    assert bench_report.END in page
    readme = (ROOT / "README.md").read_text()
    assert reliability.BEGIN not in readme
    assert bench_report.BEGIN not in readme


def test_a_documented_table_with_other_rows_fails() -> None:
    documented = "\n".join(reliability.table(whole_run()).splitlines()[:-1])

    assert reliability.verdict(whole_run(), documented) is not None


# --- hygiene -----------------------------------------------------------------------------------------


def test_no_leftover_of_a_merge_or_a_patch_is_tracked() -> None:
    """`*.orig` and `*.rej` are what a merge tool or `patch` leaves beside a file: never the file."""
    assert [name for name in tracked_names() if name.endswith((".orig", ".rej"))] == []
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"*.orig", "*.rej"} <= set(ignored)


def pre_commit_hooks() -> dict[str, dict[str, Any]]:
    """The hooks of .pre-commit-config.yaml by id, each with its repository's `repo` and `rev`."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {
        hook["id"]: {"repo": repo["repo"], "rev": repo.get("rev", "")}
        for repo in config["repos"]
        for hook in repo["hooks"]
    }


def test_pre_commit_runs_ruff_and_the_merge_and_size_checks_at_pinned_revs() -> None:
    hooks = pre_commit_hooks()

    assert {"ruff", "ruff-format", "check-merge-conflict", "check-added-large-files"} <= set(hooks)
    for hook_id, hook in hooks.items():
        assert re.fullmatch(r"v\d+(\.\d+)+", hook["rev"]), f"{hook_id}: pin a release, not {hook['rev']!r}"


def test_pre_commit_s_ruff_is_the_ruff_ci_runs() -> None:
    pinned = re.search(r"^ruff==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)

    assert pinned is not None
    assert pre_commit_hooks()["ruff"]["rev"] == f"v{pinned.group(1)}"
