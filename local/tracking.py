"""`make local`'s job tracking: the tracker (functions/track_export) follows the jobs of the run's exports
to their end, and an EventBridge rule catches the completion events, as an operator's rule would.

`JobTracking.prepare`, before the run's exports: every job the fake GES starts goes pending, running,
success (one step per status check); both functions check a job without waiting
(JOB_POLL_INTERVAL_SECONDS=0, for the run); a rule sends the events to a queue in moto. `show`, after
the triggers' exports: one more export, whose job fails; then a local event source poller on the tracking
queue runs the tracker's real handler (in its own environment, as the template wires it) until the queue
is empty, and the caught events are printed.

It runs before the token rotation: the rotated token is scoped to the function's project (GES_PROJECT_ID),
so GES would no longer show the tracker the jobs of the sample exports to the other project (GES.0016).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from local.aws import Stack, catch_events, queue_depth, take_messages
from local.fake_ges import SAMPLE_BACKUP_ID, FakeGes
from local.lambda_runtime import Handler, LocalContext, QueuePoller, in_environment, load_function

TRACKER = "TrackExportFunction"
JOB_STEPS = ("pending", "running", "success")
# The sample schedule tick (events/) is a fixed time in the past, and a job times out counting from its
# request's time: for the run, a timeout no sample request is older than.
RUN_TIMEOUT_SECONDS = 10 * 365 * 86_400
FAIL_REASON = "Failed to export the backup to OBS: the bucket ges-backups is not writable."
_FAILING = {
    "graph_id": "movies",
    "backup_id": SAMPLE_BACKUP_ID,
    "export_path": "ges-backups/{graph_id}/tracked/{timestamp}/",
}
FAILED = "GES Backup Export Failed"


@dataclass(frozen=True)
class JobTracking:
    stack: Stack
    ges: FakeGes
    caught_url: str
    jobs_before: frozenset[str]  # the fake's jobs before the run (the sample job): no export started them

    @classmethod
    def prepare(cls, stack: Stack, ges: FakeGes) -> JobTracking:
        """Call before the run's exports (see the module's docstring)."""
        ges.job_script = JOB_STEPS
        os.environ["JOB_POLL_INTERVAL_SECONDS"] = "0"
        return cls(stack, ges, catch_events(stack), frozenset(ges.jobs))

    def show(self, export_handler: Handler) -> bool:
        """Print the tracker's run over the jobs and the events it put; returns whether every job the run
        started has exactly one completion event, the failed one among them."""
        print("\nJob tracking: the tracker (functions/track_export) follows each started export's GES job,")
        print(f"   handed to it on the tracking queue; the fake GES answers {', '.join(JOB_STEPS)}, one step")
        print(
            "   per status check, and a job not ended is checked again at once (JOB_POLL_INTERVAL_SECONDS=0)."
        )
        failing = self._failing_export(export_handler)
        queue_url = self.stack.queue_urls["TrackingQueue"]
        totals = self._poller(queue_url).drain(max_batches=100)
        print(
            f"   poller: {totals.received} tracking messages (each check of a job not ended sends the next),"
        )
        print(f"   {totals.failed} retried\n")
        return self._report(failing, emptied=queue_depth(queue_url) == (0, 0))

    def _poller(self, queue_url: str) -> QueuePoller:
        """The tracker's event source mapping, with the tracker's handler in its own environment."""
        properties = self.stack.template["Resources"][TRACKER]["Properties"]
        (source,) = properties["Events"].values()
        environment = {
            **self.stack.environment_of(TRACKER),
            "JOB_POLL_INTERVAL_SECONDS": "0",
            "JOB_TRACKING_TIMEOUT_SECONDS": str(RUN_TIMEOUT_SECONDS),
        }
        handler = load_function(properties["CodeUri"], properties["Handler"])
        return QueuePoller(
            in_environment(handler, environment),
            queue_url,
            self.stack.queue_arns["TrackingQueue"],
            batch_size=int(source["Properties"]["BatchSize"]),
            timeout_seconds=float(properties["Timeout"]),
        )

    def _failing_export(self, export_handler: Handler) -> str | None:
        """One more export, whose GES job fails (its script: running, then failed); its job_id."""
        try:
            message = export_handler(dict(_FAILING), LocalContext())
        except Exception as error:  # shown to the person running it, as the console would
            print(f"   error: {error}")
            return None
        job_id: str = message["job_id"]
        self.ges.script_job(job_id, ["running", "failed"], fail_reason=FAIL_REASON)
        print(f"   One more export, whose job GES fails: job_id {job_id}  movies -> {message['export_path']}")
        return job_id

    def _report(self, failing: str | None, *, emptied: bool) -> bool:
        jobs = [job_id for job_id in self.ges.jobs if job_id not in self.jobs_before]
        events = [json.loads(message["Body"]) for message in take_messages(self.caught_url)]
        events.sort(key=lambda event: _position(jobs, event["detail"]["job_id"]))
        print(f"Completion events caught by a rule on the bus (source ges-backup-export): {len(events)}")
        for event in events:
            print(f"   {_describe(event)}")
        announced = Counter(event["detail"]["job_id"] for event in events)
        failed = [event["detail"]["job_id"] for event in events if event["detail-type"] == FAILED]
        ok = emptied and sorted(announced) == sorted(jobs) and set(announced.values()) == {1}
        ok = ok and failing is not None and failed == [failing]
        statuses = Counter(event["detail"]["status"] for event in events)
        verdict = "OK" if ok else "NOT OK"
        counts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
        print(
            f"\n{verdict}: the tracker followed the {len(jobs)} jobs started so far to their end, one "
            f"completion event each ({counts})"
        )
        return ok


def _position(jobs: list[str], job_id: str) -> int:
    return jobs.index(job_id) if job_id in jobs else len(jobs)


def _describe(event: dict[str, Any]) -> str:
    detail = event["detail"]
    line = f"{event['detail-type']:<28} {detail['graph_id']} -> {detail['export_path']}"
    line += f"  status {detail['status']}"
    if "fail_reason" in detail:
        line += f"\n      fail_reason: {detail['fail_reason']}"
    return line
