"""The one audit writer: what it records, its two transaction modes, and failing closed."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from caseops.audit.canonical import canonical_bytes
from caseops.audit.models import AccessEvent
from caseops.audit.service import GroupWriter, record, record_many
from caseops.authz.actor import Actor
from caseops.context import Origin, origin_scope
from caseops.errors import AuditUnavailable
from caseops.extensions import db
from caseops.users.models import User
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.log_entries import entry_row, queue_behind_a_leader

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))


def test_an_entry_records_who_what_where_and_how_it_ended(app):
    origin = Origin(request_id="req-12345678", ip="10.1.2.3", user_agent="pytest-agent")
    with origin_scope(origin):
        event = record(
            "client.view",
            actor=ACTOR,
            outcome="denied",
            target_type="client",
            target_id="c1",
            client_id="c1",
            purpose="care_coordination",
            detail={"reasons": {"health": "no_consent"}},
        )
    [stored] = factories.events("client.view")
    assert stored.seq == event.seq
    assert (stored.actor, stored.actor_user_id, stored.actor_agency) == ("ana", 7, "hha")
    assert stored.actor_roles == ["case_worker"]
    assert (stored.outcome, stored.client_id, stored.purpose) == (
        "denied",
        "c1",
        "care_coordination",
    )
    assert (stored.request_id, stored.ip, stored.user_agent) == (
        "req-12345678",
        "10.1.2.3",
        "pytest-agent",
    )
    assert stored.detail == {"reasons": {"health": "no_consent"}}
    assert stored.occurred_at.tzinfo is not None


def test_sequence_numbers_increase_strictly(app):
    seqs = [record("client.view", actor=ACTOR).seq for _ in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_unknown_outcome_is_a_programming_error(app):
    with pytest.raises(ValueError, match="outcome"):
        record("client.view", actor=ACTOR, outcome="maybe")


def test_an_independent_entry_survives_the_callers_rollback(app):
    factories.make_agency("hha")
    db.session.add(User(username="ghost", agency_id=1))
    db.session.flush()
    db.session.rollback()
    record("auth.login", actor=ACTOR, outcome="failure")
    assert [e.action for e in factories.events("auth.login")] == ["auth.login"]


def test_an_entry_in_the_callers_transaction_rolls_back_with_it(app):
    record("admin.roles_changed", actor=ACTOR, session=db.session)
    db.session.rollback()
    assert factories.events("admin.roles_changed") == []


@pytest.fixture
def broken_log(app, database_url):
    """Make every insert into the log fail in the database, as a full disk or lost
    permission would."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if database_url.startswith("sqlite"):
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION break_log() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "FOR EACH ROW EXECUTE FUNCTION break_log()"
                )
            )
    engine.dispose()


def test_writer_raises_audit_unavailable_when_the_log_cannot_be_written(broken_log):
    with pytest.raises(AuditUnavailable):
        record("client.view", actor=ACTOR)


def test_login_fails_closed_when_the_log_cannot_be_written(app, client, database_url):
    """No session (the protected thing a login hands out) leaves without its log entry."""
    factories.make_agency("hha")
    person = factories.make_user("hha.worker", "hha", ["case_worker"])
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
        },
    )
    page = client.get(response.headers["Location"])
    token = factories.csrf_token(page.get_data(as_text=True))

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE access_events"))  # the log is gone
    engine.dispose()

    response = client.post(
        "/login/second-factor", data={"code": person.code(), "csrf_token": token}
    )
    assert response.status_code == 503
    assert "audit unavailable" in response.get_data(as_text=True)
    # The session row was rolled back with the failed entry: the cookie unlocks nothing.
    assert client.get("/").status_code == 302
    from caseops.auth.models import UserSession

    db.session.expire_all()
    assert db.session.query(UserSession).count() == 0


@pytest.fixture
def one_group_in_flight(monkeypatch):
    """One leader at a time, so a test can hold the lead and let entries queue up."""
    monkeypatch.setattr("caseops.audit.service._LEADERS", 1)


@pytest.mark.usefixtures("one_group_in_flight")
def test_concurrent_entries_share_one_commit_and_each_gets_its_own_seq(app, database_url):
    writer = GroupWriter()
    commits = []

    def on_commit(conn):
        commits.append(conn)

    event.listen(db.engine, "commit", on_commit)
    try:
        threads, results = queue_behind_a_leader(writer, [entry_row(f"c{i}") for i in range(5)])
        writer._queue[0].woken.set()
        for thread in threads:
            thread.join(10)
    finally:
        event.remove(db.engine, "commit", on_commit)
    if database_url.startswith("postgresql"):
        # One autocommitted statement: every row carries the same transaction id.
        xmins = db.session.scalar(text("SELECT count(DISTINCT xmin::text) FROM access_events"))
        assert xmins == 1
    else:  # SQLite returns rows in order one at a time: one transaction
        assert len(commits) == 1
    stored = {e.seq: e.target_id for e in factories.events("client.view")}
    assert {seq: f"c{i}" for i, seq in enumerate(results)} == stored


@pytest.mark.usefixtures("one_group_in_flight")
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"actor": None}, id="refused by the database"),
        pytest.param({"detail": {"what": object()}}, id="cannot be encoded"),  # not JSON
    ],
)
def test_a_bad_entry_in_a_group_fails_alone(app, bad):
    writer = GroupWriter()
    entries = [entry_row("c0"), entry_row("c1") | bad, entry_row("c2")]
    threads, results = queue_behind_a_leader(writer, entries)
    writer._queue[0].woken.set()
    for thread in threads:
        thread.join(10)
    assert isinstance(results[1], SQLAlchemyError)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert sorted(e.target_id for e in factories.events("client.view")) == ["c0", "c2"]


def test_many_threads_writing_at_once_lose_nothing_and_mix_nothing_up(app):
    """Each writer gets back the seq of its own entry, whatever groups formed."""
    flask_app = app
    seqs: dict[str, int] = {}

    def work(slot: int) -> None:
        with flask_app.app_context():
            for n in range(15):
                name = f"t{slot}-{n}"
                seqs[name] = record("client.view", actor=ACTOR, target_id=name).seq

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = {e.target_id: e.seq for e in factories.events("client.view")}
    assert len(stored) == 8 * 15
    assert stored == seqs


def test_many_entries_join_the_callers_transaction_and_roll_back_with_it(app):
    entries = [{"action": "record.write", "actor": ACTOR, "target_id": f"r{i}"} for i in range(3)]
    assert record_many(entries, session=db.session) == 3
    db.session.rollback()
    assert factories.events("record.write") == []
    record_many(entries, session=db.session)
    db.session.commit()
    assert sorted(e.target_id for e in factories.events("record.write")) == ["r0", "r1", "r2"]


def test_many_entries_fail_closed(broken_log):
    with pytest.raises(AuditUnavailable):
        record_many([{"action": "record.write", "actor": ACTOR}], session=db.session)


@pytest.mark.usefixtures("one_group_in_flight")
def test_a_long_queue_is_written_in_groups_and_the_lead_passes_on(app, monkeypatch):
    """More waiting entries than one group holds: the leader writes the first group and
    hands the lead to the next waiter, until the queue is empty."""
    monkeypatch.setattr("caseops.audit.service._MAX_GROUP", 2)
    writer = GroupWriter()
    threads, results = queue_behind_a_leader(writer, [entry_row(f"c{i}") for i in range(5)])
    writer._queue[0].woken.set()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    stored = {e.seq: e.target_id for e in factories.events("client.view")}
    assert {seq: f"c{i}" for i, seq in enumerate(results)} == stored
    assert writer._queue == [] and writer._leaders == 0


@pytest.mark.usefixtures("one_group_in_flight")
def test_writers_waiting_on_a_leader_that_crashes_get_an_error_not_a_hang(app, monkeypatch):
    def crash(engine, group):
        raise RuntimeError("leader died")

    monkeypatch.setattr(GroupWriter, "_insert", staticmethod(crash))
    writer = GroupWriter()
    threads, results = queue_behind_a_leader(writer, [entry_row(f"c{i}") for i in range(3)])
    errors = []
    engine = db.engine

    def lead() -> None:
        try:
            writer.write(engine, entry_row("leader"))
        except RuntimeError as exc:
            errors.append(exc)

    writer._leaders = 0
    leader = threading.Thread(target=lead, daemon=True)
    leader.start()
    leader.join(10)
    for thread in threads:
        thread.join(10)
    assert [str(e) for e in errors] == ["leader died"]
    assert all(isinstance(result, SQLAlchemyError) for result in results)
    assert writer._leaders == 0


def test_a_standalone_entry_comes_back_as_a_detached_copy_of_the_stored_row(app):
    returned = record("client.view", actor=ACTOR, client_id="c9", detail={"shown": ["housing"]})
    state = inspect(returned)
    assert state.detached and not state.modified and not state.expired_attributes
    [stored] = factories.events("client.view")
    for column in AccessEvent.__table__.columns:
        assert getattr(returned, column.name) == getattr(stored, column.name), column.name
    db.session.expunge(stored)
    merged = db.session.merge(returned, load=False)  # usable like any detached entity
    assert merged.seq == stored.seq


def test_the_pool_gets_its_connection_back_as_it_lent_it(app, database_url):
    """The writer borrows a pooled connection (autocommit on PostgreSQL) while groups
    follow each other; afterwards the pool's connection opens transactions again, so a
    caller's rollback still undoes its work."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        writer = GroupWriter()
        seq = writer.write(engine, entry_row("c1"))
        assert writer._held == [] and engine.pool.checkedout() == 0
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE scratch_rollback (n integer)"))
        with engine.connect() as connection:
            connection.execute(text("INSERT INTO scratch_rollback VALUES (1)"))
            connection.rollback()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM scratch_rollback")) == 0
    finally:
        engine.dispose()
    assert [e.seq for e in factories.events("client.view")] == [seq]


@pytest.mark.skipif(BACKEND != "postgres", reason="terminates a PostgreSQL backend")
@pytest.mark.usefixtures("one_group_in_flight")
def test_a_connection_dropped_under_the_writer_loses_nothing_and_writes_nothing_twice(app):
    """The database ends the connection the writer holds between two groups (a restart,
    a failover): the next group is written on a fresh connection, each entry once."""
    writer = GroupWriter()
    engine = db.engine
    held = engine.raw_connection()
    held.driver_connection.autocommit = True
    writer._held = [held]
    pid = held.driver_connection.info.backend_pid
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    threads, results = queue_behind_a_leader(writer, [entry_row(f"c{i}") for i in range(3)])
    writer._queue[0].woken.set()
    for thread in threads:
        thread.join(10)
    assert all(isinstance(result, int) for result in results)
    stored = {e.seq: e.target_id for e in factories.events("client.view")}
    assert {seq: f"c{i}" for i, seq in enumerate(results)} == stored
    assert writer._held == []  # the fresh connection went back to the pool, not the dead one


@pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL server that is not there")
def test_an_unreachable_database_fails_every_waiting_writer_closed(app):
    engine = create_engine(
        "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none",
        connect_args={"connect_timeout": 2},
    )
    try:
        writer = GroupWriter()
        with pytest.raises(SQLAlchemyError):
            writer.write(engine, entry_row("c1"))
        assert writer._leaders == 0 and writer._held == []
    finally:
        engine.dispose()


def test_detail_is_stored_exactly_as_given(app):
    """The stored entry is what was recorded, to the number: its leaf is computed from
    the stored row, so a float turned into an integer would change what is sealed."""
    detail = {
        "f": 1e21,
        "x": 1.5,
        "one": 1.0,
        "big": 2**60,
        "s": '\u00e9\u2028"\\',
        "none": None,
        "nested": {"a": [1, True, {"b": []}]},
    }
    returned = record("client.view", actor=ACTOR, detail=detail, target_id="t\u00fc")
    [stored] = factories.events("client.view")
    assert stored.detail == detail
    assert [type(stored.detail[k]) for k in ("f", "one", "big")] == [float, float, int]
    assert stored.target_id == "t\u00fc" and stored.leaf_salt == returned.leaf_salt
    assert canonical_bytes(stored) == canonical_bytes(returned)


def test_a_second_group_is_written_while_the_first_waits_for_its_commit(app, monkeypatch):
    """Two groups in flight per process: an entry arriving while a group is being
    committed is written at once beside it, not after it."""
    release_first = threading.Event()
    real_insert = GroupWriter._insert
    first = []

    def slow_first(self, engine, group):
        if not first:
            first.append(group)
            assert release_first.wait(10)
        return real_insert(self, engine, group)

    monkeypatch.setattr(GroupWriter, "_insert", slow_first)
    writer = GroupWriter()
    engine = db.engine
    results: dict = {}

    def write(name: str) -> None:
        results[name] = writer.write(engine, entry_row(name))

    held_up = threading.Thread(target=write, args=("first",), daemon=True)
    held_up.start()
    deadline = time.monotonic() + 10
    while not first and time.monotonic() < deadline:
        time.sleep(0.005)
    write("second")  # returns while the first group is still held up
    assert "first" not in results and isinstance(results["second"], int)
    release_first.set()
    held_up.join(10)
    stored = {e.target_id: e.seq for e in factories.events("client.view")}
    assert stored == results
    assert writer._leaders == 0 and writer._held == []
