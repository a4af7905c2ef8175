"""The access log is append-only in the database itself, whatever the application does."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from caseops.audit.service import record
from caseops.authz.actor import Actor

ACTOR = Actor(username="tester", agency="hha", roles=frozenset({"case_worker"}))


@pytest.fixture
def logged(app):
    record("client.view", actor=ACTOR, detail={"n": 1})
    record("client.view", actor=ACTOR, detail={"n": 2})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_events SET actor = 'someone-else'",
        "UPDATE access_events SET outcome = 'denied' WHERE seq = 1",
        "DELETE FROM access_events",
        "DELETE FROM access_events WHERE seq = 2",
        # leaf version 2's secret is as immutable as the rest (migration 0021)
        "UPDATE access_events SET leaf_salt = NULL",
    ],
)
def test_update_and_delete_are_refused_by_the_database(logged, database_url, statement):
    engine = create_engine(database_url)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, actor FROM access_events ORDER BY seq"))
        assert [tuple(r) for r in rows] == [(1, "tester"), (2, "tester")]
    engine.dispose()


def test_truncate_is_refused_on_postgresql(logged, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    engine = create_engine(database_url)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE access_events"))
    engine.dispose()


def test_postgresql_triggers_fire_even_for_replication_sessions(logged, database_url):
    """ENABLE ALWAYS: session_replication_role = replica does not switch the guard off."""
    if not database_url.startswith("postgresql"):
        pytest.skip("replication roles exist only on PostgreSQL")
    engine = create_engine(database_url)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        connection.execute(text("DELETE FROM access_events"))
    engine.dispose()


def test_a_version_2_secret_is_32_bytes_or_nothing(logged, database_url):
    """Migration 0021's CHECK: a truncated secret would make the entry unverifiable."""
    engine = create_engine(database_url)
    insert = text(
        "INSERT INTO access_events (occurred_at, actor, actor_roles, action, outcome, "
        "request_id, channel, detail, leaf_salt) VALUES (CURRENT_TIMESTAMP, 'x', '[]', "
        "'client.view', 'success', 'r', 'http', '{}', :salt)"
    )
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(insert, {"salt": b"short"})
    with engine.begin() as connection:
        connection.execute(insert, {"salt": bytes(32)})
        connection.execute(insert, {"salt": None})
    engine.dispose()
