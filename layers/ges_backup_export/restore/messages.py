"""What the restore tester writes: the import's record details, its follow-up message, its events."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from ges_backup_export.core.message_format import ExportDetails

# The events (EventBridge, source ges-backup-export): one per test, or per import by hand.
TEST_PASSED = "GES Backup Restore Test Passed"
TEST_FAILED = "GES Backup Restore Test Failed"
TEST_TIMED_OUT = "GES Backup Restore Test Timed Out"
IMPORT_SUCCEEDED = "GES Backup Import Succeeded"
IMPORT_FAILED = "GES Backup Import Failed"
IMPORT_TIMED_OUT = "GES Backup Import Timed Out"
Kind = Literal["test", "import"]  # a restore test, or an import by hand (console)
Result = Literal["passed", "failed", "timed_out"]
DETAIL_TYPES: dict[tuple[Kind, Result], str] = {
    ("test", "passed"): TEST_PASSED,
    ("test", "failed"): TEST_FAILED,
    ("test", "timed_out"): TEST_TIMED_OUT,
    ("import", "passed"): IMPORT_SUCCEEDED,
    ("import", "failed"): IMPORT_FAILED,
    ("import", "timed_out"): IMPORT_TIMED_OUT,
}
# The trigger an import's record carries (ExportDetails.trigger), telling it from an export's.
TEST_TRIGGER = "restore-test"
IMPORT_TRIGGER = "import"
TRIGGERS: dict[Kind, str] = {"test": TEST_TRIGGER, "import": IMPORT_TRIGGER}


class RestoreInfo(TypedDict):
    """What following an import needs beyond GES's job: kept in the import's record (so that a person
    settling an unknown import hands the follow-up everything) and carried by the follow-up message."""

    test: str  # the test's key: its event's, its cleanup's and its claim on the graph
    kind: Kind
    keep: bool  # keep the imported backup (an import by hand), else delete it
    before: list[str]  # the graph's backup ids before the import: the one it added is not among them
    source_graph_id: NotRequired[str]  # the export tested (a restore test)
    source_job_id: NotRequired[str]
    source_ended_at: NotRequired[str]


class ImportDetails(ExportDetails):
    """An import as the export records (deduplication.ExportRecords) keep it. Its identity is project,
    graph, `export_path` (the import path) and `backup_id`, which holds `import-<time>` (the tick, or the
    console request's time): an import has no backup id, and the time makes each test an import of its own.
    `trigger` is TEST_TRIGGER or IMPORT_TRIGGER."""

    restore: RestoreInfo


class FollowUp(TypedDict):
    """One check of an import job, on the tester's follow-up queue (TRACKING_QUEUE_URL)."""

    job_id: str
    project_id: str
    graph_id: str  # the graph imported into
    import_path: str
    requested_at: str
    started_at: str  # when GES accepted the import: the timeout counts from it
    restore: RestoreInfo
    checks: NotRequired[int]
    last_status: NotRequired[str]


class RestoreDetail(TypedDict):
    """An event's detail: exactly these fields (the contract's list)."""

    project_id: str
    graph_id: str
    import_path: NotRequired[str]
    job_id: NotRequired[str]
    source_job_id: NotRequired[str]
    source_ended_at: NotRequired[str]
    imported_backup_id: NotRequired[str]
    deleted: bool
    status: NotRequired[str]
    begin_time: NotRequired[str]
    end_time: NotRequired[str]
    fail_reason: NotRequired[str]
    requested_at: str
    checked_at: str
