"""Client search: minimal demographics, nothing about who holds what, every search logged."""

from __future__ import annotations

import copy

import pytest

from tests import factories
from tests.fixtures.records import MARIA, bearer, put


@pytest.fixture
def data(world):
    factories.make_user("rrp.integration", "rrp", ["integration"])
    factories.make_user("rrp.case_worker", "rrp", ["case_worker"])
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc", "rrp")}
    put(client_of_app(), feeds["hha"], MARIA, srid="H-1")
    secret = {
        "category": "substance_use",
        "person": {"given_name": "Rafael", "family_name": "Quintero", "birth_date": "1977-09-09"},
        "data": {"program": "outpatient"},
        "source_version": 1,
    }
    put(client_of_app(), feeds["rrp"], secret, agency="rrp", srid="R-1")
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {}}
    health["person"]["family_name"] = "Lopez-Garcia"
    put(client_of_app(), feeds["cchc"], health, agency="cchc", srid="C-1")
    return feeds


def client_of_app():
    from flask import current_app

    return current_app.test_client()


def search(client, username, **params):
    token = factories.token_for(username)
    return client.get("/api/v1/clients", query_string=params, headers=bearer(token))


def test_search_by_name_returns_minimal_demographics_only(client, data):
    response = search(client, "hha.case_worker", q="maria lopez")
    assert response.status_code == 200
    [hit] = response.get_json()
    assert set(hit) == {"client_id", "name", "birth_date"}
    assert hit["birth_date"] == "1984-03-12"
    text = response.get_data(as_text=True).lower()
    for leak in ("hha", "cchc", "housing", "health", "agency", "category", "count", "total"):
        assert leak not in text, leak


def test_search_by_birth_date_and_by_nickname_parts(client, data):
    assert len(search(client, "cchc.case_worker", birth_date="1984-03-12").get_json()) == 1
    assert len(search(client, "cchc.case_worker", q="garcia").get_json()) == 1
    assert search(client, "cchc.case_worker", q="maria", birth_date="1990-01-01").get_json() == []


def test_part2_records_are_invisible_to_other_agencies_searches(client, data):
    assert search(client, "hha.case_worker", q="quintero").get_json() == []
    assert search(client, "hha.supervisor", birth_date="1977-09-09").get_json() == []
    own = search(client, "rrp.case_worker", q="rafael quintero").get_json()
    assert [h["name"] for h in own] == ["Rafael Quintero"]


def test_a_search_that_finds_nothing_looks_like_any_other_empty_search(client, data):
    hidden = search(client, "hha.case_worker", q="quintero")
    absent = search(client, "hha.case_worker", q="nonexistentname")
    assert hidden.get_data() == absent.get_data()


def test_every_search_is_logged_with_its_results(client, data):
    hit = search(client, "hha.case_worker", q="maria").get_json()
    [event] = factories.events("client.search")
    assert event.actor == "hha.case_worker"
    assert event.detail == {"criteria": ["name"], "result_client_ids": [hit[0]["client_id"]]}


def test_search_needs_a_criterion(client, data):
    response = search(client, "hha.case_worker")
    assert response.status_code == 422
    assert "q" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("role", ["system_admin", "agency_admin", "integration", "data_steward"])
def test_roles_without_a_need_cannot_search(client, data, role):
    assert search(client, f"hha.{role}", q="maria").status_code == 403


@pytest.mark.parametrize(
    ("username", "q", "birth_date"),
    [
        ("cchc.case_worker", "maria", "1984-03-12"),
        ("cchc.case_worker", "maria lopez", "1984-03-12"),
        ("cchc.case_worker", "garcia", "1984-03-12"),
        ("cchc.case_worker", "maria quintero", "1984-03-12"),
        ("cchc.case_worker", "rafael", "1977-09-09"),
        ("rrp.case_worker", "rafael quintero", "1977-09-09"),
        ("hha.case_worker", "quintero", "1977-09-09"),
        ("hha.case_worker", "maria", "1977-09-09"),
    ],
)
def test_name_and_birth_date_find_what_both_find_alone(client, data, username, q, birth_date):
    """A search by name and birth date starts from the birth date's records and probes the
    names (issue 20); what it finds is exactly the clients the name search and the birth
    date search both find, with or without a hidden Part 2 record among them."""
    both = search(client, username, q=q, birth_date=birth_date).get_json()
    by_name = {h["client_id"] for h in search(client, username, q=q).get_json()}
    by_birth = {h["client_id"] for h in search(client, username, birth_date=birth_date).get_json()}
    assert {h["client_id"] for h in both} == by_name & by_birth
    assert all(h["birth_date"] == birth_date for h in both)


def _forget_schemes() -> None:
    """What a process knows of identifier schemes (kept once true: see store.indexed_under)."""
    from flask import current_app

    current_app.extensions.pop("caseops.identifier_schemes", None)


def test_name_and_birth_date_read_their_own_short_list_once_every_record_has_it(client, data):
    """Once every record is indexed under scheme 2 (a fresh index is), a search by name and
    birth date reads the name-with-birth-date identifiers (issue 20): without them nothing
    is found. An installation whose records predate them finds the same clients through
    the birth date and the names until ``caseops link reindex`` has written them, which
    it records, and search reads them again."""
    from sqlalchemy import delete, func, select

    from caseops.clients.models import IdentifierScheme, RecordIdentifier
    from caseops.extensions import db
    from caseops.matching import store

    def found() -> set[str]:
        hits = search(client, "cchc.case_worker", q="maria lopez", birth_date="1984-03-12")
        assert hits.status_code == 200
        return {h["client_id"] for h in hits.get_json()}

    maria = found()
    assert len(maria) == 1
    combined = db.session.scalar(select(func.count()).where(RecordIdentifier.kind == "name_birth"))
    assert combined > 0
    db.session.execute(delete(RecordIdentifier).where(RecordIdentifier.kind == "name_birth"))
    db.session.commit()
    assert found() == set()  # the combined identifiers are what it reads

    # records from before scheme 2: not indexed under it, so search takes the long way
    db.session.execute(delete(IdentifierScheme))
    db.session.commit()
    _forget_schemes()
    assert found() == maria

    store.reindex()
    assert db.session.scalar(select(IdentifierScheme.version)) == 2
    assert (
        db.session.scalar(select(func.count()).where(RecordIdentifier.kind == "name_birth"))
        == combined
    )
    _forget_schemes()
    assert found() == maria
    assert store.indexed_under(2)


def test_a_process_asks_again_for_a_missing_scheme_but_not_for_one_it_found(app, world):
    """A reindex that finishes while workers run reaches them within a minute; a scheme
    once found is never read again (it cannot be taken back)."""
    from sqlalchemy import delete

    from caseops.clients.models import IdentifierScheme
    from caseops.extensions import db
    from caseops.matching import store

    _forget_schemes()
    db.session.execute(delete(IdentifierScheme))
    db.session.commit()
    assert not store.indexed_under(2)
    db.session.add(IdentifierScheme(version=2))
    db.session.commit()
    assert not store.indexed_under(2)  # asked again only after a minute
    seen = app.extensions["caseops.identifier_schemes"]
    seen[2] -= store._SCHEME_RECHECK_SECONDS + 1
    assert store.indexed_under(2)
    db.session.execute(delete(IdentifierScheme))
    db.session.commit()
    assert store.indexed_under(2)
