"""Per-connection database settings."""

from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import Engine, event, exc

from caseops.extensions import db

# A pooled connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def configure(app: Flask) -> None:
    """SQLite: enforce foreign keys and use WAL so gunicorn workers can read while one
    writes. PostgreSQL: ping connections that have been idle before handing them out."""
    with app.app_context():
        engine = db.engine
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        ping_idle_connections(engine)
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def ping_idle_connections(engine: Engine, idle: float = PING_AFTER_IDLE_SECONDS) -> None:
    """SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request
    per connection, paid twice by a view (its reads, its log entry) when the database is
    busiest. A connection that was just used is as alive as a ping would show; one idle
    for ``idle`` seconds (an outage may have ended it) is pinged, and one that fails the
    ping is replaced (``DisconnectionError`` makes the pool open a new one). A connection
    that dies while in use fails its request with 503 and invalidates the whole pool
    (SQLAlchemy's disconnect handling), so no dead connection outlives an outage."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["caseops_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("caseops_idle_since")
        if since is None or time.monotonic() - since <= idle:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure means a dead connection
            raise exc.DisconnectionError("idle connection failed its ping") from error
        if not alive:
            raise exc.DisconnectionError("idle connection failed its ping")
