"""Migration 0013 on a database with consents: each existing consent counts as recorded by
its recorder's agency; one whose recorder is not a known account counts for no agency."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from caseops.migrations_state import alembic_config

TS = "2026-01-01 00:00:00+00:00"


def _consent(id: str, recorded_by: str) -> dict:
    return {
        "id": id,
        "client_id": "c" * 32,
        "version": 1,
        "provision": "permit",
        "source_agencies": '["hha"]',
        "categories": '["housing"]',
        "recipients": '["cchc"]',
        "purposes": '["care_coordination"]',
        "effective_from": TS,
        "signed_at": TS,
        "grantor_kind": "self",
        "grantor_name": "Maria",
        "evidence_method": "written",
        "revocation_right_acknowledged": True,
        "recorded_by": recorded_by,
        "recorded_at": TS,
    }


def test_existing_consents_are_recorded_by_their_recorders_agency(databases):
    url = databases.empty()
    try:
        config = alembic_config(url)
        command.upgrade(config, "0012")
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO agencies (id, code, name, kind, part2_program, "
                    "ferpa_institution, created_at) VALUES "
                    "(1, 'hha', 'HHA', 'housing', false, false, :ts), "
                    "(2, 'cchc', 'CCHC', 'health', false, false, :ts)"
                ),
                {"ts": TS},
            )
            connection.execute(
                text(
                    "INSERT INTO users (id, username, agency_id, kind, active, failed_logins, "
                    "created_at) VALUES (1, 'cchc.consent', 2, 'human', true, 0, :ts)"
                ),
                {"ts": TS},
            )
            connection.execute(
                text("INSERT INTO clients (id, created_at, version) VALUES (:id, :ts, 1)"),
                {"id": "c" * 32, "ts": TS},
            )
            columns = list(_consent("x", "y"))
            insert = text(
                f"INSERT INTO consents ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            )
            connection.execute(insert, _consent("cns_known", "cchc.consent"))
            connection.execute(insert, _consent("cns_gone", "someone.left"))
        command.upgrade(config, "0013")
        with engine.connect() as connection:
            rows = dict(
                connection.execute(text("SELECT id, recorded_by_agency FROM consents")).all()
            )
        assert rows == {"cns_known": "cchc", "cns_gone": None}
        command.downgrade(config, "0012")
        engine.dispose()
    finally:
        databases.drop(url)
