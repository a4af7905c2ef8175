"""The schema exists only through Alembic, and the migrations agree with the models."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, date, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from caseops.matching.engine.pseudonym import birth_date_key, pseudonym
from caseops.migrations_state import alembic_config
from caseops.models import metadata


def test_exactly_one_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_upgrade_head_on_an_empty_database_creates_every_table(databases):
    url = databases.empty()
    try:
        command.upgrade(alembic_config(url), "head")
        engine = create_engine(url)
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
        engine.dispose()
        assert set(metadata.tables) <= tables
    finally:
        databases.drop(url)


def test_downgrade_to_base_and_upgrade_again(databases):
    url = databases.migrated()
    try:
        config = alembic_config(url)
        command.downgrade(config, "base")
        engine = create_engine(url)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        command.upgrade(config, "head")
        engine = create_engine(url)
        with engine.connect() as connection:
            assert set(metadata.tables) <= set(inspect(connection).get_table_names())
        engine.dispose()
    finally:
        databases.drop(url)


def test_models_and_migrations_agree(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def _one_record(connection) -> None:
    """Agency ``hha`` (id 1), client ``c1`` and its record 7 (``H-1``), in the columns every
    revision since 0008 has (later ones default), for a migration that meets stored data."""
    now = datetime.now(UTC)
    connection.execute(
        text(
            "INSERT INTO agencies (id, code, name, kind, part2_program, "
            "ferpa_institution, created_at) VALUES (1, 'hha', 'H', 'housing', "
            ":no, :no, :now)"
        ),
        {"no": False, "now": now},
    )
    connection.execute(
        text("INSERT INTO clients (id, created_at, version) VALUES ('c1', :now, 1)"),
        {"now": now},
    )
    connection.execute(
        text(
            "INSERT INTO source_records (id, agency_id, source_record_id, client_id, "
            "category, source_version, person_encrypted, data_encrypted, body_digest, "
            "created_at, updated_at) VALUES (7, 1, 'H-1', 'c1', 'housing', 1, 'p', "
            "'d', 'x', :now, :now)"
        ),
        {"now": now},
    )


def test_0009_converts_stored_pseudonyms_so_existing_records_go_on_matching(databases):
    """Identifiers stored as 128-bit hex before 0009 come out as the 64-bit pseudonyms
    the code now computes for the same input; the kinds nothing reads are dropped."""
    key = b"migration-test-key"

    def old_pseudonym(field: str, value: str) -> str:
        message = field.encode() + b"\x00" + value.encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

    stored = [
        ("block", "block:dob+name", "1980-03-05|MAR"),
        ("block", "block:ssn", "536221234"),
        ("name", "name", "maria"),
        ("nf_given", "nf_given", "maria"),
        ("nf_part", "nf_part", "lopez"),
        ("birth_date", "birth_date", "1980-05-03"),
        ("ssn", "ssn", "536221234"),
        ("phone", "phone", "5105550123"),
        ("email", "email", "maria@example.org"),
    ]
    url = databases.empty()
    engine = create_engine(url)
    try:
        config = alembic_config(url)
        command.upgrade(config, "0008")
        with engine.begin() as connection:
            _one_record(connection)
            connection.execute(
                text(
                    "INSERT INTO record_identifiers (record_id, kind, value) "
                    "VALUES (7, :kind, :value)"
                ),
                [{"kind": kind, "value": old_pseudonym(f, v)} for kind, f, v in stored],
            )
        command.upgrade(config, "0009")
        with engine.connect() as connection:
            rows = set(
                connection.execute(text("SELECT record_id, kind, value FROM record_identifiers"))
            )
        assert rows == {(7, kind, pseudonym(key, f, v)) for kind, f, v in stored[:6]}
        assert (7, "birth_date", birth_date_key(key, date(1980, 5, 3))) in rows
        command.downgrade(config, "0008")
        command.upgrade(config, "head")
    finally:
        engine.dispose()
        databases.drop(url)


def test_0025_partitions_an_existing_log_keeping_every_entry_and_its_seal(databases):
    """Upgrading from 0024 keeps every entry (seq and contents), its leaf (verify passes
    against the checkpoint signed before the upgrade) and the sequence's next value; on
    PostgreSQL each entry lands in its month's partition, from the oldest entry's month.
    The downgrade gives the same log back in one table."""
    from caseops.audit.keys import log_key
    from caseops.audit.seal import seal_once
    from caseops.audit.verify import verify

    key = log_key({"CASEOPS_AUDIT_SIGNING_KEY": os.environ["CASEOPS_AUDIT_SIGNING_KEY"]})
    now = datetime.now(UTC)
    months_ago = [now - timedelta(days=days) for days in (65, 33, 0)]
    insert = text(
        "INSERT INTO access_events (occurred_at, actor, actor_roles, action, outcome, "
        "request_id, channel, detail, client_id, leaf_salt) VALUES (:at, 'ana', '[\"x\"]', "
        "'client.view', 'success', 'r', 'http', '{\"n\": 1}', 'c1', :salt)"
    )
    url = databases.empty()
    engine = create_engine(url)
    try:
        config = alembic_config(url)
        command.upgrade(config, "0024")
        with engine.begin() as connection:
            for i, at in enumerate(months_ago):
                connection.execute(insert, {"at": at, "salt": bytes([i]) * 32 if i else None})
        assert seal_once(engine, key).tree_size == 3

        def log() -> list[tuple]:
            with engine.connect() as connection:
                return list(connection.execute(text("SELECT * FROM access_events ORDER BY seq")))

        before = log()
        command.upgrade(config, "0025")
        assert log() == before
        assert verify(engine, key.public_key, key.origin).ok
        with engine.begin() as connection:
            connection.execute(insert, {"at": now, "salt": None})
        assert [row.seq for row in log()] == [1, 2, 3, 4]
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                where = connection.execute(
                    text("SELECT tableoid::regclass::text FROM access_events ORDER BY seq")
                ).scalars()
                assert list(where) == [
                    f"access_log.access_events_{at:%Y_%m}" for at in [*months_ago, now]
                ]
        after = log()
        command.downgrade(config, "0024")
        assert log() == after
        with engine.begin() as connection:
            connection.execute(insert, {"at": now, "salt": None})
        assert log()[-1].seq == 5
        assert verify(engine, key.public_key, key.origin).ok
        command.upgrade(config, "head")
    finally:
        engine.dispose()
        databases.drop(url)


def test_0026_counts_an_empty_index_as_indexed_and_leaves_a_filled_one_to_reindex(databases):
    """Search may read the ``name_birth`` identifiers only once every record has them: a
    fresh installation has them from its first record; one with records gets them from
    ``caseops link reindex`` (tests/clients/test_search.py), so 0026 must not claim them."""
    schemes = text("SELECT version FROM identifier_schemes")
    url = databases.empty()
    engine = create_engine(url)
    try:
        config = alembic_config(url)
        command.upgrade(config, "0026")
        with engine.connect() as connection:
            assert list(connection.execute(schemes).scalars()) == [2]
        command.downgrade(config, "0025")
        with engine.begin() as connection:
            _one_record(connection)
        command.upgrade(config, "0026")
        with engine.connect() as connection:
            assert list(connection.execute(schemes).scalars()) == []
    finally:
        engine.dispose()
        databases.drop(url)
