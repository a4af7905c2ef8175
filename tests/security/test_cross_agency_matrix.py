"""The cross-agency matrix, generated from the OpenAPI document (issue 14).

Every operation in ``/api/v1/openapi.json`` must declare its agency rule in
``caseops/authz/endpoint_rules.py`` (a new endpoint fails here until it does). Every
operation whose path names something an agency owns is then called by every role of hha
against a target owned by hha itself, by another agency (cchc), by a Part 2 program (rrp)
and an unknown id. A cell fails when

* a 2xx answer carries another agency's data (the markers seeded by
  ``tests/fixtures/worlds.py``: record contents, consent ids, users, Part 2 patients), or
* a target hidden from the caller answers differently from an unknown id: another status,
  another body shape (JSON keys), another error code, or a message that differs by more
  than the id itself (a nested id of cchc under hha's parent counts as hidden), or
* any 5xx; the own-target request refused as malformed (the body below is wrong, the agency
  check was never reached); for ``agency_code`` operations, any 2xx but the agency's own
  acting role on its own code.

One world per module; all cells of one operation run in one test, failures listed together.
See docs/authorization-tests.md.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from caseops.authz.endpoint_rules import ENDPOINT_RULES, Owned, Rule, rule_for
from caseops.authz.openapi_rules import EXTENSION
from tests import factories
from tests.fixtures.oracle import Cell, differs, without_ids
from tests.fixtures.worlds import (
    TARGETS,
    MatrixWorld,
    bearer,
    op_id,
    openapi_operations,
    permit,
    person,
    record_body,
)

ROLES = factories.PERSONAS
NESTED = ("own/other", "own/unknown")  # for paths with a nested id: see _values
OPERATIONS = openapi_operations()  # [(method, path, path parameter names)], from the app
WITH_OWNED = [op for op in OPERATIONS if op[2]]

# Which targets are hidden from a caller of hha (who holds no organisation-wide scope in
# this world), by what the operation's first agency-owned parameter names.
HIDDEN: dict[Owned, set[str]] = {
    Owned.CLIENT: {"part2"},  # cchc's client is known (search finds it); rrp's is not
    Owned.USER: {"other", "part2"},
    Owned.TOKEN: {"other", "part2"},
    # a consent not involving hha (recorded by it, naming it as source or recipient), and
    # any consent on a client hidden from hha
    Owned.CONSENT: {"other", "part2"},
    Owned.REVIEW_ITEM: {"other", "part2"},
    Owned.RECORD: {"other", "part2"},
    Owned.LINK_EVENT: {"other", "part2"},
    Owned.GRANT: {"other", "part2"},
    Owned.AUDIT_ENTRY: {"other", "part2"},
    Owned.REFERRAL: {"other", "part2"},  # known only to its two sides
    Owned.AGENCY: set(),  # agency codes are public: refused, not hidden
    Owned.TRUST_RULE: set(),  # asked for under an agency code (above)
    Owned.WEBHOOK: set(),  # asked for under an agency code (above)
    Owned.AGENCY_RECORD: set(),
    Owned.INCIDENT: {"other", "part2"},  # known to the opening agency's officers
    Owned.AGREEMENT: {"other", "part2"},  # known to its parties (and system administrators)
    Owned.ACCESS_CODE: {"other", "part2"},  # known to the issuing agency's officers
    Owned.TASK: {"other", "part2"},  # its agency's coordination data
    Owned.NOTE: {"other", "part2"},  # by id, known to the author's agency only
}
# Roles that may legitimately act on (and see) other agencies' things of that kind.
ACROSS_AGENCIES: dict[Owned, set[str]] = {
    Owned.AGREEMENT: {"system_admin"},  # records and reads every agency's agreements
    Owned.USER: {"system_admin"},
    Owned.TOKEN: {"system_admin"},
}

V1 = "/api/v1"
JUSTIFICATION = "Matrix probe: the client is unconscious at the ER, need history now."


def _json(body: dict) -> Callable[..., dict]:
    return lambda role, values: {"json": body}


def _document(role: str, values: dict) -> dict:
    upload = (io.BytesIO(b"%PDF-1.4 matrix probe"), "consent.pdf", "application/pdf")
    return {"data": {"file": upload}, "content_type": "multipart/form-data"}


def _record(role: str, values: dict) -> dict:
    who = person("Paula", "Putnam", "1991-01-01", "291-91-0091", "Quay St", "91")
    return {"json": record_body("housing", who, "HHA-PUT-probe")}


def _bulk(role: str, values: dict) -> dict:
    who = person("Bella", "Bulkley", "1992-02-02", "292-92-0092", "Quay St", "92")
    line = record_body("housing", who, "HHA-BULK-probe") | {"source_record_id": "HHA-bulk"}
    return {"data": json.dumps(line) + "\n", "content_type": "application/x-ndjson"}


# Minimal valid bodies, so that a cell reaches the agency check, not schema validation.
BODIES: dict[tuple[str, str], Callable[[str, dict], dict]] = {
    ("POST", f"{V1}/clients/{{client_id}}/care-team"): lambda role, values: {
        "json": {"username": f"hha.{role}"}
    },
    ("POST", f"{V1}/clients/{{client_id}}/break-glass"): _json({"justification": JUSTIFICATION}),
    ("POST", f"{V1}/clients/{{client_id}}/consents"): _json(permit()),
    ("POST", f"{V1}/clients/{{client_id}}/consent-documents"): _document,
    ("POST", f"{V1}/consents/{{consent_id}}/amend"): _json(permit()),
    ("POST", f"{V1}/consents/{{consent_id}}/revoke"): _json({"reason": "Client asked (matrix)"}),
    ("POST", f"{V1}/audit/break-glass/{{grant_id}}/review"): _json(
        {"decision": "acknowledge", "note": "Reviewed by the matrix probe."}
    ),
    ("PUT", f"{V1}/users/{{username}}/roles"): _json({"roles": ["case_worker"]}),
    ("POST", f"{V1}/users/{{username}}/tokens"): _json({"name": "matrix"}),
    ("PUT", f"{V1}/agencies/{{code}}/records/{{source_record_id}}"): _record,
    ("POST", f"{V1}/agencies/{{code}}/trust-rules"): _json(
        {"partner": "ops", "categories": ["education"]}
    ),
    ("POST", f"{V1}/agencies/{{code}}/records:bulk"): _bulk,
    # 42 CFR Part 2 (2024): a fact set to what it is changes nothing; a written request
    ("PUT", f"{V1}/agencies/{{code}}/facts"): _json(
        {"treating_provider": False, "reason": "Matrix probe: no change."}
    ),
    ("POST", f"{V1}/clients/{{client_id}}/part2-list-requests"): _json(
        {"received_on": "2026-01-05"}
    ),
    ("POST", f"{V1}/agencies/{{code}}/webhooks"): _json(
        {"url": "https://hha.example/matrix-hook", "events": ["referral.requested"]}
    ),
    # referrals: a draft (no consent gate), the preview's required query, a sender's cancel
    ("POST", f"{V1}/clients/{{client_id}}/referrals"): _json(
        {"to_agency": "cchc", "service": "housing_assistance", "shared_categories": ["housing"]}
    ),
    ("GET", f"{V1}/clients/{{client_id}}/referrals/preview"): lambda role, values: {
        "query_string": {"to_agency": "cchc", "service": "housing_assistance"}
    },
    ("POST", f"{V1}/referrals/{{referral_id}}/status"): _json(
        {"status": "cancelled", "reason": "Matrix probe"}
    ),
    ("POST", f"{V1}/referrals/{{referral_id}}/assign"): _json({"username": "hha.case_worker"}),
    ("POST", f"{V1}/clients/{{client_id}}/access-codes"): _json({"expires_in_days": 30}),
    # incident response: every write carries a reason
    ("POST", f"{V1}/incidents/{{incident_id}}/contain"): _json({"reason": "Matrix probe"}),
    ("POST", f"{V1}/incidents/{{incident_id}}/containment/reverse"): _json(
        {"reason": "Matrix probe"}
    ),
    ("POST", f"{V1}/incidents/{{incident_id}}/close"): _json({"reason": "Matrix probe"}),
    # data sharing agreements: an amendment restates the version whole; an end has a reason
    ("POST", f"{V1}/agreements/{{agreement_id}}/amend"): _json(
        {
            "title": "Matrix probe amendment",
            "starts_on": "2026-01-01",
            "ends_on": "2099-01-01",
            "share": [{"categories": ["early_childhood"], "purposes": ["operations"]}],
            "document": {"content_type": "application/pdf", "content_base64": "JVBERi0x"},
        }
    ),
    ("POST", f"{V1}/agreements/{{agreement_id}}/terminate"): _json({"reason": "Matrix probe"}),
    # tasks and notes (issue 18)
    ("POST", f"{V1}/clients/{{client_id}}/tasks"): _json({"title": "Matrix probe task"}),
    ("POST", f"{V1}/tasks/{{task_id}}/status"): _json(
        {"status": "cancelled", "note": "Matrix probe"}
    ),
    ("POST", f"{V1}/tasks/{{task_id}}/assign"): _json({"username": "hha.case_worker"}),
    ("POST", f"{V1}/clients/{{client_id}}/notes"): _json(
        {"category": "housing", "text": "Matrix probe note"}
    ),
    ("POST", f"{V1}/notes/{{note_id}}/amend"): _json(
        {"text": "Matrix probe amendment", "reason": "Matrix probe"}
    ),
}
# Where an operation needs targets of its own (so that a legitimate effect of one
# operation, e.g. break-the-glass opening a record, never changes another's cells).
TARGET_SETS: dict[tuple[str, str], dict[Owned, str]] = {
    ("POST", f"{V1}/clients/{{client_id}}/break-glass"): {Owned.CLIENT: "glass_client"},
    ("GET", f"{V1}/clients/{{client_id}}/disclosures"): {Owned.CLIENT: "glass_client"},
    ("GET", f"{V1}/clients/{{client_id}}/disclosures.csv"): {Owned.CLIENT: "glass_client"},
    ("PUT", f"{V1}/agencies/{{code}}/records/{{source_record_id}}"): {
        Owned.AGENCY_RECORD: "put_record"
    },
    ("DELETE", f"{V1}/agencies/{{code}}/records/{{source_record_id}}"): {
        Owned.AGENCY_RECORD: "delete_record"
    },
    ("POST", f"{V1}/referrals/{{referral_id}}/status"): {Owned.REFERRAL: "moving_referral"},
    ("DELETE", f"{V1}/agencies/{{code}}/webhooks/{{webhook_id}}"): {
        Owned.WEBHOOK: "doomed_webhook"
    },
    ("POST", f"{V1}/incidents/{{incident_id}}/close"): {Owned.INCIDENT: "closing_incident"},
    ("POST", f"{V1}/agreements/{{agreement_id}}/terminate"): {Owned.AGREEMENT: "ending_agreement"},
    ("POST", f"{V1}/tasks/{{task_id}}/status"): {Owned.TASK: "moving_task"},
}


# --- every operation declares, and the document says so ---------------------------------


def test_every_operation_declares_its_agency_rule():
    missing = [f"{m} {p}" for m, p, _ in OPERATIONS if rule_for(m, p) is None]
    assert not missing, (
        "Declare the agency rule of these operations in caseops/authz/endpoint_rules.py "
        "(see docs/authorization-tests.md):\n  " + "\n  ".join(missing)
    )


def test_every_path_parameter_is_classified():
    """A new path parameter must say what it names (or the matrix could not aim at it)."""
    wrong = []
    for method, path, names in OPERATIONS:
        declared = rule_for(method, path)
        if declared is not None and set(declared.parameters) != set(names):
            wrong.append(
                f"{method} {path}: path {sorted(names)}, declared {sorted(declared.parameters)}"
            )
    assert not wrong, "\n".join(wrong)


def test_no_declaration_outlives_its_operation():
    served = {(m, p) for m, p, _ in OPERATIONS}
    stale = sorted(f"{m} {p}" for m, p in ENDPOINT_RULES if (m, p) not in served)
    assert not stale, "declared but not in the OpenAPI document: " + ", ".join(stale)


def test_openapi_document_carries_each_operations_rule(matrix_client):
    """What outside callers read is what the matrix tests: the served document."""
    document = matrix_client.get(f"{V1}/openapi.json").get_json()
    served = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            served.append((method.upper(), path))
            declared = rule_for(method, path)
            assert declared is not None, f"{method.upper()} {path} declares no agency rule"
            assert operation.get(EXTENSION) == declared.as_extension(), (method, path)
    assert sorted(served) == sorted((m, p) for m, p, _ in OPERATIONS)


# --- the matrix ----------------------------------------------------------------------------


def _values(world: MatrixWorld, method: str, path: str, target: str) -> dict[str, Any]:
    """The path values aiming at ``target``; ``"own/other"`` aims the first parameter at
    hha's thing and the nested ones (a token id, a rule id) at cchc's."""
    declared = rule_for(method, path)
    sets = TARGET_SETS.get((method, path), {})
    first, _, nested = target.partition("/")
    return {
        name: world.targets[sets.get(kind, kind)][nested if i and nested else first]
        for i, (name, kind) in enumerate(declared.parameters.items())
    }


def _call(client, world: MatrixWorld, method: str, path: str, role: str, target: str) -> Cell:
    values = _values(world, method, path, target)
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", str(value))
    body = BODIES.get((method, path), lambda role, values: {})(role, values)
    response = client.open(url, method=method, headers=bearer(world.tokens[role]), **body)
    return Cell(role, target, values, response)


def _leaks(cell: Cell, world: MatrixWorld, kind: Owned) -> list[str]:
    if not 200 <= cell.status < 300:
        return []
    allowed_users = cell.role in ACROSS_AGENCIES.get(kind, set())
    sent = {str(v) for v in cell.values.values()}
    admin = world.admin_visible if cell.role == "system_admin" else set()
    return sorted(
        marker
        for marker in world.foreign_markers(with_users=not allowed_users) - sent - admin
        if marker in cell.text
    )


def check_operation(client, world: MatrixWorld, method: str, path: str) -> list[str]:
    """Run every role x target of one operation; the failed cells, each with its reason."""
    declared = rule_for(method, path)
    kind = next(iter(declared.parameters.values()))
    failures = []
    table = [f"{method} {path}"]
    for role in ROLES:
        cells = {t: _call(client, world, method, path, role, t) for t in TARGETS}
        table.append(f"  {role:<16} " + " ".join(f"{t}={c.status}" for t, c in cells.items()))
        for cell in cells.values():
            if leaked := _leaks(cell, world, kind):
                failures.append(f"{cell}: 2xx carries another agency's data {leaked}")
            if cell.status >= 500:
                failures.append(f"{cell}: server error (bad input is a 4xx, never a 5xx)")
        if cells["own"].status in (400, 415, 422):
            failures.append(
                f"{cells['own']}: the matrix's request was refused as malformed "
                f"({cells['own'].json}); fix BODIES so the cell reaches the agency check"
            )
        if declared.rule is Rule.AGENCY_CODE:
            for cell in cells.values():
                entitled = role in declared.acting_roles and cell.target == "own"
                if 200 <= cell.status < 300 and not entitled:
                    acting = ", ".join(sorted(declared.acting_roles))
                    failures.append(f"{cell}: only the agency's own {acting} acts here")
        hidden = set() if role in ACROSS_AGENCIES.get(kind, set()) else HIDDEN[kind]
        for target in sorted(hidden):
            if reason := differs(cells[target], cells["unknown"]):
                failures.append(f"{cells[target]}: hidden != unknown: {reason}")
        if len(declared.parameters) > 1:
            # A nested id of another agency under the caller's own parent (a cchc token under
            # an hha user) is not there: it answers as an unknown nested id does.
            mixed, absent = (_call(client, world, method, path, role, t) for t in NESTED)
            table.append(
                f"  {role:<16} {mixed.target}={mixed.status} {absent.target}={absent.status}"
            )
            if reason := differs(mixed, absent):
                failures.append(f"{mixed}: nested id of another agency != unknown: {reason}")
    if report := os.environ.get("CASEOPS_MATRIX_TABLE"):  # every cell's status, for reading
        with open(report, "a", encoding="utf-8") as out:
            out.write("\n".join(table) + "\n")
    return failures


@pytest.mark.parametrize("operation", WITH_OWNED, ids=op_id)
def test_cross_agency_matrix(matrix_client, matrix_world, operation):
    method, path, _ = operation
    declared = rule_for(method, path)
    assert declared is not None, f"{method} {path} declares no agency rule (endpoint_rules.py)"
    assert declared.parameters, f"{method} {path} names no agency-owned parameter"
    failures = check_operation(matrix_client, matrix_world, method, path)
    assert not failures, f"{method} {path}\n  " + "\n  ".join(failures)


def test_write_answers_do_not_reveal_a_part2_patient(matrix_client, matrix_world):
    """Finding 3: the answer to an agency system's write is the same whether the person is
    known only to a Part 2 program or not known at all (client id aside)."""
    token = matrix_world.feeds["hha"]
    stranger = person("Ursula", "Unheardof", "1993-03-03", "293-93-0093", "Quay St", "93")
    answers = {}
    for srid, who in (("HHA-oracle-1", matrix_world.part2_only_person), ("HHA-oracle-2", stranger)):
        response = matrix_client.put(
            f"{V1}/agencies/hha/records/{srid}",
            json=record_body("housing", who, "HHA-oracle"),
            headers=bearer(token),
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        answers[srid] = without_ids(body, {"client_id": body["client_id"], "srid": srid})
    assert answers["HHA-oracle-1"] == answers["HHA-oracle-2"]


# --- the oracle itself can fail -------------------------------------------------------------


class _Answer:
    def __init__(self, status: int, body: Any):
        self.status_code = status
        self._body = body

    def get_data(self, as_text: bool = False) -> str:
        return json.dumps(self._body)

    def get_json(self, silent: bool = False) -> Any:
        return self._body


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "details": {}}}


@pytest.mark.parametrize(
    ("hidden", "unknown", "tells_apart"),
    [
        # the same answer, the id aside: indistinguishable
        (
            (404, _error("not_found", "No client 'abc'.")),
            (404, _error("not_found", "No client 'xyz'.")),
            False,
        ),
        # 403 for a real thing, 404 for none: finding 5
        ((403, _error("forbidden", "Not yours.")), (404, _error("not_found", "No client.")), True),
        # same status, the message names the program
        (
            (404, _error("not_found", "No client 'abc' at rrp.")),
            (404, _error("not_found", "No client 'xyz'.")),
            True,
        ),
        # same status, another body shape: finding 2's "sections: []"
        ((200, {"sections": [], "version": 1}), (200, {"sections": []}), True),
    ],
)
def test_the_oracle_tells_hidden_from_unknown(hidden, unknown, tells_apart):
    a = Cell("case_worker", "part2", {"client_id": "abc"}, _Answer(*hidden))
    b = Cell("case_worker", "unknown", {"client_id": "xyz"}, _Answer(*unknown))
    assert (differs(a, b) is not None) is tells_apart
