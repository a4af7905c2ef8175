"""The restore drill: ``caseops backup check`` restores a backup into a scratch database
and verifies it against a checkpoint kept outside the database.

A backup taken before the last entries were sealed (a restore "missing its last minutes")
is caught by the newer outside checkpoint; a whole backup passes. On PostgreSQL the
backups are real ``pg_dump`` files (custom and plain format); on SQLite, copies of the
database file made with SQLite's backup API.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.ops.backup import libpq_url
from tests.conftest import BACKEND

WORKER = Actor(username="hha.case_worker", agency="hha", roles=frozenset({"case_worker"}))


def take_backup(database_url: str, target: Path, fmt: str = "custom") -> Path:
    url = make_url(database_url)
    if BACKEND == "sqlite":
        source = sqlite3.connect(url.database)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        return target
    subprocess.run(
        [
            "pg_dump",
            "--format",
            "custom" if fmt == "custom" else "plain",
            "--no-owner",
            "--file",
            str(target),
            "--dbname",
            libpq_url(url),
        ],
        check=True,
        capture_output=True,
    )
    return target


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def checkpoint_file(app, path: Path) -> Path:
    result = cli(app, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    path.write_text(result.output)
    return path


def log_and_seal(n: int) -> int:
    for i in range(n):
        record("client.view", actor=WORKER, client_id=f"c{i % 3}")
    return seal_once(db.engine, log_key()).tree_size


@pytest.fixture
def backups(app, world, database_url, tmp_path):
    """An early backup, then more entries sealed and a checkpoint kept outside, then a
    whole backup."""
    early_size = log_and_seal(3)
    early_checkpoint = checkpoint_file(app, tmp_path / "early-checkpoint.json")
    early = take_backup(database_url, tmp_path / "early.dump")
    size = log_and_seal(4)
    assert size > early_size
    kept = checkpoint_file(app, tmp_path / "checkpoint.json")
    whole = take_backup(database_url, tmp_path / "whole.dump")
    return {"early": early, "whole": whole, "kept": kept, "early_checkpoint": early_checkpoint}


def test_a_whole_restore_passes(app, backups):
    result = cli(
        app, "backup", "check", str(backups["whole"]), "--checkpoint", str(backups["kept"])
    )
    assert result.exit_code == 0, result.output
    size = json.loads(backups["kept"].read_text())["tree_size"]
    assert f"ok: the restore holds {size} sealed entries" in result.output


def test_a_restore_missing_its_last_entries_is_caught_by_the_outside_checkpoint(app, backups):
    result = cli(
        app, "backup", "check", str(backups["early"]), "--checkpoint", str(backups["kept"])
    )
    assert result.exit_code == 1
    assert "FAILED: the restore does not match the checkpoint" in result.output
    assert "the log was truncated" in result.output
    # The same backup was whole as of its own time.
    own_time = cli(
        app,
        "backup",
        "check",
        str(backups["early"]),
        "--checkpoint",
        str(backups["early_checkpoint"]),
    )
    assert own_time.exit_code == 0, own_time.output


def test_the_scratch_copy_is_dropped_and_the_live_database_untouched(app, backups):
    before = db.session.execute(text("SELECT count(*) FROM access_events")).scalar()
    result = cli(
        app,
        "backup",
        "check",
        "--json",
        str(backups["whole"]),
        "--checkpoint",
        str(backups["kept"]),
    )
    assert result.exit_code == 0, result.output
    scratch = json.loads(result.output.splitlines()[0])["scratch"]
    if BACKEND == "sqlite":
        assert not Path(scratch).exists()
    else:
        assert scratch.startswith("caseops_restore_check_")
        found = db.session.execute(
            text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": scratch}
        ).scalar()
        assert found == 0
    assert db.session.execute(text("SELECT count(*) FROM access_events")).scalar() == before


@pytest.mark.skipif(BACKEND == "sqlite", reason="plain SQL dumps are a pg_dump format")
def test_a_plain_sql_dump_restores_with_psql(app, backups, database_url, tmp_path):
    plain = take_backup(database_url, tmp_path / "whole.sql", fmt="plain")
    result = cli(app, "backup", "check", str(plain), "--checkpoint", str(backups["kept"]))
    assert result.exit_code == 0, result.output


def test_the_check_needs_an_outside_checkpoint_and_a_real_backup(app, world, tmp_path):
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a backup")
    missing = cli(app, "backup", "check", str(junk))
    assert missing.exit_code == 2 and "--checkpoint" in missing.output
    log_and_seal(1)
    kept = checkpoint_file(app, tmp_path / "checkpoint.json")
    bad = cli(app, "backup", "check", str(junk), "--checkpoint", str(kept))
    assert bad.exit_code == 1
    assert "Error:" in bad.output
