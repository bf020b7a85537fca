"""One measurement in a fresh interpreter, the way a Lambda execution environment meets the handler.

Run by the benchmark as `python -I [-B] [-X importtime] bench/fresh_interpreter.py SPEC_FILE`; it
writes its figures as JSON to the spec's `result` path. Nothing but the standard library is imported
before the handler module, and `STARTED` is taken on the first line, so `init_ms` is what the import
of the handler module costs in a process that has imported nothing else (Lambda's init phase).

Modes:
- `first_call`: import, then handle one event (a new export): init and first-call times;
- `warm`: import, warm up, then time each event: per-record times of a warm environment;
- `batch`: import, then handle one SQS batch: peak RSS;
- `events`: import, warm up, then time each event whole (a batch, an `exports` list).
"""

import time

STARTED = time.perf_counter()

import importlib  # noqa: E402 - after STARTED on purpose
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402 - the handlers import typing anyway

Handler = Callable[[Any, Any], Any]
Spec = dict[str, Any]

MARKER = "bench: first call\n"  # on stderr between import and first call, to split -X importtime


class Context:
    """The parts of Lambda's context the handlers use (local.lambda_runtime.LocalContext, which this
    script cannot import: it would import boto3 before the handler does)."""

    function_name = "ges-backup-export-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:ges-backup-export-bench"
    log_group_name = "/aws/lambda/ges-backup-export-bench"
    log_stream_name = "bench"

    def __init__(self, timeout_seconds: float = 120.0) -> None:
        self.aws_request_id = os.urandom(16).hex()
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(variant: str, paths: list[str]) -> Handler:
    """Import the handler module with `paths` first on sys.path (function code, then layer)."""
    sys.path[:0] = paths
    module = importlib.import_module("baseline_handler" if variant == "baseline" else "app")
    handler: Handler = module.lambda_handler
    return handler


def check(result: object) -> None:
    """A measurement of an error path would be worthless: every export (or import) must have started."""
    ok = isinstance(result, dict) and (
        "job_id" in result
        or result.get("batchItemFailures") == []
        or all("job_id" in entry for entry in result.get("exports") or [{}])
        or all("job_id" in test for test in result.get("restore_tests") or [{}])  # the restore tester
    )
    if not ok:
        raise SystemExit(f"bench: the handler did not succeed: {result!r:.500}")


def first_call(handler: Handler, spec: Spec) -> Spec:
    imported = time.perf_counter()
    sys.stderr.write(MARKER)
    sys.stderr.flush()
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        called = time.perf_counter()
        result = profiler.runcall(handler, spec["event"], Context())
        profiler.dump_stats(spec["profile"])
    else:
        called = time.perf_counter()
        result = handler(spec["event"], Context())
    done = time.perf_counter()
    check(result)
    return {
        "init_ms": (imported - STARTED) * 1000,
        "first_call_ms": (done - called) * 1000,
        "modules": len(sys.modules),
    }


def timed(handler: Handler, event: Spec) -> float:
    started = time.perf_counter()
    result = handler(event, Context())
    elapsed = (time.perf_counter() - started) * 1000
    check(result)
    return elapsed


def warm(handler: Handler, spec: Spec) -> Spec:
    for event in spec["warmup"]:
        timed(handler, event)
    return {
        "direct_ms": [timed(handler, event) for event in spec["direct"]],
        "batch_record_ms": [timed(handler, event) / len(event["Records"]) for event in spec["batches"]],
    }


def events(handler: Handler, spec: Spec) -> Spec:
    for event in spec["warmup"]:
        timed(handler, event)
    return {"ms": [timed(handler, event) for event in spec["events"]]}


def peak_rss_kb() -> int:
    """This process's peak RSS (KiB). Not ru_maxrss: Linux carries the spawning process's peak into
    it across exec, so a child of a large parent reports the parent's size. VmHWM is this image's own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def batch(handler: Handler, spec: Spec) -> Spec:
    timed(handler, spec["event"])
    return {"max_rss_kb": peak_rss_kb()}


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    handler = load_handler(spec["variant"], spec["paths"])
    modes = {"first_call": first_call, "warm": warm, "batch": batch, "events": events}
    figures = modes[spec["mode"]](handler, spec)
    with open(spec["result"], "w") as file:
        json.dump(figures, file)


if __name__ == "__main__":
    main()
