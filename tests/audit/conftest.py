"""Audit tests read Maria's record at three agencies (``tests/fixtures/access.py``)."""

import pytest


@pytest.fixture
def maria(maria_at_three_agencies):
    return maria_at_three_agencies


# Every way ``caseops.audit.sealed_reads`` reads a chunk's entries (the verifier and the
# export): tiny chunks by seq range, and seqs read by list, as when late entries were
# sealed far from their neighbours. Each must give what the default reading gives.
READINGS = {
    "ranges, several chunks": {"CHUNK": 3},
    "scattered seqs, read by list": {"CHUNK": 4, "RUN_GAP": 0, "MAX_RUNS": 1, "IN_BATCH": 2},
}


@pytest.fixture(params=sorted(READINGS))
def reading(request, monkeypatch) -> str:
    for name, value in READINGS[request.param].items():
        monkeypatch.setattr(f"caseops.audit.sealed_reads.{name}", value)
    return request.param
