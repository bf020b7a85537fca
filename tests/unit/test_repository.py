"""The repository stands on its own: a clone has nothing beside it, so no file may point outside it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A relative path that climbs (`../x`), as code comments, docs links and scripts write one.
_CLIMBING = re.compile(r"(?<![.\w])(?:\.\./)+[\w.-][\w./-]*")
# Documents that exist only outside the repository.
_OUTSIDE = ("CONTRACT.md", "shared/docs", "/work/")


def tracked_text_files() -> list[Path]:
    git = shutil.which("git") or "git"
    listed = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    files = [ROOT / name for name in listed if name]
    return [path for path in files if path.is_file() and b"\0" not in path.read_bytes()[:4096]]


def test_the_repository_has_its_own_docs() -> None:
    docs = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {"ges-api.md", "iam-api.md", "design.md", "open-questions.md"} <= docs
    assert "(docs/" in (ROOT / "README.md").read_text()


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
