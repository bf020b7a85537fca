"""`make local`: run the export job end to end on this machine, with no AWS account and no Docker.

moto (in server mode) stands in for Secrets Manager, DynamoDB and SQS, and the fake GES for Huawei
Cloud; the resources are the ones template.yaml declares. The real handler then serves all three
triggers: a console request, a schedule tick (twice, as a retried tick would arrive), and messages on
the input queue delivered by a local poller that honours partial batch responses and the redrive policy.
Every job_id is read back from the downstream queue. The function's own log lines go to a file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from local.aws import Stack, aws_environment, deploy, moto_server, string_attributes, take_messages
from local.fake_ges import SAMPLE_OTHER_PROJECT_ID, SAMPLE_PROJECT_ID, FakeGes, Fault, seed_sample_graphs
from local.lambda_runtime import ROOT, Handler, LocalContext, QueuePoller, load_handler
from local.restore import seed_sample_history, show_restore_tests
from local.rotation import show_token_rotation
from local.tracking import JobTracking

PROJECT = SAMPLE_PROJECT_ID
OTHER_PROJECT = SAMPLE_OTHER_PROJECT_ID
EVENTS = ROOT / "events"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-file", type=Path, default=ROOT / "local-run.log", help="where the function logs go"
    )
    args = parser.parse_args(argv)
    with moto_server() as aws_url, FakeGes() as ges, args.log_file.open("w") as log:
        seed_sample_graphs(ges)  # the graphs and backups the sample events in events/ name
        os.environ.update(aws_environment(aws_url))
        stack = deploy(
            "local", token_secret=ges.token, ges_endpoint=ges.url, overrides={"GesProjectId": PROJECT}
        )
        os.environ.update(stack.environment)
        with contextlib.redirect_stdout(log):  # Powertools' log handler binds to stdout at import
            handler = load_handler()
        print(f"moto server at {aws_url}, fake GES at {ges.url}; function logs in {args.log_file}\n")
        tracking = JobTracking.prepare(stack, ges)
        ok = _run_triggers(handler, stack, ges)
        ok = tracking.show(handler) and ok
        ok = show_token_rotation(stack, ges, handler) and ok
        seed_sample_history(stack, ges)  # restore tests: the sample export in the history, in the fake OBS
        ok = show_restore_tests(stack, ges) and ok
    print(_log_summary(args.log_file))
    return 0 if ok else 1


def _run_triggers(handler: Handler, stack: Stack, ges: FakeGes) -> bool:
    print("1. Console: aws lambda invoke --payload file://events/console_single.json")
    _show(_invoke(handler, "console_single.json"))
    print("2. Console, a list: events/console_exports.json")
    _show(_invoke(handler, "console_exports.json"))
    print("3. Schedule tick (EventBridge Scheduler Input): events/schedule_v2_input.json")
    _show(_invoke(handler, "schedule_v2_input.json"))
    print("   ...the same tick again, as a retry would deliver it:")
    _show(_invoke(handler, "schedule_v2_input.json"))
    print("4. Input queue: the two bodies of events/sqs_batch.json, the first one twice (a duplicate), and a")
    print(
        "   request without backup_id. GES answers 503 until the first record's attempts are used up, so that"
    )
    print("   record is reported in batchItemFailures and redelivered by SQS.")
    sqs = boto3.client("sqs")
    batch = json.loads((EVENTS / "sqs_batch.json").read_text())
    bodies = [record["body"] for record in batch["Records"]]
    for body in [*bodies, bodies[0], '{"graph_id": "movies", "export_path": "ges-backups/x/"}']:
        sqs.send_message(QueueUrl=stack.queue_urls["InputQueue"], MessageBody=body)
    ges.inject(Fault.http(503), times=int(stack.environment["GES_MAX_ATTEMPTS"]))
    poller = QueuePoller(
        handler,
        stack.queue_urls["InputQueue"],
        stack.queue_arns["InputQueue"],
        batch_size=stack.batch_size(),
        timeout_seconds=float(stack.function_property("Timeout")),
    )
    totals = poller.drain()
    print(f"   poller: {totals.received} deliveries, {totals.succeeded} done, {totals.failed} retried\n")
    return _report(stack, ges)


def _invoke(handler: Handler, event_file: str) -> Any:
    event = json.loads((EVENTS / event_file).read_text())
    try:
        return handler(event, LocalContext())
    except Exception as error:  # shown to the person running it, as the console would
        return {"error": str(error)}


def _show(result: Any) -> None:
    entries = result["exports"] if isinstance(result, dict) and "exports" in result else [result]
    for entry in entries:
        if "job_id" in entry:
            print(f"   {_describe(entry)}")
        else:
            print(f"   error: {entry.get('error')}")
    print()


def _describe(msg: dict[str, str]) -> str:
    return f"job_id {msg['job_id']}  {msg['trigger']:<8} {msg['graph_id']} -> {msg['export_path']}"


def _report(stack: Stack, ges: FakeGes) -> bool:
    downstream = take_messages(stack.queue_urls["DownstreamQueue"])
    print(f"Downstream queue: {len(downstream)} messages")
    for message in downstream:
        print(f"   {_describe(json.loads(message['Body']))}")
    dead = take_messages(stack.queue_urls["InputDeadLetterQueue"])
    print(f"Dead-letter queue: {len(dead)} messages")
    for message in dead:
        reason = string_attributes(message)
        print(f"   {reason.get('error_code')}: {reason.get('error_message')}\n      body: {message['Body']}")
    accepted = sum(1 for call in ges.export_calls if call.status == 200)
    triggers = Counter(json.loads(message["Body"])["trigger"] for message in downstream)
    ok = accepted == len(downstream) and all(triggers[name] for name in ("direct", "schedule", "queue"))
    verdict = "OK" if ok else "NOT OK"
    print(
        f"\n{verdict}: GES accepted {accepted} exports, the downstream queue holds {len(downstream)} job_ids"
    )
    print(f"    (by trigger: {dict(triggers)}); {len(ges.export_calls)} export calls reached GES in all.")
    return ok


def _log_summary(path: Path) -> str:
    levels = Counter(
        json.loads(line).get("level")
        for line in path.read_text().splitlines()
        if line.startswith("{") and '"_aws"' not in line  # the EMF metric lines are not log lines
    )
    return f"Function log lines by level: {dict(levels)} ({path})"


if __name__ == "__main__":
    sys.exit(main())
