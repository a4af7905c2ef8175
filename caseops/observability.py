"""Request ids and log lines that carry them (as text, or as JSON lines)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from flask import Flask, request

from caseops.context import Origin, current_origin, new_request_id, reset_origin, set_origin

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the id of the request (or CLI run) it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_origin().request_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``CASEOPS_LOG_FORMAT=json``), for log shippers that
    index fields: the request id is a field, so one request's lines are found together
    across workers, and a message with a newline cannot forge a second line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str = "text") -> None:
    root = logging.getLogger()
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(LOG_FORMAT)
    ours = [h for h in root.handlers if any(isinstance(f, RequestIdFilter) for f in h.filters)]
    if not ours:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        ours = [handler]
    for handler in ours:
        handler.setFormatter(formatter)
    root.setLevel(level)
    # /readyz asks Alembic where the schema stands on every call; that is not news.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


def register_request_context(app: Flask) -> None:
    @app.before_request
    def open_origin() -> None:
        # the request, not its proxy: see caseops.http_limits.check_request
        req = request._get_current_object()
        incoming = req.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        origin = Origin(
            request_id=request_id,
            ip=req.remote_addr,
            user_agent=req.user_agent.string or None,
        )
        req.environ["caseops.origin_token"] = set_origin(origin)  # not g: see close

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-Id"] = current_origin().request_id
        return response

    @app.teardown_request
    def close_origin(_exc: BaseException | None) -> None:
        # Per request, not per app context: a nested request context (one shares g)
        # must not end this request's origin.
        token = request._get_current_object().environ.pop("caseops.origin_token", None)
        if token is not None:
            reset_origin(token)
