"""The operator CLI, run as an operator would run it: a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASEOPS = str(Path(sys.executable).with_name("caseops"))


def run(database_url: str, *args: str, stdin: str = "", env: dict[str, str] | None = None):
    environ = os.environ | {"CASEOPS_DATABASE_URL": database_url} | (env or {})
    return subprocess.run(
        [CASEOPS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_db_upgrade_on_an_empty_database(databases):
    url = databases.empty()
    try:
        result = run(url, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "database at head" in result.stdout
    finally:
        databases.drop(url)


def test_create_admin_then_token_create_prints_a_working_token(database_url, app):
    result = run(
        database_url,
        "create-admin",
        "root.admin",
        "--password-stdin",
        stdin="a-long-admin-password\n",
    )
    assert result.returncode == 0, result.stderr
    result = run(database_url, "token", "create", "root.admin", "--days", "3")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("cop_")
    client = app.test_client()
    response = client.get("/api/v1/agencies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert [a["code"] for a in response.get_json()] == ["ops"]
    from tests import factories

    assert [e.channel for e in factories.events("auth.token_created")] == ["cli"]


def test_create_admin_refuses_a_weak_password(database_url):
    result = run(database_url, "create-admin", "root.admin", "--password-stdin", stdin="short\n")
    assert result.returncode != 0
    assert "password: Must be at least 12 characters long." in result.stderr
    assert "Traceback" not in result.stderr


def test_token_create_refuses_roles_the_user_lacks(database_url):
    run(
        database_url,
        "create-admin",
        "root.admin",
        "--password-stdin",
        stdin="a-long-admin-password\n",
    )
    result = run(database_url, "token", "create", "root.admin", "--scope", "case_worker")
    assert result.returncode != 0
    assert "scopes: Not held: case_worker." in result.stderr


def test_demo_seed_is_idempotent_and_refused_in_production(database_url, tmp_path):
    first = run(database_url, "demo", "seed")
    assert first.returncode == 0, first.stderr
    second = run(database_url, "demo", "seed")
    assert second.returncode == 0, second.stderr
    assert first.stdout.count("\n") == second.stdout.count("\n")
    for persona in ("admin", "hha.worker", "cchc.consent", "privacy", "steward", "hha.system"):
        assert persona in first.stdout
    production = run(
        database_url,
        "demo",
        "seed",
        env={"CASEOPS_ENV": "production", "CASEOPS_INSTANCE_PATH": str(tmp_path)},
    )
    assert production.returncode != 0
    assert "demo commands are refused when CASEOPS_ENV=production" in production.stderr


@pytest.mark.parametrize("username", ["hha.worker"])
def test_demo_totp_prints_a_current_code(database_url, username):
    run(database_url, "demo", "seed")
    result = run(database_url, "demo", "totp", username)
    assert result.returncode == 0
    assert result.stdout.strip().isdigit() and len(result.stdout.strip()) == 6


def test_export_links_and_key_rotation(database_url, app, client):
    import base64

    from tests import factories
    from tests.fixtures.records import MARIA, put

    factories.standard_world()
    put(client, factories.token_for("hha.integration"), MARIA, srid="H-1")
    hook = client.post(
        "/api/v1/agencies/hha/webhooks",
        json={"url": "https://hha.example/hook", "events": ["consent.revoked"]},
        headers={"Authorization": f"Bearer {factories.token_for('hha.agency_admin')}"},
    )
    assert hook.status_code == 201, hook.get_json()
    exported = run(database_url, "export", "links")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.strip().splitlines()
    assert lines[0] == "agency,source_record_id,client_id" and lines[1].startswith("hha,H-1,")
    new_key = "k9:" + base64.urlsafe_b64encode(b"n" * 32).decode()
    keys = f"{new_key},{os.environ['CASEOPS_ENCRYPTION_KEYS']}"
    rotated = run(database_url, "keys", "rotate", env={"CASEOPS_ENCRYPTION_KEYS": keys})
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted" in rotated.stdout
    from sqlalchemy import select

    from caseops.extensions import db
    from caseops.records.models import SourceRecord
    from caseops.webhooks.models import Webhook

    db.session.expire_all()
    assert db.session.scalar(select(SourceRecord.person_encrypted)).startswith("v1:k9:")
    # a webhook's signing secret must stay usable after the old key is retired
    assert db.session.scalar(select(Webhook.secret_encrypted)).startswith("v1:k9:")


def test_demo_seed_builds_clients_consents_and_a_review_item(database_url, app):
    result = run(database_url, "demo", "seed")
    assert result.returncode == 0, result.stderr
    assert "demo clients:" in result.stdout
    from caseops.clients.models import ReviewItem
    from caseops.extensions import db
    from caseops.records.models import SourceRecord
    from caseops.registry.models import ConsentRecord

    db.session.expire_all()
    # Maria's twin Elena waits in the steward's queue (the story the README tells); the
    # synthetic caseloads (issue 18) add the near matches administrative data brings.
    waiting = {
        db.session.get(SourceRecord, item.record_id).source_record_id
        for item in db.session.query(ReviewItem).filter_by(status="open")
    }
    elena = {srid for srid in waiting if not srid.startswith("SYN")}
    assert len(elena) == 1, waiting
    assert db.session.query(ConsentRecord).count() >= 7
    assert "already present" in run(database_url, "demo", "seed").stdout


def test_link_rebuild_keeps_links_and_steward_decisions(database_url, app, client):
    from tests import factories
    from tests.fixtures.records import MARIA, put

    factories.standard_world()
    feed = factories.token_for("hha.integration")
    first = put(client, feed, MARIA, srid="H-1").get_json()["client_id"]
    other = {
        "category": "housing",
        "source_version": 1,
        "data": {},
        "person": {"given_name": "Thomas", "family_name": "Berg", "birth_date": "1950-07-30"},
    }
    second = put(client, feed, other, srid="H-2").get_json()["client_id"]
    result = run(database_url, "link", "rebuild")
    assert result.returncode == 0, result.stderr
    assert "2 records: 0 moved" in result.stdout
    exported = run(database_url, "export", "links").stdout
    assert f"hha,H-1,{first}" in exported and f"hha,H-2,{second}" in exported
    reindexed = run(database_url, "link", "reindex")
    assert reindexed.returncode == 0, reindexed.stderr
    assert "2 records: 0 with new identifiers" in reindexed.stdout
