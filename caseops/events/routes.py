"""/api/v1/me/events (Server-Sent Events) and /api/v1/me/notifications (the same as a list)."""

from __future__ import annotations

from flask import Response, request, stream_with_context

from caseops.auth.current import current_actor, current_session_id, reads_only
from caseops.events import service
from caseops.events.schemas import EventsQuery, NotificationOut, NotificationsQuery
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("events", __name__, url_prefix="/api/v1/me", description="Events pushed to you")


def _credential() -> service.Credential:
    """What this request authenticated with, so the stream can check it again."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return service.Credential("token", value.strip())
    return service.Credential("session", current_session_id() or "")


def _cursor(query) -> int | None:
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        return service.parse_cursor(header.strip(), "Last-Event-ID")
    return query["after"]


@blp.get("/events")
@blp.arguments(EventsQuery, location="query")
@blp.response(
    200,
    content_type="text/event-stream",
    description=(
        '`id: <notification id>` and `data: {"id", "kind", "created_at", "data"}` per '
        "event, `: heartbeat` comments; ends after at most 5 minutes (reconnect with "
        "Last-Event-ID). 503 too_many_streams when this server has no stream slot left."
    ),
)
@reads_only
def events(query):
    """Your events as Server-Sent Events (ids and kinds only; see docs/events.md)."""
    return _sse(
        service.open_stream(current_actor(), _credential(), _cursor(query), _client_socket())
    )


def _client_socket():
    """The client's connection, to notice its close while the stream waits: gunicorn's
    socket for an HTTP/1.x request (an HTTP/2 connection carries other streams, and a
    server without ``gunicorn.socket`` gives none)."""
    if not request.environ.get("SERVER_PROTOCOL", "").startswith("HTTP/1"):
        return None
    return request.environ.get("gunicorn.socket")


def _sse(stream) -> Response:
    response = Response(stream_with_context(stream), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@blp.get("/notifications")
@blp.arguments(NotificationsQuery, location="query")
@blp.response(200, NotificationOut(many=True))
@reads_only
def notifications(query):
    """Your events as a list, oldest first, for callers that cannot hold a stream."""
    return service.notifications(current_actor(), query["after"], query["limit"])
