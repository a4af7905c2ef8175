"""Page tests use Maria's records at hha and cchc (``tests/fixtures/pages.py``)."""

import pytest


@pytest.fixture
def maria(maria_with_records):
    return maria_with_records
