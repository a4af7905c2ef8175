"""Preparing bulk lines in the worker process gives what preparing them here gives, and
a worker that is gone costs nothing but time."""

from __future__ import annotations

import base64
import json
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import orjson

from bench.ingest import line
from caseops.crypto import Keyring
from caseops.demo.synthetic import generate
from caseops.records import prepare

KEYS = prepare.Keys(
    "p1:" + base64.urlsafe_b64encode(b"p" * 32).decode(), b"prepare-test-pseudonym-key"
)


def chunks() -> list[list[prepare.RawLine]]:
    people = generate(40, agencies=1, seed=11)
    raw = [json.dumps(line(r, "housing", n)) for n, r in enumerate(people.files["A1"])]
    raw[3] = "{not json"
    raw[7] = json.dumps({"source_record_id": "X-7", "category": "astrology"})
    numbered = list(enumerate(raw, start=1))
    return [numbered[i : i + 6] for i in range(0, len(numbered), 6)]


def comparable(prepared: prepare.Prepared) -> list:
    """Entries and items with the ciphertexts decrypted (their nonces are random)."""
    keyring = Keyring.parse(KEYS.encryption)
    out = []
    for entry, item in prepared:
        if item is None:
            out.append((entry, None))
            continue
        srid = item.source_record_id
        plain = (
            keyring.decrypt(item.person_encrypted, prepare.person_context("hha", srid)),
            keyring.decrypt(item.data_encrypted, prepare.data_context("hha", srid)),
            orjson.loads(
                keyring.decrypt(item.linkage_encrypted, prepare.linkage_context("hha", srid))
            ),
        )
        out.append((entry, (srid, item.body, item.digest, item.features, item.rows, plain)))
    return out


def prepared_by(parallel: bool) -> list:
    preparer = prepare.Preparer("hha", KEYS, parallel=parallel)
    return [comparable(chunk) for chunk in preparer.prepared(chunks())]


def test_the_worker_prepares_exactly_as_this_process():
    here = prepared_by(parallel=False)
    assert prepared_by(parallel=True) == here
    entries = [entry for chunk in here for entry, _ in chunk]
    assert [e["line"] for e in entries] == list(range(1, len(entries) + 1))
    assert len(here) > 3  # the worker prepared chunks after the first
    assert entries[3]["status"] == "error" and entries[7]["errors"]["category"]


class _DeadPool:
    def submit(self, *_args, **_kwargs) -> Future:
        future: Future = Future()
        future.set_exception(BrokenProcessPool("the worker died"))
        return future


def test_a_dead_worker_is_replaced_by_preparing_here(monkeypatch):
    here = prepared_by(parallel=False)
    monkeypatch.setattr(prepare, "_worker_pool", lambda _keys: _DeadPool())
    assert prepared_by(parallel=True) == here
