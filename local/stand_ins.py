"""`make stand-ins`: the stand-ins with the stack created, left running for the operator tools until Ctrl-C.

moto (in server mode) and the fake GES, seeded with the sample events' graphs, start as for `make local`;
the queues, the table and the token secret template.yaml declares are created in moto; the export
function polls the input queue and the tracker the tracking queue, each in a process of its own, as
Lambda's event source mappings would; and a rule on the bus sends every completion event to a queue.
The environment that points the AWS CLI, `ops.redrive` and `ops.settle` at them is printed and written
to a file to source. The fake GES takes faults from outside (`POST $GES_ENDPOINT/_fake/faults`,
local/fake_control.py), so an export whose outcome is unknown can be made, and settled:
docs/operations.md, "Rehearsing on the stand-ins".

Differences from AWS, for a rehearsal: a failed queue record comes back after `--redelivery-seconds`
(default 5) instead of the queue's visibility timeout, a new job is first checked after 2 s instead of
30, and there are no alarms, logs in CloudWatch or schedule (the functions' log lines go to a file).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.aws import Stack, aws_environment, catch_events, deploy, moto_server
from local.fake_control import PATH as CONTROL_PATH
from local.fake_control import enable as enable_control
from local.fake_ges import SAMPLE_PROJECT_ID, FakeGes, seed_sample_graphs
from local.lambda_runtime import ROOT, poll_until_stopped

STACK = "stand-ins"
EXPORT_FUNCTION = "ExportBackupFunction"
TRACKER = "TrackExportFunction"
# The tracker checks a new job after 2 s, not 30: a rehearsal sees the completion event in seconds.
OVERRIDES = {"GesProjectId": SAMPLE_PROJECT_ID, "JobPollIntervalSeconds": "2"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make stand-ins", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env-file", type=Path, default=ROOT / "stand-ins.env", help="where the environment is written"
    )
    parser.add_argument(
        "--log-file", type=Path, default=ROOT / "stand-ins.log", help="where the functions' logs go"
    )
    parser.add_argument("--ges-port", type=int, default=0, help="the fake GES's port (default: any free one)")
    parser.add_argument(
        "--redelivery-seconds", type=int, default=5, help="when a failed queue record comes back"
    )
    args = parser.parse_args(argv)
    # Ctrl-C and a plain kill stop it cleanly, also when started by a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_terminate)
    with moto_server() as aws_url, enable_control(FakeGes(port=args.ges_port)) as ges:
        seed_sample_graphs(ges)
        os.environ.update(aws_environment(aws_url))
        stack = deploy(STACK, token_secret=ges.token, ges_endpoint=ges.url, overrides=OVERRIDES)
        environment = operator_environment(stack, aws_url, ges, catch_events(stack))
        with functions_polling(stack, args.log_file, args.redelivery_seconds):
            _announce(environment, args.env_file, args.log_file)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("\nstopping the stand-ins", flush=True)
    return 0


def _stop_on_terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def operator_environment(stack: Stack, aws_url: str, ges: FakeGes, caught_events: str) -> dict[str, str]:
    """What the AWS CLI and the operator tools need, named after the stack's outputs where it has one
    (InputQueueUrl: INPUT_QUEUE_URL)."""
    queues = {f"{_upper_snake(logical_id)}_URL": url for logical_id, url in stack.queue_urls.items()}
    return {
        **aws_environment(aws_url),
        **queues,
        "IDEMPOTENCY_TABLE_NAME": stack.table_name,
        "GES_TOKEN_SECRET_ARN": stack.secret_arn,
        "CAUGHT_EVENTS_QUEUE_URL": caught_events,
        "GES_ENDPOINT": ges.url,
        "GES_PROJECT_ID": SAMPLE_PROJECT_ID,
    }


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _announce(environment: Mapping[str, str], env_file: Path, log_file: Path) -> None:
    lines = [f"export {name}={value}" for name, value in environment.items()]
    env_file.write_text("\n".join(lines) + "\n")
    print("The stand-ins are up: moto with the stack's queues, table and token secret, the fake GES, the")
    print("export function polling the input queue and the tracker the tracking queue. Their environment:\n")
    print(*lines, sep="\n")
    print(f"\nIn another shell: . {env_file}  (the same lines). The functions log to {log_file}.")
    print(f'Faults: curl -X POST "$GES_ENDPOINT{CONTROL_PATH}" -d \'{{"route": "export", "status": 500}}\'')
    print('The runbook, step by step: docs/operations.md, "Rehearsing on the stand-ins". Ctrl-C stops them.')
    sys.stdout.flush()


@contextmanager
def functions_polling(stack: Stack, log_file: Path, redelivery_seconds: int) -> Iterator[None]:
    """The export function on the input queue and the tracker on the tracking queue, each in a process of
    its own (an execution environment), until the block ends."""
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    log_file.write_text("")
    pollers = [
        spawn.Process(
            target=_poll,
            args=(str(log_file), stack.queue_urls[queue], stack.queue_arns[queue], redelivery_seconds, stop),
            kwargs={"code_uri": code_uri, "environment": stack.environment_of(function)},
            daemon=True,
        )
        for function, queue, code_uri in (
            (EXPORT_FUNCTION, "InputQueue", None),
            (TRACKER, "TrackingQueue", "functions/track_export/"),
        )
    ]
    for poller in pollers:
        poller.start()
    try:
        yield
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=15)
            if poller.is_alive():
                poller.kill()


def _poll(
    log_file: str, queue_url: str, queue_arn: str, redelivery_seconds: int, stop: Any, **function: Any
) -> None:
    """One poller's process: Ctrl-C is the parent's to handle (it sets `stop`); the function's log lines
    (Powertools writes them to stdout) go to the log file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(log_file, "a", buffering=1, encoding="utf-8") as log:
        sys.stdout = log
        poll_until_stopped(queue_url, queue_arn, 10, redelivery_seconds, stop, **function)


if __name__ == "__main__":
    sys.exit(main())
