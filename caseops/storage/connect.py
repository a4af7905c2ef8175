"""Per-connection database settings."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event

from caseops.extensions import db


def configure(app: Flask) -> None:
    """SQLite: enforce foreign keys and use WAL so gunicorn workers can read while one writes."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
