"""`make invoke`: one event through the real handler on the stand-ins, as the README shows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from local.fake_ges import SAMPLE_BACKUP_ID

ROOT = Path(__file__).resolve().parents[3]
EVENTS = sorted(path.name for path in (ROOT / "events").glob("*.json"))
# The function each sample event is for; any other event is the export function's.
FUNCTIONS = {
    "rotation_create_secret.json": "RotateTokenFunction",
    "sqs_tracking_batch.json": "TrackExportFunction",
    "restore_test_schedule.json": "TestRestoreFunction",
    "restore_import_console.json": "TestRestoreFunction",
}
# The event a rule catches once the restore tester followed its sample's import job to its end.
RESTORE_EVENTS = {
    "restore_test_schedule.json": "GES Backup Restore Test Passed",
    "restore_import_console.json": "GES Backup Import Succeeded",
}


def make_invoke(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`make invoke ARGUMENTS`, from the repository root, with this machine's environment but for the
    variables a test run sets (the command starts its own stand-ins)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GES_"))}
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "invoke", *arguments],
        cwd=ROOT,
        input=stdin,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("event", EVENTS)
def test_every_sample_event_runs_through_its_function_s_handler(event: str) -> None:
    function = FUNCTIONS.get(event, "ExportBackupFunction")

    run = make_invoke(f"EVENT=events/{event}", f"FUNCTION={function}")

    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{function}: " in run.stdout
    assert "\nResult:\n" in run.stdout
    assert "Queues after the invocation:" in run.stdout
    if function == "ExportBackupFunction":
        assert '"job_id"' in run.stdout  # each sample event starts at least one export
    elif function == "TrackExportFunction":
        assert '"detail-type": "GES Backup Export Succeeded"' in run.stdout  # the event a rule caught
    elif function == "TestRestoreFunction":
        assert f'"detail-type": "{RESTORE_EVENTS[event]}"' in run.stdout
    else:
        assert (
            "createSecret" in run.stdout
            or '"Step": "createSecret"' in run.stdout
            or "Result:\nnull" in run.stdout
        )


def test_an_event_from_stdin_and_its_error_are_shown() -> None:
    good = {"graph_id": "movies", "backup_id": SAMPLE_BACKUP_ID, "export_path": "b-ucket/stdin/"}
    bad = {"graph_id": "movies", "export_path": "b-ucket/stdin/"}

    worked = make_invoke("EVENT=-", stdin=json.dumps(good))
    failed = make_invoke("EVENT=-", stdin=json.dumps(bad))

    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert '"export_path": "b-ucket/stdin/"' in worked.stdout
    assert failed.returncode != 0
    assert '"errorMessage": "InvalidRequest: backup_id: is required' in failed.stdout
    assert '"error_code":"InvalidRequest"' in failed.stdout  # the function's own log line


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        ((), None, "make invoke: give EVENT=<file>"),
        (("EVENT=events/none.json",), None, "make invoke: cannot read the event"),
        (("EVENT=-",), "{not json", "make invoke: the event is not JSON"),
        (("EVENT=events/console_single.json", "FUNCTION=Nope"), None, "no function 'Nope' in template.yaml"),
    ],
)
def test_what_cannot_be_invoked_is_said_plainly(
    arguments: tuple[str, ...], stdin: str | None, message: str
) -> None:
    run = make_invoke(*arguments, stdin=stdin)

    assert run.returncode != 0
    assert message in run.stderr
