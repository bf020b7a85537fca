"""The restore tester on the local stand-ins: the sample history (`make invoke`, `make local`), following
its import jobs to their end, and `make local`'s restore section.

The sample history holds one export, the one events/schedule_v2_input.json starts: graph ``movies`` into
``ges-backups/movies/2026-11-27/``, its job ended 2026-11-27T02:01:00Z, one minute after the sample tick;
the fake OBS holds it. events/restore_test_schedule.json (tick 2026-11-27T03:00:00Z) tests it, and
events/restore_import_console.json imports it by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import boto3

from local.aws import Stack, catch_events, take_messages
from local.fake_ges import SAMPLE_BACKUP_ID, SAMPLE_GRAPH_ID, SAMPLE_JOB_ID, SAMPLE_PROJECT_ID, FakeGes
from local.fake_obs import imported_backups
from local.lambda_runtime import (
    ROOT,
    Handler,
    LocalContext,
    QueuePoller,
    function_environment,
    in_environment,
    load_function,
)

RESTORE_TESTER = "TestRestoreFunction"
FOLLOW_UPS = "RestoreTestQueue"
SAMPLE_EXPORT_PATH = "ges-backups/movies/2026-11-27/"
SAMPLE_ENDED_AT = "2026-11-27T02:01:00Z"
NOWHERE = "ges-backups/nobody-exported-here/"
# The sample export ended long before a long-lived checkout's clock: kept in the history that long.
SAMPLE_KEEP_DAYS = 10 * 365
PASSED = "GES Backup Restore Test Passed"
FAILED = "GES Backup Restore Test Failed"


def record_export(stack: Stack, graph_id: str, path: str, job_id: str, backup_id: str = "sample") -> None:
    """One export of SAMPLE_PROJECT_ID in the stack's history, ended at SAMPLE_ENDED_AT, written as the
    tracker writes it (ges_backup_export/restore/history.py has the item's shape). Plain boto3: importing
    the layer here would bind Powertools' log handler to the stdout of the moment (local/invoke.py)."""
    expiration = int(datetime.fromisoformat(SAMPLE_ENDED_AT).timestamp()) + SAMPLE_KEEP_DAYS * 86_400
    values = {
        "graph": f"{SAMPLE_PROJECT_ID}#{graph_id}", "ended": f"{SAMPLE_ENDED_AT}#{job_id}",
        "project_id": SAMPLE_PROJECT_ID, "graph_id": graph_id, "backup_id": backup_id, "export_path": path,
        "job_id": job_id, "ended_at": SAMPLE_ENDED_AT,
    }  # fmt: skip
    item: dict[str, Any] = {name: {"S": value} for name, value in values.items()}
    item["expiration"] = {"N": str(expiration)}
    boto3.client("dynamodb").put_item(TableName=stack.physical["RestoreHistoryTable"], Item=item)


def seed_sample_history(stack: Stack, ges: FakeGes) -> None:
    """The sample export, in the history and in the fake OBS (module docstring)."""
    record_export(stack, SAMPLE_GRAPH_ID, SAMPLE_EXPORT_PATH, SAMPLE_JOB_ID, SAMPLE_BACKUP_ID)
    ges.obs.put(SAMPLE_EXPORT_PATH, SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID, SAMPLE_BACKUP_ID)


def environment(stack: Stack) -> dict[str, str]:
    """The tester's environment as the template wires it; its follow-up checks without waiting."""
    return {**stack.environment_of(RESTORE_TESTER), "JOB_POLL_INTERVAL_SECONDS": "0"}


def follow_imports(stack: Stack, handler: Handler, variables: Mapping[str, str] | None = None) -> int:
    """Poll the tester's follow-up queue with its handler until every import job ended; the deliveries."""
    properties = stack.template["Resources"][RESTORE_TESTER]["Properties"]
    (source,) = [event for event in properties["Events"].values() if event["Type"] == "SQS"]
    poller = QueuePoller(
        in_environment(handler, variables or environment(stack)),
        stack.queue_urls[FOLLOW_UPS],
        stack.queue_arns[FOLLOW_UPS],
        batch_size=int(source["Properties"]["BatchSize"]),
        timeout_seconds=float(properties["Timeout"]),
    )
    return poller.drain(max_batches=100).received


def show_restore_tests(stack: Stack, ges: FakeGes) -> bool:
    """`make local`'s restore section: a test that passes (the sample export imported back, its backup
    deleted) and one that fails (a path that holds no export), and the events a rule caught."""
    print("\n6. Restore tests (functions/test_restore): events/restore_test_schedule.json imports the newest")
    print(f"   export of graph movies in the history ({SAMPLE_EXPORT_PATH}) back into GES, follows its")
    print("   import job and deletes the backup it added; then the same tick for graph people, whose only")
    print(f"   export in the history points at {NOWHERE}, where nothing was ever exported.")
    caught = catch_events(stack)
    take_messages(caught)  # the export events of the sections before are theirs
    variables = environment(stack)
    properties = stack.template["Resources"][RESTORE_TESTER]["Properties"]
    with function_environment(variables):
        handler = load_function(properties["CodeUri"], properties["Handler"])
    tick = json.loads((ROOT / "events" / "restore_test_schedule.json").read_text(encoding="utf-8"))
    record_export(stack, "people", NOWHERE, "nojob")
    for event in (tick, {**tick, "graph_id": "people"}):
        _show(_invoke(handler, variables, event))
    checks = follow_imports(stack, handler, variables)
    print(f"   follow-up: {checks} checks of import jobs\n")
    events = [json.loads(message["Body"]) for message in take_messages(caught)]
    restore = [event for event in events if event["detail-type"] in (PASSED, FAILED)]
    print(f"Restore events caught by a rule on the bus: {len(restore)}")
    for event in restore:
        print(_describe(event))
    left = imported_backups(ges, SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID)
    ok = sorted(event["detail-type"] for event in restore) == [FAILED, PASSED] and not left
    verdict = "OK" if ok else "NOT OK"
    print(
        f"\n{verdict}: one restore test passed (the backup it imported deleted), one failed (nothing "
        "to import)"
    )
    return ok


def _invoke(handler: Handler, variables: Mapping[str, str], event: Any) -> Any:
    try:
        return in_environment(handler, variables)(event, LocalContext())
    except Exception as error:  # shown to the person running it, as the console would
        return {"error": str(error)}


def _show(result: Any) -> None:
    for test in result.get("restore_tests", [result]):
        print(f"   {json.dumps(test)}")


def _describe(event: dict[str, Any]) -> str:
    detail = event["detail"]
    lines = [
        f"   {event['detail-type']:<31} {detail['graph_id']} <- {detail.get('import_path')}",
        f"      import job {detail.get('job_id')}  status {detail.get('status')}  imported backup "
        f"{detail.get('imported_backup_id')}  deleted {str(detail['deleted']).lower()}",
    ]
    if "fail_reason" in detail:
        lines.append(f"      fail_reason: {detail['fail_reason']}")
    return "\n".join(lines)
