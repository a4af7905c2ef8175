"""Incident tests read Maria's record at three agencies (``tests/fixtures/access.py``)."""

import pytest


@pytest.fixture
def maria(maria_at_three_agencies):
    return maria_at_three_agencies
