"""verify names the first entry that no longer matches the signed log.

The tampering is done as an attacker with owner rights would: on PostgreSQL as a
superuser with the guard triggers disabled, on SQLite by dropping the guard triggers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, create_engine, select, text, update

from caseops.audit.canonical import canonical_bytes
from caseops.audit.keys import log_key
from caseops.audit.merkle import MerkleAppender, leaf_hash
from caseops.audit.models import AccessEvent
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.audit.verify import verify
from caseops.authz.actor import Actor
from caseops.extensions import db
from tests.conftest import BACKEND

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))
TABLES = ("access_events", "audit_leaves", "audit_nodes", "audit_checkpoints")


@contextmanager
def unguarded(database_url: str) -> Iterator[Connection]:
    """A connection that may UPDATE and DELETE the log tables (guards switched off)."""
    engine = create_engine(database_url)
    postgres = database_url.startswith("postgresql")
    try:
        with engine.begin() as conn:
            for table in TABLES:
                if postgres:
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
                else:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            yield conn
            if postgres:
                for table in TABLES:
                    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER ALL"))
                    for guard in ("append_only", "no_truncate"):
                        conn.execute(
                            text(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_{guard}")
                        )
    finally:
        engine.dispose()


@pytest.fixture
def sealed(app) -> list[int]:
    """Ten entries sealed in three runs: checkpoints at tree sizes 4, 8 and 10."""
    key = log_key()
    seqs: list[int] = []
    for n in (4, 4, 2):
        seqs += [
            record("client.view", actor=ACTOR, client_id=f"c{i}", detail={"i": i}).seq
            for i in range(n)
        ]
        seal_once(db.engine, key)
    return seqs


def run_verify(**kwargs):
    key = log_key()
    return verify(db.engine, key.public_key, key.origin, **kwargs)


def test_an_untouched_log_verifies(sealed):
    report = run_verify()
    assert report.ok, report.problems
    assert report.as_dict() == {
        "ok": True,
        "verified_size": 10,
        "tree_size": 10,
        "checkpoints": 3,
    }


def test_an_empty_log_verifies(app):
    assert run_verify().ok


def test_unsealed_entries_above_the_tree_are_not_a_failure(sealed):
    record("client.view", actor=ACTOR)
    assert run_verify().ok


def test_an_edited_entry_is_named(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(
            text("UPDATE access_events SET actor = 'mallory' WHERE seq = :s"), {"s": sealed[4]}
        )
    report = run_verify()
    assert not report.ok
    assert report.first_bad_seq == sealed[4]
    assert "altered" in report.reason
    assert report.verified_size == 4  # the checkpoint before the altered leaf still holds


def test_an_edit_inside_detail_is_named(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(
            text("UPDATE access_events SET detail = :d WHERE seq = :s"),
            {"d": '{"i": 99}', "s": sealed[1]},
        )
    report = run_verify()
    assert (report.ok, report.first_bad_seq, report.verified_size) == (False, sealed[1], 0), report


def test_a_deleted_entry_is_named(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(text("DELETE FROM access_events WHERE seq = :s"), {"s": sealed[6]})
    report = run_verify()
    assert (report.ok, report.first_bad_seq) == (False, sealed[6])
    assert "deleted" in report.reason
    assert report.verified_size == 4


def test_two_entries_with_swapped_contents_are_named(sealed, database_url):
    """Reordering: two entries exchange everything but their seq."""
    a, b = sealed[2], sealed[7]
    table = AccessEvent.__table__
    with unguarded(database_url) as conn:
        rows = {
            row.seq: {k: v for k, v in row._mapping.items() if k != "seq"}
            for row in conn.execute(select(table).where(table.c.seq.in_([a, b])))
        }
        conn.execute(update(table).where(table.c.seq == a).values(rows[b]))
        conn.execute(update(table).where(table.c.seq == b).values(rows[a]))
    report = run_verify()
    assert (report.ok, report.first_bad_seq) == (False, a)


def test_two_entries_with_swapped_sequence_numbers_are_named(sealed, database_url):
    a, b = sealed[3], sealed[5]
    with unguarded(database_url) as conn:
        conn.execute(text("UPDATE access_events SET seq = -1 WHERE seq = :s"), {"s": a})
        conn.execute(text("UPDATE access_events SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
        conn.execute(text("UPDATE access_events SET seq = :b WHERE seq = -1"), {"b": b})
    report = run_verify()
    assert (report.ok, report.first_bad_seq) == (False, a)


def test_a_truncated_tail_is_named(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(text("DELETE FROM access_events WHERE seq >= :s"), {"s": sealed[7]})
    report = run_verify()
    assert (report.ok, report.first_bad_seq) == (False, sealed[7])
    assert report.verified_size == 4


def _rebuild_tree(conn: Connection, seqs: list[int]) -> None:
    """The thorough attacker: after editing an entry, rewrite its leaf hash and every
    stored node so that the database agrees with itself (but it cannot re-sign)."""

    rows = {row.seq: row._mapping for row in conn.execute(select(AccessEvent.__table__))}
    appender = MerkleAppender()
    conn.execute(text("DELETE FROM audit_nodes"))
    for index, seq in enumerate(seqs):
        digest = leaf_hash(canonical_bytes(rows[seq]))
        conn.execute(
            text("UPDATE audit_leaves SET leaf_hash = :h WHERE leaf_index = :i"),
            {"h": digest, "i": index},
        )
        for node in appender.append(digest)[1:]:
            conn.execute(
                text("INSERT INTO audit_nodes (level, node_index, hash) VALUES (:l, :i, :h)"),
                {"l": node.level, "i": node.index, "h": node.hash},
            )


def test_an_edit_with_rewritten_leaf_hashes_and_nodes_is_caught_by_the_signed_root(
    sealed, database_url
):
    with unguarded(database_url) as conn:
        conn.execute(
            text("UPDATE access_events SET outcome = 'denied' WHERE seq = :s"), {"s": sealed[5]}
        )
        _rebuild_tree(conn, sealed)
    report = run_verify()
    assert not report.ok
    # Only the signed roots are left to go by: the culprit is among the leaves that the
    # checkpoint at size 8 added (leaves 4..7), and the report starts there.
    assert report.first_bad_seq == sealed[4]
    assert "checkpoint 8" in report.reason
    assert report.verified_size == 4


def test_a_forged_checkpoint_signature_is_reported(sealed, database_url):
    with unguarded(database_url) as conn:
        bogus = "A" * 86 + "=="
        conn.execute(
            text("UPDATE audit_checkpoints SET signature = :s WHERE tree_size = 8"), {"s": bogus}
        )
    report = run_verify()
    assert not report.ok
    assert "checkpoint 8" in report.reason and report.first_bad_seq is None
    assert report.verified_size == 4


def test_a_rewritten_stored_node_is_reported(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(
            text("UPDATE audit_nodes SET hash = :h WHERE level = 1 AND node_index = 2"),
            {"h": hashlib.sha256(b"x").digest()},
        )
    report = run_verify()
    assert not report.ok and "node (1, 2)" in report.reason


def test_a_deleted_stored_node_is_reported(sealed, database_url):
    with unguarded(database_url) as conn:
        conn.execute(text("DELETE FROM audit_nodes WHERE level = 2 AND node_index = 0"))
    report = run_verify()
    assert not report.ok and "level 2 has 1 of 2 nodes" in report.reason


def test_a_log_cut_back_together_with_its_checkpoints_fails_against_a_kept_checkpoint(
    sealed, database_url
):
    """Deleting the tail, its leaves, nodes and checkpoints leaves a self-consistent log;
    a checkpoint an auditor kept outside the database still exposes it."""
    with db.engine.connect() as conn:
        kept = conn.execute(
            text("SELECT checkpoint, signature FROM audit_checkpoints WHERE tree_size = 10")
        ).one()
    with unguarded(database_url) as conn:
        conn.execute(text("DELETE FROM access_events WHERE seq > :s"), {"s": sealed[7]})
        conn.execute(text("DELETE FROM audit_leaves WHERE leaf_index >= 8"))
        conn.execute(text("DELETE FROM audit_nodes WHERE level = 1 AND node_index >= 4"))
        conn.execute(text("DELETE FROM audit_checkpoints WHERE tree_size = 10"))
    assert run_verify().ok  # nothing inside the database can tell
    report = run_verify(trusted=[(kept.checkpoint, kept.signature)])
    assert not report.ok
    assert "truncated" in report.reason
    assert report.verified_size == 8


def test_an_entry_slipped_in_below_the_sealed_range_is_named(sealed, database_url):
    """INSERT is all it takes (the application role has it): an entry forged with a seq
    below the sealed range is not a leaf, and verify says so."""
    record("client.view", actor=ACTOR)
    seal_once(db.engine, log_key(), grace_seconds=0)  # the watermark passes sealed[-1]
    with unguarded(database_url) as conn:
        conn.execute(
            text(
                "INSERT INTO access_events (seq, occurred_at, actor, actor_roles, action, "
                "outcome, request_id, channel, detail) VALUES (0, CURRENT_TIMESTAMP, 'x', "
                "'[]', 'client.view', 'success', 'r', 'http', '{}')"
            )
        )
    report = run_verify()
    assert (report.ok, report.first_bad_seq) == (False, 0)
    assert "never sealed" in report.reason


def test_cli_verify_fails_with_the_first_bad_seq(sealed, database_url, app):
    with unguarded(database_url) as conn:
        conn.execute(
            text("UPDATE access_events SET ip = '6.6.6.6' WHERE seq = :s"), {"s": sealed[2]}
        )
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"first bad seq {sealed[2]}" in result.output


@pytest.mark.parametrize("threads", [1, 2], ids=["forked", "spawned"])
def test_parallel_verify_agrees_with_the_single_process_one(
    sealed, database_url, monkeypatch, threads
):
    """Large logs are rehashed by several processes, each over a range of leaves (forked
    from a single-threaded process, spawned fresh from one with threads)."""
    monkeypatch.setattr("caseops.audit.verify.threading.active_count", lambda: threads)
    key = log_key()
    assert verify(db.engine, key.public_key, key.origin, workers=3).as_dict() == (
        run_verify().as_dict()
    )
    with unguarded(database_url) as conn:
        conn.execute(text("DELETE FROM access_events WHERE seq = :s"), {"s": sealed[5]})
        conn.execute(text("DELETE FROM audit_leaves WHERE leaf_index >= 9"))
    parallel = verify(db.engine, key.public_key, key.origin, workers=3)
    assert parallel.as_dict() == run_verify().as_dict()
    assert (parallel.ok, parallel.first_bad_seq, parallel.verified_size) == (False, sealed[5], 4)


# --- how the entries are read: a chunk of leaves, then their entries by seq -------------


def test_every_way_of_reading_finds_an_untouched_log_whole(sealed, reading):
    assert run_verify().as_dict() == {
        "ok": True,
        "verified_size": 10,
        "tree_size": 10,
        "checkpoints": 3,
    }


@pytest.mark.parametrize(
    "tamper, position, reason",
    [
        ("UPDATE access_events SET actor = 'mallory' WHERE seq = :s", 5, "altered"),
        ("DELETE FROM access_events WHERE seq = :s", 3, "deleted"),
        ("DELETE FROM audit_leaves WHERE event_seq = :s", 6, "missing"),
    ],
    ids=["edited", "deleted", "leaf deleted"],
)
def test_every_way_of_reading_names_the_first_bad_entry(
    sealed, database_url, reading, tamper, position, reason
):
    with unguarded(database_url) as conn:
        conn.execute(text(tamper), {"s": sealed[position]})
    report = run_verify()
    assert not report.ok
    assert reason in report.reason
    if reason != "missing":
        assert report.first_bad_seq == sealed[position]
    assert report.verified_size == (4 if position >= 4 else 0)


@pytest.mark.skipif(
    BACKEND != "postgres",
    reason="on SQLite seq alone is the key; PostgreSQL's partitioned key is (seq, occurred_at)",
)
def test_a_second_entry_holding_a_sealed_seq_in_another_month_is_named(sealed, database_url):
    """The partitioned table's key includes the month, so an owner could add an entry
    that reuses a sealed seq under another month: the verifier reads entries by seq and
    says so, whatever the forged entry holds."""
    with unguarded(database_url) as conn:
        conn.execute(
            text(
                "INSERT INTO access_events (seq, occurred_at, actor, actor_roles, action, "
                "outcome, request_id, channel, detail) SELECT seq, occurred_at - interval "
                "'40 days', 'mallory', actor_roles, action, outcome, request_id, channel, "
                "detail FROM access_events WHERE seq = :s"
            ),
            {"s": sealed[7]},
        )
    report = run_verify()
    assert not report.ok
    assert any("more than one entry holds this seq" in p.reason for p in report.problems)
    assert report.first_bad_seq == sealed[7]
