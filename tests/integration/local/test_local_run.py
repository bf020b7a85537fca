"""The README's `make local` command: the whole job on the stand-ins, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    """One `python -m local.run` for the module's tests: what it printed, and its function log."""
    log = tmp_path_factory.mktemp("local-run") / "function.log"
    run = subprocess.run(
        [sys.executable, "-m", "local.run", "--log-file", str(log)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return run, log.read_text() if log.exists() else ""


def test_the_local_run_shows_a_job_id_for_every_trigger(
    local_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    run, _ = local_run

    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: GES accepted 7 exports, the downstream queue holds 7 job_ids" in run.stdout
    for trigger in ("direct", "schedule", "queue"):
        assert f"  {trigger} " in run.stdout
    assert "InvalidRequest: backup_id: is required" in run.stdout
    assert "OK: the token secret's AWSCURRENT is a new IAM token;" in run.stdout  # and an export with it


def test_the_local_run_follows_every_job_to_one_completion_event_one_of_them_failed(
    local_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    run, log = local_run

    assert run.returncode == 0, run.stdout + run.stderr
    step = run.stdout[run.stdout.index("Job tracking:") : run.stdout.index("5. Token rotation")]
    assert (
        "poller: 23 tracking messages" in step
    )  # 7 jobs checked 3 times (pending, running, success), 1 twice
    assert "Completion events caught by a rule on the bus (source ges-backup-export): 8" in step
    assert step.count("GES Backup Export Succeeded  ") == 7
    (failed,) = [line for line in step.splitlines() if "GES Backup Export Failed" in line]
    assert "movies -> ges-backups/movies/tracked/" in failed
    assert failed.endswith("status failed")
    assert "fail_reason: Failed to export the backup to OBS: the bucket ges-backups is not writable." in step
    for job in ("friends -> ges-backups/friends/queue/", "movies -> ges-backups/movies/2026-11-27/"):
        assert job in step
    assert (
        "OK: the tracker followed the 8 jobs started so far to their end, one completion event each" in step
    )
    # The metric lines (EMF) go to the function's log file, not amid what the run prints.
    assert '"_aws"' not in run.stdout
    assert '"_aws"' in log
