"""PostgreSQL: the application's role may only INSERT and SELECT the log tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from caseops import create_app
from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.audit.verify import verify
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.migrations_state import alembic_config
from caseops.records import service as records
from caseops.records.importers import integration_actor
from tests import factories
from tests.fixtures.bulk import ndjson, people
from tests.fixtures.records import MARIA

PASSWORD = uuid.uuid4().hex
ACTOR = Actor(username="ana", agency="hha", roles=frozenset({"case_worker"}))
REFUSED = [
    "UPDATE access_events SET actor = actor",
    "UPDATE access_events SET leaf_salt = leaf_salt",
    "DELETE FROM access_events",
    "UPDATE audit_leaves SET leaf_hash = leaf_hash",
    "DELETE FROM audit_leaves",
    "UPDATE audit_nodes SET hash = hash",
    "DELETE FROM audit_nodes",
    "UPDATE audit_checkpoints SET signature = signature",
    "DELETE FROM audit_checkpoints",
]
TRUNCATES = [
    "TRUNCATE access_events",
    "TRUNCATE audit_leaves",
    "TRUNCATE audit_nodes",
    "TRUNCATE audit_checkpoints",
]
INSERT_EVENT = (
    "INSERT INTO access_events (occurred_at, actor, actor_roles, action, outcome, "
    "request_id, channel, detail) VALUES (CURRENT_TIMESTAMP, 'x', '[]', 'test.role', "
    "'success', 'r', 'internal', '{}')"
)


@pytest.fixture
def postgres(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("database roles exist only on PostgreSQL")
    return database_url


@pytest.fixture
def app_role(postgres, databases) -> Iterator[str]:
    """A throw-away login role (roles are cluster-wide: the name is unique per test)."""
    role = f"caseops_app_t_{uuid.uuid4().hex[:10]}"
    with databases.admin_engine.connect() as conn:
        # A password: CI's pg_hba asks for one on TCP connections.
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'"))
    yield role
    for url in {postgres, *created_databases}:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
        except DBAPIError:
            pass  # that database is already gone
        finally:
            engine.dispose()
    created_databases.clear()
    with databases.admin_engine.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


created_databases: set[str] = set()


def as_role(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)


def assert_refused(engine, statement: str) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
        conn.execute(text(statement))


def test_migration_grants_an_existing_app_role_insert_and_select_only(
    app_role, databases, monkeypatch
):
    monkeypatch.setenv("CASEOPS_APP_DB_ROLE", app_role)
    url = databases.empty()
    created_databases.add(url)
    try:
        command.upgrade(alembic_config(url), "head")
        engine = create_engine(as_role(url, app_role))
        try:
            with engine.begin() as conn:
                conn.execute(text(INSERT_EVENT))
                assert conn.scalar(text("SELECT count(*) FROM access_events")) == 1
            for statement in REFUSED + TRUNCATES:
                assert_refused(engine, statement)
        finally:
            engine.dispose()
    finally:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{app_role}"'))
        engine.dispose()
        created_databases.discard(url)
        databases.drop(url)


def test_the_app_runs_as_its_role_and_cannot_rewrite_the_log(app, app_role, postgres):
    result = app.test_cli_runner().invoke(args=["db", "grant-app-role", app_role])
    assert result.exit_code == 0, result.output
    role_app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": as_role(postgres, app_role),
            "TESTING": True,
            "CASEOPS_AUDIT_SIGNING_KEY": app.config["CASEOPS_AUDIT_SIGNING_KEY"],
        }
    )
    with role_app.app_context():
        try:
            seqs = [record("client.view", actor=ACTOR).seq for _ in range(3)]
            key = log_key()
            assert seal_once(db.engine, key).sealed == 3  # INSERT and SELECT are enough
            assert verify(db.engine, key.public_key, key.origin).ok
            for statement in REFUSED:
                assert_refused(db.engine, statement)
            # Everything else is ordinary application data.
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE policy_version SET version = version WHERE id = 1"))
            assert seqs == sorted(seqs)
            # Ingest claims the linkage (advisory locks; the clock table in EXCLUSIVE mode).
            factories.make_agency("hha")
            feed = integration_actor("hha")
            assert records.bulk(feed, "hha", ndjson(people(2))).counts == {"created": 2}
            assert records.upsert(feed, "hha", "H-1", MARIA).status == "created"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_grant_app_role_refuses_an_unknown_role_and_sqlite(app, postgres):
    result = app.test_cli_runner().invoke(args=["db", "grant-app-role", "no_such_role_here"])
    assert result.exit_code != 0 and "does not exist" in result.output
