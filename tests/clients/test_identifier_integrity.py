"""Every stored identifier names a stored record, checked by the database itself (a
statement-level trigger on PostgreSQL, a row trigger on SQLite; migration 0010)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from caseops.clients.models import RecordIdentifier
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.storage.bulk import insert_rows
from tests import factories
from tests.fixtures.records import MARIA, put

STATEMENTS = {
    "insert": "INSERT INTO record_identifiers (record_id, kind, value) "
    "VALUES ({record}, 'block', 1), (987654, 'block', 2)",
    "update": "UPDATE record_identifiers SET record_id = 987654 WHERE record_id = {record}",
}


@pytest.fixture
def stored(client, world) -> int:
    feed = factories.token_for("hha.integration")
    assert put(client, feed, MARIA, srid="H-1").status_code == 201
    return db.session.scalar(select(SourceRecord.id))


@pytest.mark.parametrize("statement", sorted(STATEMENTS))
def test_an_identifier_of_no_record_is_refused_and_nothing_of_the_statement_stays(
    stored, database_url, statement
):
    engine = create_engine(database_url)
    count = "SELECT count(*) FROM record_identifiers WHERE record_id = :r"
    with engine.connect() as connection:
        before = connection.scalar(text(count), {"r": stored})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(STATEMENTS[statement].format(record=stored)))
    with engine.connect() as connection:
        assert connection.scalar(text(count), {"r": stored}) == before
        assert connection.scalar(text(count), {"r": 987654}) == 0
    engine.dispose()


def test_the_bulk_path_is_checked_too(stored):
    """COPY on PostgreSQL, executemany elsewhere: the same refusal."""
    rows = [(stored, "block", 11), (987654, "block", 12)]
    with pytest.raises(IntegrityError):
        insert_rows(
            db.session.connection(),
            RecordIdentifier.__table__,
            ("record_id", "kind", "value"),
            rows,
        )
    db.session.rollback()
    insert_rows(
        db.session.connection(),
        RecordIdentifier.__table__,
        ("record_id", "kind", "value"),
        rows[:1],
    )
    db.session.commit()
    assert (
        db.session.scalar(select(RecordIdentifier.kind).where(RecordIdentifier.value == 11))
        == "block"
    )
