"""In-memory linker: blocking index of existing records grouped by master client.

A new record is compared with every record sharing a blocking key; each client is
judged by its best-matching record. The database-backed linker keeps the same steps
with the index in tables.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from caseops.matching.engine.classify import (
    DEFAULT_THRESHOLDS,
    Classification,
    Decision,
    Thresholds,
    classify,
)
from caseops.matching.engine.frequency import NameFrequencies
from caseops.matching.engine.normalize import Features
from caseops.matching.engine.pseudonym import blocking_keys
from caseops.matching.engine.scoring import (
    DEFAULT_PARAMS,
    Frequencies,
    MatchScore,
    MUParameters,
    score,
)

KeptApart = Callable[[str, str], bool]
"""(new record id, existing record id or client id) -> a human said "different"."""

_RANK = {Decision.LINK: 2, Decision.REVIEW: 1, Decision.NEW: 0}


class KeptApartPairs:
    """Pairs a person declared different: record/record or record/client ids (so
    record and client ids must not share a namespace)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = {frozenset(pair) for pair in pairs}

    def add(self, a: str, b: str) -> None:
        self._pairs.add(frozenset((a, b)))

    def __call__(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._pairs


@dataclass(frozen=True, slots=True)
class ClientMatch:
    client_id: str
    record_id: str  # the client's best-matching record
    score: MatchScore
    classification: Classification


@dataclass(frozen=True, slots=True)
class LinkResult:
    """``client_id`` is the client linked to, or to review against; None when new.
    ``candidates`` holds every compared client, best first."""

    decision: Decision
    client_id: str | None
    reason: str
    candidates: tuple[ClientMatch, ...]


@dataclass(frozen=True, slots=True)
class _Indexed:
    client_id: str
    features: Features
    keys: frozenset[str]


def _never_kept_apart(_a: str, _b: str) -> bool:
    return False


class Linker:
    """Real-time linkage against an in-memory index.

    Blocking keys shared by more than ``max_block_size`` records (placeholder phones,
    a shelter's address) are ignored for retrieval: they would compare everyone with
    everyone while telling little. With ``name_frequencies`` name agreement is weighed
    by how common the name is among the indexed records, or by ``frequencies`` when the
    caller keeps the counts (a database indexing a few candidates at a time should:
    without them a common "Jose Garcia" with the same birth date weighs like a rare
    name, see ``NameFrequencies``). With ``blocking=False`` the caller has done the
    blocking itself (a database indexes only the candidates its blocking keys found),
    so every indexed record is compared and no keys are computed.
    """

    def __init__(
        self,
        key: bytes,
        params: MUParameters = DEFAULT_PARAMS,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        kept_apart: KeptApart = _never_kept_apart,
        max_block_size: int = 500,
        name_frequencies: bool = True,
        frequencies: Frequencies | None = None,
        blocking: bool = True,
    ) -> None:
        self._key = key
        self._blocking = blocking
        self.params = params
        self.thresholds = thresholds
        self._kept_apart = kept_apart
        self._max_block_size = max_block_size
        self._records: dict[str, _Indexed] = {}
        self._blocks: defaultdict[str, set[str]] = defaultdict(set)
        self._clients: defaultdict[str, set[str]] = defaultdict(set)
        self._counts = NameFrequencies(params) if name_frequencies and not frequencies else None
        self._frequencies = frequencies or self._counts

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record_id: str, client_id: str, features: Features) -> None:
        """Index a record under a client, replacing an earlier version of it."""
        self.remove(record_id)
        keys = frozenset(blocking_keys(features, self._key)) if self._blocking else frozenset()
        self._records[record_id] = _Indexed(client_id, features, keys)
        self._clients[client_id].add(record_id)
        if self._counts is not None:
            self._counts.add(features)
        for block in keys:
            self._blocks[block].add(record_id)

    def remove(self, record_id: str) -> None:
        indexed = self._records.pop(record_id, None)
        if indexed is None:
            return
        self._clients[indexed.client_id].discard(record_id)
        if self._counts is not None:
            self._counts.remove(indexed.features)
        if not self._clients[indexed.client_id]:
            del self._clients[indexed.client_id]
        for block in indexed.keys:
            self._blocks[block].discard(record_id)
            if not self._blocks[block]:
                del self._blocks[block]

    def _candidate_records(self, record_id: str, features: Features) -> Iterable[str]:
        if not self._blocking:  # in the order they were added, so ties go to the first
            return [other for other in self._records if other != record_id]
        found: set[str] = set()
        for block in blocking_keys(features, self._key):
            members = self._blocks.get(block)
            if members and len(members) <= self._max_block_size:
                found |= members
        found.discard(record_id)
        return found

    def _is_kept_apart(self, record_id: str, client_id: str) -> bool:
        return self._kept_apart(record_id, client_id) or any(
            self._kept_apart(record_id, other) for other in self._clients[client_id]
        )

    def _judge(self, features: Features, client_id: str, other: str) -> ClientMatch:
        scored = score(
            features,
            self._records[other].features,
            self.params,
            self._frequencies,
            address_once=self.thresholds.learned,
        )
        return ClientMatch(client_id, other, scored, classify(scored, self.thresholds))

    def match(self, record_id: str, features: Features) -> LinkResult:
        """Decide for a new (or changed) record without changing the index."""
        by_client: defaultdict[str, list[str]] = defaultdict(list)
        for other in self._candidate_records(record_id, features):
            by_client[self._records[other].client_id].append(other)
        matches: list[ClientMatch] = []
        for client_id, others in by_client.items():
            if self._is_kept_apart(record_id, client_id):
                continue
            matches.append(max((self._judge(features, client_id, o) for o in others), key=_order))
        matches.sort(key=_order, reverse=True)
        if not matches or matches[0].classification.decision is Decision.NEW:
            reason = matches[0].classification.reason if matches else "no candidates"
            return LinkResult(Decision.NEW, None, reason, tuple(matches))
        top = matches[0]
        return LinkResult(
            top.classification.decision, top.client_id, top.classification.reason, tuple(matches)
        )


def _order(match: ClientMatch) -> tuple[int, float]:
    return _RANK[match.classification.decision], match.score.total_weight
