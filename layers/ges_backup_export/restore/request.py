"""The restore tester's two events, checked field by field before anything reaches GES.

- a restore test (the schedule `RestoreTestSchedule`, or by hand):
  `{"graph_id": "<id>" | "*", "selection": "latest" | "random", "scheduled_time"?, "project_id"?,
  "target_graph_id"?}`;
- an import by hand (the console): `{"graph_id": "<id>", "import_path": "bucket/dir/", "keep"?: true,
  "project_id"?}`; an event holding `import_path` is one.

Unknown fields are refused by name; ids are checked before any URL is built; a `scheduled_time` more than
five minutes after the invocation's clock is refused, as for exports (the window and the random draw must
be pinned to a time that has come).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ges_backup_export.core.errors import MAX_SHOWN_NAME, InvalidRequest, shown_name
from ges_backup_export.core.ids import check_id, json_type
from ges_backup_export.core.message_format import ALL_GRAPHS, format_time
from ges_backup_export.core.times import request_time
from ges_backup_export.export.request import check_export_path_template
from ges_backup_export.export.triggers import MAX_SCHEDULED_AHEAD

LATEST = "latest"
RANDOM = "random"
SELECTIONS = (LATEST, RANDOM)
TEST_FIELDS = ("graph_id", "selection", "scheduled_time", "project_id", "target_graph_id")
IMPORT_FIELDS = ("graph_id", "import_path", "keep", "project_id")


@dataclass(frozen=True)
class RestoreTestRequest:
    graph_id: str  # or "*"
    selection: str
    project_id: str | None
    target_graph_id: str | None
    tick: datetime  # scheduled_time, else the invocation's time: the window ends here


@dataclass(frozen=True)
class ImportRequest:
    graph_id: str
    import_path: str  # bucket/dir/, always ending with "/"
    keep: bool
    project_id: str | None
    requested_at: datetime  # the invocation's time: each console request is an import of its own


def parse_event(event: object, now: datetime) -> RestoreTestRequest | ImportRequest:
    """The request an event holds, or InvalidRequest naming the field."""
    if not isinstance(event, dict):
        raise InvalidRequest("event", f"must be a JSON object, got {json_type(event)}")
    if "import_path" in event:
        return _import(event, now)
    return _test(event, now)


def _test(event: dict[str, object], now: datetime) -> RestoreTestRequest:
    _known(event, TEST_FIELDS)
    graph_id = _required_id(event, "graph_id", all_graphs=True)
    selection = event.get("selection", LATEST)
    if selection not in SELECTIONS:
        shown = repr(selection)[:MAX_SHOWN_NAME] if isinstance(selection, str) else json_type(selection)
        raise InvalidRequest("selection", f'must be "{LATEST}" or "{RANDOM}", got {shown}')
    target = _id(event, "target_graph_id")
    if target is not None and graph_id == ALL_GRAPHS:
        raise InvalidRequest(
            "target_graph_id",
            f'names one graph\'s test, so it cannot go with graph_id "{ALL_GRAPHS}" (GES runs one operation '
            "at a time on a graph)",
        )
    tick = now
    if event.get("scheduled_time") is not None:
        tick = request_time(event["scheduled_time"], "scheduled_time")
        if tick > now + MAX_SCHEDULED_AHEAD:
            raise InvalidRequest(
                "scheduled_time",
                f"{format_time(tick)} is more than {MAX_SCHEDULED_AHEAD.seconds // 60} minutes after this "
                f"invocation's clock ({format_time(now)}): the window and the random draw must be pinned "
                "to a time that has come, so that every retry of the tick tests the same export",
            )
    return RestoreTestRequest(graph_id, str(selection), _id(event, "project_id"), target, tick)


def _import(event: dict[str, object], now: datetime) -> ImportRequest:
    _known(event, IMPORT_FIELDS)
    graph_id = _required_id(event, "graph_id")
    path = event["import_path"]
    if isinstance(path, str) and "{" in path:
        raise InvalidRequest("import_path", "must be the OBS directory an export wrote, with no placeholders")
    check_export_path_template(path, "import_path")
    assert isinstance(path, str)
    keep = event.get("keep", True)
    if not isinstance(keep, bool):
        raise InvalidRequest("keep", f"must be true or false, got {json_type(keep)}")
    directory = path if path.endswith("/") else path + "/"
    return ImportRequest(graph_id, directory, keep, _id(event, "project_id"), now)


def _known(event: dict[str, object], fields: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in event if key not in fields)
    if unknown:
        raise InvalidRequest(shown_name(unknown[0]), f"unknown field (known fields: {', '.join(fields)})")


def _required_id(event: dict[str, object], name: str, *, all_graphs: bool = False) -> str:
    value = _id(event, name, all_graphs=all_graphs)
    if value is None:
        raise InvalidRequest(name, "is required")
    return value


def _id(event: dict[str, object], name: str, *, all_graphs: bool = False) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if all_graphs and value == ALL_GRAPHS:
        return ALL_GRAPHS
    problem = check_id(value)
    if problem:
        raise InvalidRequest(name, problem)
    assert isinstance(value, str)
    return value
