"""Migration 0020 on both databases: upgrading an installation that has agencies waives
every pair (nothing that is shared today silently stops), a new installation waives none,
standing trust rules become agreements with one trust clause, and every agreement table is
append-only in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from caseops.migrations_state import alembic_config

WAIVERS = (
    "SELECT v0, v1, v2, v3, v4 FROM casbin_rule WHERE ptype = 'p' "
    "AND v2 LIKE 'agreement_waiver:%' ORDER BY v0, v2"
)
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _agency(connection, id_: int, code: str) -> None:
    connection.execute(
        text(
            "INSERT INTO agencies (id, code, name, kind, part2_program, ferpa_institution, "
            "created_at) VALUES (:id, :code, :code, 'other', :no, :no, :now)"
        ),
        {"id": id_, "code": code, "no": False, "now": T0},
    )


@pytest.fixture
def at_0019(databases):
    url = databases.empty()
    engine = create_engine(url)
    command.upgrade(alembic_config(url), "0019")
    yield url, engine
    engine.dispose()
    databases.drop(url)


def _version(connection) -> int:
    return connection.execute(text("SELECT version FROM policy_version")).scalar()


def test_upgrading_an_installation_with_agencies_waives_every_pair(at_0019):
    url, engine = at_0019
    with engine.begin() as connection:
        for i, code in enumerate(("hha", "cchc", "rrp"), start=1):
            _agency(connection, i, code)
        before = _version(connection)
    command.upgrade(alembic_config(url), "0020")
    with engine.connect() as connection:
        waivers = [tuple(row) for row in connection.execute(text(WAIVERS))]
        assert _version(connection) > before  # running workers reload
    assert waivers == [
        ("agency:cchc", "*", "agreement_waiver:hha", "waive", "allow"),
        ("agency:cchc", "*", "agreement_waiver:rrp", "waive", "allow"),
        ("agency:hha", "*", "agreement_waiver:rrp", "waive", "allow"),
    ]
    command.downgrade(alembic_config(url), "0019")
    with engine.connect() as connection:
        assert list(connection.execute(text(WAIVERS))) == []


def test_a_new_installation_requires_agreements(databases):
    url = databases.empty()
    engine = create_engine(url)
    try:
        command.upgrade(alembic_config(url), "head")
        with engine.connect() as connection:
            assert list(connection.execute(text(WAIVERS))) == []
    finally:
        engine.dispose()
        databases.drop(url)


def test_standing_trust_rules_become_agreements_with_a_trust_clause(at_0019):
    url, engine = at_0019
    ended = T0 + timedelta(days=3)
    with engine.begin() as connection:
        for i, code in enumerate(("hha", "cchc", "usd"), start=1):
            _agency(connection, i, code)
        for rule_id, agency, partner in ((1, "hha", "cchc"), (2, "usd", "cchc")):
            connection.execute(
                text(
                    "INSERT INTO consent_trust_rules (id, agency_code, partner_code, categories, "
                    "created_by, created_at) VALUES (:id, :agency, :partner, :categories, "
                    "'hha.agency_admin', :now)"
                ),
                {
                    "id": rule_id,
                    "agency": agency,
                    "partner": partner,
                    "categories": json.dumps(["housing", "education"]),
                    "now": T0,
                },
            )
        connection.execute(
            text(
                "INSERT INTO consent_trust_rule_ends (rule_id, ended_by, ended_at) "
                "VALUES (2, 'usd.agency_admin', :at)"
            ),
            {"at": ended},
        )
    command.upgrade(alembic_config(url), "0020")
    with engine.connect() as connection:
        agreements = {
            row.id: row
            for row in connection.execute(text("SELECT id, note, ends_on FROM agreements"))
        }
        assert agreements["agr_rule1"].note == "converted from standing rule 1"
        assert agreements["agr_rule1"].ends_on is None
        parties = set(
            map(
                tuple,
                connection.execute(text("SELECT agreement_id, agency_code FROM agreement_parties")),
            )
        )
        assert {("agr_rule1", "hha"), ("agr_rule1", "cchc")} <= parties
        clause = connection.execute(
            text(
                "SELECT kind, agency_code, partner_code, categories FROM agreement_clauses "
                "WHERE agreement_id = 'agr_rule1'"
            )
        ).one()
        categories = clause.categories
        if isinstance(categories, str):
            categories = json.loads(categories)
        assert (clause.kind, clause.agency_code, clause.partner_code) == ("trust", "hha", "cchc")
        assert sorted(categories) == ["education", "housing"]
        accepted = connection.execute(
            text("SELECT count(*) FROM agreement_acceptances WHERE agreement_id = 'agr_rule1'")
        ).scalar()
        assert accepted == 2
        terminated = (
            connection.execute(text("SELECT agreement_id FROM agreement_terminations"))
            .scalars()
            .all()
        )
        assert terminated == ["agr_rule2"]


def test_the_agreement_tables_are_append_only(at_0019):
    url, engine = at_0019
    with engine.begin() as connection:
        _agency(connection, 1, "hha")
        _agency(connection, 2, "cchc")
        connection.execute(
            text(
                "INSERT INTO consent_trust_rules (id, agency_code, partner_code, categories, "
                "created_by, created_at) VALUES (1, 'hha', 'cchc', '[\"housing\"]', 'a', :now)"
            ),
            {"now": T0},
        )
    command.upgrade(alembic_config(url), "0020")
    statements = [
        "UPDATE agreements SET title = 'x'",
        "DELETE FROM agreements",
        "UPDATE agreement_parties SET agency_code = 'x'",
        "DELETE FROM agreement_clauses",
        "UPDATE agreement_acceptances SET accepted_by = 'x'",
        "DELETE FROM agreement_acceptances",
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agreement_terminations (agreement_id, terminated_by, terminated_at, "
                "reason) VALUES ('agr_rule1', 'a', :now, 'ended')"
            ),
            {"now": T0},
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM agreement_terminations"))
