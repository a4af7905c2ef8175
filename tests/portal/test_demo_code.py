"""`caseops demo seed` prints a working access code for Maria, a fresh one each run
(the earlier one revoked), so /my can be tried after `make run`."""

from __future__ import annotations

import re

from caseops.demo import seed
from caseops.demo.clients import seed_clients
from caseops.demo.portal import MARIA_BIRTH_DATE, seed_portal
from tests.fixtures.portal import my_sign_in

CODE = re.compile(r"access code ((?:[2-9A-Z]{4}-){5}[2-9A-Z]{4}) and birth date (\S+)")


def test_the_demo_code_opens_marias_pages_until_the_next_seed(app):
    seed.seed()
    seed_clients()
    first = CODE.search(seed_portal())
    assert first is not None and first.group(2) == MARIA_BIRTH_DATE
    assert my_sign_in(app.test_client(), first.group(1), MARIA_BIRTH_DATE).status_code == 302
    second = CODE.search(seed_portal())
    assert second is not None and second.group(1) != first.group(1)
    assert my_sign_in(app.test_client(), first.group(1), MARIA_BIRTH_DATE).status_code == 401
    assert my_sign_in(app.test_client(), second.group(1), MARIA_BIRTH_DATE).status_code == 302
