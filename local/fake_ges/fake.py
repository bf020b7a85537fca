"""The fake GES itself: its state (graphs, backups, jobs, calls, faults) behind one lock, and the
methods a test seeds, scripts, faults and inspects it with. The requests are handled in handler.py and
routes.py."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from local.fake_ges.errors import error_body, fault_body
from local.fake_ges.faults import Call, Fault, FaultedFake, FaultQueue
from local.fake_ges.graphs import Graph, Graphs, now
from local.fake_ges.handler import GesHandler
from local.fake_ges.jobs import DEFAULT_FAIL_REASON, DEFAULT_JOB_SCRIPT, JOB_TIME_STYLES, Job, job_script
from local.fake_ges.routes import ROUTES
from local.fake_ges.tokens import TokenChecks, TokenIssuer, make_token
from local.fake_http import ServedFake
from local.fake_obs import FakeObs

Json = dict[str, Any]
Reply = tuple[int, Json]


class FakeGes(ServedFake, TokenChecks, FaultedFake):
    """The fake server and its state. Thread-safe; use as a context manager or start()/stop()."""

    handler = GesHandler

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        error_style: str = "snake",
        issuer: TokenIssuer | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, port, tls)
        self._token = token or make_token()
        self._error_style = "snake"
        self.error_style = error_style
        self.latency = 0.0
        self._lock = threading.Lock()
        self._issuer = issuer
        self._graphs = Graphs()
        self._jobs: dict[str, Job] = {}
        self._job_script = DEFAULT_JOB_SCRIPT
        self._job_time_style = "T"
        self._status_calls: Counter[str] = Counter()
        self._calls: list[Call] = []
        self._faults = FaultQueue()
        self.generation = 0  # counts resets
        self._exported: set[str] = set()
        self.obs: FakeObs = FakeObs()  # what export jobs wrote; imports and deletes of backups (fake_obs.py)
        self._in_flight = 0
        self.most_in_flight = 0  # the most requests being handled at once since the last reset
        # Routes outside the GES API, for a person driving the fake from outside (local/fake_control.py):
        # (method, path, body) -> the answer, or None for a request that is not one of them. Unset: none.
        self.control: Callable[[str, str, object], Reply | None] | None = None

    @property
    def error_style(self) -> str:
        """The spelling of GES error bodies, one of :data:`ERROR_STYLES` (gateway bodies stay snake)."""
        return self._error_style

    @error_style.setter
    def error_style(self, style: str) -> None:
        error_body("", "", style)  # raises ValueError for an unknown style
        self._error_style = style

    @property
    def job_time_style(self) -> str:
        """How jobs' ``begin_time`` and ``end_time`` are written, one of :data:`JOB_TIME_STYLES`: ``"T"``
        (``2026-11-27T02:00:05``, the default; reset() restores it) or ``"space"``
        (``2026-11-27 02:00:05``)."""
        return self._job_time_style

    @job_time_style.setter
    def job_time_style(self, style: str) -> None:
        if style not in JOB_TIME_STYLES:
            raise ValueError(f"unknown job time style {style!r}; expected one of {JOB_TIME_STYLES}")
        self._job_time_style = style

    # -- seeding ---------------------------------------------------------------------------
    def add_graph(
        self, project_id: str, graph_id: str, *, name: str | None = None, status: str = "200"
    ) -> None:
        """Create a graph, or update the name and status of an existing one (its backups stay).
        ``status`` is a graph status code (section 4): "200" running, "900" stopped, "800" frozen..."""
        with self._lock:
            graph = self._graphs.ensure(project_id, graph_id)
            graph.name, graph.status, graph.updated = name or graph.name, status, now()

    def add_backup(
        self,
        project_id: str,
        graph_id: str,
        *,
        backup_id: str | None = None,
        status: str = "success",
        start_timestamp: int | None = None,
        end_timestamp: int | None = None,
        name: str | None = None,
        backup_method: str = "manual",
    ) -> str:
        """Add a backup (creating the graph if needed); returns its id. Times are epoch milliseconds.

        ``status`` is one of :data:`BACKUP_STATUSES`, ``backup_method`` one of :data:`BACKUP_METHODS`
        (it decides the default name, see :func:`backup_name`). Default times lie in the past, since the
        exporter takes as "latest" the newest successful backup finished at or before a request's time:
        ``start_timestamp`` defaults to the later of ten minutes ago and one second after the graph's
        latest start, so that the last one added is the newest (and in the past while fewer than about
        540 are added that way within ten minutes, and no explicit start lies in the future);
        ``end_timestamp`` defaults to the start plus 60 seconds."""
        with self._lock:
            graph = self._graphs.ensure(project_id, graph_id)
            return graph.add_backup(backup_id, status, start_timestamp, end_timestamp, name, backup_method)

    def add_job(
        self,
        project_id: str,
        graph_id: str,
        *,
        job_id: str | None = None,
        script: Iterable[str] | None = None,
    ) -> str:
        """An export job as if GES had started one for the graph (creating the graph if needed), following
        `script` (by default `job_script`); returns its id."""
        with self._lock:
            graph = self._graphs.ensure(project_id, graph_id)
            job = Job.start(project_id, graph.name, tuple(script or self._job_script), job_id)
            self._jobs[job.fields["job_id"]] = job
            return str(job.fields["job_id"])

    # -- jobs ------------------------------------------------------------------------------
    @property
    def job_script(self) -> tuple[str, ...]:
        """The statuses a new job goes through, one step per status call (see :meth:`script_job`).
        Any strings, also ones GES never documents. Default ``("success",)``; reset() restores it."""
        with self._lock:
            return self._job_script

    @job_script.setter
    def job_script(self, statuses: Iterable[str]) -> None:
        script = job_script(statuses)
        with self._lock:
            self._job_script = script

    def script_job(
        self, job_id: str, statuses: Iterable[str], fail_reason: str = DEFAULT_FAIL_REASON
    ) -> None:
        """Give one job a script of its own, from its first step: the next status call answers
        ``statuses[0]``, each later one the next status, then the last one for good. ``fail_reason`` is
        the job's ``fail_reason`` while its status is ``failed``. Raises KeyError for an unknown job."""
        script = job_script(statuses)
        if not fail_reason:
            raise ValueError("a failed job has a non-empty fail_reason")
        with self._lock:
            self._jobs[job_id].restart(script, fail_reason)

    def forget_job(self, job_id: str) -> None:
        """GES no longer knows the job: its status call answers 400 ``GES.7007`` and the job list leaves
        it out. It stays in :attr:`jobs` (the export did happen). Raises KeyError for an unknown job."""
        with self._lock:
            self._jobs[job_id].forgotten = True

    def status_calls(self, job_id: str) -> int:
        """How many status calls for ``job_id`` reached GES (past faults and the token check)."""
        with self._lock:
            return self._status_calls[job_id]

    # -- faults ----------------------------------------------------------------------------
    def inject(
        self,
        fault: Fault,
        *,
        route: str = "export",
        times: int = 1,
        when: Callable[[Call], bool] | None = None,
    ) -> None:
        """Answer the next `times` requests of `route` with `fault`; `when` narrows it to the requests it
        accepts (e.g. one export path), so that faults land on the same request whatever the order."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
        with self._lock:
            self._faults.add(fault, times, route, when)

    # -- inspection ------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return [replace(call) for call in self._calls]

    @property
    def export_calls(self) -> list[Call]:
        return [
            c for c in self.calls if c.method == "POST" and c.path.rstrip("/").endswith("/backups/export")
        ]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job created since the last reset (forgotten ones too), as its status call would give it."""
        with self._lock:
            return {job_id: job.shown(self._job_time_style) for job_id, job in self._jobs.items()}

    @property
    def exported_paths(self) -> set[str]:
        with self._lock:
            return set(self._exported)

    def reset(self) -> None:
        """Clear graphs, jobs, calls, faults and export paths, and restore the default job script and job
        time style. The token, the issuer, ``latency`` and ``error_style`` stay, as does the server."""
        with self._lock:
            self.generation += 1  # a request still sleeping in a delay now answers nothing (handler.py)
            self._graphs.clear()
            self._jobs.clear()
            self._job_script = DEFAULT_JOB_SCRIPT
            self._job_time_style = "T"
            self._status_calls.clear()
            self._calls.clear()
            self._faults.clear()
            self._exported.clear()
            self.obs.reset()
            self.most_in_flight = self._in_flight

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    @contextlib.contextmanager
    def _handling(self) -> Iterator[None]:
        """One request being handled, from its first byte read to its last byte sent."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    # -- answers (routes.py, handler.py, fake_obs.py) ----------------------------------------
    def _error(self, status: int, code: str, message: str) -> Reply:
        return status, error_body(code, message, self._error_style)

    def _acting_on_graph(
        self,
        project_id: str,
        graph_id: str,
        body: object,
        refusal: Callable[[Graph, Json], Reply | None],
        act: Callable[[Graph, Json], Reply],
    ) -> Reply:
        """GES's answer to a request that acts on a graph with a body (an export, an import): 400 for a
        body that is no object; then, with the lock held, no graph, else `refusal`'s answer, else `act`'s."""
        if not isinstance(body, dict):
            return self._error(400, "GES.7016", "Request body or header invalid")
        with self._lock:
            graph = self._graphs.get(project_id, graph_id)
            if graph is None:
                return self._no_graph()
            return refusal(graph, body) or act(graph, body)

    def _no_graph(self) -> Reply:
        return self._error(400, "GES.7000", "The graph does not exist or has been deleted.")

    def _fault_body(self, status: int) -> Json:
        return fault_body(status, self._error_style)
