"""The sealer: leaves in sealing order, resumable state, the watermark, one leader."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from caseops.audit.canonical import canonical_bytes
from caseops.audit.checkpoint import verify_checkpoint
from caseops.audit.keys import log_key
from caseops.audit.merkle import MemoryNodeStore, MerkleAppender, leaf_hash, tree_root
from caseops.audit.models import AccessEvent, AuditCheckpoint, AuditLeaf, AuditNode
from caseops.audit.seal import (
    ADVISORY_LOCK_KEY,
    PeriodicSealer,
    latest_state,
    seal_once,
    seal_pending,
)
from caseops.audit.service import record
from caseops.audit.verify import verify
from caseops.authz.actor import Actor
from caseops.extensions import db

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))


def write(n: int, action: str = "client.view") -> list[int]:
    return [
        record(action, actor=ACTOR, client_id=f"c{i % 3}", detail={"i": i}).seq for i in range(n)
    ]


def leaves() -> list[tuple[int, int, bytes]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(AuditLeaf.leaf_index, AuditLeaf.event_seq, AuditLeaf.leaf_hash).order_by(
            AuditLeaf.leaf_index
        )
    )
    return [(i, s, bytes(h)) for i, s, h in rows]


def checkpoints() -> list[AuditCheckpoint]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))


def event_rows() -> dict[int, dict]:
    rows = db.session.execute(select(AccessEvent.__table__).order_by(AccessEvent.seq))
    return {row.seq: row._mapping for row in rows}


def insert_event(seq: int, action: str = "test.late") -> None:
    """Insert an entry with a chosen seq, as a writer whose transaction commits late would
    leave it (PostgreSQL hands out seq before commit)."""
    record_like = {
        "seq": seq,
        "occurred_at": db.session.scalar(select(func.max(AccessEvent.occurred_at))),
        "actor": "late",
        "actor_roles": [],
        "action": action,
        "outcome": "success",
        "request_id": "r",
        "channel": "internal",
        "detail": {},
    }
    with db.engine.begin() as conn:
        conn.execute(insert(AccessEvent.__table__).values(record_like))
        if conn.dialect.name == "postgresql":  # keep the sequence ahead of explicit seqs
            conn.execute(
                text(
                    "SELECT setval('access_events_seq_seq', "
                    "greatest(:seq, (SELECT last_value FROM access_events_seq_seq)))"
                ),
                {"seq": seq},
            )


def test_nothing_to_seal_issues_no_checkpoint(app):
    result = seal_once(db.engine, log_key())
    assert (result.sealed, result.tree_size) == (0, 0)
    assert checkpoints() == []


def test_sealing_appends_leaves_in_seq_order_and_signs_the_root(app):
    seqs = write(5)
    key = log_key()
    result = seal_once(db.engine, key)
    assert (result.sealed, result.tree_size) == (5, 5)
    rows = event_rows()
    assert [(i, s) for i, s, _ in leaves()] == list(enumerate(seqs))
    assert [h for _, _, h in leaves()] == [leaf_hash(canonical_bytes(rows[s])) for s in seqs]
    [cp] = checkpoints()
    parsed = verify_checkpoint(cp.checkpoint, cp.signature, key.public_key, origin=key.origin)
    store = MemoryNodeStore()
    appender = MerkleAppender()
    for _, _, h in leaves():
        store.add(appender.append(h))
    assert parsed.tree_size == cp.tree_size == 5
    assert parsed.root_hash == bytes(cp.root_hash) == appender.root() == tree_root(5, store)
    assert cp.key_id == key.key_id and cp.origin == key.origin == "caseops.local/access-log"


def test_sealing_resumes_and_stores_every_perfect_subtree(app):
    key = log_key()
    total = 0
    for n in (1, 2, 5, 1, 8):
        write(n)
        total += n
        assert seal_once(db.engine, key).tree_size == total
    assert [cp.tree_size for cp in checkpoints()] == [1, 3, 8, 9, 17]
    appender = MerkleAppender()
    expected = set()
    for _, _, h in leaves():
        expected |= {(n.level, n.index, n.hash) for n in appender.append(h)[1:]}
    stored = {
        (lvl, idx, bytes(h))
        for lvl, idx, h in db.session.execute(
            select(AuditNode.level, AuditNode.node_index, AuditNode.hash)
        )
    }
    assert stored == expected
    assert bytes(checkpoints()[-1].root_hash) == appender.root()
    assert latest_state(db.session.connection()).frontier == appender.to_bytes()


def test_batches_each_get_a_checkpoint(app):
    write(7)
    summary = seal_pending(db.engine, log_key(), batch=3)
    assert (summary.sealed, summary.tree_size, summary.runs) == (7, 7, 3)
    assert [cp.tree_size for cp in checkpoints()] == [3, 6, 7]


def test_sealing_writes_nothing_to_the_access_log(app):
    write(3)
    seal_pending(db.engine, log_key())
    seal_pending(db.engine, log_key())
    assert db.session.scalar(select(func.count()).select_from(AccessEvent)) == 3


def test_an_entry_that_commits_late_is_sealed_by_the_next_run(app):
    key = log_key()
    first = write(3)
    insert_event(first[-1] + 2)  # seq +1 is still "in flight"
    seal_once(db.engine, key, grace_seconds=3600)
    assert [s for _, s, _ in leaves()] == [*first, first[-1] + 2]
    # The gap is recent: the watermark must not pass it.
    assert checkpoints()[-1].low_watermark < first[-1] + 1
    insert_event(first[-1] + 1)  # the late writer commits
    result = seal_once(db.engine, key, grace_seconds=3600)
    assert result.sealed == 1
    assert [s for _, s, _ in leaves()] == [*first, first[-1] + 2, first[-1] + 1]
    assert verify(db.engine, key.public_key, key.origin).ok


def test_postgresql_entry_of_a_transaction_still_open_is_sealed_after_it_commits(app, database_url):
    """The real case: seq is taken at INSERT, the entry becomes visible at COMMIT."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite assigns seq under its write lock, in commit order")
    from sqlalchemy.orm import Session

    key = log_key()
    write(1)
    with Session(db.engine) as slow:
        late = record("client.view", actor=ACTOR, session=slow).seq  # flushed, not committed
        after = write(2)
        assert seal_once(db.engine, key, grace_seconds=3600).sealed == 3
        assert late not in [s for _, s, _ in leaves()]
        slow.commit()
    assert seal_once(db.engine, key, grace_seconds=3600).sealed == 1
    sealed = [s for _, s, _ in leaves()]
    assert sealed[-3:] == [*after, late] and late < after[0]
    assert verify(db.engine, key.public_key, key.origin).ok


def test_the_watermark_passes_a_gap_only_after_the_grace_period(app):
    key = log_key()
    first = write(2)
    insert_event(first[-1] + 2)
    seal_once(db.engine, key, grace_seconds=0)
    write(1)
    seal_once(db.engine, key, grace_seconds=0)
    # Both earlier checkpoints are older than a zero grace: everything up to the highest
    # seq they sealed is settled, the gap included.
    assert checkpoints()[-1].low_watermark >= first[-1] + 2
    # So the gap, should it ever be filled, is no longer looked for...
    insert_event(first[-1] + 1)
    assert seal_once(db.engine, key, grace_seconds=0).sealed == 0
    # ...verify reports it, and a rescan seals it.
    report = verify(db.engine, key.public_key, key.origin)
    assert (report.ok, report.first_bad_seq) == (False, first[-1] + 1)
    assert seal_once(db.engine, key, rescan=True).sealed == 1
    assert verify(db.engine, key.public_key, key.origin).ok


def test_a_full_batch_does_not_move_the_watermark_past_what_it_sealed(app):
    key = log_key()
    seqs = write(5)
    seal_once(db.engine, key, batch=2, grace_seconds=0)
    seal_once(db.engine, key, batch=2, grace_seconds=0)
    assert checkpoints()[-1].low_watermark <= seqs[3]
    seal_pending(db.engine, key, batch=2, grace_seconds=0)
    assert [s for _, s, _ in leaves()] == seqs


def test_a_second_postgresql_sealer_steps_aside_while_the_leader_holds_the_lock(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks exist only on PostgreSQL")
    write(2)
    other = create_engine(database_url)
    try:
        with other.begin() as conn:
            assert conn.scalar(text(f"SELECT pg_try_advisory_xact_lock({ADVISORY_LOCK_KEY})"))
            result = seal_once(db.engine, log_key())
            assert result.locked_out and result.sealed == 0
        assert seal_once(db.engine, log_key()).sealed == 2
    finally:
        other.dispose()


def test_concurrent_sealers_and_writers_never_double_seal(app, database_url):
    """Several sealers race while entries keep arriving; every entry ends up exactly once."""
    key = log_key()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with app.app_context():
                for _ in range(40):
                    write(1)
        except BaseException as exc:
            errors.append(exc)

    def sealer() -> None:
        try:
            with app.app_context():
                while not stop.is_set():
                    seal_pending(db.engine, key, batch=7)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer) for _ in range(3)]
    sealers = [threading.Thread(target=sealer) for _ in range(3)]
    for t in writers + sealers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in sealers:
        t.join()
    assert not errors, errors
    seal_pending(db.engine, key)
    sealed = [s for _, s, _ in leaves()]
    assert len(sealed) == len(set(sealed)) == 120
    assert set(sealed) == set(event_rows())
    sizes = [cp.tree_size for cp in checkpoints()]
    assert sizes == sorted(set(sizes)) and sizes[-1] == 120
    assert verify(db.engine, key.public_key, key.origin).ok


def test_periodic_sealer_seals_in_the_background(app):
    write(3)
    sealer = PeriodicSealer(app, interval=0.05)
    sealer.ensure_started()
    sealer.ensure_started()  # once per process
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(leaves()) < 3:
            time.sleep(0.05)
    finally:
        sealer.stop()
    assert len(leaves()) == 3


def test_periodic_sealer_is_off_in_tests_and_on_by_configuration(app):
    from caseops.audit.seal import register_periodic_sealer

    assert "caseops_audit_sealer" not in app.extensions
    app.config["CASEOPS_AUDIT_SEAL_INTERVAL"] = 30
    sealer = register_periodic_sealer(app)
    assert sealer is not None and sealer.interval == 30


def test_cli_seal_and_verify(app):
    write(4)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "seal"])
    assert result.exit_code == 0, result.output
    assert "sealed 4 entries; tree size 4" in result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 4 entries")
    result = runner.invoke(args=["audit", "checkpoint"])
    assert json.loads(result.output)["tree_size"] == 4


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_leaves SET event_seq = event_seq",
        "DELETE FROM audit_leaves",
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_nodes",
        "UPDATE audit_checkpoints SET signature = signature",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_seal_tables_are_append_only_too(app, database_url, statement):
    from sqlalchemy.exc import DBAPIError

    write(4)
    seal_once(db.engine, log_key())
    engine = create_engine(database_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
