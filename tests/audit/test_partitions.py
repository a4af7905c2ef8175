"""The access log partitioned by month (migration 0025): nothing a user relies on changes
across a partition boundary, and the guarantees hold on every partition.

The cross-boundary test runs on both databases: on SQLite (one table) it is the answer
without partitioning, on PostgreSQL the same assertions hold with the entries of each
month in their own partition. The rest is PostgreSQL's (SQLite keeps one table).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from caseops.audit.keys import log_key
from caseops.audit.partitions import ensure_partitions, list_partitions
from caseops.audit.seal import PeriodicSealer, seal_once
from caseops.audit.service import record
from caseops.audit.statement import statement_for_client
from caseops.audit.trail import public_key
from caseops.audit.verify import verify
from caseops.authz.actor import Actor
from caseops.extensions import db
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.independent_statement import (
    check_statement,
    leaf_bytes_from_export_line,
    leaf_hash,
)
from tests.fixtures.merkle import ref_verify_inclusion
from tests.fixtures.records import bearer

postgres_only = pytest.mark.skipif(BACKEND != "postgres", reason="SQLite keeps one table")

WORKER = Actor(username="hha.case_worker", agency="hha", roles=frozenset({"case_worker"}))


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def partition_name(moment: datetime) -> str:
    return f"access_log.access_events_{moment:%Y_%m}"


class Clock:
    """The log writer's clock, 1 ms further at each entry: puts entries in a chosen month
    (everything else, consents and tokens included, keeps the real time)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("caseops.audit.service.utcnow", clock)
    return clock


@pytest.fixture
def boundary() -> datetime:
    """The first instant of next month (UTC): the upgrade made partitions through three
    months ahead, so both sides have their own partition."""
    return month_start(next_month(datetime.now(UTC).date()))


def officer() -> dict[str, str]:
    return bearer(factories.token_for("hha.privacy_officer"))


def seal() -> int:
    return seal_once(db.engine, log_key()).tree_size


def trail(client, **query) -> list[dict]:
    """Every entry of a search, page by page (3 a page, so pages straddle the boundary)."""
    items, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/audit/events",
            query_string=query | {"limit": 3} | ({"cursor": cursor} if cursor else {}),
            headers=officer(),
        ).get_json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


@pytest.fixture
def history(client, maria, clock, boundary):
    """Disclosures of Maria's record either side of a month boundary, sealed twice:
    month A, cchc reads hha housing under consent, hha reads its own; month B (its first
    entry at the boundary's very first millisecond), cchc reads again, hha.supervisor
    breaks the glass and reads cchc health."""
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    clock.at = boundary - timedelta(minutes=1)
    join_care_team(client, "cchc.case_worker", maria)
    source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    join_care_team(client, "hha.case_worker", maria)
    assert view(client, "hha.case_worker", maria).status_code == 200
    assert clock.at < boundary
    first_size = seal()
    clock.at = boundary - timedelta(milliseconds=1)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    break_glass(client, "hha.supervisor", maria)
    assert view(client, "hha.supervisor", maria).status_code == 200
    size = seal()
    assert size > first_size
    last = factories.events()[-1].seq
    return {"client_id": maria, "first_size": first_size, "size": size, "last": last}


def test_sealing_verify_proofs_search_and_disclosures_across_a_month_boundary(
    client, history, boundary
):
    maria = history["client_id"]
    entries = [e for e in factories.events() if e.seq <= history["last"]]
    before = [e.seq for e in entries if e.occurred_at < boundary]
    after = [e.seq for e in entries if e.occurred_at >= boundary]
    assert before and after and max(before) < min(after)
    assert min(e.occurred_at for e in entries if e.seq in after) == boundary
    if BACKEND == "postgres":
        with db.engine.connect() as conn:
            where = dict(
                conn.execute(text("SELECT seq, tableoid::regclass::text FROM access_events")).all()
            )
        assert {where[seq] for seq in after} == {partition_name(boundary)}
        assert where[before[-1]] == partition_name(boundary - timedelta(days=1))

    # Verify recomputes every leaf, both months, against every checkpoint.
    key = log_key()
    report = verify(db.engine, key.public_key, key.origin)
    assert report.ok and report.tree_size == history["size"] == len(entries)

    # An inclusion proof on each side, checked with the reference code against the
    # signed root, from the exported leaf bytes.
    lines = (
        client.get(f"/api/v1/audit/export?tree_size={history['size']}", headers=officer())
        .get_data()
        .split(b"\n")[:-1]
    )
    by_seq = {json.loads(line)["seq"]: line for line in lines}
    for seq in (before[-1], after[0]):
        proof = client.get(f"/api/v1/audit/events/{seq}/proof", headers=officer()).get_json()
        root = base64.b64decode(proof["checkpoint"].split("\n")[2])
        assert ref_verify_inclusion(
            leaf_hash(leaf_bytes_from_export_line(by_seq[seq])),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            root,
        )

    # "All access to client X": newest first, every entry once, across the boundary.
    expected = sorted((e.seq for e in entries if e.client_id == maria), reverse=True)
    found = [e["seq"] for e in trail(client, client_id=maria) if e["seq"] <= history["last"]]
    assert found == expected
    assert set(found) & set(before) and set(found) & set(after)
    since = [e["seq"] for e in trail(client, client_id=maria, since=boundary.isoformat())]
    assert [s for s in since if s <= history["last"]] == [s for s in expected if s in after]
    until = [e["seq"] for e in trail(client, client_id=maria, until=boundary.isoformat())]
    assert until == [s for s in expected if s in before]

    # The accounting of disclosures: oldest first, both months; a range on one side.
    path = f"/api/v1/clients/{maria}/disclosures"
    items = client.get(path, headers=officer()).get_json()["items"]
    assert [(i["recipient_agency"], i["seq"] in after) for i in items] == [
        ("cchc", False),
        ("cchc", True),
        ("hha", True),
    ]
    late = client.get(path, query_string={"since": boundary.isoformat()}, headers=officer())
    assert [i["seq"] for i in late.get_json()["items"]] == [i["seq"] for i in items[1:]]
    early = client.get(path, query_string={"until": boundary.isoformat()}, headers=officer())
    assert [i["seq"] for i in early.get_json()["items"]] == [items[0]["seq"]]

    # The client's access statement proves the disclosures of both months.
    statement = statement_for_client(maria, names=False)
    proven = [e["seq"] for e in statement["entries"] if e["proof_status"] == "proven"]
    assert set(proven) & set(before) and set(proven) & set(after)
    assert check_statement(statement, public_key()["public_key_pem"]) == len(proven)


# --- PostgreSQL: the partitions themselves ----------------------------------------------


@pytest.fixture
def two_months(app, clock, boundary) -> list[int]:
    """One entry on each side of the boundary."""
    clock.at = boundary - timedelta(milliseconds=2)
    first = record("client.view", actor=WORKER, client_id="c1").seq
    second = record("client.view", actor=WORKER, client_id="c1").seq
    return [first, second]


@postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET actor = 'someone-else'",
        "DELETE FROM {table}",
        "TRUNCATE {table}",
        "UPDATE {table} SET leaf_salt = NULL",
    ],
)
@pytest.mark.parametrize("where", ["parent", "before", "after", "default"])
def test_every_partition_is_append_only(two_months, database_url, boundary, statement, where):
    """Reached directly, by the owner, a partition refuses like the parent: the row
    trigger is cloned onto each, TRUNCATE has its own on each."""
    table = {
        "parent": "access_events",
        "before": partition_name(boundary - timedelta(days=1)),
        "after": partition_name(boundary),
        "default": "access_log.access_events_default",
    }[where]
    engine = create_engine(database_url)
    try:
        if where == "default":  # an entry no month partition covers
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO access_events (occurred_at, actor, actor_roles, action, "
                        "outcome, request_id, channel, detail) VALUES ('2001-01-01+00', 'x', "
                        "'[]', 'client.view', 'success', 'r', 'internal', '{}')"
                    )
                )
        before = _rows(engine)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))
            conn.execute(text(statement.format(table=table)))
        assert _rows(engine) == before
    finally:
        engine.dispose()


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM access_events ORDER BY seq"))]


@postgres_only
def test_ensure_creates_months_ahead_once(app):
    today = datetime.now(UTC).date()
    months = [today.replace(day=1)]
    for _ in range(6):
        months.append(next_month(months[-1]))
    result = app.test_cli_runner().invoke(args=["audit", "partitions", "ensure", "--ahead", "6"])
    assert result.exit_code == 0, result.output
    # The upgrade made this month and three ahead; ensure adds the other three.
    assert result.output.splitlines() == [
        f"{m:%Y-%m} {'exists' if i <= 3 else 'created'}" for i, m in enumerate(months)
    ]
    assert {s.status for s in ensure_partitions(db.engine, 6)} == {"exists"}
    with db.engine.connect() as conn:
        names = [p.name for p in list_partitions(conn)]
    assert names[-1] == "access_log.access_events_default"
    assert {f"access_log.access_events_{m:%Y_%m}" for m in months} <= set(names)
    listed = app.test_cli_runner().invoke(args=["audit", "partitions", "list"])
    assert f"access_log.access_events_{months[6]:%Y_%m} FOR VALUES FROM" in listed.output


@postgres_only
def test_a_month_whose_entries_sit_in_the_default_partition_is_refused_then_repaired(
    app, clock, boundary, database_url
):
    """Written before its partition existed, an entry goes to the DEFAULT partition (the
    write does not fail); ensure then refuses that month by name, creates the others,
    and the entry seals and verifies like any other. The owner's repair moves it (and an
    entry of a long-past month) into partitions of their own, and it still verifies."""
    far = month_start(next_month(next_month(next_month(next_month(boundary.date())))))
    clock.at = far + timedelta(days=3)
    seq = record("client.view", actor=WORKER, client_id="c9").seq
    clock.at = datetime(2001, 1, 15, tzinfo=UTC)
    old = record("client.view", actor=WORKER, client_id="c9").seq
    assert where_is(seq) == where_is(old) == "access_log.access_events_default"
    result = app.test_cli_runner().invoke(args=["audit", "partitions", "ensure", "--ahead", "6"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[4:7] == [
        f"{far - timedelta(days=1):%Y-%m} created",
        f"{far:%Y-%m} blocked",
        f"{next_month(far.date()):%Y-%m} created",
    ]
    assert f"not created: {far:%Y-%m}: the DEFAULT partition already holds" in result.output
    key = log_key()
    assert seal_once(db.engine, key).sealed >= 1
    assert verify(db.engine, key.public_key, key.origin).ok
    with db.engine.connect() as conn:
        leaf = text("SELECT leaf_index FROM audit_leaves WHERE event_seq = :s")
        assert conn.scalar(leaf, {"s": seq}) is not None
    log = _rows(db.engine)

    repaired = app.test_cli_runner().invoke(args=["audit", "partitions", "repair"])
    assert repaired.exit_code == 0, repaired.output
    assert repaired.output.splitlines() == [
        "2001-01 created",
        f"{far:%Y-%m} created",
        "moved 2 entries out of the DEFAULT partition",
    ]
    assert where_is(seq) == partition_name(far)
    assert where_is(old) == "access_log.access_events_2001_01"
    assert _rows(db.engine) == log
    assert verify(db.engine, key.public_key, key.origin).ok
    again = app.test_cli_runner().invoke(args=["audit", "partitions", "ensure", "--ahead", "6"])
    assert again.exit_code == 0 and "blocked" not in again.output
    # The new DEFAULT partition and the new month are guarded like the others.
    for statement in (
        "TRUNCATE access_log.access_events_default",
        "DELETE FROM access_log.access_events_2001_01",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))
            conn.execute(text(statement))


def where_is(seq: int) -> str:
    with db.engine.connect() as conn:
        return conn.scalar(
            text("SELECT tableoid::regclass::text FROM access_events WHERE seq = :s"), {"s": seq}
        )


@postgres_only
def test_the_sealer_and_the_seal_command_keep_three_months_ahead(app):
    """A missing month partition within three months is made again by the periodic
    sealer (then not looked at again within the hour) and by ``caseops audit seal``."""
    ahead = next_month(next_month(next_month(datetime.now(UTC).date())))
    name = f"access_log.access_events_{ahead:%Y_%m}"

    def drop_it() -> None:  # empty, so nothing of the log is lost
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {name}"))

    def exists() -> bool:
        with db.engine.connect() as conn:
            return conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None

    drop_it()
    record("client.view", actor=WORKER, client_id="c1")
    sealer = PeriodicSealer(app, 10)
    assert sealer.tick().sealed == 1
    assert exists()
    drop_it()
    sealer.tick()
    assert not exists()  # checked within the hour already
    result = app.test_cli_runner().invoke(args=["audit", "seal"])
    assert result.exit_code == 0, result.output
    assert exists()


@postgres_only
def test_the_database_function_refuses_an_unreasonable_horizon(app):
    with pytest.raises(DBAPIError, match="between 0 and 24"), db.engine.begin() as conn:
        conn.execute(text("SELECT * FROM caseops_access_log_ensure_partitions(25)"))
    with pytest.raises(ValueError, match="between 0 and 24"):
        ensure_partitions(db.engine, 25)


@pytest.fixture
def app_role(app, databases, database_url) -> Iterator[str]:
    role = f"caseops_app_t_{uuid.uuid4().hex[:10]}"
    with databases.admin_engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'"))
    yield role
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
    finally:
        engine.dispose()
    with databases.admin_engine.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


PASSWORD = uuid.uuid4().hex


@postgres_only
def test_the_app_role_keeps_partitions_ahead_but_cannot_reach_a_partition(
    app, app_role, database_url, boundary
):
    """The sealer runs as the application's role: it may create the month partitions
    (a SECURITY DEFINER function) and write through ``access_events``, but a partition
    itself is out of its reach."""
    granted = app.test_cli_runner().invoke(args=["db", "grant-app-role", app_role])
    assert granted.exit_code == 0, granted.output
    url = make_url(database_url).set(username=app_role, password=PASSWORD)
    engine = create_engine(url)
    try:
        statuses = ensure_partitions(engine, 7)
        assert [s.status for s in statuses] == ["exists"] * 4 + ["created"] * 4
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO access_events (occurred_at, actor, actor_roles, action, "
                    "outcome, request_id, channel, detail) VALUES (:at, 'x', '[]', "
                    "'client.view', 'success', 'r', 'internal', '{}')"
                ),
                {"at": boundary},
            )
        for statement in ("SELECT 1 FROM {t}", "DELETE FROM {t}", "TRUNCATE {t}"):
            with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
                conn.execute(text(statement.format(t=partition_name(boundary))))
        with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
            conn.execute(text("SELECT caseops_access_log_partition('2031-01-01')"))
    finally:
        engine.dispose()
