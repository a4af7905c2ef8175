"""The restore drill: prove a backup restores to a log that matches a checkpoint kept elsewhere.

A backup is only as good as the restore it allows, and for caseops "restores" means more
than "the tables come back": the access log must come back whole. ``caseops backup check``
restores a backup into a scratch database, then runs the full verifier against a signed
checkpoint kept *outside* the database (``caseops audit checkpoint`` saved by cron, or
``GET /api/v1/audit/checkpoints/latest`` saved by an auditor). A restore that lost its
last minutes — an old dump, a point-in-time recovery stopped too early, a truncated file —
holds fewer sealed entries than that checkpoint commits to, and fails; a whole restore
passes. The scratch database is dropped afterwards (``--keep`` leaves it for a look).

* PostgreSQL: a ``pg_dump`` file, custom format (``pg_dump -Fc``, restored with
  ``pg_restore``) or plain SQL (restored with ``psql``), into a new database created on
  the server of ``CASEOPS_DATABASE_URL`` (or ``--server``); the account needs CREATEDB.
  A ``pg_basebackup`` is checked by starting it and pointing the check at a dump of it,
  or with ``caseops audit verify --checkpoint`` against the started copy.
* SQLite (demo and small trials): a copy of the database file (``sqlite3 db ".backup f"``)
  is copied again to a scratch file and verified.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from caseops.audit.checkpoint import KeyRing
from caseops.audit.verify import VerifyReport, verify
from caseops.db_types import json_loads

CUSTOM_FORMAT_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """The backup could not be restored (the message says why)."""


@dataclass
class CheckResult:
    report: VerifyReport
    scratch: str  # database name or file path of the restored copy


def libpq_url(url: URL) -> str:
    """The SQLAlchemy URL as the PostgreSQL tools take it (``postgresql://``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: Sequence[str], what: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed tool names, arguments we built
        list(command), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise BackupError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _restore_postgres(dump: Path, server: URL) -> str:
    """Create a scratch database on ``server`` and restore ``dump`` into it; its URL."""
    name = f"caseops_restore_check_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    target = server.set(database=name)
    with dump.open("rb") as handle:
        custom = handle.read(len(CUSTOM_FORMAT_MAGIC)) == CUSTOM_FORMAT_MAGIC
    if custom:
        command = [
            _tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            libpq_url(target),
            str(dump),
        ]
    else:
        command = [
            _tool("psql"),
            "--quiet",
            "--no-psqlrc",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
            libpq_url(target),
            "--file",
            str(dump),
        ]
    try:
        _run(command, "restoring the dump")
    except BackupError:
        drop_postgres(server, name)
        raise
    return target.render_as_string(hide_password=False)


def drop_postgres(server: URL, name: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def check_backup(
    dump: Path,
    database_url: str,
    ring: KeyRing,
    trusted: Sequence[Sequence[str | None]],
    *,
    server_url: str | None = None,
    keep: bool = False,
) -> CheckResult:
    """Restore ``dump`` into a scratch database (on the server of ``database_url``, or of
    ``server_url``) and verify it against the ``trusted`` checkpoints; see the module
    docstring. Never touches the database of ``database_url`` itself."""
    if not dump.is_file():
        raise BackupError(f"no backup file at {dump}")
    if not trusted:
        raise BackupError("a checkpoint kept outside the database is required (--checkpoint)")
    url = make_url(server_url or database_url)
    if url.get_backend_name() == "postgresql":
        scratch_url = _restore_postgres(dump, url)
        scratch = make_url(scratch_url).database
        engine = create_engine(scratch_url, poolclass=NullPool, json_deserializer=json_loads)
        try:
            report = verify(engine, ring, ring.origin, trusted=trusted)
        finally:
            engine.dispose()
            if not keep:
                drop_postgres(url, scratch)
        return CheckResult(report, scratch)
    if url.get_backend_name() == "sqlite":
        with dump.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise BackupError(f"{dump} is not an SQLite database file")
        fd, scratch = tempfile.mkstemp(prefix="caseops-restore-check-", suffix=".sqlite3")
        os.close(fd)
        shutil.copyfile(dump, scratch)
        engine = create_engine(
            f"sqlite:///{scratch}", poolclass=NullPool, json_deserializer=json_loads
        )
        try:
            report = verify(engine, ring, ring.origin, trusted=trusted)
        finally:
            engine.dispose()
            if not keep:
                Path(scratch).unlink(missing_ok=True)
        return CheckResult(report, scratch)
    raise BackupError(f"cannot check backups of {url.get_backend_name()} databases")
