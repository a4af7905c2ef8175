"""/api/v1/audit: who may use it, what it returns, and an outside auditor's own check.

The auditor in ``IndependentAuditor`` uses only hashlib and cryptography: it recomputes
the root from the exported lines with its own RFC 9162 code (a version 2 line's leaf
bytes derived as docs/access-statement.md says, ``tests.fixtures.independent_statement``),
checks inclusion proofs and checks the checkpoint signature with the published public key.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import create_engine, text

from caseops.audit.keys import log_key
from caseops.audit.merkle import verify_consistency
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.authz.actor import Actor
from caseops.extensions import db
from tests import factories
from tests.audit.conftest import READINGS
from tests.fixtures.independent_statement import leaf_bytes_from_export_line

WORKER = Actor(username="hha.case_worker", agency="hha", roles=frozenset({"case_worker"}))
OTHER = Actor(username="cchc.supervisor", agency="cchc", roles=frozenset({"supervisor"}))


# --- an independent auditor: hashlib and cryptography only ----------------------------


class IndependentAuditor:
    @staticmethod
    def leaf(data: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + data).digest()

    @classmethod
    def line_leaf(cls, line: bytes) -> bytes:
        """The leaf hash of one export line (version 1: the line; version 2: derived)."""
        return cls.leaf(leaf_bytes_from_export_line(line))

    @staticmethod
    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    @classmethod
    def mth(cls, leaves: list[bytes]) -> bytes:
        """RFC 9162 2.1.1, literally: split at the largest power of two below n."""
        n = len(leaves)
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return leaves[0]
        k = 1
        while k * 2 < n:
            k *= 2
        return cls.node(cls.mth(leaves[:k]), cls.mth(leaves[k:]))

    @classmethod
    def root_from_inclusion(cls, index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
        """RFC 9162 2.1.3.2."""
        fn, sn, r = index, size - 1, leaf
        for p in path:
            assert sn != 0
            if fn % 2 == 1 or fn == sn:
                r = cls.node(p, r)
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                r = cls.node(r, p)
            fn >>= 1
            sn >>= 1
        assert sn == 0
        return r

    @staticmethod
    def check_signature(pem: str, checkpoint: str, signature: str) -> None:
        key = load_pem_public_key(pem.encode())
        key.verify(base64.b64decode(signature), checkpoint.encode())  # raises if forged

    @staticmethod
    def read_checkpoint(text_: str) -> tuple[str, int, bytes]:
        origin, size, root, _time, end = text_.split("\n")
        assert end == "" and _time.startswith("time ")
        return origin, int(size), base64.b64decode(root)


# --- fixtures ---------------------------------------------------------------------------


def bearer(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {factories.token_for(username)}"}


@pytest.fixture
def officer(world):
    """hha's privacy officer with organisation-wide audit scope (the operator's compliance
    function): these tests are about the whole log. Agency scope is
    tests/security/test_oversight_scope.py's subject."""
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    return bearer("hha.privacy_officer")


class Logged(list):
    """The seqs of the entries written, plus the two checkpoint sizes (``first``, ``size``);
    the world's own set-up entries come before them."""

    first: int
    size: int


@pytest.fixture
def logged(world) -> Logged:
    """A few view entries by two users about three clients, sealed in two runs."""
    seqs = Logged()
    for i in range(5):
        seqs.append(record("client.view", actor=WORKER, client_id=f"c{i % 3}", detail={"i": i}).seq)
    seqs.first = seal_once(db.engine, log_key()).tree_size
    for i in range(4):
        seqs.append(
            record(
                "client.view",
                actor=OTHER,
                client_id=f"c{i % 2}",
                outcome="denied" if i % 2 else "success",
            ).seq
        )
    seqs.size = seal_once(db.engine, log_key()).tree_size
    return seqs


# --- authorization ----------------------------------------------------------------------

OFFICER_ONLY = [
    "/api/v1/audit/events",
    "/api/v1/audit/verify",
    "/api/v1/audit/checkpoints/latest",
    "/api/v1/audit/events/1/proof",
    "/api/v1/audit/consistency?first=1",
    "/api/v1/audit/export",
]


@pytest.mark.parametrize("path", OFFICER_ONLY)
@pytest.mark.parametrize(
    "username",
    [
        "hha.case_worker",
        "hha.supervisor",
        "hha.agency_admin",
        "hha.system_admin",
        "hha.integration",
    ],
)
def test_only_privacy_officers_may_read_the_log(client, logged, path, username):
    response = client.get(path, headers=bearer(username))
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "forbidden"
    denied = factories.events("audit.denied")
    assert denied and denied[-1].actor == username and denied[-1].outcome == "denied"


@pytest.mark.parametrize("path", [*OFFICER_ONLY, "/api/v1/audit/public-key"])
def test_anonymous_callers_are_refused(client, logged, path):
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", OFFICER_ONLY)
def test_privacy_officers_may(client, logged, officer, path):
    assert client.get(path, headers=officer).status_code == 200


def test_the_public_key_is_for_anyone_authenticated(client, logged):
    body = client.get("/api/v1/audit/public-key", headers=bearer("hha.case_worker")).get_json()
    key = log_key()
    assert body["public_key_pem"] == key.public_pem()
    assert body["key_id"] == key.key_id and len(body["key_id"]) == 8
    assert body["origin"] == key.origin and body["algorithm"] == "Ed25519"
    assert body["verifier_key"].startswith(f"{key.origin}+{key.key_id}+")


# --- search -----------------------------------------------------------------------------


def test_search_by_client_newest_first_with_a_cursor(client, logged, officer):
    first = client.get("/api/v1/audit/events?client_id=c0&limit=2", headers=officer).get_json()
    seqs = [e["seq"] for e in first["items"]]
    assert len(seqs) == 2 and seqs == sorted(seqs, reverse=True)
    assert all(e["client_id"] == "c0" for e in first["items"])
    rest = client.get(
        f"/api/v1/audit/events?client_id=c0&limit=2&cursor={first['next_cursor']}",
        headers=officer,
    ).get_json()
    every = seqs + [e["seq"] for e in rest["items"]]
    expected = [s for s, e in _all(logged) if e == "c0"]
    assert sorted(every, reverse=True) == sorted(expected, reverse=True)
    item = first["items"][0]
    assert item["leaf_index"] is not None and item["occurred_at"].endswith("+00:00")
    assert set(item) >= {"actor", "actor_agency", "action", "outcome", "purpose", "detail"}


def _all(seqs):
    clients = [f"c{i % 3}" for i in range(5)] + [f"c{i % 2}" for i in range(4)]
    return list(zip(seqs, clients, strict=True))


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("actor=hha.case_worker", 5),
        ("agency=cchc", 4),
        ("action=client.view&outcome=denied", 2),
        ("client_id=c2", 1),
        ("actor=nobody", 0),
    ],
)
def test_search_filters(client, logged, officer, query, count):
    body = client.get(f"/api/v1/audit/events?{query}&action=client.view", headers=officer)
    assert len(body.get_json()["items"]) == count


def test_search_by_time_range(client, logged, officer):
    everything = client.get("/api/v1/audit/events?action=client.view", headers=officer).get_json()
    times = sorted(e["occurred_at"] for e in everything["items"])
    since, until = times[2], times[5]
    body = client.get(
        "/api/v1/audit/events",
        query_string={"since": since, "until": until, "action": "client.view"},
        headers=officer,
    ).get_json()
    assert sorted(e["occurred_at"] for e in body["items"]) == times[2:5]


def test_search_is_itself_logged_and_rejects_bad_filters(client, logged, officer):
    client.get("/api/v1/audit/events?client_id=c1", headers=officer)
    [entry] = factories.events("audit.search")
    assert entry.actor == "hha.privacy_officer" and entry.client_id == "c1"
    bad = client.get(
        "/api/v1/audit/events?outcome=maybe&limit=0&action=client.peeked", headers=officer
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"outcome", "limit", "action"}
    assert "catalogue" in bad.get_json()["error"]["details"]["action"][0]


# --- checkpoints, proofs, export: checked by the independent auditor ---------------------


def test_latest_checkpoint_shape(client, logged, officer):
    body = client.get("/api/v1/audit/checkpoints/latest", headers=officer).get_json()
    assert body["tree_size"] == logged.size
    origin, size, root = IndependentAuditor.read_checkpoint(body["checkpoint"])
    assert (origin, size, root.hex()) == (log_key().origin, logged.size, body["root_hash"])
    assert body["key_id"] == log_key().key_id and body["signed_at"]


def test_no_checkpoint_yet_is_404(client, world, officer):
    assert client.get("/api/v1/audit/checkpoints/latest", headers=officer).status_code == 404


def test_an_outside_auditor_can_check_everything_with_hashlib_and_cryptography(
    client, logged, officer
):
    auditor = IndependentAuditor
    pem = client.get("/api/v1/audit/public-key", headers=officer).get_json()["public_key_pem"]
    latest = client.get("/api/v1/audit/checkpoints/latest", headers=officer).get_json()
    auditor.check_signature(pem, latest["checkpoint"], latest["signature"])
    _, size, signed_root = auditor.read_checkpoint(latest["checkpoint"])

    export = client.get(f"/api/v1/audit/export?tree_size={size}", headers=officer)
    assert export.status_code == 200 and export.mimetype == "application/jsonl"
    lines = export.get_data().split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == size
    leaves = [auditor.line_leaf(line) for line in lines]
    assert auditor.mth(leaves) == signed_root

    for line in lines:
        seq = json.loads(line)["seq"]
        proof = client.get(
            f"/api/v1/audit/events/{seq}/proof?tree_size={size}", headers=officer
        ).get_json()
        assert bytes.fromhex(proof["leaf_hash"]) == auditor.line_leaf(line)
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        computed = auditor.root_from_inclusion(
            proof["leaf_index"], proof["tree_size"], auditor.line_leaf(line), path
        )
        assert computed == signed_root
        auditor.check_signature(pem, proof["checkpoint"], proof["signature"])

    forged = bytearray(base64.b64decode(latest["signature"]))
    forged[0] ^= 1
    with pytest.raises(InvalidSignature):
        auditor.check_signature(pem, latest["checkpoint"], base64.b64encode(forged).decode())


def test_export_lines_are_the_sealed_leaf_bytes(client, logged, officer):
    lines = client.get("/api/v1/audit/export", headers=officer).get_data().splitlines()
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT event_seq, leaf_hash FROM audit_leaves ORDER BY leaf_index")
        ).all()
    assert [json.loads(line)["seq"] for line in lines] == [s for s, _ in stored]
    assert [IndependentAuditor.line_leaf(line) for line in lines] == [bytes(h) for _, h in stored]
    [entry] = factories.events("audit.export")
    assert entry.actor == "hha.privacy_officer"


def test_export_range_by_seq(client, logged, officer):
    body = client.get(
        f"/api/v1/audit/export?since_seq={logged[2]}&until_seq={logged[4]}", headers=officer
    ).get_data()
    assert [json.loads(line)["seq"] for line in body.splitlines()] == logged[2:5]


@pytest.mark.parametrize("reading", sorted(READINGS))
@pytest.mark.parametrize(
    "query", ["", "?since_seq={a}&until_seq={b}", "?tree_size={first}", "?since_seq={b}"]
)
def test_every_way_of_reading_exports_the_same_lines(
    client, logged, officer, query, reading, monkeypatch
):
    """The export reads a chunk of leaves, then their entries by seq: tiny chunks and
    seqs read by list give the very lines of the default reading, filters included."""
    url = "/api/v1/audit/export" + query.format(a=logged[1], b=logged[6], first=logged.first)
    expected = client.get(url, headers=officer).get_data()
    assert expected.count(b"\n") >= 3
    for name, value in READINGS[reading].items():
        monkeypatch.setattr(f"caseops.audit.sealed_reads.{name}", value)
    assert client.get(url, headers=officer).get_data() == expected


def test_proof_in_an_older_checkpoint_and_consistency_between_checkpoints(client, logged, officer):
    first, size = logged.first, logged.size
    old = client.get(f"/api/v1/audit/events/{logged[1]}/proof?tree_size={first}", headers=officer)
    body = old.get_json()
    assert body["tree_size"] == first and body["leaf_index"] == first - 4
    _, signed_size, root = IndependentAuditor.read_checkpoint(body["checkpoint"])
    assert signed_size == first and root.hex() == body["root_hash"]
    path = [bytes.fromhex(p) for p in body["audit_path"]]
    leaf = bytes.fromhex(body["leaf_hash"])
    assert IndependentAuditor.root_from_inclusion(first - 4, first, leaf, path) == root

    proof = client.get(
        f"/api/v1/audit/consistency?first={first}&second={size}", headers=officer
    ).get_json()
    assert (proof["first"], proof["second"]) == (first, size)
    assert verify_consistency(
        first,
        size,
        bytes.fromhex(proof["first_root"]),
        bytes.fromhex(proof["second_root"]),
        [bytes.fromhex(p) for p in proof["proof"]],
    )
    assert proof["first_root"] == root.hex()
    latest = client.get(f"/api/v1/audit/consistency?first={first}", headers=officer).get_json()
    assert latest == proof


def test_proof_errors(client, logged, officer):
    unsealed = record("client.view", actor=WORKER).seq
    assert client.get("/api/v1/audit/events/999999/proof", headers=officer).status_code == 404
    response = client.get(f"/api/v1/audit/events/{unsealed}/proof", headers=officer)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_sealed"
    late = client.get(
        f"/api/v1/audit/events/{logged[6]}/proof?tree_size={logged.first}", headers=officer
    )
    assert late.status_code == 409
    too_big = logged.size + 1
    proof = client.get(f"/api/v1/audit/events/1/proof?tree_size={too_big}", headers=officer)
    assert proof.status_code == 422
    consistency = client.get(f"/api/v1/audit/consistency?first={too_big}", headers=officer)
    assert consistency.status_code == 422


# --- verification -------------------------------------------------------------------------


def test_verify_endpoint_ok_then_names_the_tampered_entry(client, logged, officer, database_url):
    body = client.get("/api/v1/audit/verify", headers=officer).get_json()
    assert body == {
        "ok": True,
        "verified_size": logged.size,
        "tree_size": logged.size,
        "checkpoints": 2,
    }
    [entry] = factories.events("audit.verify")
    assert entry.detail["ok"] is True

    engine = create_engine(database_url)
    with engine.begin() as conn:
        if database_url.startswith("postgresql"):
            conn.execute(text("ALTER TABLE access_events DISABLE TRIGGER ALL"))
        else:
            conn.execute(text("DROP TRIGGER access_events_no_update"))
        conn.execute(
            text("UPDATE access_events SET client_id = 'c9' WHERE seq = :s"), {"s": logged[6]}
        )
    engine.dispose()
    body = client.get("/api/v1/audit/verify", headers=officer).get_json()
    assert body["ok"] is False
    assert body["first_bad_seq"] == logged[6]
    assert body["verified_size"] == logged.first
    assert "altered" in body["reason"]


def test_openapi_documents_the_audit_api(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/audit/events",
        "/api/v1/audit/verify",
        "/api/v1/audit/checkpoints/latest",
        "/api/v1/audit/public-key",
        "/api/v1/audit/events/{seq}/proof",
        "/api/v1/audit/consistency",
        "/api/v1/audit/export",
    ):
        assert path in paths
