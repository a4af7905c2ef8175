"""The 42 CFR 2.24 list: JSON and CSV under /api/v1, and a printable page for the patient.

Thin: parse, call ``caseops.audit.part2_list``, render."""

from __future__ import annotations

from flask import Blueprint as PageBlueprint
from flask import Response, render_template, request
from marshmallow import Schema, fields, validate

from caseops.agencies import service as agencies
from caseops.audit import part2_list
from caseops.auth.current import current_actor
from caseops.errors import ValidationFailed
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint(
    "part2_list",
    __name__,
    url_prefix="/api/v1",
    description="42 CFR 2.24: the intermediary's list of disclosures under a general designation",
)
pages = PageBlueprint("part2_pages", __name__, template_folder="templates")


class ListRequestBody(Schema):
    received_on = fields.Date(
        required=True, metadata={"description": "the day the written request was received"}
    )
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class ListRequestOut(Schema):
    id = fields.Integer()
    client_id = fields.String()
    received_on = fields.Date()
    due_on = fields.Date(metadata={"description": "30 days after receipt (2.24(b)(1))"})
    days_left = fields.Integer()
    overdue = fields.Boolean()
    note = fields.String(allow_none=True)
    agency = fields.String()
    recorded_by = fields.String()
    recorded_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    answered_by = fields.String(allow_none=True)


class ListQuery(Schema):
    request_id = fields.Integer(
        load_default=None,
        metadata={"description": "the written request answered (default: the open one)"},
    )


class ProofOut(Schema):
    leaf_index = fields.Integer()
    leaf_hash = fields.String()
    audit_path = fields.List(fields.String())


class ListItemOut(Schema):
    seq = fields.Integer()
    date = fields.String()
    recipient_agency = fields.String()
    recipient_name = fields.String()
    description = fields.List(fields.String())
    sections = fields.List(fields.String())
    consent_ids = fields.List(fields.String())
    sealed = fields.Boolean()
    proof = fields.Nested(ProofOut, allow_none=True)


class ListOut(Schema):
    client_id = fields.String()
    request = fields.Nested(ListRequestOut)
    intermediary = fields.String(allow_none=True)
    since = fields.DateTime()
    until = fields.DateTime()
    checkpoint = fields.Dict(allow_none=True)
    items = fields.List(fields.Nested(ListItemOut))


@blp.post("/clients/<client_id>/part2-list-requests")
@blp.arguments(ListRequestBody)
@blp.response(201, ListRequestOut)
def record_list_request(body, client_id):
    """Record a patient's written request for the list of disclosures (consent_officer)."""
    return part2_list.record_request(current_actor(), client_id, body["received_on"], body["note"])


@blp.get("/part2-list-requests")
@blp.response(200, ListRequestOut(many=True))
def open_list_requests():
    """The written requests my agency recorded and has not answered, soonest due first."""
    return part2_list.open_requests(current_actor())


@blp.get("/clients/<client_id>/part2-list")
@blp.arguments(ListQuery, location="query")
@blp.response(200, ListOut)
def client_part2_list(query, client_id):
    """The list of disclosures under a general designation, past 3 years, from the verified
    log (consent_officer); the first production answers the written request."""
    return part2_list.produce(current_actor(), client_id, query["request_id"])


@blp.get("/clients/<client_id>/part2-list.csv")
@blp.arguments(ListQuery, location="query")
@blp.response(200, content_type="text/csv")
def client_part2_list_csv(query, client_id):
    """The same list as CSV with a header line."""
    result = part2_list.produce(current_actor(), client_id, query["request_id"], fmt="csv")
    return Response(
        part2_list.to_csv(result["items"]),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="part2-list-{client_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@pages.get("/clients/<client_id>/part2-list")
def part2_list_page(client_id: str):
    """The printable list for the patient (the same service as the API)."""
    raw = request.args.get("request_id")
    if raw is not None and not raw.isdigit():
        raise ValidationFailed("Bad request id.", details={"request_id": ["A whole number."]})
    result = part2_list.produce(current_actor(), client_id, int(raw) if raw else None)
    return render_template("part2/list.html", result=result)


@pages.get("/agencies/facts")
def agency_facts_page():
    """Every agency's treating provider / covered entity / Part 2 facts and their changes
    (system administrators; the Part 2 programs' officers and administrators)."""
    return render_template("part2/facts.html", result=agencies.fact_changes(current_actor()))
