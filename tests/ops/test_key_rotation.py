"""Rotating the audit signing key: the runbook of docs/operations.md, step by step.

Before the rotation the log is sealed under key A; ``caseops audit new-key`` gives key B
and the retired-keys list that keeps A published; after it, new checkpoints are signed by
B, and verification, proofs, the published keys and an auditor's own checks all choose
the key by ``key_id`` — across the rotation too.
"""

from __future__ import annotations

import base64
import json
import shlex
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from caseops import create_app
from caseops.audit.keys import key_ring, log_key
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.audit.verify import verify
from caseops.authz.actor import Actor
from caseops.config import ConfigError
from caseops.extensions import db
from tests import factories
from tests.fixtures.merkle import ref_verify_consistency

WORKER = Actor(username="hha.case_worker", agency="hha", roles=frozenset({"case_worker"}))
KEY_A = base64.b64encode(b"A" * 32).decode()


def _log(n: int) -> None:
    for i in range(n):
        record("client.view", actor=WORKER, client_id=f"c{i % 3}", detail={"i": i})


def _cli(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def _env_lines(output: str) -> dict[str, str]:
    values = {}
    for line in output.splitlines():
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0]
    return values


@pytest.fixture
def rotated(app, world):
    """The log sealed under A, kept checkpoint, rotation to B (as the runbook does), more
    entries sealed under B. Returns (checkpoint kept before, key id A, key id B)."""
    app.config["CASEOPS_AUDIT_SIGNING_KEY"] = KEY_A
    app.config["CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"] = ""
    _log(4)
    kid_a = log_key().key_id
    before = seal_once(db.engine, log_key())
    kept = _cli(app, "audit", "checkpoint")
    assert kept.exit_code == 0, kept.output
    generated = _cli(app, "audit", "new-key", "--grace", "60")
    assert generated.exit_code == 0, generated.output
    env = _env_lines(generated.output)
    assert set(env) == {"CASEOPS_AUDIT_SIGNING_KEY", "CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"}
    app.config.update(env)  # the deployment restarts with the new environment
    kid_b = log_key().key_id
    assert kid_b != kid_a
    _log(3)
    after = seal_once(db.engine, log_key())
    assert after.tree_size > before.tree_size
    return json.loads(kept.output), kid_a, kid_b, before.tree_size, after.tree_size


def test_new_checkpoints_are_signed_by_the_new_key_and_the_whole_log_verifies(app, rotated):
    kept, kid_a, kid_b, first, second = rotated
    assert kept["key_id"] == kid_a and kept["tree_size"] == first
    latest = json.loads(_cli(app, "audit", "checkpoint").output)
    assert latest["key_id"] == kid_b and latest["tree_size"] == second

    ring = key_ring()
    assert [k.key_id for k in ring.keys] == [kid_b, kid_a]
    report = verify(db.engine, ring, ring.origin)
    assert report.ok and report.tree_size == second and report.checkpoints == 2

    # The checkpoint kept outside the database before the rotation still verifies.
    path = app.instance_path + "/kept.json"
    with open(path, "w") as handle:
        json.dump(kept, handle)
    result = _cli(app, "audit", "verify", "--checkpoint", path)
    assert result.exit_code == 0, result.output
    assert f"ok: {second} entries verified against 2 checkpoints" in result.output


def test_without_the_retired_key_published_the_old_checkpoints_fail(app, rotated):
    """The retired key is what makes the history before the rotation checkable: drop it
    and verify fails on the first checkpoint, naming the unknown key id."""
    _, kid_a, _, _, _ = rotated
    app.config["CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"] = ""
    ring = key_ring()
    report = verify(db.engine, ring, ring.origin)
    assert not report.ok and report.verified_size == 0
    assert any(f"key id {kid_a}" in p.reason for p in report.problems)
    result = _cli(app, "audit", "verify")
    assert result.exit_code == 1
    # The failed run (cron's, say) is logged and shows in the metric an alert watches.
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "caseops_audit_verify_ok 0.0" in metrics.splitlines()
    assert factories.events("audit.verify")[-1].channel == "cli"


def test_a_retired_key_cannot_sign_after_its_retirement(app, rotated, monkeypatch):
    """Whoever keeps the old private key cannot extend the log with it: a checkpoint it
    signs after its ``not_after`` (a day after the rotation) fails verification."""
    _, kid_a, _, _, second = rotated
    later = datetime.now(UTC) + timedelta(days=1)
    monkeypatch.setattr("caseops.audit.seal.utcnow", lambda: later)
    old = log_key({"CASEOPS_AUDIT_SIGNING_KEY": KEY_A})
    _log(2)
    forged = seal_once(db.engine, old)
    ring = key_ring()
    report = verify(db.engine, ring, ring.origin)
    assert not report.ok
    assert report.verified_size == second
    assert f"checkpoint {forged.tree_size}: signed by key {kid_a} outside its validity period" in [
        p.reason for p in report.problems
    ]


def test_public_keys_are_published_with_ids_and_validity(app, client, rotated):
    _, kid_a, kid_b, _, _ = rotated
    token = {"Authorization": f"Bearer {factories.token_for('hha.case_worker')}"}
    current = client.get("/api/v1/audit/public-key", headers=token).get_json()
    assert current["key_id"] == kid_b
    listed = client.get("/api/v1/audit/public-keys", headers=token)
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["current_key_id"] == kid_b
    by_id = {k["key_id"]: k for k in body["keys"]}
    assert [k["key_id"] for k in body["keys"]] == [kid_b, kid_a]
    assert by_id[kid_b]["status"] == "current" and by_id[kid_b]["valid_until"] is None
    assert by_id[kid_b]["public_key_pem"] == current["public_key_pem"]
    retired = by_id[kid_a]
    assert retired["status"] == "retired" and retired["checkpoints"] == 1
    assert retired["valid_from"] <= retired["last_signed_at"] < retired["valid_until"]
    assert client.get("/api/v1/audit/public-keys").status_code == 401


def test_proofs_across_the_rotation_check_out_with_the_key_each_names(app, client, rotated):
    """An outside auditor: the old checkpoint (from an inclusion proof at the old size)
    and the latest one each verify with the published key their key_id names, and the
    consistency proof shows the tree signed by B extends the tree signed by A."""
    _, kid_a, kid_b, first, second = rotated
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    officer = {"Authorization": f"Bearer {factories.token_for('hha.privacy_officer')}"}
    keys = {
        k["key_id"]: load_pem_public_key(k["public_key_pem"].encode())
        for k in client.get("/api/v1/audit/public-keys", headers=officer).get_json()["keys"]
    }
    seq = factories.events("client.view")[0].seq
    old = client.get(f"/api/v1/audit/events/{seq}/proof?tree_size={first}", headers=officer)
    old = old.get_json()
    new = client.get("/api/v1/audit/checkpoints/latest", headers=officer).get_json()
    assert (old["key_id"], new["key_id"]) == (kid_a, kid_b)
    for signed in (old, new):
        keys[signed["key_id"]].verify(
            base64.b64decode(signed["signature"]), signed["checkpoint"].encode()
        )
    old_root = base64.b64decode(old["checkpoint"].split("\n")[2])
    new_root = base64.b64decode(new["checkpoint"].split("\n")[2])
    proof = client.get(
        f"/api/v1/audit/consistency?first={first}&second={second}", headers=officer
    ).get_json()
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert ref_verify_consistency(first, second, old_root, new_root, path)
    assert not ref_verify_consistency(first, second, old_root, new_root[::-1], path)


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ("not json", "CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS: must be a JSON list"),
        ('[{"public_key": "AAAA", "not_after": "2026-01-01T00:00:00Z"}]', "32 bytes"),
        ('[{"public_key": "%s"}]', "needs not_after"),
        ('[{"public_key": "%s", "not_after": "2026-01-01"}]', "needs a time zone"),
        ('[{"public_key": "%s", "not_after": "2026-01-01T00:00:00Z"}]', "current signing key"),
    ],
)
def test_a_bad_retired_key_list_stops_start_up(database_url, previous, message):
    """Start-up refuses a list it cannot use — above all one that retires the key still
    signing — and names the variable."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = Ed25519PrivateKey.from_private_bytes(b"A" * 32).public_key().public_bytes_raw()
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CASEOPS_AUDIT_SIGNING_KEY": KEY_A,
        "CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS": previous.replace(
            "%s", base64.b64encode(raw).decode()
        ),
    }
    with pytest.raises(ConfigError, match=message):
        create_app(config)


def test_the_retired_key_list_comes_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS", "[]")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    assert app.config["CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"] == "[]"


def test_new_key_takes_an_explicit_retirement_time(app, world):
    app.config["CASEOPS_AUDIT_SIGNING_KEY"] = KEY_A
    app.config["CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"] = ""
    result = _cli(app, "audit", "new-key", "--retire-at", "2030-01-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    env = _env_lines(result.output)
    [entry] = json.loads(env["CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS"])
    assert entry["not_after"] == "2030-01-01T00:00:00Z"
    assert entry["key_id"] == log_key().key_id
    assert "not_before" not in entry  # the key never signed a checkpoint
    assert len(base64.b64decode(env["CASEOPS_AUDIT_SIGNING_KEY"])) == 32
    bad = _cli(app, "audit", "new-key", "--retire-at", "tomorrow")
    assert bad.exit_code == 2 and "--retire-at" in bad.output
