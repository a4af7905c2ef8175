"""``caseops link train`` stores a model version that stewards can read and that new
records are linked with; ``caseops link rebuild --dry-run`` changes nothing."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from caseops.clients.models import LinkEvent
from caseops.extensions import db
from caseops.matching import training
from caseops.matching.models import LinkageModelVersion
from tests import factories
from tests.fixtures.records import MARIA, bearer, put


@pytest.fixture
def records(world, client):
    """A small agency file: people with a second record at another agency."""
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc")}
    given = ["Ana", "Luis", "Rosa", "Omar", "Ines", "Tomas", "Lucia", "Pablo", "Marta", "Raul"]
    family = ["Lopez", "Ortiz", "Reyes", "Nunez", "Vega", "Rios", "Soto", "Mena", "Luna"]
    n = 0
    for i, g in enumerate(given):
        for j, f in enumerate(family):
            n += 1
            body = copy.deepcopy(MARIA)
            body["person"].update(
                given_name=g,
                family_name=f,
                birth_date=f"19{50 + (i * 7 + j) % 45}-0{1 + j % 9}-{10 + i:02d}",
                ssn=None,
                phone=None,
                email=None,
            )
            put(client, feeds["hha"], body, srid=f"H-{n}")
            if (i + j) % 3 == 0:
                again = copy.deepcopy(body) | {"category": "health", "data": {}}
                put(client, feeds["cchc"], again, agency="cchc", srid=f"C-{n}")
    training.forget_cached_model()
    yield
    training.forget_cached_model()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_train_stores_a_version_that_stewards_read(app, client, records, monkeypatch):
    monkeypatch.setattr(training, "MIN_RECORDS", 50)
    output = cli(app, "link", "train")
    assert "model 1:" in output
    row = db.session.scalar(select(LinkageModelVersion))
    assert row.records >= 90 and row.created_by
    steward = bearer(factories.token_for("hha.data_steward"))
    answer = client.get("/api/v1/linkage/model", headers=steward)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["trained"] and body["provenance"]["version"] == row.id
    assert body["link_probability"] == 0.999
    assert set(body["fields"]["given"]) >= {"exact", "typo", "disagree"}
    assert factories.events("linkage.train")


def test_only_stewards_read_the_model(client, world):
    worker = bearer(factories.token_for("hha.case_worker"))
    assert client.get("/api/v1/linkage/model", headers=worker).status_code == 403


def test_before_any_training_the_built_in_model_is_shown(client, world):
    steward = bearer(factories.token_for("hha.data_steward"))
    body = client.get("/api/v1/linkage/model", headers=steward).get_json()
    assert body["trained"] is False and body["versions"] == 0


def test_training_refuses_too_few_records(app, world):
    result = app.test_cli_runner().invoke(args=["link", "train"])
    assert result.exit_code != 0 and "at least" in result.output


def test_a_dry_run_rebuild_reports_and_changes_nothing(app, client, records, monkeypatch):
    monkeypatch.setattr(training, "MIN_RECORDS", 50)
    cli(app, "link", "train")
    training.forget_cached_model()
    events = db.session.scalar(select(func.count()).select_from(LinkEvent))
    output = cli(app, "link", "rebuild", "--dry-run")
    assert "expected wrong" in output and "dry run" in output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LinkEvent)) == events


def test_new_records_are_linked_with_the_newest_model(app, client, records, monkeypatch):
    monkeypatch.setattr(training, "MIN_RECORDS", 50)
    cli(app, "link", "train")
    training.forget_cached_model()
    feed = factories.token_for("cchc.integration")
    body = copy.deepcopy(MARIA) | {"category": "health", "data": {}}
    body["person"].update(  # the fixture's first person, again
        given_name="Ana", family_name="Lopez", birth_date="1950-01-10", ssn=None
    )
    put(client, feed, body, agency="cchc", srid="C-new")
    [*_, event] = [e for e in factories.events("record.write") if e.target_id.endswith("/C-new")]
    # a learned model states the probability it decided by
    assert event.detail["link"]["reason"].startswith("p ")


def test_a_rebuild_with_a_learned_model_reports_expected_wrong_links(
    app, client, records, monkeypatch
):
    monkeypatch.setattr(training, "MIN_RECORDS", 50)
    cli(app, "link", "train")
    training.forget_cached_model()
    output = cli(app, "link", "rebuild")
    assert "automatic links (expected wrong:" in output and "dry run" not in output
    [entry] = factories.events("linkage.rebuild")
    assert entry.detail["model_version"] == 1
