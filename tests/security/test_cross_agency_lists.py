"""Operations without an agency-owned path parameter (lists, searches, queues, the log)
answer from the caller's own view: no role of hha finds cchc's or rrp's data in them.

A module of its own, so its world is fresh: the matrix's cells act (hha's administrators
on cchc's users, hha's officers on cchc's consents) and the log would remember them.
The operations come from the OpenAPI document, as the matrix's do.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.fixtures.oracle import Cell
from tests.fixtures.worlds import bearer, op_id, openapi_operations

V1 = "/api/v1"
ROLES = factories.PERSONAS
OPERATIONS = openapi_operations()

# Queries that make a list operation show the most it can.
LIST_QUERIES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", f"{V1}/clients"): {"q": "Quillfeather"},  # rrp's patient, hidden from hha
    ("GET", f"{V1}/consents/expiring"): {"days": 365},
    ("GET", f"{V1}/audit/break-glass"): {"status": "all"},
    ("GET", f"{V1}/linkage/review"): {"status": "open"},
}
# Lists where a role legitimately sees other agencies' users: a system administrator lists
# every account; the log shows hha's privacy officer what hha's own people did, and hha's
# system administrator may act on any agency's accounts.
LIST_USERS_ACROSS: dict[tuple[str, str], set[str]] = {
    ("GET", f"{V1}/users"): {"system_admin"},
    ("GET", f"{V1}/audit/events"): {"privacy_officer"},
    ("GET", f"{V1}/audit/activity"): {"privacy_officer"},
}
LISTS = [op for op in OPERATIONS if op[0] == "GET" and not op[2]]


@pytest.mark.parametrize("operation", LISTS, ids=op_id)
def test_lists_carry_nothing_of_other_agencies(matrix_client, matrix_world, operation):
    """Operations without an agency-owned parameter answer from the caller's own view:
    no role of hha finds cchc's or rrp's data in them (no organisation-wide scope here)."""
    method, path, _ = operation
    failures = []
    for role in ROLES:
        response = matrix_client.get(
            path,
            query_string=LIST_QUERIES.get((method, path), {}),
            headers=bearer(matrix_world.tokens[role]),
        )
        cell = Cell(role, "list", {}, response)
        if cell.status >= 500:
            failures.append(f"{cell}: server error")
        if not 200 <= cell.status < 300:
            continue
        users = role not in LIST_USERS_ACROSS.get((method, path), set())
        # a system administrator reads every agency's agreements (docs/agreements.md)
        admin = matrix_world.admin_visible if role == "system_admin" else set()
        if leaked := sorted(
            m for m in matrix_world.foreign_markers(with_users=users) - admin if m in cell.text
        ):
            failures.append(f"{cell}: 2xx carries another agency's data {leaked}")
    assert not failures, f"{method} {path}\n  " + "\n  ".join(failures)
