"""The sample graphs, backups and job that the events in events/ name (:func:`seed_sample_graphs`)."""

from __future__ import annotations

from local.fake_ges.fake import FakeGes

SAMPLE_PROJECT_ID = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
SAMPLE_OTHER_PROJECT_ID = "0b8f5c1d2e3a4b5c6d7e8f9a0b1c2d3e"
SAMPLE_GRAPH_ID = "movies"
SAMPLE_OTHER_GRAPH_ID = "friends"
# The other graphs of SAMPLE_PROJECT_ID, which the all-graphs sample (events/schedule_all_graphs.json) meets.
SAMPLE_RUNNING_GRAPH_ID = "people"
SAMPLE_STOPPED_GRAPH_ID = "archive"
SAMPLE_BACKUP_ID = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
SAMPLE_OTHER_BACKUP_ID = "2e4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
SAMPLE_JOB_ID = "5b1f0d7c9e2a4f6b8d0c1e3a5f7b9d2e"
_SAMPLE_TICK = 1_795_744_800_000  # 2026-11-27T02:00:00Z, the sample schedule tick's time
_DAY_MS = 86_400_000


def seed_sample_graphs(fake: FakeGes) -> None:
    """Create what the sample events in events/ name, with fixed times that all lie before the sample
    schedule tick (2026-11-27T02:00:00Z), so before now too, and "latest" resolves alike for every event:

    * project :data:`SAMPLE_PROJECT_ID`, graph ``movies``: the manual backup :data:`SAMPLE_BACKUP_ID`,
      then 11 newer successful automatic (nightly) backups, more than GES's default page of 10, and a
      newest one that failed;
    * in the same project, graph ``people`` (running) and graph ``archive`` (stopped, status ``900``), one
      successful backup each, which the all-graphs sample meets beside ``movies``;
    * project :data:`SAMPLE_OTHER_PROJECT_ID`, graph ``friends``: the backup :data:`SAMPLE_OTHER_BACKUP_ID`;
    * the export job :data:`SAMPLE_JOB_ID` of graph ``movies``, a success.
    """
    first_night = _SAMPLE_TICK - 12 * _DAY_MS - 3_600_000  # 2026-11-15T01:00:00Z
    fake.add_backup(
        SAMPLE_PROJECT_ID,
        SAMPLE_GRAPH_ID,
        backup_id=SAMPLE_BACKUP_ID,
        start_timestamp=first_night - 2 * _DAY_MS,
    )
    for night in range(11):
        start = first_night + night * _DAY_MS
        fake.add_backup(SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID, start_timestamp=start, backup_method="auto")
    failed_start = first_night + 11 * _DAY_MS
    fake.add_backup(
        SAMPLE_PROJECT_ID,
        SAMPLE_GRAPH_ID,
        status="failed",
        start_timestamp=failed_start,
        backup_method="auto",
    )
    fake.add_backup(
        SAMPLE_OTHER_PROJECT_ID, SAMPLE_OTHER_GRAPH_ID, backup_id=SAMPLE_OTHER_BACKUP_ID,
        start_timestamp=first_night + 5 * _DAY_MS,
    )  # fmt: skip
    for graph_id in (SAMPLE_RUNNING_GRAPH_ID, SAMPLE_STOPPED_GRAPH_ID):
        fake.add_backup(SAMPLE_PROJECT_ID, graph_id, start_timestamp=first_night + 10 * _DAY_MS)
    fake.add_graph(SAMPLE_PROJECT_ID, SAMPLE_STOPPED_GRAPH_ID, status="900")
    # The job events/sqs_tracking_batch.json follows: done by its first check.
    fake.add_job(SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID, job_id=SAMPLE_JOB_ID, script=("success",))


def describe_seed(fake: FakeGes) -> list[str]:
    """The seeded projects, graphs and backup ids, as lines to print."""
    lines = []
    for project_id, graph_id in (
        (SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID),
        (SAMPLE_OTHER_PROJECT_ID, SAMPLE_OTHER_GRAPH_ID),
    ):
        with fake._lock:
            graph = fake._graphs.get(project_id, graph_id)
            backups = [f"  {b['id']}  {b['status']}" for b in (graph.backups.values() if graph else [])]
        lines += [f"project_id={project_id} graph_id={graph_id}", "backup ids, oldest first:", *backups]
    return lines
