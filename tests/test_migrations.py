"""The schema exists only through Alembic, and the migrations agree with the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

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
