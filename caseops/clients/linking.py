"""Real-time linkage against the database: the pure engine in caseops.linkage, fed with
the candidates that share a pseudonymous blocking key with the incoming record.

Identifiers are stored only as keyed HMAC pseudonyms (``record_identifiers``); the
names and dates the comparators need are decrypted in memory for the few candidates a
block yields, never written anywhere in clear.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from caseops.clients.models import Client, KeptApart, LinkEvent, RecordIdentifier, ReviewItem
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.linkage import Decision, Features, Linker, blocking_keys, normalize_person
from caseops.linkage.normalize import name_tokens
from caseops.linkage.pseudonym import identifier_pseudonyms, pseudonym
from caseops.linkage.scoring import DEFAULT_PARAMS
from caseops.records.models import SourceRecord

# A blocking key shared by more records than this (a shelter's phone, a placeholder
# birth date) tells little and would compare everyone with everyone.
MAX_BLOCK_SIZE = 500
# As in the engine's in-memory NameFrequencies: shares are blended with the parameters'
# chance agreement as if this many records had been seen, so a young index does not
# make every name look rare.
PRIOR_RECORDS = 1000
CHANCE_AGREEMENT = {
    "given": DEFAULT_PARAMS.u["given"]["exact"],
    "family": DEFAULT_PARAMS.u["family"]["exact"],
    "family_part": DEFAULT_PARAMS.u["family"]["part"],
}
NEW_RECORD = "new"


def pseudonym_key() -> bytes:
    return current_app.config["CASEOPS_PSEUDONYM_KEY"].encode()


def person_context(agency_code: str, source_record_id: str) -> str:
    return f"record:{agency_code}:{source_record_id}:person"


def decrypt_person(record: SourceRecord) -> dict[str, Any]:
    keyring = keyring_from_config(current_app.config)
    context = person_context(record.agency.code, record.source_record_id)
    return json.loads(keyring.decrypt(record.person_encrypted, context))


def search_terms(person: Mapping[str, Any], key: bytes) -> set[str]:
    """Pseudonyms of every name word (and canonical given name) for client search."""
    features = normalize_person(person)
    words = set(features.given_canonical) | set(features.family_parts)
    for name in ("given_name", "middle_name", "family_name"):
        words.update(name_tokens(person.get(name)))
    return {pseudonym(key, "name", word) for word in words if len(word) > 1}


# Name frequencies are counted over pseudonyms too: how many records carry this given
# name, family name or family-name part (the engine weighs agreement on a rare name more).
FREQUENCY_KINDS = {"given": "nf_given", "family": "nf_family", "family_part": "nf_part"}
FREQUENCY_TOTALS_TTL = 60.0
_totals_cache: dict[str, Any] = {}


def _name_values(features: Features) -> set[tuple[str, str]]:
    values = set()
    if features.given and len(features.given) > 1:
        values.add(("given", features.given))
    if features.family:
        values.add(("family", features.family))
        values.update(("family_part", part) for part in features.family_parts)
    return values


def _frequency_rows(features: Features, key: bytes) -> set[tuple[str, str]]:
    return {
        (FREQUENCY_KINDS[kind], pseudonym(key, FREQUENCY_KINDS[kind], value))
        for kind, value in _name_values(features)
    }


def _record_total() -> int:
    """Current records, recounted at most once a minute per process (a share, not a fact)."""
    cached = _totals_cache.get("records")
    if cached is None or time.monotonic() - cached[0] > FREQUENCY_TOTALS_TTL:
        total = (
            db.session.scalar(
                select(func.count())
                .select_from(SourceRecord)
                .where(SourceRecord.withdrawn_at.is_(None))
            )
            or 0
        )
        cached = (time.monotonic(), total)
        _totals_cache["records"] = cached
    return cached[1]


def database_frequencies(people: Iterable[Features], key: bytes):
    """The engine's name-frequency function, answered from the pseudonym counts of the
    names that the incoming record and its candidates carry (one query)."""
    wanted = {row for features in people for row in _frequency_rows(features, key)}
    counts = dict.fromkeys(wanted, 0)
    if wanted:
        for kind, value, count in db.session.execute(
            select(RecordIdentifier.kind, RecordIdentifier.value, func.count())
            .where(
                RecordIdentifier.kind.in_(list(FREQUENCY_KINDS.values())),
                RecordIdentifier.value.in_([v for _, v in wanted]),
            )
            .group_by(RecordIdentifier.kind, RecordIdentifier.value)
        ):
            if (kind, value) in counts:
                counts[(kind, value)] = count
    total = _record_total()

    def frequency(kind: str, value: str) -> float | None:
        stored = FREQUENCY_KINDS.get(kind)
        if stored is None:
            return None
        default = CHANCE_AGREEMENT[kind]
        count = counts.get((stored, pseudonym(key, stored, value)), 0)
        return (count + PRIOR_RECORDS * default) / (total + PRIOR_RECORDS)

    return frequency


def identifier_rows(person: Mapping[str, Any], key: bytes) -> set[tuple[str, str]]:
    features = normalize_person(person)
    rows = {("block", value) for value in blocking_keys(features, key)}
    rows |= _frequency_rows(features, key)
    rows |= set(identifier_pseudonyms(features, key).items())
    rows |= {("name", value) for value in search_terms(person, key)}
    return rows


def store_identifiers(record: SourceRecord, person: Mapping[str, Any]) -> None:
    """Replace the record's pseudonymous identifiers (inside the caller's transaction)."""
    key = pseudonym_key()
    wanted = identifier_rows(person, key)
    existing = {
        (row.kind, row.value): row
        for row in db.session.scalars(
            select(RecordIdentifier).where(RecordIdentifier.record_id == record.id)
        )
    }
    for pair, row in existing.items():
        if pair not in wanted:
            db.session.delete(row)
    for kind, value in wanted - set(existing):
        db.session.add(RecordIdentifier(record_id=record.id, kind=kind, value=value))


def new_client() -> Client:
    client = Client(id=secrets.token_hex(16))
    db.session.add(client)
    db.session.flush()
    return client


def kept_apart_with(record_id: int | None) -> set[int]:
    if record_id is None:
        return set()
    rows = db.session.execute(
        select(KeptApart.record_a_id, KeptApart.record_b_id).where(
            or_(KeptApart.record_a_id == record_id, KeptApart.record_b_id == record_id)
        )
    )
    return {a if b == record_id else b for a, b in rows}


def _candidates(keys: Iterable[str], exclude: int | None) -> list[SourceRecord]:
    keys = list(keys)
    if not keys:
        return []
    crowded = set(
        db.session.scalars(
            select(RecordIdentifier.value)
            .where(RecordIdentifier.kind == "block", RecordIdentifier.value.in_(keys))
            .group_by(RecordIdentifier.value)
            .having(func.count() > MAX_BLOCK_SIZE)
        )
    )
    usable = [k for k in keys if k not in crowded]
    if not usable:
        return []
    ids = select(RecordIdentifier.record_id).where(
        RecordIdentifier.kind == "block", RecordIdentifier.value.in_(usable)
    )
    query = select(SourceRecord).where(
        SourceRecord.id.in_(ids), SourceRecord.withdrawn_at.is_(None)
    )
    if exclude is not None:
        query = query.where(SourceRecord.id != exclude)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class LinkOutcome:
    decision: Decision
    client_id: str
    reason: str
    score: float | None
    candidate_record_id: int | None


def decide_link(person: Mapping[str, Any], record_id: int | None = None) -> LinkOutcome | None:
    """Run the engine for ``person`` against the database; None means 'a new client'."""
    key = pseudonym_key()
    features: Features = normalize_person(person)
    candidates = _candidates(blocking_keys(features, key), record_id)
    if not candidates:
        return None
    apart = {str(other) for other in kept_apart_with(record_id)}
    people = {str(c.id): normalize_person(decrypt_person(c)) for c in candidates}

    def kept_apart(a: str, b: str) -> bool:
        return NEW_RECORD in (a, b) and (b if a == NEW_RECORD else a) in apart

    linker = Linker(
        key,
        kept_apart=kept_apart,
        max_block_size=MAX_BLOCK_SIZE,
        frequencies=database_frequencies([features, *people.values()], key),
    )
    for candidate in candidates:
        linker.add(str(candidate.id), candidate.client_id, people[str(candidate.id)])
    result = linker.match(NEW_RECORD, features)
    if result.decision is Decision.NEW or result.client_id is None:
        return None
    best = result.candidates[0]
    return LinkOutcome(
        decision=result.decision,
        client_id=result.client_id,
        reason=result.reason,
        score=round(best.score.total_weight, 3),
        candidate_record_id=int(best.record_id),
    )


def place_new_record(record: SourceRecord, person: Mapping[str, Any], actor_name: str) -> dict:
    """Give a new record its client: link, provisional client + review item, or new client."""
    outcome = decide_link(person)
    if outcome is not None and outcome.decision is Decision.LINK:
        record.client_id = outcome.client_id
        action = "auto_link"
    else:
        record.client_id = new_client().id
        action = "review_new" if outcome is not None else "new_client"
    db.session.add(record)
    db.session.flush()
    db.session.add(
        LinkEvent(
            record_id=record.id,
            from_client_id=None,
            to_client_id=record.client_id,
            action=action,
            score=outcome.score if outcome else None,
            reason=(outcome.reason if outcome else "no candidate")[:200],
            actor=actor_name,
        )
    )
    if outcome is not None and outcome.decision is Decision.REVIEW:
        db.session.add(
            ReviewItem(
                record_id=record.id,
                candidate_record_id=outcome.candidate_record_id,
                candidate_client_id=outcome.client_id,
                score=outcome.score or 0.0,
            )
        )
    return {
        "decision": {"auto_link": "link", "review_new": "review", "new_client": "new"}[action],
        "reason": outcome.reason if outcome else "no candidate",
    }


def records_by_client(client_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
    grouped: defaultdict[str, list[SourceRecord]] = defaultdict(list)
    query = select(SourceRecord).where(
        SourceRecord.client_id.in_(list(client_ids)), SourceRecord.withdrawn_at.is_(None)
    )
    for record in db.session.scalars(query):
        grouped[record.client_id].append(record)
    return grouped


def rebuild(actor_name: str, progress=None) -> dict[str, int]:
    """Re-link every current record in one batch with the current weights and keys.

    A steward's decisions stand: records a steward linked or unlinked stay where they are
    and kept-apart pairs stay apart. Pseudonyms are recomputed (so this also follows a
    change of CASEOPS_PSEUDONYM_KEY). Moves are link events like any other.
    """
    key = pseudonym_key()
    records = list(
        db.session.scalars(
            select(SourceRecord)
            .where(SourceRecord.withdrawn_at.is_(None))
            .order_by(SourceRecord.id)
        )
    )
    latest: dict[int, str] = {}
    for record_id, action in db.session.execute(
        select(LinkEvent.record_id, LinkEvent.action).order_by(LinkEvent.id)
    ):
        latest[record_id] = action
    pairs = {
        frozenset((str(a), str(b)))
        for a, b in db.session.execute(select(KeptApart.record_a_id, KeptApart.record_b_id))
    }
    linker = Linker(
        key,
        kept_apart=lambda a, b: frozenset((a, b)) in pairs,
        max_block_size=MAX_BLOCK_SIZE,
    )
    people = {r.id: decrypt_person(r) for r in records}
    pinned = [r for r in records if latest.get(r.id) in ("steward_link", "steward_unlink", "undo")]
    for record in pinned:
        linker.add(str(record.id), record.client_id, normalize_person(people[record.id]))
    used = {r.client_id for r in pinned}
    pinned_ids = {r.id for r in pinned}
    counts = {"records": len(records), "moved": 0, "pinned": len(pinned)}
    for record in records:
        store_identifiers(record, people[record.id])
        if progress is not None:
            progress(record)
        if record.id in pinned_ids:
            continue
        features = normalize_person(people[record.id])
        result = linker.match(str(record.id), features)
        if result.decision is Decision.LINK and result.client_id is not None:
            target = result.client_id
        elif record.client_id not in used:
            target = record.client_id
        else:
            target = new_client().id
        if target != record.client_id:
            db.session.add(
                LinkEvent(
                    record_id=record.id,
                    from_client_id=record.client_id,
                    to_client_id=target,
                    action="auto_link" if result.decision is Decision.LINK else "new_client",
                    reason=f"rebuild: {result.reason}"[:200],
                    actor=actor_name,
                )
            )
            record.client_id = target
            counts["moved"] += 1
        used.add(target)
        linker.add(str(record.id), target, features)
    db.session.commit()
    return counts
