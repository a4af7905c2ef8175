"""Where the current operation came from (request id, IP, user agent).

Services never touch ``flask.request``; the HTTP layer and the CLI set this context
and the audit writer reads it, so every log entry says where it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    request_id: str
    ip: str | None = None
    user_agent: str | None = None
    channel: str = "http"


_current: ContextVar[Origin | None] = ContextVar("caseops_origin", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_origin() -> Origin:
    """The origin of the running operation; an unlabelled one gets a fresh id."""
    origin = _current.get()
    if origin is None:
        origin = Origin(request_id=new_request_id(), channel="internal")
        _current.set(origin)
    return origin


def set_origin(origin: Origin) -> object:
    return _current.set(origin)


def reset_origin(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


@contextmanager
def origin_scope(origin: Origin) -> Iterator[Origin]:
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)
