"""Writers placing the same person at the same time make one client, not two: the
second waits for the first to commit and links to it, whichever path each took (a PUT,
a bulk load); writers of different people do not wait for each other (PostgreSQL)."""

from __future__ import annotations

import contextvars
import itertools
import threading

import pytest
from sqlalchemy import select

from caseops.clients.models import LinkageClock, LinkEvent
from caseops.extensions import db
from caseops.matching import claims
from caseops.records import pipeline, service, writes
from caseops.records.importers import integration_actor
from caseops.records.models import SourceRecord
from tests.fixtures.bulk import ndjson, people
from tests.fixtures.records import MARIA

FIRST = contextvars.ContextVar("first_writer", default=False)  # reaches bulk's writer thread


class HeldWrite:
    """Holds the first writer's transaction open after its records are written (not
    committed) until released."""

    def __init__(self, monkeypatch) -> None:
        self.written = threading.Event()
        self.release = threading.Event()
        original = writes.apply

        def apply(actor, chunk):
            results = original(actor, chunk)
            if FIRST.get():
                self.written.set()
                assert self.release.wait(30)
            return results

        monkeypatch.setattr(writes, "apply", apply)


def _write(app, how: str, agency: str, srid: str, body: dict, first: bool) -> None:
    FIRST.set(first)
    with app.app_context():
        actor = integration_actor(agency)
        if how == "put":
            service.upsert(actor, agency, srid, body)
        else:
            report = service.bulk(actor, agency, ndjson([body | {"source_record_id": srid}]))
            assert report.counts == {"created": 1}, report.lines
        db.session.remove()


class Writer(threading.Thread):
    def __init__(self, app, how, agency, srid, body, *, first=False) -> None:
        super().__init__(daemon=True)
        self.args_ = (app, how, agency, srid, body, first)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            contextvars.Context().run(_write, *self.args_)
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.fixture
def distinct_shards(monkeypatch) -> None:
    """Every PUT ticks a shard of its own: two on one shard would queue on its row, and
    whether their blocking keys order them would go untested."""
    shards = itertools.count(1)
    monkeypatch.setattr(claims, "_shard", lambda: next(shards))


def _clients_of(*srids: str) -> set[str]:
    db.session.expire_all()
    return set(
        db.session.scalars(
            select(SourceRecord.client_id).where(SourceRecord.source_record_id.in_(srids))
        )
    )


@pytest.mark.parametrize("second", ["put", "bulk"])
@pytest.mark.parametrize("first", ["put", "bulk"])
def test_the_same_person_written_twice_at_once_is_one_client(
    world, app, monkeypatch, distinct_shards, first, second
):
    held = HeldWrite(monkeypatch)
    one = Writer(app, first, "hha", "H-1", MARIA, first=True)
    one.start()
    assert held.written.wait(30), one.error
    two = Writer(app, second, "cchc", "C-1", MARIA)
    two.start()
    two.join(timeout=1.0)  # without the claim it reads, decides and writes meanwhile
    held.release.set()
    one.join(30)
    two.join(30)
    assert one.error is None and two.error is None, (one.error, two.error)
    assert len(_clients_of("H-1", "C-1")) == 1
    c1 = db.session.scalar(select(SourceRecord.id).where(SourceRecord.source_record_id == "C-1"))
    actions = db.session.scalars(select(LinkEvent.action).where(LinkEvent.record_id == c1)).all()
    assert actions == ["auto_link"]


def test_puts_of_different_people_do_not_wait_for_each_other(
    world, app, monkeypatch, distinct_shards
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    held = HeldWrite(monkeypatch)
    [maria, other] = [MARIA, people(1)[0]]
    one = Writer(app, "put", "hha", "H-1", maria, first=True)
    one.start()
    assert held.written.wait(30), one.error
    two = Writer(app, "put", "cchc", "C-2", other)
    two.start()
    two.join(timeout=20)
    finished_while_held = not two.is_alive()
    held.release.set()
    one.join(30)
    two.join(30)
    assert finished_while_held and two.error is None and one.error is None
    assert len(_clients_of("H-1", "C-2")) == 2


def test_a_bulk_plan_read_before_another_agency_wrote_the_person_is_made_again(
    world, app, monkeypatch
):
    """The bulk chunk was planned (Maria: a new client) before cchc's PUT of her
    committed; its write finds the linkage clock moved and links her instead."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("bulk plans ahead of its write on PostgreSQL only")
    original = pipeline._apply_planned
    raced = []

    def apply_planned(actor, chunk, lines):
        if not raced:
            raced.append(chunk.clock)
            put = Writer(app, "put", "cchc", "C-1", MARIA)
            put.start()
            put.join(30)
            assert put.error is None
        return original(actor, chunk, lines)

    monkeypatch.setattr(pipeline, "_apply_planned", apply_planned)
    lines = ndjson([MARIA | {"source_record_id": "H-1"}])
    report = service.bulk(integration_actor("hha"), "hha", lines)
    assert raced and report.counts == {"created": 1}
    assert len(_clients_of("H-1", "C-1")) == 1


def test_the_clock_table_has_the_shards_the_claims_tick(world):
    shards = db.session.scalars(select(LinkageClock.shard).order_by(LinkageClock.shard)).all()
    assert shards == list(range(claims.SHARDS))


def test_every_committed_claim_moves_the_clock(world):
    before = claims.clock()
    service.upsert(integration_actor("hha"), "hha", "H-1", MARIA)
    service.bulk(integration_actor("hha"), "hha", ndjson(people(2)))
    db.session.rollback()
    assert claims.clock() >= before + 2
    replayed = claims.clock()
    service.upsert(integration_actor("hha"), "hha", "H-1", MARIA)  # a replay: not committed
    db.session.rollback()
    assert claims.clock() == replayed
