"""The README's `make local` command: the whole job on the stand-ins, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_run_shows_a_job_id_for_every_trigger(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "local.run", "--log-file", str(tmp_path / "function.log")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: GES accepted 7 exports, the downstream queue holds 7 job_ids" in run.stdout
    for trigger in ("direct", "schedule", "queue"):
        assert f"  {trigger} " in run.stdout
    assert "InvalidRequest: backup_id: is required" in run.stdout
    assert "OK: the token secret's AWSCURRENT is a new IAM token;" in run.stdout  # and an export with it
