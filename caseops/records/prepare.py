"""Preparing records for writing: parse and validate a line, then digest, encrypt,
normalise and pseudonymise its record. Everything here depends on the record alone
(and the keys), nothing on the database or Flask.

That is about a third of a bulk load's Python work, and Python runs one thread at a
time: a load of several chunks prepares the chunks after the first in a worker process
(``Preparer``), while this process plans and writes. A worker that cannot be started
or dies is replaced by preparing in this process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import orjson
from marshmallow import ValidationError

from caseops.crypto import Keyring
from caseops.errors import flatten_messages
from caseops.matching.engine import Features, normalize_person
from caseops.matching.engine.identifiers import identifier_rows
from caseops.matching.engine.normalize import features_to_json
from caseops.records.schemas import load_bulk_line
from caseops.storage.gcpause import gc_paused

log = logging.getLogger(__name__)

RawLine = tuple[int, str]  # (line number, text)


@dataclass(frozen=True)
class Keys:
    """What preparing needs of the configuration: the encryption keys (as configured)
    and the pseudonym key."""

    encryption: str
    pseudonym: bytes

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Keys:
        return cls(config["CASEOPS_ENCRYPTION_KEYS"], config["CASEOPS_PSEUDONYM_KEY"].encode())


@dataclass(eq=False)
class Item:
    """One record, ready to be planned: the validated body and everything derived from
    it alone."""

    source_record_id: str
    body: dict[str, Any]
    digest: str
    person_encrypted: str
    data_encrypted: str
    features: Features
    linkage_encrypted: str
    rows: set[tuple[str, int]]


def person_context(agency_code: str, source_record_id: str) -> str:
    return f"record:{agency_code}:{source_record_id}:person"


def data_context(agency_code: str, source_record_id: str) -> str:
    return f"record:{agency_code}:{source_record_id}:data"


def linkage_context(agency_code: str, source_record_id: str) -> str:
    return f"record:{agency_code}:{source_record_id}:linkage"


def encrypt_features(
    keyring: Keyring, agency_code: str, source_record_id: str, features: Features
) -> str:
    """The record's stored linkage features (see migration 0011)."""
    plaintext = orjson.dumps(features_to_json(features))
    return keyring.encrypt(plaintext, linkage_context(agency_code, source_record_id))


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the body's canonical JSON (sorted keys, no spaces, ASCII, dates as
    ISO strings). Stored with every record, so the bytes must never change: a replayed
    body would no longer be recognised as the same."""
    canonical = json.dumps(body, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plaintext(value: Any) -> bytes:
    """JSON bytes to encrypt, dates as ISO strings: orjson, or the standard encoder for
    what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return json.dumps(value, default=str).encode()


_keyrings: dict[str, Keyring] = {}


def _keyring(spec: str) -> Keyring:
    keyring = _keyrings.get(spec)
    if keyring is None:
        keyring = _keyrings[spec] = Keyring.parse(spec)
    return keyring


def item(agency_code: str, source_record_id: str, body: dict[str, Any], keys: Keys) -> Item:
    """Prepare one validated PUT body."""
    keyring = _keyring(keys.encryption)
    person = body["person"]
    features = normalize_person(person)
    return Item(
        source_record_id=source_record_id,
        body=body,
        digest=body_digest(body),
        person_encrypted=keyring.encrypt(
            _plaintext(person), person_context(agency_code, source_record_id)
        ),
        data_encrypted=keyring.encrypt(
            _plaintext(body["data"]), data_context(agency_code, source_record_id)
        ),
        features=features,
        linkage_encrypted=encrypt_features(keyring, agency_code, source_record_id, features),
        rows=identifier_rows(person, keys.pseudonym, features),
    )


def _parse(line: str) -> Any:
    """orjson for speed; the standard parser where orjson refuses, for its answer and
    its error message (it also takes integers beyond 64 bits, which validation then
    names)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _validate(line: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The line's PUT body, or None with the errors in ``entry``; the entry names the
    record whenever the line does, valid or not."""
    try:
        raw = _parse(line)
    except json.JSONDecodeError as exc:
        entry.update(status="error", errors={"_line": [f"Not JSON: {exc.msg}."]})
        return None
    if isinstance(raw, dict) and isinstance(raw.get("source_record_id"), str):
        entry["source_record_id"] = raw["source_record_id"]
    try:
        body = load_bulk_line(raw)
    except ValidationError as exc:
        entry.update(status="error", errors=flatten_messages(exc.messages))
        return None
    body.pop("source_record_id")
    return body


Prepared = list[tuple[dict[str, Any], Item | None]]  # report entry, and the item if valid


def prepare_lines(agency_code: str, lines: list[RawLine], keys: Keys) -> Prepared:
    """Each line's report entry so far, and its item if the line is valid."""
    prepared: Prepared = []
    with gc_paused():
        for number, line in lines:
            entry: dict[str, Any] = {"line": number}
            body = _validate(line, entry)
            srid = entry.get("source_record_id")
            prepared.append((entry, None if body is None else item(agency_code, srid, body, keys)))
    return prepared


# -- the worker process -------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: tuple[Keys, ProcessPoolExecutor] | None = None


def _worker_pool(keys: Keys) -> ProcessPoolExecutor:
    """The process's worker (one, started once, for these keys)."""
    global _pool
    with _pool_lock:
        if _pool is not None and _pool[0] != keys:
            _pool[1].shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            # spawn, not fork: the parent runs threads (gunicorn, the bulk writer).
            context = multiprocessing.get_context("spawn")
            _pool = (keys, ProcessPoolExecutor(1, mp_context=context))
        return _pool[1]


def warm_worker(keys: Keys) -> None:
    """Start the worker now rather than on a load's second chunk (about a second)."""
    _worker_pool(keys).submit(prepare_lines, "", [], keys).result()


def _discard_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool[1].shutdown(wait=False, cancel_futures=True)
            _pool = None


class Preparer:
    """Prepares the chunks of a load in order; with ``parallel``, the chunks after the
    first in the worker process, ``depth`` of them ahead of the one being written."""

    def __init__(self, agency_code: str, keys: Keys, *, parallel: bool, depth: int = 2):
        self._agency = agency_code
        self._keys = keys
        self._parallel = parallel
        self._depth = depth

    def _submit(self, lines: list[RawLine]) -> Future[Prepared] | list[RawLine]:
        if not self._parallel:
            return lines
        try:
            return _worker_pool(self._keys).submit(prepare_lines, self._agency, lines, self._keys)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("bulk preparation worker unavailable (%s); preparing in-process", exc)
            self._parallel = False
            _discard_pool()
            return lines

    def _result(self, pending: Future[Prepared] | list[RawLine]) -> Prepared:
        if isinstance(pending, list):
            return prepare_lines(self._agency, pending, self._keys)
        try:
            return pending.result()
        except BrokenProcessPool as exc:
            log.warning("bulk preparation worker died (%s); preparing in-process", exc)
            self._parallel = False
            _discard_pool()
            return prepare_lines(self._agency, pending.lines, self._keys)

    def prepared(self, chunks: Iterable[list[RawLine]]) -> Iterator[Prepared]:
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        ahead: deque[Future[Prepared] | list[RawLine]] = deque()
        for _ in range(self._depth if self._parallel else 0):
            lines = next(chunks, None)
            if lines is None:
                break
            ahead.append(self._tagged(lines))
        yield prepare_lines(self._agency, first, self._keys)
        while ahead:
            pending = ahead.popleft()
            lines = next(chunks, None)
            if lines is not None:
                ahead.append(self._tagged(lines))
            yield self._result(pending)
        for lines in chunks:  # only when not parallel
            yield prepare_lines(self._agency, lines, self._keys)

    def _tagged(self, lines: list[RawLine]) -> Future[Prepared] | list[RawLine]:
        pending = self._submit(lines)
        if not isinstance(pending, list):
            pending.lines = lines  # type: ignore[attr-defined] # to redo them if the worker dies
        return pending
