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
