"""Real-time linkage against the database: the pure engine in caseops.matching.engine, fed with
the candidates that share a pseudonymous blocking key with the incoming record.

Identifiers are stored only as keyed HMAC pseudonyms (``record_identifiers``); the
names and dates the comparators need are decrypted in memory for the few candidates a
block yields, never written anywhere in clear.

Records arrive in chunks (a bulk load: hundreds; a PUT: one). ``place`` decides the
client of every new record of a chunk with a fixed number of queries, in order, as if
each earlier record of the chunk had been written before the next one is decided: the
blocking index and the name counts it reads are the database's plus the chunk's own
changes so far, so records of one chunk link to each other exactly as one by one.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from flask import current_app
from sqlalchemy import (
    delete,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import joinedload

from caseops.agencies.models import Agency
from caseops.clients.models import (
    Client,
    IdentifierScheme,
    KeptApart,
    LinkEvent,
    RecordIdentifier,
    ReviewItem,
)
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.matching import claims, rehoming, training
from caseops.matching.engine import Decision, Features, LinkageModel, Linker, normalize_person
from caseops.matching.engine.identifiers import (
    FREQUENCY_KINDS,
    IDENTIFIER_SCHEME,
    block_values,
    identifier_rows,
    name_values,
)
from caseops.matching.engine.normalize import features_from_json
from caseops.matching.engine.pseudonym import pseudonym
from caseops.matching.engine.scoring import DEFAULT_PARAMS
from caseops.records.models import SourceRecord
from caseops.records.prepare import encrypt_features, linkage_context, person_context
from caseops.storage.bulk import insert_mappings, insert_rows
from caseops.storage.dialect import among, batches, slices
from caseops.storage.gcpause import gc_paused

# A blocking key shared by more records than this (a shelter's phone, a placeholder
# birth date) tells little and would compare everyone with everyone.
MAX_BLOCK_SIZE = 500
# As in the engine's in-memory NameFrequencies: shares are blended with the parameters'
# chance agreement as if this many records had been seen, so a young index does not
# make every name look rare.
PRIOR_RECORDS = 1000


def chance_agreement(model: LinkageModel) -> dict[str, float]:
    """The model's chance agreement on a name, the default of every name's share."""
    u = model.params.u
    return {
        "given": u["given"]["exact"],
        "family": u["family"]["exact"],
        "family_part": u["family"]["part"],
    }


CHANCE_AGREEMENT = chance_agreement(LinkageModel(DEFAULT_PARAMS))
NEW_RECORD = "new"
_IDENTIFIERS = RecordIdentifier.__table__


_SCHEME_RECHECK_SECONDS = 60.0


def indexed_under(version: int = IDENTIFIER_SCHEME) -> bool:
    """Whether every stored record is indexed under identifier scheme ``version``
    (``identifier_schemes``). Once true it stays true, so the answer is kept for the
    app's life; a false one is asked again after a minute (a reindex may have finished).
    A stale false only sends search down the slower path to the same answer."""
    seen = current_app.extensions.setdefault("caseops.identifier_schemes", {})
    known = seen.get(version)  # True, or when it was last found missing
    if known is True:
        return True
    if known is not None and time.monotonic() - known < _SCHEME_RECHECK_SECONDS:
        return False
    found = db.session.scalar(
        select(IdentifierScheme.version).where(IdentifierScheme.version >= version).limit(1)
    )
    seen[version] = True if found is not None else time.monotonic()
    return found is not None


def _record_scheme(version: int) -> None:
    """Record that every stored record is now indexed under ``version``."""
    if db.session.get(IdentifierScheme, version) is None:
        db.session.add(IdentifierScheme(version=version))


def pseudonym_key() -> bytes:
    return current_app.config["CASEOPS_PSEUDONYM_KEY"].encode()


def _decrypt(agency_code: str, source_record_id: str, ciphertext: str) -> dict[str, Any]:
    keyring = keyring_from_config(current_app.config)
    return orjson.loads(keyring.decrypt(ciphertext, person_context(agency_code, source_record_id)))


def decrypt_person(record: SourceRecord) -> dict[str, Any]:
    return _decrypt(record.agency.code, record.source_record_id, record.person_encrypted)


FREQUENCY_TOTALS_TTL = 60.0
_totals_cache: dict[str, Any] = {}


def _lookups(features: Features) -> set[tuple[str, str]]:
    """Every name frequency the engine may ask for when it scores this record: agreeing
    names are always names of the incoming record, under any of the three kinds (a
    swapped pair asks for the given name as a family name too)."""
    names = {features.given, features.family, *features.family_parts} - {None}
    return {(kind, name) for kind in FREQUENCY_KINDS for name in names}


def _record_total(unseen: int = 0) -> int:
    """Current records, recounted at most once a minute per process (a share, not a
    fact); the records this process creates meanwhile count at once (``_created``), so
    a fast load into a young index does not weigh names against a stale total.
    ``unseen``: records this process placed that the count cannot see yet (a chunk
    being written), added to a fresh count."""
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
        cached = (time.monotonic(), total + unseen)
        _totals_cache["records"] = cached
    return cached[1]


def _created(count: int) -> None:
    cached = _totals_cache.get("records")
    if cached is not None:
        _totals_cache["records"] = (cached[0], cached[1] + count)


def new_client_id() -> str:
    """A master client id: random and opaque, never derived from identifiers."""
    return secrets.token_hex(16)


def new_client() -> Client:
    client = Client(id=new_client_id())
    db.session.add(client)
    db.session.flush()
    return client


@dataclass(frozen=True)
class LinkOutcome:
    decision: Decision
    client_id: str
    reason: str
    score: float | None
    candidate: str  # label of the best candidate record (see Placement.label)


class LinkedRecord(Protocol):
    """What linkage reads and sets of a record: a stored row or a plain copy of one."""

    id: int | None
    client_id: str | None


@dataclass(eq=False)
class Placement:
    """One written record of a chunk, as linkage sees it.

    ``new`` records get their client from ``place`` (``record.client_id``); an updated
    record keeps its client but its identifiers change, which later records of the
    chunk must see.
    """

    record: LinkedRecord
    person: Mapping[str, Any]
    new: bool
    # Computed from ``person`` unless given (bulk ingest computes them in a worker).
    features: Features = None  # type: ignore[assignment]
    rows: set[tuple[str, int]] = None  # type: ignore[assignment]  # pseudonyms to store
    label: str = ""
    fresh_client: bool = False
    refreshed: bool = False  # reindex rewrote its stored linkage features
    outcome: LinkOutcome | None = None
    # An updated record's identifiers as stored.
    stored: set[tuple[str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.features is None:
            self.features = normalize_person(self.person)
        if self.rows is None:
            self.rows = identifier_rows(self.person, pseudonym_key(), self.features)

    @property
    def keys(self) -> set[int]:
        return block_values(self.rows)

    @property
    def link(self) -> dict[str, str]:
        """How a new record was placed, as the API reports it."""
        if self.outcome is None:
            return {"decision": "new", "reason": "no candidate"}
        return {"decision": str(self.outcome.decision), "reason": self.outcome.reason}


def _stored_rows(placements: Sequence[Placement]) -> None:
    """The identifiers the updated records of a chunk have now (one query)."""
    updated = {p.record.id: p for p in placements if not p.new}
    for ids in batches(updated):
        for record_id, kind, value in db.session.execute(
            select(_IDENTIFIERS.c.record_id, _IDENTIFIERS.c.kind, _IDENTIFIERS.c.value).where(
                among(_IDENTIFIERS.c.record_id, ids)
            )
        ):
            updated[record_id].stored.add((kind, value))


def _blocks(keys: set[int], limit: int) -> dict[int, set[str]]:
    """Members of each blocking key that holds at most ``limit`` records, in one query;
    keys holding more are left out (each answers with one row, to say so)."""
    members: dict[int, set[str]] = {key: set() for key in keys}
    for part in batches(keys):
        block = _IDENTIFIERS.c.value
        inner = (
            select(
                block,
                _IDENTIFIERS.c.record_id,
                func.count().over(partition_by=block).label("size"),
                func.row_number().over(partition_by=block).label("n"),
            )
            .where(among(block, part))
            .subquery()
        )
        query = select(inner.c.value, inner.c.record_id, inner.c.size).where(
            or_(inner.c.size <= limit, inner.c.n == 1)
        )
        for value, record_id, size in db.session.execute(query).all():
            if size > limit:
                members.pop(value, None)
            else:
                members[value].add(str(record_id))
    return members


def _current_people(labels: set[str]) -> dict[str, tuple[str, Features]]:
    """Client and features of the current (not withdrawn) records among ``labels``: the
    stored features where a record has them, else normalised from its person."""
    keyring = keyring_from_config(current_app.config)
    people: dict[str, tuple[str, Features]] = {}
    for ids in batches(int(label) for label in labels):
        query = (
            select(
                SourceRecord.id,
                SourceRecord.client_id,
                SourceRecord.linkage_encrypted,
                SourceRecord.person_encrypted,
                SourceRecord.source_record_id,
                Agency.code,
            )
            .join(Agency, SourceRecord.agency_id == Agency.id)
            .where(among(SourceRecord.id, ids), SourceRecord.withdrawn_at.is_(None))
        )
        rows = db.session.execute(query).all()
        for record_id, client_id, linkage, person, srid, agency_code in rows:
            features = None
            if linkage is not None:
                stored = keyring.decrypt(linkage, linkage_context(agency_code, srid))
                features = features_from_json(orjson.loads(stored))
            if features is None:
                features = normalize_person(_decrypt(agency_code, srid, person))
            people[str(record_id)] = (client_id, features)
    return people


def _name_counts(values: set[int]) -> Counter[int]:
    """How many records carry each of these name-count pseudonyms (one query)."""
    counts: Counter[int] = Counter()
    for part in batches(values):
        query = (
            select(_IDENTIFIERS.c.value, func.count())
            .where(among(_IDENTIFIERS.c.value, part))
            .group_by(_IDENTIFIERS.c.value)
        )
        for value, count in db.session.execute(query).all():
            counts[value] = count
    return counts


def _label_order(label: str) -> tuple[int, int]:
    """Stored records by id, then an earlier chunk's new ones, then this chunk's, each
    in order: the order in which they were (or would be) stored."""
    if label[0] == "^":
        return 1, int(label[1:])
    if label[0] == "+":
        return 2, int(label[1:])
    return 0, int(label)


def _earlier_label(index: int, placement: Placement) -> str:
    return str(placement.record.id) if not placement.new else f"^{index}"


class _ChunkIndex:
    """The blocking index and name counts as the database shows them after every
    earlier record of the chunk was written: the database's figures plus the chunk's
    changes, applied in order.

    ``earlier`` holds the placements of a chunk placed but not yet visible to the
    database reads (its write is under way, see records.pipeline): they are applied
    first, as if stored, so the result is the one the database would give once that
    chunk is committed."""

    def __init__(
        self,
        placements: Sequence[Placement],
        key: bytes,
        earlier: Sequence[Placement] = (),
        model: LinkageModel | None = None,
    ) -> None:
        self._key = key
        self.model = model or training.current_model()
        self._chance = chance_agreement(self.model)
        incoming = [p for p in placements if p.new]
        updates = sum(not p.new for p in (*earlier, *placements))
        # Keys crowded beyond this stay crowded whatever the chunks' updates remove.
        self.members = _blocks({k for p in incoming for k in p.keys}, MAX_BLOCK_SIZE + updates)
        self.people = _current_people({m for ms in self.members.values() for m in ms})
        # Counted are the names the engine may ask for that a record of the chunk or a
        # candidate carries; any other name counts as unseen (see ``frequencies``).
        self.names = {label: name_values(features) for label, (_, features) in self.people.items()}
        carried = set().union(
            *(name_values(p.features) for p in (*earlier, *placements)), *self.names.values()
        )
        asked = set().union(*(_lookups(p.features) for p in incoming)) & carried
        self.counts = _name_counts({pseudonym(key, FREQUENCY_KINDS[kind], v) for kind, v in asked})
        self.total = _record_total(unseen=sum(p.new for p in earlier))
        for index, placement in enumerate(earlier):
            # The record total counts them already (see ``_record_total``).
            label = _earlier_label(index, placement)
            self.write(placement, placement.record.client_id, label, count=False)

    def candidates(self, keys: set[int]) -> list[str]:
        """Current records sharing a usable key, stored ones first, oldest first (the
        engine gives a tie to the first)."""
        found: set[str] = set()
        for key in keys:
            members = self.members.get(key)
            if members is not None and len(members) <= MAX_BLOCK_SIZE:
                found |= members
        return sorted((label for label in found if label in self.people), key=_label_order)

    def frequencies(self, names: set[tuple[str, str]]):
        """The engine's name-frequency function. ``names`` are the names of the record
        and its candidates: as when each record's counts were queried for those only,
        any other name counts as unseen."""

        def frequency(kind: str, value: str) -> float | None:
            stored = FREQUENCY_KINDS.get(kind)
            if stored is None:
                return None
            seen = (kind, value) in names
            count = self.counts[pseudonym(self._key, stored, value)] if seen else 0
            default = self._chance[kind]
            return (count + PRIOR_RECORDS * default) / (self.total + PRIOR_RECORDS)

        return frequency

    def write(self, placement: Placement, client_id: str, label: str, count: bool = True) -> None:
        """Apply one record's identifiers as storing them would."""
        before, after = placement.stored, placement.rows
        for rows, step in ((before - after, -1), (after - before, 1)):
            for kind, value in rows:
                members = self.members.get(value) if kind == "block" else None
                if members is not None and step > 0:
                    members.add(label)
                elif members is not None:
                    members.discard(label)
                elif kind in FREQUENCY_KINDS.values():
                    self.counts[value] += step
        self.people[label] = (client_id, placement.features)
        self.names[label] = name_values(placement.features)
        self.total += count and placement.new


def place(placements: Sequence[Placement], earlier: Sequence[Placement] = ()) -> None:
    """Decide the client of every new record of a chunk (reads only; see the module
    docstring), after the ``earlier`` chunk's placements (see ``_ChunkIndex``). A new
    record has no kept-apart pairs yet, so none are consulted."""
    for index, placement in enumerate(placements):
        placement.label = f"+{index}" if placement.new else str(placement.record.id)
    _stored_rows(placements)
    if not any(p.new for p in placements):
        return
    key = pseudonym_key()
    index = _ChunkIndex(placements, key, earlier)
    for placement in placements:
        if placement.new:
            placement.outcome = _decide(index, placement, key)
            if placement.outcome is not None and placement.outcome.decision is Decision.LINK:
                placement.record.client_id = placement.outcome.client_id
            else:
                placement.record.client_id = new_client_id()
                placement.fresh_client = True
        index.write(placement, placement.record.client_id, placement.label)
    _created(sum(p.new for p in placements))


def _decide(index: _ChunkIndex, placement: Placement, key: bytes) -> LinkOutcome | None:
    """Run the engine for one new record against its candidates; None means 'new'."""
    candidates = index.candidates(placement.keys)
    if not candidates:
        return None
    names = name_values(placement.features).union(*(index.names[label] for label in candidates))
    model = index.model
    linker = Linker(
        key,
        model.params,
        model.thresholds,
        frequencies=index.frequencies(names),
        blocking=False,
    )
    for label in candidates:
        client_id, features = index.people[label]
        linker.add(label, client_id, features)
    result = linker.match(NEW_RECORD, placement.features)
    if result.decision is Decision.NEW or result.client_id is None:
        return None
    best = result.candidates[0]
    return LinkOutcome(
        decision=result.decision,
        client_id=result.client_id,
        reason=result.reason,
        score=round(best.score.total_weight, 3),
        candidate=best.record_id,
    )


def create_clients(placements: Sequence[Placement]) -> None:
    """Insert the clients ``place`` made up for new people (before their records)."""
    fresh = [{"id": p.record.client_id} for p in placements if p.fresh_client]
    insert_mappings(db.session.connection(), Client.__table__, fresh)


_ACTIONS = {Decision.LINK: "auto_link", Decision.REVIEW: "review_new"}


def store_identifiers(placements: Sequence[Placement]) -> None:
    """Replace the stored identifiers of the chunk's records that changed with the ones
    they have now (a statement to delete, one to insert)."""
    stale = [(p.record.id, value) for p in placements for _, value in p.stored - p.rows]
    for part in slices(stale):
        key = tuple_(_IDENTIFIERS.c.record_id, _IDENTIFIERS.c.value)
        db.session.execute(delete(_IDENTIFIERS).where(key.in_(part)))
    insert_rows(
        db.session.connection(),
        _IDENTIFIERS,
        ("record_id", "kind", "value"),
        [(p.record.id, kind, value) for p in placements for kind, value in p.rows - p.stored],
    )


def store_placements(
    placements: Sequence[Placement], actor_name: str, earlier: Sequence[Placement] = ()
) -> None:
    """Identifiers, link events and review items of a placed chunk whose records have
    ids (a statement per table); ``earlier`` as given to ``place``, stored by now."""
    store_identifiers(placements)
    ids = {_earlier_label(i, p): p.record.id for i, p in enumerate(earlier)}
    ids |= {p.label: p.record.id for p in placements}
    events, reviews = [], []
    for p in (p for p in placements if p.new):
        outcome = p.outcome
        events.append(
            {
                "record_id": p.record.id,
                "from_client_id": None,
                "to_client_id": p.record.client_id,
                "action": _ACTIONS[outcome.decision] if outcome else "new_client",
                "score": outcome.score if outcome else None,
                "reason": (outcome.reason if outcome else "no candidate")[:200],
                "actor": actor_name,
            }
        )
        if outcome is not None and outcome.decision is Decision.REVIEW:
            reviews.append(
                {
                    "record_id": p.record.id,
                    "candidate_record_id": ids[outcome.candidate]
                    if outcome.candidate in ids
                    else int(outcome.candidate),
                    "candidate_client_id": outcome.client_id,
                    "score": outcome.score or 0.0,
                }
            )
    insert_mappings(db.session.connection(), LinkEvent.__table__, events)
    insert_mappings(db.session.connection(), ReviewItem.__table__, reviews)


REINDEX_CHUNK = 500


def _reindex_chunk(
    records: Sequence[SourceRecord], people: Mapping[int, Mapping[str, Any]]
) -> list[Placement]:
    """Bring the stored identifiers and linkage features of ``records`` up to date (a
    statement per kind of change, however many records); each placement keeps the rows
    it had in ``stored``, and ``refreshed`` says whether its features were rewritten."""
    keyring = keyring_from_config(current_app.config)
    placements = [Placement(record, people[record.id], new=False) for record in records]
    _stored_rows(placements)
    store_identifiers(placements)
    for placement in placements:
        record = placement.record
        context = linkage_context(record.agency.code, record.source_record_id)
        stored = record.linkage_encrypted
        current = (
            features_from_json(orjson.loads(keyring.decrypt(stored, context))) if stored else None
        )
        placement.refreshed = current != placement.features
        if placement.refreshed:
            record.linkage_encrypted = encrypt_features(
                keyring, record.agency.code, record.source_record_id, placement.features
            )
    return placements


def reindex(progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Recompute the pseudonymous identifiers and stored linkage features of every
    record, withdrawn ones too, without moving any: after a change of
    CASEOPS_PSEUDONYM_KEY, of the blocking keys or of normalisation. One transaction
    per chunk of ``REINDEX_CHUNK`` records, so it can be stopped and run again."""
    counts = {"records": 0, "changed": 0}
    last = 0
    while True:
        claims.claim_all()  # ingest reads the identifiers this rewrites
        records = list(
            db.session.scalars(
                select(SourceRecord)
                .options(joinedload(SourceRecord.agency))
                .where(SourceRecord.id > last)
                .order_by(SourceRecord.id)
                .limit(REINDEX_CHUNK)
            )
        )
        if not records:
            # Every record, those placed while this ran included (they were placed by
            # code of this version under the claim), now has this scheme's identifiers.
            _record_scheme(IDENTIFIER_SCHEME)
            db.session.commit()  # and gives the claim back
            return counts
        last = records[-1].id  # read before the commit expires it
        with gc_paused():
            people = {record.id: decrypt_person(record) for record in records}
            placements = _reindex_chunk(records, people)
        counts["changed"] += sum(p.rows != p.stored or p.refreshed for p in placements)
        db.session.commit()
        counts["records"] += len(records)
        if progress is not None:
            progress(len(records))


def records_by_client(client_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
    grouped: defaultdict[str, list[SourceRecord]] = defaultdict(list)
    query = select(SourceRecord).where(
        SourceRecord.client_id.in_(list(client_ids)), SourceRecord.withdrawn_at.is_(None)
    )
    for record in db.session.scalars(query):
        grouped[record.client_id].append(record)
    return grouped


def rebuild(
    actor_name: str,
    progress=None,
    dry_run: bool = False,
    model: LinkageModel | None = None,
) -> dict[str, Any]:
    """Re-link every current record in one batch with the current model and keys.

    A steward's decisions stand: records a steward linked or unlinked stay where they are
    and kept-apart pairs stay apart. Pseudonyms are recomputed (so this also follows a
    change of CASEOPS_PSEUDONYM_KEY). Moves are link events like any other, and what
    hangs on a client that lost records is re-homed (caseops.matching.rehoming).

    Reports the automatic links and reviews the model makes and, for a trained model,
    the expected number of wrong links among them (the sum of 1 - p). ``dry_run``: the
    same counts, nothing kept (the transaction is rolled back).
    """
    key = pseudonym_key()
    model = model or training.current_model()
    claims.claim_all()  # records written meanwhile would be linked against the old index
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
        model.params,
        model.thresholds,
        kept_apart=lambda a, b: frozenset((a, b)) in pairs,
        max_block_size=MAX_BLOCK_SIZE,
    )
    people = {r.id: decrypt_person(r) for r in records}
    features = {
        placement.record.id: placement.features
        for start in range(0, len(records), REINDEX_CHUNK)
        for placement in _reindex_chunk(records[start : start + REINDEX_CHUNK], people)
    }
    pinned = [r for r in records if latest.get(r.id) in ("steward_link", "steward_unlink", "undo")]
    for record in pinned:
        linker.add(str(record.id), record.client_id, features[record.id])
    used = {r.client_id for r in pinned}
    pinned_ids = {r.id for r in pinned}
    counts: dict[str, Any] = {
        "records": len(records),
        "moved": 0,
        "pinned": len(pinned),
        "links": 0,
        "reviews": 0,
        "expected_false_links": 0.0 if model.learned else None,
        "model_version": model.stats.get("version"),
    }
    lost: defaultdict[str, set[str]] = defaultdict(set)
    events: dict[str, LinkEvent] = {}
    for record in records:
        if progress is not None:
            progress(record)
        if record.id in pinned_ids:
            continue
        result = linker.match(str(record.id), features[record.id])
        if result.decision is Decision.LINK and result.client_id is not None:
            target = result.client_id
            counts["links"] += 1
            probability = model.probability(result.candidates[0].score.total_weight)
            if probability is not None:
                counts["expected_false_links"] += 1 - probability
        elif record.client_id not in used:
            target = record.client_id
        else:
            target = new_client().id
        counts["reviews"] += result.decision is Decision.REVIEW
        if target != record.client_id:
            event = LinkEvent(
                record_id=record.id,
                from_client_id=record.client_id,
                to_client_id=target,
                action="auto_link" if result.decision is Decision.LINK else "new_client",
                reason=f"rebuild: {result.reason}"[:200],
                actor=actor_name,
            )
            db.session.add(event)
            lost[record.client_id].add(target)
            events[record.client_id] = event
            record.client_id = target
            counts["moved"] += 1
        used.add(target)
        linker.add(str(record.id), target, features[record.id])
    if counts["expected_false_links"] is not None:
        counts["expected_false_links"] = round(counts["expected_false_links"], 3)
    if dry_run:
        db.session.rollback()
        return counts
    db.session.flush()
    decisions = rehoming.rehome(
        lost, actor_name, {client: event.id for client, event in events.items()}
    )
    counts["rehomed"] = rehoming.summary(decisions)
    db.session.commit()
    return counts
