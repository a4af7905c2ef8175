"""Prometheus metrics at ``/metrics``, for the people who keep caseops running.

Why this shape:

* **Multiprocess.** gunicorn runs several worker processes; each keeps its counters in
  files under ``PROMETHEUS_MULTIPROC_DIR`` (set by ``gunicorn.conf.py`` before any worker
  starts) and a scrape, answered by whichever worker gets it, adds them all up. Without
  the variable (tests, ``flask run``) the process's own registry is served.
* **State is read at scrape time.** What an operator alerts on — entries not sealed yet,
  the age of the last checkpoint, the last verification's result, the linkage review
  queue — lives in the database, so it is counted when scraped, by whichever process
  answers: no worker has to be the one that knows.
* **Not public.** Latency by endpoint and queue sizes tell an outsider about the load and
  the work of the agencies. ``/metrics`` answers only callers from
  ``CASEOPS_METRICS_ALLOW`` (addresses or networks, default 127.0.0.1 and ::1) or with
  ``Authorization: Bearer <CASEOPS_METRICS_TOKEN>``; anyone else gets the same 404 as
  any unknown path. A request forwarded by a proxy the application does not trust
  (``X-Forwarded-For`` with ``CASEOPS_TRUSTED_PROXIES=0``) is not "from" the proxy's
  address: otherwise a proxy on 127.0.0.1 would open the metrics to the world.
* **Outside the application's request handling.** The endpoint is a small WSGI layer
  under the proxy fix: no session, no CSRF, no rate limit, and a metrics token is never
  mistaken for an API token (which would log a rejected token per scrape).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from flask import Flask, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, event, func, select
from werkzeug.middleware.proxy_fix import ProxyFix

REQUEST_START = "caseops.metrics.start"
DEFAULT_ALLOW = "127.0.0.1,::1"

REQUESTS = Counter(
    "caseops_http_requests",
    "HTTP requests answered, by endpoint (URL rule), method and status",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "caseops_http_request_duration_seconds",
    "Time to produce a response, by endpoint (URL rule), method and status",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APPEND = Histogram(
    "caseops_audit_append_seconds",
    "Time of one INSERT appending access-log entries (a group commit writes several)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

_listening = threading.Lock()
_listener_installed = False


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- who may scrape -----------------------------------------------------------------------


def parse_allow(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``CASEOPS_METRICS_ALLOW``: comma-separated addresses or networks (CIDR)."""
    networks = []
    for part in (p.strip() for p in (raw or "").split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"CASEOPS_METRICS_ALLOW: {part!r} is not an address") from exc
    return tuple(networks)


def _address_allowed(environ: dict, allow, trusted_proxies: int) -> bool:
    if not trusted_proxies and environ.get("HTTP_X_FORWARDED_FOR"):
        return False
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    return any(address in network for network in allow)


def _token_allowed(environ: dict, token: str | None) -> bool:
    if not token:
        return False
    scheme, _, value = (environ.get("HTTP_AUTHORIZATION") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode("utf-8"), token.encode("utf-8")
    )


# --- what a scrape reports ------------------------------------------------------------------


class DatabaseCollector:
    """Gauges read from the database when scraped (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from caseops.audit.models import AccessEvent, AuditCheckpoint, AuditLeaf
        from caseops.clients.models import ReviewItem

        events, leaves = AccessEvent.__table__, AuditLeaf.__table__
        checkpoints = AuditCheckpoint.__table__
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            latest = conn.execute(
                select(
                    checkpoints.c.tree_size, checkpoints.c.signed_at, checkpoints.c.low_watermark
                )
                .order_by(checkpoints.c.tree_size.desc())
                .limit(1)
            ).first()
            size, signed_at, low = latest if latest is not None else (0, None, 0)
            # Two index range counts above the watermark: every entry below it is sealed.
            above = conn.scalar(select(func.count()).where(events.c.seq > low)) or 0
            sealed_above = conn.scalar(select(func.count()).where(leaves.c.event_seq > low)) or 0
            if signed_at is None:
                signed_at = conn.scalar(select(func.min(events.c.occurred_at)))
            verified = conn.execute(
                select(events.c.occurred_at, events.c.outcome, events.c.detail)
                .where(events.c.action == "audit.verify")
                .order_by(events.c.seq.desc())
                .limit(1)
            ).first()
            queue = conn.scalar(select(func.count()).where(ReviewItem.__table__.c.status == "open"))

        yield _gauge("caseops_audit_tree_size", "Entries sealed in the Merkle tree", size)
        yield _gauge(
            "caseops_audit_unsealed_entries",
            "Access-log entries written but not sealed yet",
            max(0, above - sealed_above),
        )
        yield _gauge(
            "caseops_audit_last_checkpoint_age_seconds",
            "Seconds since the newest checkpoint (or, before the first, the first entry)",
            (now - _aware(signed_at)).total_seconds() if signed_at is not None else 0,
        )
        if verified is not None:
            when, outcome, detail = verified
            ok = outcome == "success" and bool((detail or {}).get("ok"))
            yield _gauge(
                "caseops_audit_verify_ok", "1 if the last verification found the log intact", ok
            )
            yield _gauge(
                "caseops_audit_verify_age_seconds",
                "Seconds since the last verification (caseops audit verify or the API)",
                (now - _aware(when)).total_seconds(),
            )
        yield _gauge(
            "caseops_linkage_review_queue", "Possible matches waiting for a data steward", queue
        )


def _aware(when: datetime) -> datetime:
    return when if when.utcoffset() is not None else when.replace(tzinfo=UTC)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def exposition(engine: Engine) -> bytes:
    """The text a scrape receives: the processes' counters, then the database's gauges."""
    directory = _multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(DatabaseCollector(engine))
    return generate_latest(registry) + generate_latest(state)


# --- wiring ---------------------------------------------------------------------------------


class MetricsEndpoint:
    """WSGI layer: answers ``/metrics`` for allowed callers, passes everything else on
    (stamping the start time the request metrics are measured from)."""

    def __init__(self, app: Flask, inner: Callable) -> None:
        self.flask_app = app
        self.inner = inner
        config = app.config
        self.allow = parse_allow(config.get("CASEOPS_METRICS_ALLOW", DEFAULT_ALLOW))
        self.token = config.get("CASEOPS_METRICS_TOKEN") or None
        self.trusted_proxies = int(config.get("CASEOPS_TRUSTED_PROXIES") or 0)

    def __call__(self, environ: dict, start_response):
        environ[REQUEST_START] = time.perf_counter()
        if environ.get("PATH_INFO") != "/metrics":
            return self.inner(environ, start_response)
        allowed = _token_allowed(environ, self.token) or _address_allowed(
            environ, self.allow, self.trusted_proxies
        )
        if not allowed or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.inner(environ, start_response)  # the application's own 404/405
        with self.flask_app.app_context():
            from caseops.extensions import db

            body = exposition(db.engine)
        start_response(
            "200 OK",
            [
                ("Content-Type", CONTENT_TYPE_LATEST),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _observe_request(response):
    # the request, not its proxy: see caseops.http_limits.check_request
    req = request._get_current_object()
    started = req.environ.get(REQUEST_START)
    if started is not None:
        url_rule = req.url_rule
        rule = url_rule.rule if url_rule is not None else "unmatched"
        labels = (rule, req.method, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
    return response


def _install_append_timer() -> None:
    """Time every INSERT into access_events, on every engine (installed once)."""
    global _listener_installed
    with _listening:
        if _listener_installed:
            return

        @event.listens_for(Engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith("INSERT INTO access_events"):
                conn.info.setdefault("caseops_append_started", []).append(time.perf_counter())

        @event.listens_for(Engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith("INSERT INTO access_events"):
                started = conn.info.get("caseops_append_started")
                if started:
                    APPEND.observe(time.perf_counter() - started.pop())

        _listener_installed = True


def register(app: Flask) -> None:
    """Serve ``/metrics`` and count requests (call after the proxy fix is in place)."""
    try:
        parse_allow(app.config.get("CASEOPS_METRICS_ALLOW", DEFAULT_ALLOW))
    except ValueError as exc:
        from caseops.config import ConfigError

        raise ConfigError(str(exc)) from exc
    _install_append_timer()
    app.after_request(_observe_request)
    # Under the proxy fix, so REMOTE_ADDR is the client the trusted proxies name.
    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = MetricsEndpoint(app, app.wsgi_app.app)
    else:
        app.wsgi_app = MetricsEndpoint(app, app.wsgi_app)
