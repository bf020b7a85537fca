"""The export request: one JSON object, checked field by field before anything reaches GES.

Ids are checked before any URL is built, the export path before any call is made, and unknown fields
are refused by name, so a typo is never silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ges_backup_export.core.errors import MAX_SHOWN_NAME, InvalidRequest, field_name, shown_name
from ges_backup_export.core.ids import check_id, json_type
from ges_backup_export.core.message_format import ALL_GRAPHS
from ges_backup_export.core.times import request_time

LATEST = "latest"
MAX_EXPORT_PATH_LENGTH = 1024
MAX_SHOWN_NAMES = 20
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDERS = ("graph_id", "backup_id", "date", "timestamp")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# OBS object-name characters that need no encoding (docs/ges-api.md, section 1); `/` separates the parts.
_PATH_PART = re.compile(r"[A-Za-z0-9!_.*'()-]+")
_FIELDS = ("graph_id", "backup_id", "export_path", "project_id", "scheduled_time")
_REQUIRED = ("graph_id", "backup_id", "export_path")


@dataclass(frozen=True)
class ExportRequest:
    """A checked request. `export_path` may still hold placeholders; `backup_id` may be `latest`."""

    graph_id: str
    backup_id: str
    export_path: str
    project_id: str | None = None
    scheduled_time: datetime | None = None


def parse_request(value: object, where: str = "") -> ExportRequest:
    """Turn one JSON value into a request, or raise InvalidRequest naming the field (prefixed by `where`)."""
    if not isinstance(value, dict):
        raise InvalidRequest(where or "request", f"must be a JSON object, got {json_type(value)}")
    unknown = sorted(str(key) for key in value if key not in _FIELDS)
    if unknown:
        shown = [name[:MAX_SHOWN_NAME] for name in unknown[:MAX_SHOWN_NAMES]]
        more = f" and {len(unknown) - MAX_SHOWN_NAMES} more" if len(unknown) > MAX_SHOWN_NAMES else ""
        raise InvalidRequest(
            field_name(where, unknown[0]),
            f"unknown field (known fields: {', '.join(_FIELDS)}); got {shown}{more}",
        )
    for name in _REQUIRED:
        if value.get(name) is None:
            raise InvalidRequest(field_name(where, name), "is required")
    for name in ("graph_id", "backup_id", "project_id"):
        if value.get(name) is not None and not (name == "graph_id" and value[name] == ALL_GRAPHS):
            problem = check_id(value[name])
            if problem:
                raise InvalidRequest(field_name(where, name), problem)
    export_path = value["export_path"]
    check_export_path_template(export_path, field_name(where, "export_path"))
    if value["graph_id"] == ALL_GRAPHS:
        _check_all_graphs(value, where)
    scheduled_time = value.get("scheduled_time")
    return ExportRequest(
        graph_id=value["graph_id"],
        backup_id=value["backup_id"],
        export_path=export_path,
        project_id=value.get("project_id"),
        scheduled_time=None
        if scheduled_time is None
        else request_time(scheduled_time, field_name(where, "scheduled_time")),
    )


def _check_all_graphs(value: dict[str, Any], where: str) -> None:
    """Every graph of the project exports its own backup to its own directory."""
    if value["backup_id"] != LATEST:
        raise InvalidRequest(
            field_name(where, "backup_id"),
            f'must be "{LATEST}" when graph_id is "{ALL_GRAPHS}": a backup id belongs to one graph',
        )
    if "{graph_id}" not in value["export_path"]:
        raise InvalidRequest(
            field_name(where, "export_path"),
            f'must contain {{graph_id}} when graph_id is "{ALL_GRAPHS}": graphs never share a directory',
        )


def project_of(request: ExportRequest, default_project_id: str | None) -> str:
    """The request's project: its own `project_id`, else the function's GES_PROJECT_ID."""
    project_id = request.project_id or default_project_id
    if project_id is None:
        raise InvalidRequest("project_id", "is required when the function has no GES_PROJECT_ID")
    return project_id


def check_export_path_template(value: object, field: str = "export_path") -> None:
    """Refuse a path that could never resolve to a valid `bucket/dir/`, before any GES call."""
    if not isinstance(value, str):
        raise InvalidRequest(field, f"must be a string, got {json_type(value)}")
    if not value or len(value) > MAX_EXPORT_PATH_LENGTH:
        raise InvalidRequest(field, f"must be 1 to {MAX_EXPORT_PATH_LENGTH} characters long")
    for name in _PLACEHOLDER.findall(value):
        if name not in _PLACEHOLDERS:
            known = ", ".join("{" + known + "}" for known in _PLACEHOLDERS)
            raise InvalidRequest(
                field, f"unknown placeholder {shown_name('{' + name + '}')} (known: {known})"
            )
    if _PLACEHOLDER.search(value.partition("/")[0]):
        raise InvalidRequest(field, "placeholders may only follow the bucket name")
    # Every placeholder resolves to letters, digits, '-' and '_': one such letter stands for it here.
    _check_export_path(_with_slash(_PLACEHOLDER.sub("x", value)), field)


def resolve_export_path(template: str, *, graph_id: str, backup_id: str, at: datetime) -> str:
    """Fill the placeholders; the result is checked again and always ends with `/`."""
    values = {
        "graph_id": graph_id,
        "backup_id": backup_id,
        "date": at.strftime("%Y-%m-%d"),
        "timestamp": at.strftime("%Y%m%dT%H%M%SZ"),
    }
    path = _with_slash(_PLACEHOLDER.sub(lambda match: values[match.group(1)], template))
    _check_export_path(path, "export_path")
    return path


def _with_slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _check_export_path(path: str, field: str) -> None:
    """Refuse anything but `bucket/dir/.../` (`path` ends with `/`)."""
    if "://" in path or path.lower().startswith("obs:"):
        raise InvalidRequest(field, "must be bucket/dir/ without obs:// or an endpoint")
    if not path or len(path) > MAX_EXPORT_PATH_LENGTH:
        raise InvalidRequest(field, f"must be 1 to {MAX_EXPORT_PATH_LENGTH} characters long")
    bucket, _, rest = path.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidRequest(
            field, "must start with an OBS bucket name (3 to 63 lowercase letters, digits, '-' or '.')"
        )
    parts = rest[:-1].split("/")
    if not rest or any(part in ("", ".", "..") for part in parts):
        raise InvalidRequest(
            field, "must be bucket/dir/: a directory inside the bucket, with no empty, '.' or '..' parts"
        )
    if not all(_PATH_PART.fullmatch(part) for part in parts):
        raise InvalidRequest(
            field, "may hold only letters, digits, '/' and ! - _ . * ' ( ) outside its placeholders"
        )
