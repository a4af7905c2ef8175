"""``caseops.storage.pipeline.prefetch``: reads sent ahead in one pipeline answer the same
as reads sent one by one, never outlive their block, and never turn a failure into a
wrong answer. And idle pooled connections are pinged, busy ones not (``connect``)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.exc import DBAPIError

from caseops.auth.models import ApiToken
from caseops.authz import policy
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.storage import pipeline
from caseops.storage.pipeline import prefetch
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.records import bearer

RECORDS = select(SourceRecord).where(SourceRecord.client_id == bindparam("client_id"))
TOKENS = select(ApiToken).order_by(ApiToken.id)


def snapshot(client_id: str) -> tuple:
    """What the reads answer, in plain values (ORM entities with their eager loads)."""
    records = [
        (r.id, r.agency.code, r.category, r.updated_at)
        for r in db.session.scalars(RECORDS, {"client_id": client_id})
    ]
    tokens = [(t.id, t.user.username, t.user.agency.code) for t in db.session.scalars(TOKENS)]
    return records, tokens, db.session.scalar(policy.VERSION_QUERY)


def test_prefetched_reads_answer_as_plain_reads(app, maria_at_three_agencies):
    plain = snapshot(maria_at_three_agencies)
    db.session.rollback()
    pipeline._state.missed = 0
    reads = [(RECORDS, {"client_id": maria_at_three_agencies}), (TOKENS, {})]
    with prefetch(db.session, [*reads, (policy.VERSION_QUERY, {})]):
        piped = snapshot(maria_at_three_agencies)
    assert piped == plain
    assert len(plain[0]) == 3 and plain[1]
    if BACKEND == "postgres":  # every read was answered from the pipeline
        assert pipeline._state.missed == 0


def test_a_read_not_sent_ahead_goes_to_the_server(app, maria_at_three_agencies):
    with prefetch(db.session, [(TOKENS, {})]):
        records = list(db.session.scalars(RECORDS, {"client_id": maria_at_three_agencies}))
    assert {r.agency.code for r in records} == {"hha", "cchc", "rrp"}


def test_nothing_outlives_the_block(app, world):
    """A token revoked between two blocks is seen revoked by the second: the pipeline is
    a way to send, not a cache."""
    factories.token_for("hha.case_worker")
    with prefetch(db.session, [(TOKENS, {})]):
        before = [t.revoked_at for t in db.session.scalars(TOKENS)]
    assert before[-1] is None
    db.session.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP"))
    db.session.commit()
    with prefetch(db.session, [(TOKENS, {})]):
        after = [t.revoked_at for t in db.session.scalars(TOKENS)]
    assert all(value is not None for value in after)


def test_a_failing_read_fails_as_it_would_alone_and_leaves_the_session_usable(app, world):
    factories.token_for("hha.case_worker")
    broken = select(text("no_such_column")).select_from(text("api_tokens"))
    with pytest.raises(DBAPIError), prefetch(db.session, [(broken, {}), (TOKENS, {})]):
        db.session.execute(broken)
    db.session.rollback()
    assert list(db.session.scalars(TOKENS))  # the session works afterwards


@pytest.mark.skipif(BACKEND != "postgres", reason="pooled connections exist on PostgreSQL only")
def test_an_idle_connection_ended_by_the_server_is_replaced_not_handed_out(
    app, client, world, database_url
):
    """Without a ping on every checkout, a connection the server ended while it sat idle
    in the pool (a restart, an administrator) must still never fail a request."""
    token = factories.token_for("hha.system_admin")
    assert client.get("/api/v1/agencies", headers=bearer(token)).status_code == 200
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            ended = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar()
    finally:
        admin.dispose()
    assert ended >= 1
    time.sleep(1.2)  # idle past PING_AFTER_IDLE_SECONDS
    for _ in range(3):
        assert client.get("/api/v1/agencies", headers=bearer(token)).status_code == 200


# Plans (issue 20): after a statement's first send through the ORM, later sends hand the
# driver the learned SQL with the new values. A wrong plan could only miss (one more round
# trip), never answer wrongly: these tests hold that the answers are the plain ones and
# that the plans are actually used.

pg_only = pytest.mark.skipif(
    BACKEND != "postgres", reason="prefetch sends nothing ahead on SQLite (no round trips)"
)


def _planned(statement) -> bool:
    return any(plan.statement is statement for plan in pipeline._plans.values())


def _sent_through_the_orm(monkeypatch) -> list:
    """Record phase one's executions through the session (a send by plan bypasses it)."""
    calls: list = []
    original = pipeline._send_one

    def counting(session, raw, statement, parameters):
        if pipeline.plan_for(statement, parameters) is None:
            calls.append(statement)
        return original(session, raw, statement, parameters)

    monkeypatch.setattr(pipeline, "_send_one", counting)
    return calls


@pg_only
def test_a_planned_send_answers_other_values_as_plain_reads(app, maria_at_three_agencies):
    """The plan learned from one client answers for another, and for none, exactly as the
    reads would alone; the second and third sends go by the plan."""
    statement = select(SourceRecord).where(SourceRecord.client_id == bindparam("client_id"))
    wanted = {}
    for client_id in (maria_at_three_agencies, "cl_unknown", maria_at_three_agencies):
        wanted[client_id] = [
            (r.id, r.agency.code, r.category)
            for r in db.session.scalars(statement, {"client_id": client_id})
        ]
    db.session.rollback()
    pipeline._state.missed = 0
    answers = []
    for client_id in ("cl_unknown", maria_at_three_agencies, "cl_unknown"):
        with prefetch(db.session, [(statement, {"client_id": client_id})]):
            rows = db.session.scalars(statement, {"client_id": client_id})
            answers.append((client_id, [(r.id, r.agency.code, r.category) for r in rows]))
    assert answers == [
        (c, wanted[c]) for c in ("cl_unknown", maria_at_three_agencies, "cl_unknown")
    ]
    assert len(wanted[maria_at_three_agencies]) == 3
    assert _planned(statement)
    assert pipeline._state.missed == 0  # every read answered from what the plan sent


@pg_only
def test_only_the_first_send_goes_through_the_orm(app, maria_at_three_agencies, monkeypatch):
    statement = select(SourceRecord.id).where(SourceRecord.client_id == bindparam("client_id"))
    through_orm = _sent_through_the_orm(monkeypatch)
    for _ in range(3):
        with prefetch(db.session, [(statement, {"client_id": maria_at_three_agencies})]):
            assert (
                len(db.session.scalars(statement, {"client_id": maria_at_three_agencies}).all())
                == 3
            )
    assert through_orm == [statement]


@pg_only
def test_a_planned_send_sees_the_sessions_pending_writes(app, world):
    """A send by plan bypasses the session's autoflush, so ``prefetch`` flushes first: a
    change made in the request and not yet flushed is what the read answers."""
    factories.token_for("hha.case_worker")
    with prefetch(db.session, [(TOKENS, {})]):  # learns the plan
        tokens = list(db.session.scalars(TOKENS))
    assert _planned(TOKENS) and tokens[-1].revoked_at is None
    tokens[-1].name = "renamed in this request"  # pending, not flushed
    pipeline._state.missed = 0
    with prefetch(db.session, [(TOKENS, {})]):
        names = [
            row.name for row in db.session.execute(select(ApiToken.name).order_by(ApiToken.id))
        ]
        again = list(db.session.scalars(TOKENS))
    assert names[-1] == "renamed in this request"
    assert again[-1].name == "renamed in this request"
    assert pipeline._state.missed == 1  # the column read was not sent ahead; TOKENS was


@pg_only
def test_a_list_the_caller_gives_gets_no_plan_and_still_answers(app, maria_at_three_agencies):
    """An expanding parameter renders different SQL per list length: no plan is kept, and
    each send goes through the ORM as before, with the right answer."""
    statement = select(SourceRecord.category).where(
        SourceRecord.client_id == bindparam("client_id"),
        SourceRecord.category.in_(bindparam("categories", expanding=True)),
    )
    for categories in (["housing"], ["housing", "health", "education"], ["nothing"]):
        params = {"client_id": maria_at_three_agencies, "categories": categories}
        plain = sorted(db.session.scalars(statement, params))
        db.session.rollback()
        with prefetch(db.session, [(statement, params)]):
            piped = sorted(db.session.scalars(statement, params))
        assert piped == plain
    assert not _planned(statement)


@pg_only
def test_a_list_the_statement_holds_is_planned(app, maria_at_three_agencies, monkeypatch):
    statement = select(SourceRecord.category).where(
        SourceRecord.client_id == bindparam("client_id"),
        SourceRecord.category.in_(["housing", "health"]),
    )
    through_orm = _sent_through_the_orm(monkeypatch)
    plain = sorted(db.session.scalars(statement, {"client_id": maria_at_three_agencies}))
    db.session.rollback()
    pipeline._state.missed = 0
    for client_id in (maria_at_three_agencies, "cl_unknown", maria_at_three_agencies):
        with prefetch(db.session, [(statement, {"client_id": client_id})]):
            piped = sorted(db.session.scalars(statement, {"client_id": client_id}))
        assert piped == (plain if client_id != "cl_unknown" else [])
    assert through_orm == [statement] and _planned(statement)
    assert pipeline._state.missed == 0


@pg_only
def test_a_statements_columns_are_described_once_and_never_mixed(app, maria_at_three_agencies):
    """SQLAlchemy reads a cursor's description on every execution, which psycopg builds
    column by column each time: a prefetched statement's is built once. Two statements
    answered side by side keep their own columns, in their own order, with their values."""
    narrow = select(SourceRecord.id, SourceRecord.category).where(
        SourceRecord.client_id == bindparam("client_id")
    )
    # as many columns as ``narrow``, other names and types: only the SQL tells them apart
    wide = select(SourceRecord.category, SourceRecord.updated_at).where(
        SourceRecord.client_id == bindparam("client_id")
    )
    params = {"client_id": maria_at_three_agencies}
    plain = (
        sorted(tuple(r) for r in db.session.execute(narrow, params)),
        sorted(tuple(r) for r in db.session.execute(wide, params)),
    )
    db.session.rollback()
    pipeline._descriptions.clear()
    answers = []
    for _ in range(2):
        with prefetch(db.session, [(narrow, params), (wide, params)]):
            first = db.session.execute(narrow, params)
            second = db.session.execute(wide, params)
            assert list(first.keys()) == ["id", "category"]
            assert list(second.keys()) == ["category", "updated_at"]
            answers.append((sorted(map(tuple, first)), sorted(map(tuple, second))))
    assert answers == [plain, plain]
    assert len(plain[0]) == 3
    described = {sql for sql, _ in pipeline._descriptions}
    assert len(described) == 2  # one per statement, built by the first block only


def test_column_rows_answer_as_the_session_and_see_its_pending_writes(app, world):
    """``column_rows`` reads through the session's connection, past the ORM: it flushes
    first, as the session's own execute would, so a pending change is what it reads."""
    from caseops.agencies.models import Agency

    statement = select(Agency.code, Agency.part2_program).order_by(Agency.code)
    assert pipeline.column_rows(db.session, statement, {}) == db.session.execute(statement).all()
    db.session.add(Agency(code="aaa", name="A", kind="other"))
    rows = pipeline.column_rows(db.session, statement, {})
    assert rows[0].code == "aaa" and rows[0].part2_program is False
    db.session.rollback()


@pg_only
def test_column_rows_sent_by_plan_are_the_rows_sqlalchemy_makes(
    app, maria_at_three_agencies, monkeypatch
):
    """A read sent by plan is answered past SQLAlchemy's execution path, as named tuples
    made here: the same keys, and the same values to the type (times through
    ``UTCDateTime`` into UTC, JSON decoded, NULLs as SQLAlchemy gives them), read by
    name, by index or unpacked. Only the first answer goes through SQLAlchemy."""
    from caseops.agencies.models import Agency
    from caseops.auth.service import _TOKEN_ROW

    factories.token_for("hha.case_worker")
    records = (
        select(
            SourceRecord.id,
            Agency.code.label("agency"),
            SourceRecord.updated_at,
            SourceRecord.withdrawn_at,
        )
        .join(Agency, Agency.id == SourceRecord.agency_id)
        .where(SourceRecord.client_id == bindparam("client_id"))
        .order_by(SourceRecord.id)
    )
    public_id = db.session.scalar(select(ApiToken.public_id))
    reads = [
        (records, {"client_id": maria_at_three_agencies}),
        (_TOKEN_ROW, {"public_id": public_id}),
    ]
    connection = db.session.connection()
    plain = [connection.execute(s, p) for s, p in reads]
    wanted = [(list(r.keys()), [repr(tuple(row)) for row in r.all()]) for r in plain]
    db.session.rollback()
    executed = []
    original = type(connection).execute

    def counting(self, statement, *args, **kwargs):
        executed.append(statement)
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(type(connection), "execute", counting)
    answers, through_sqlalchemy = [], []
    for _ in range(3):
        executed.clear()
        with prefetch(db.session, reads):
            rows = [pipeline.column_rows(db.session, s, p) for s, p in reads]
        through_sqlalchemy.append(len(executed))
        answers.append([(list(r[0]._fields), [repr(tuple(row)) for row in r]) for r in rows])
    assert answers == [wanted] * 3
    assert len(wanted[0][1]) == 3 and len(wanted[1][1]) == 1
    # by name, by index, unpacked
    record = rows[0][0]
    assert record.updated_at.tzinfo is not None and record.updated_at.utcoffset().seconds == 0
    assert record.withdrawn_at is None and record[1] == record.agency
    identifier, agency, *_ = record
    assert (identifier, agency) == (record.id, record.agency)
    assert isinstance(rows[1][0].scopes, list)
    # past the first block (sends learning plans, answers learning keys) SQLAlchemy
    # executes nothing: sent by plan, answered here
    assert through_sqlalchemy[0] > 0 and through_sqlalchemy[1:] == [0, 0]


def _typed(extra=None):
    """A read of one row holding a value of each type that crosses the one statement
    (as JSON or as its text form), NULLs included; ``extra`` adds one column."""
    from sqlalchemy import (
        JSON,
        BigInteger,
        Boolean,
        Date,
        DateTime,
        Float,
        LargeBinary,
        Numeric,
        String,
        Uuid,
        literal_column,
    )

    columns = [
        literal_column("'\\x00ff10'::bytea", LargeBinary).label("raw"),
        literal_column("'12.50'::numeric", Numeric).label("amount"),
        literal_column("'2026-02-28'::date", Date).label("day"),
        literal_column(
            "'2026-12-07 05:54:19.123456+00'::timestamptz", DateTime(timezone=True)
        ).label("at"),
        literal_column("""'{"a": [1, null, "é"]}'::json""", JSON).label("doc"),
        literal_column("'null'::json", JSON).label("json_null"),
        literal_column("NULL::timestamptz", DateTime(timezone=True)).label("never"),
        literal_column("1.5::float8", Float).label("ratio"),
        literal_column("9223372036854775807::int8", BigInteger).label("big"),
        literal_column("false", Boolean).label("flag"),
        literal_column("""E'tab\\t"quote" é \\\\'::text""", String).label("words"),
        literal_column("''::varchar", String).label("empty"),
        literal_column("'100%'::text", String).label("percent"),  # the driver's %% escape
        literal_column("'5f0c6a3e-8a7b-4c2d-9e1f-0123456789ab'::uuid", Uuid).label("uid"),
    ]
    if extra is not None:
        columns.append(extra)
    return select(*columns).where(bindparam("one") == 1)


@pytest.mark.skipif(BACKEND != "postgres", reason="one statement for a block: PostgreSQL only")
@pytest.mark.parametrize("crosses", [True, False], ids=["one statement", "an inet: pipeline"])
def test_a_block_sent_as_one_statement_answers_as_plain_executions(
    app, maria_at_three_agencies, monkeypatch, crosses
):
    """Once every read of a block has its plan and its shape (learnt by the first two
    blocks), the block goes as ONE statement (one wait on the socket, not one per read,
    issue 20), and every read answers exactly what a plain execution answers: the same
    keys, the same values to their repr, in the same order, an empty answer empty. A
    column whose type cannot cross (``inet::text`` is not an inet's output) keeps the
    block on the pipeline, answered alike."""
    from sqlalchemy import String, literal_column

    extra = literal_column("'10.0.0.1'::inet", String).label("address") if not crosses else None
    records = (
        select(SourceRecord.id, SourceRecord.category, SourceRecord.updated_at)
        .where(SourceRecord.client_id == bindparam("client_id"))
        .order_by(SourceRecord.id.desc())
    )
    nothing = select(SourceRecord.id).where(SourceRecord.client_id == bindparam("client_id"))
    reads = [
        (_typed(extra), {"one": 1}),
        (records, {"client_id": maria_at_three_agencies}),
        (nothing, {"client_id": "no-such-client"}),
    ]
    connection = db.session.connection()
    wanted = [[repr(tuple(row)) for row in connection.execute(s, p).all()] for s, p in reads]
    keys = [list(connection.execute(s, p).keys()) for s, p in reads]
    db.session.rollback()
    piped = []
    original = pipeline._send

    def spied(session, sent):
        piped.append(len(sent))
        return original(session, sent)

    monkeypatch.setattr(pipeline, "_send", spied)
    for block in range(4):
        piped.clear()
        with prefetch(db.session, reads):
            rows = [pipeline.column_rows(db.session, s, p) for s, p in reads]
        assert [[repr(tuple(r)) for r in read] for read in rows] == wanted, block
        assert [list(read[0]._fields) for read in rows[:2]] == keys[:2]
        if block >= 2:
            assert piped == ([] if crosses else [3]), block
    assert len(wanted[1]) == 3 and wanted[2] == []
    assert [r.id for r in rows[1]] == sorted((r.id for r in rows[1]), reverse=True)


@pytest.mark.skipif(BACKEND != "postgres", reason="one statement for a block: PostgreSQL only")
def test_one_statement_answers_in_the_sessions_time_zone_when_it_changes(
    app, maria_at_three_agencies
):
    """The loaders the one statement makes its text forms with are kept per connection
    (not made per send), yet read the session's settings as psycopg's are when made: a
    timestamp with time zone answers in the connection's ``TimeZone`` as a plain
    execution does, before and after the session changes it."""
    records = select(SourceRecord.id).where(SourceRecord.client_id == bindparam("client_id"))
    reads = [(records, {"client_id": maria_at_three_agencies}), (_typed(), {"one": 1})]
    connection = db.session.connection()
    for zone in ("UTC", "America/New_York", "Asia/Kolkata", "UTC"):
        connection.execute(text(f"SET TIME ZONE '{zone}'"))
        wanted = [[repr(tuple(r)) for r in connection.execute(s, p).all()] for s, p in reads]
        for _ in range(3):  # the third block, at least, is one statement
            with prefetch(db.session, reads):
                rows = [pipeline.column_rows(db.session, s, p) for s, p in reads]
            assert [[repr(tuple(r)) for r in read] for read in rows] == wanted, zone
        offset = connection.execute(text("SELECT now()")).scalar_one().utcoffset()
        assert rows[1][0].at.utcoffset() == offset, zone
    db.session.rollback()


@pytest.mark.skipif(BACKEND != "postgres", reason="one statement for a block: PostgreSQL only")
def test_one_statement_is_a_way_to_send_not_a_cache_and_fails_as_reads_alone(
    app, maria_at_three_agencies
):
    """A block sent as one statement reads fresh (a change committed between two blocks is
    seen by the second), and a read that fails at the server fails as it would alone,
    the session usable afterwards."""
    from sqlalchemy import Integer, literal_column

    records = select(SourceRecord.id, SourceRecord.withdrawn_at).where(
        SourceRecord.client_id == bindparam("client_id")
    )
    ratio = select(literal_column("10", Integer).label("ten") / bindparam("by", type_=Integer))
    reads = [(records, {"client_id": maria_at_three_agencies}), (ratio, {"by": 5})]
    for _ in range(3):  # learn plans and shapes; the third block is one statement
        with prefetch(db.session, reads):
            before = pipeline.column_rows(db.session, *reads[0])
            assert pipeline.column_rows(db.session, *reads[1])[0][0] == 2
    assert all(r.withdrawn_at is None for r in before)
    db.session.execute(text("UPDATE source_records SET withdrawn_at = CURRENT_TIMESTAMP"))
    db.session.commit()
    with prefetch(db.session, reads):
        after = pipeline.column_rows(db.session, *reads[0])
    assert after and all(r.withdrawn_at is not None for r in after)
    failing = [reads[0], (ratio, {"by": 0})]
    with pytest.raises(DBAPIError), prefetch(db.session, failing):
        pipeline.column_rows(db.session, *failing[1])
    db.session.rollback()
    assert pipeline.column_rows(db.session, *reads[1])[0][0] == 2


@pytest.mark.skipif(BACKEND != "postgres", reason="one statement for a block: PostgreSQL only")
def test_a_one_statement_failure_not_the_servers_is_logged_and_the_pipeline_answers(
    app, maria_at_three_agencies, monkeypatch, caplog
):
    """A failure of the one statement that is not the server's answer (a bug here) is
    logged, not swallowed, and the block still answers, by the pipeline."""
    records = select(SourceRecord.id).where(SourceRecord.client_id == bindparam("client_id"))
    reads = [(records, {"client_id": maria_at_three_agencies}), (_typed(), {"one": 1})]
    for _ in range(2):  # learn plans and shapes
        with prefetch(db.session, reads):
            wanted = [pipeline.column_rows(db.session, s, p) for s, p in reads]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline.psycopg, "RawCursor", broken)
    with (
        caplog.at_level("WARNING", logger="caseops.storage.pipeline"),
        prefetch(db.session, reads),
    ):
        answered = [pipeline.column_rows(db.session, s, p) for s, p in reads]
    assert answered == wanted and len(wanted[0]) == 3
    assert "not sent as one statement" in caplog.text
