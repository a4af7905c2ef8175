"""Request ids and log lines that carry them."""

from __future__ import annotations

import logging
import re

from flask import Flask, g, request

from caseops.context import Origin, current_origin, new_request_id, reset_origin, set_origin

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the id of the request (or CLI run) it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_origin().request_id
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # /readyz asks Alembic where the schema stands on every call; that is not news.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


def register_request_context(app: Flask) -> None:
    @app.before_request
    def open_origin() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        origin = Origin(
            request_id=request_id,
            ip=request.remote_addr,
            user_agent=request.user_agent.string or None,
        )
        g.origin_token = set_origin(origin)

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-Id"] = current_origin().request_id
        return response

    @app.teardown_request
    def close_origin(_exc: BaseException | None) -> None:
        token = g.pop("origin_token", None)
        if token is not None:
            reset_origin(token)
