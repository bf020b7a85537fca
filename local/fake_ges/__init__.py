"""A fake Huawei Cloud GES v2 management plane: a real HTTP server for tests and local runs.

It serves the routes the exporter and its tests need, shaped after ``docs/ges-api.md``:

* ``POST /v2/{project_id}/graphs/{graph_id}/backups/export`` (section 1), route ``export``;
* ``GET  /v2/{project_id}/graphs/{graph_id}/backups?offset&limit`` (section 2a), ``list_backups``;
* ``GET  /v2/{project_id}/graphs/backups?offset&limit`` (section 2b), ``list_all_backups``;
* ``GET  /v2/{project_id}/graphs/{graph_id}/jobs/{job_id}/status`` (section 3), ``job_status``;
* ``GET  /v2/{project_id}/graphs/jobs?offset&limit&status&graph_name&start_time&end_time`` (section 3,
  list jobs), ``list_jobs``;
* ``GET  /v2/{project_id}/graphs?offset&limit`` (section 4), ``list_graphs``;
* ``GET  /v2/{project_id}/graphs/{graph_id}`` (section 4), ``show_graph``.
* ``POST /v2/{project_id}/graphs/{graph_id}/backups/import`` and ``DELETE
  /v2/{project_id}/graphs/{graph_id}/backups/{backup_id}`` (section 8), ``import_backup`` and
  ``delete_backup``: the restore tests' routes, served by :class:`local.fake_obs.FakeObs`.

``graphs/jobs`` and ``graphs/backups`` are matched before ``graphs/{graph_id}``: no graph id can be
``jobs`` or ``backups`` here.

The package, by concern: ``fake.py`` the fake and its state (:class:`FakeGes`), ``graphs.py`` and
``jobs.py`` the graphs, backups and jobs, ``routes.py`` each route's answer, ``handler.py`` the gateway
in front of them, ``faults.py`` the faults and the recorded calls, ``errors.py`` the error bodies,
``tokens.py`` the tokens it accepts, ``seed.py`` the sample data, ``__main__.py`` the command line; the
HTTP server is local/fake_http.py's, shared with the fake IAM.

Like the API gateway in front of GES, an unknown method or path gets 404 ``APIG.0101``, and any
other request without a valid ``X-Auth-Token`` gets 401 ``APIG.0301`` (section 5). A token is valid
when it equals the fake's own current token (for any project), or when the fake IAM given as
``issuer`` (:class:`TokenIssuer`) says it is valid; an issued token scoped to another project than the
URL's then gets 400 ``GES.0016`` from GES (sections 5 and 6). Injected faults (:class:`Fault`) stand
for the network and the gateway, so they apply before all of that: 429/5xx answers, slow answers,
dropped connections, trickled answers; or after GES handled the request (an export accepted): an answer
whose body cannot be decoded, garbage bytes instead of an answer (under TLS: bytes that are no TLS
record), a connection reset. Given a TLS context (`tls`), it serves HTTPS (local/tls.py makes one).
Nothing is ever printed or logged, and requests are recorded
(:class:`Call`) with the names of their headers but no header value, so no token is ever kept.

Assumptions where the GES docs are open (docs/open-questions.md):

* Error bodies are ``error_code``/``error_msg`` by default; ``error_style`` chooses another spelling
  (open question 1, see :data:`ERROR_STYLES`). Gateway (``APIG.*``) bodies are always snake.
* A non-empty export directory gives 400 ``GES.0001`` (open question 2). A directory counts as
  non-empty when an accepted export path equals it or lies below it; a trailing ``/`` is ignored.
  ``obs://`` prefixes and OBS character rules are not checked.
* The API refuses a graph that is not running (``GES.7001``) and a backup that is not ``success``
  (``GES.7040``) like the console does (open question 4).
* Export jobs are ``GraphManagement``/``ExportBackup`` (open question 3) and follow a job script
  (:attr:`FakeGes.job_script`, by default ``("success",)``: done at once); the status route finds a job
  by project and job id, whatever graph id is in the path. A job has no ``end_time`` until it is
  ``success`` or ``failed`` (section 3 says it may be absent while the job runs). Its ``begin_time`` and
  ``end_time`` are written ``yyyy-MM-ddTHH:mm:ss``, or with a space instead of the ``T`` as Huawei's
  current English job-status page writes them (:attr:`FakeGes.job_time_style`).
* The job list's filter ``status=waiting`` matches jobs whose status is ``pending``: section 3 lists
  ``waiting`` as a filter value and ``pending`` as a job status, and leaves open how the two relate
  (marked uncertain). Other values match the job's status literally.
  ``start_time``/``end_time`` are inclusive bounds on the date of ``begin_time``.
* The list of all backups (section 2b) goes graph by graph, in the order the graphs were added.
* An issued token scoped to another project than the URL's gets 400 ``GES.0016`` "Resource not found"
  from GES, after the gateway accepted the token (section 5's table; the status is assumed to be 400).
"""

from local.fake_ges.errors import ERROR_STYLES
from local.fake_ges.fake import FakeGes
from local.fake_ges.faults import DEEP_JSON, Call, Fault, exporting_to
from local.fake_ges.graphs import BACKUP_METHODS, BACKUP_STATUSES
from local.fake_ges.jobs import DEFAULT_FAIL_REASON, DEFAULT_JOB_SCRIPT, JOB_TIME_STYLES
from local.fake_ges.routes import ROUTES
from local.fake_ges.seed import (
    SAMPLE_BACKUP_ID,
    SAMPLE_GRAPH_ID,
    SAMPLE_JOB_ID,
    SAMPLE_OTHER_BACKUP_ID,
    SAMPLE_OTHER_GRAPH_ID,
    SAMPLE_OTHER_PROJECT_ID,
    SAMPLE_PROJECT_ID,
    SAMPLE_RUNNING_GRAPH_ID,
    SAMPLE_STOPPED_GRAPH_ID,
    seed_sample_graphs,
)
from local.fake_ges.tokens import TokenIssuer, make_token
from local.fake_http import GARBAGE

__all__ = [
    "BACKUP_METHODS",
    "BACKUP_STATUSES",
    "DEEP_JSON",
    "DEFAULT_FAIL_REASON",
    "DEFAULT_JOB_SCRIPT",
    "ERROR_STYLES",
    "GARBAGE",
    "JOB_TIME_STYLES",
    "ROUTES",
    "SAMPLE_BACKUP_ID",
    "SAMPLE_GRAPH_ID",
    "SAMPLE_JOB_ID",
    "SAMPLE_OTHER_BACKUP_ID",
    "SAMPLE_OTHER_GRAPH_ID",
    "SAMPLE_OTHER_PROJECT_ID",
    "SAMPLE_PROJECT_ID",
    "SAMPLE_RUNNING_GRAPH_ID",
    "SAMPLE_STOPPED_GRAPH_ID",
    "Call",
    "FakeGes",
    "Fault",
    "TokenIssuer",
    "exporting_to",
    "make_token",
    "seed_sample_graphs",
]
