"""A reading request's log entry is written on the request's own connection (issue 20).

A record view reads on a connection in autocommit (``autocommit_reads``); its entry used
to be committed on a second connection, the log's own, so every view woke two PostgreSQL
backends. Now the group writer's leader writes its group on the connection its request
lends when a statement there commits on its own and nothing else
(``caseops.storage.pipeline.idle_autocommitted``). What users rely on, tested here: the
entry is committed before the answer exactly as before, with the other requests' entries
of its group; a connection in a transaction, in a pipeline or given back is never lent; a
lent connection that is lost costs no entry (the group is written on the log's own), and
one that refuses an entry fails that entry closed and stays usable for its request.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from caseops.audit.service import GroupWriter, record
from caseops.authz.actor import Actor
from caseops.errors import AuditUnavailable
from caseops.extensions import db
from caseops.storage.pipeline import autocommit_reads, idle_autocommitted
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.access import join_care_team
from tests.fixtures.consents import consent_for
from tests.fixtures.log_entries import entry_row, queue_behind_a_leader
from tests.fixtures.records import bearer
from tests.fixtures.roundtrips import round_trips

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))

postgres_only = pytest.mark.skipif(
    BACKEND != "postgres", reason="connections to lend exist on PostgreSQL only"
)


def _backend(connection) -> int:
    return connection.connection.driver_connection.info.backend_pid


def _last_query_of(pid: int) -> str:
    with db.engine.connect() as other:
        return other.scalar(
            text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )


@postgres_only
def test_a_view_commits_its_entry_on_its_own_connection(app, client, maria_at_three_agencies):
    """Both of a view's exchanges on the session's connection, none on the log's pool,
    and the entry committed (read back on another connection) when the answer comes."""
    from caseops.storage.pools import side_engine

    maria = maria_at_three_agencies
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria)
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria}/record"
    with app.app_context():
        log_pool = side_engine(db.engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    with app.app_context(), round_trips(db.engine) as session, round_trips(log_pool) as log:
        for _ in range(3):  # the first views learn the plans and the gate
            assert client.get(url, headers=bearer(token)).status_code == 200
        before = (session.count, log.count)
        response = client.get(url, headers=bearer(token))
        trips = (session.count - before[0], log.count - before[1])
    assert response.status_code == 200
    assert trips == (2, 0)
    with app.app_context():
        views = [e for e in factories.events("client.view") if e.client_id == maria]
        assert len(views) == 4 and views[-1].request_id == response.headers["X-Request-ID"]


@postgres_only
def test_only_a_connection_that_commits_each_statement_alone_is_lent(app):
    with app.test_request_context():
        session = db.session
        assert idle_autocommitted(session) is None  # nothing bound yet
        autocommit_reads(session)
        lent = idle_autocommitted(session)
        assert lent is not None and lent is session.connection()
        raw = lent.connection.driver_connection
        raw.execute("BEGIN")  # a transaction open on it: an entry would wait for it
        assert idle_autocommitted(session) is None
        raw.execute("ROLLBACK")
        assert idle_autocommitted(session) is lent
        with raw.pipeline():  # mid-pipeline: a statement would join someone else's sync
            assert idle_autocommitted(session) is None
        session.commit()  # given back to the pool: no longer the request's to lend
        assert idle_autocommitted(session) is None
    with app.test_request_context():
        db.session.execute(text("SELECT 1"))  # an ordinary transaction, never lent
        assert idle_autocommitted(db.session) is None


def test_sqlite_lends_nothing(app):
    with app.test_request_context():
        autocommit_reads(db.session)
        if BACKEND != "postgres":
            assert idle_autocommitted(db.session) is None
        assert record("client.view", actor=ACTOR, client_id="c1").seq > 0


@postgres_only
def test_a_leader_writes_the_whole_group_on_its_lent_connection(app, monkeypatch):
    """The followers' entries ride in the leader's statement on the leader's connection:
    one commit (one transaction id) on that backend, each entry its own seq."""
    monkeypatch.setattr("caseops.audit.service._LEADERS", 1)
    writer = GroupWriter()
    lent = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        entries = [entry_row(f"c{slot}") for slot in range(4)]
        threads, results = queue_behind_a_leader(writer, entries, lent)
        writer._queue[0].woken.set()
        for thread in threads:
            thread.join(10)
        assert all(isinstance(seq, int) for seq in results)
        assert "INSERT INTO access_events" in _last_query_of(_backend(lent))
        assert writer._held == [] and writer._leaders == 0  # none of the log's own needed
    finally:
        lent.close()
    xmins = db.session.scalar(text("SELECT count(DISTINCT xmin::text) FROM access_events"))
    assert xmins == 1
    stored = {e.seq: e.target_id for e in factories.events("client.view")}
    assert stored == {seq: f"c{i}" for i, seq in enumerate(results)}


@postgres_only
def test_a_lost_lent_connection_costs_no_entry(app):
    """The database ends the request's connection (a restart, a failover) just before its
    entry: the entry is written once, on the log's own connection, and the request's
    connection is invalidated, as SQLAlchemy does for any connection found lost."""
    with app.test_request_context():
        autocommit_reads(db.session)
        lent = idle_autocommitted(db.session)
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": _backend(lent)})
            other.commit()
        entry = record("client.view", actor=ACTOR, client_id="c1")
        assert lent.invalidated
        db.session.remove()  # as the request's end does (its session rolls back)
    assert [(e.seq, e.client_id) for e in factories.events("client.view")] == [(entry.seq, "c1")]


@postgres_only
def test_an_entry_refused_on_a_lent_connection_fails_closed_and_the_request_goes_on(
    app, monkeypatch
):
    """An entry PostgreSQL refuses is not retried anywhere else and refuses its request;
    the connection stays the request's, idle, and answers its next statement."""
    monkeypatch.setattr(
        "caseops.audit.service._group_document", lambda values, dialect: '[{"seq": "x"'
    )
    with app.test_request_context():
        autocommit_reads(db.session)
        lent = idle_autocommitted(db.session)
        with pytest.raises(AuditUnavailable):
            record("client.view", actor=ACTOR, client_id="c1")
        assert idle_autocommitted(db.session) is lent and not lent.invalidated
        assert db.session.scalar(text("SELECT 1")) == 1
    assert factories.events("client.view") == []
