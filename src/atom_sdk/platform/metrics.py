"""Prometheus metrics of the web process, read at ``GET /metrics`` (``routes.metrics``).

* ``atom_http_requests_total{method,route,status}`` and ``atom_http_request_duration_seconds{method,route}``
  (a histogram, until the last byte of the response; an SSE stream counts as long as it is open),
  recorded by ``MetricsMiddleware``. ``route`` is the route's template (``/api/v1/runs/{run_id}``),
  never the raw path, and ``unmatched`` for paths no route takes, so a scan of random URLs cannot
  grow the label set; methods outside the HTTP standard ones are counted as ``other``.
* ``atom_jobs{state}``: jobs in the job store by state (every state, zero included), read from
  the database at scrape time; ``atom_database_up`` says whether that read worked.
* ``atom_workers_alive`` / ``atom_workers_expected``, ``atom_platform_info{version}``, and the
  process collectors of ``prometheus_client`` (CPU, memory, open files, GC).

Each app has its own ``CollectorRegistry`` (not the global one), so two apps in one process (the
tests, a benchmark) keep separate counts. Registering reads nothing: the job collector describes
itself without a query, so ``create_app`` stays free of I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, get_args

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, GCCollector, Histogram, Info,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match

from atom_sdk import __version__
from atom_sdk.platform.models import JobState

log = logging.getLogger("atom.platform")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED = "unmatched"
#: Seconds; the read endpoints aim at p99 < 0.1 s, long polls and streams land in the top buckets.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_STATES: tuple[str, ...] = get_args(JobState)


class _PlatformCollector(Collector):
    """Job counts by state and worker liveness, read when scraped."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def describe(self) -> list[Metric]:
        return list(self._families(counts={}, db_ok=True))

    def collect(self) -> Iterator[Metric]:
        try:
            counts, db_ok = self.platform.store.counts_by_state(), True
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the database does not
            log.warning("metrics: job counts unavailable: %s", exc)
            counts, db_ok = {}, False
        return self._families(counts, db_ok)

    def _families(self, counts: dict[str, int], db_ok: bool) -> Iterator[Metric]:
        up = GaugeMetricFamily("atom_database_up", "1 when the job store answered this scrape, else 0")
        up.add_metric([], 1.0 if db_ok else 0.0)
        yield up
        if db_ok:
            jobs = GaugeMetricFamily("atom_jobs", "jobs in the job store by state", labels=["state"])
            for state in dict.fromkeys((*JOB_STATES, *sorted(counts))):
                jobs.add_metric([state], float(counts.get(state, 0)))
            yield jobs
        p = self.platform
        for name, value, text in (("atom_workers_alive", p.workers_alive(), "worker processes alive"),
                                  ("atom_workers_expected", p.workers_expected(), "worker processes configured")):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(value))
            yield gauge


class PlatformMetrics:
    """The registry of one app and the request metrics the middleware records into it."""

    def __init__(self, platform: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("atom_http_requests", "HTTP requests by method, route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("atom_http_request_duration_seconds", "seconds from request to the last byte of "
                                 "the response", ["method", "route"], buckets=BUCKETS, registry=self.registry)
        Info("atom_platform", "the SDK version serving this API", registry=self.registry).info(
            {"version": __version__})
        self.registry.register(_PlatformCollector(platform))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every metric and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_template(scope: dict[str, Any], routes: Sequence[BaseRoute] = ()) -> str:
    """The path template of the route that took the request, else of the first of ``routes`` that
    would have taken it (a request refused before routing, e.g. the body limit's 413); else ``unmatched``."""
    route = scope.get("route")
    if route is None:  # as the router does: a full match (path and method) before a partial one (path)
        found = {}
        for r in routes:
            found.setdefault(r.matches(scope)[0], r)
        route = found.get(Match.FULL, found.get(Match.PARTIAL))
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Times each HTTP request and counts it by method, route template and status (outermost, so
    that the responses other middleware answers itself are counted too). ``routes``: the app's
    routes, flat, to name the route of a request that never reached the router."""

    def __init__(self, app: Any, metrics: PlatformMetrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app, self.metrics, self.routes = app, metrics, tuple(routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:  # an exception escaping the app becomes a 500 from the server-error handler
            self.metrics.observe(scope.get("method", ""), route_template(scope, self.routes), status,
                                 time.perf_counter() - start)
