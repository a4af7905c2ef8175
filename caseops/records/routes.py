"""/api/v1/agencies/{code}/records: agency systems push their records."""

from __future__ import annotations

from flask import request

from caseops.auth.current import current_actor
from caseops.errors import UnsupportedMediaType
from caseops.extensions import ApiBlueprint
from caseops.records import service
from caseops.records.schemas import RecordPutSchema, RecordResultSchema

blp = ApiBlueprint(
    "records", __name__, url_prefix="/api/v1/agencies", description="Agency record ingest"
)


@blp.put("/<code>/records/<source_record_id>")
@blp.arguments(RecordPutSchema)
@blp.response(200, RecordResultSchema)
@blp.alt_response(201, schema=RecordResultSchema, description="Created")
@blp.alt_response(409, description="source_version is not newer than the stored one")
def put_record(body, code, source_record_id):
    """Create or update one record (integration token of that agency).

    Answers the client id and the write's status, never how the record was linked.
    """
    result = service.upsert(current_actor(), code, source_record_id, body)
    return result.as_dict(), 201 if result.status == "created" else 200


@blp.delete("/<code>/records/<source_record_id>")
@blp.response(200, RecordResultSchema)
def withdraw_record(code, source_record_id):
    """Withdraw a record; its history is kept."""
    return service.withdraw(current_actor(), code, source_record_id).as_dict()


@blp.post("/<code>/records:bulk")
@blp.response(
    200,
    description="Per-line report: {counts, lines: [{line, source_record_id, status, "
    "client_id} or {line, status: error, errors}]}; never how a record was linked",
)
def bulk_records(code):
    """NDJSON of PUT bodies plus ``source_record_id``; every line stands alone."""
    if request.mimetype not in ("application/x-ndjson", "application/jsonl", "text/plain"):
        raise UnsupportedMediaType("Send NDJSON with Content-Type: application/x-ndjson.")
    text = request.get_data(as_text=True)
    report = service.bulk(current_actor(), code, enumerate(text.splitlines(), start=1))
    return {"counts": report.counts, "lines": report.lines}
