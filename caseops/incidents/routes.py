"""/api/v1/incidents: incident response on the access log (handlers are one line)."""

from __future__ import annotations

from flask import Response

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.incidents import notices, service
from caseops.incidents.schemas import (
    IncidentContainmentSchema,
    IncidentInSchema,
    IncidentListSchema,
    IncidentNotificationListSchema,
    IncidentReasonSchema,
    IncidentSchema,
    IncidentScopeSchema,
    IncidentTimelineQuerySchema,
    IncidentTimelineSchema,
)

blp = ApiBlueprint(
    "incidents",
    __name__,
    url_prefix="/api/v1/incidents",
    description="Incident response: contain, scope from the log, notify, close",
)


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@blp.get("")
@blp.response(200, IncidentListSchema)
def list_incidents():
    """Incidents the caller's agency opened or is named in (organisation-wide: all)."""
    return {"items": service.list_incidents(current_actor())}


@blp.post("")
@blp.arguments(IncidentInSchema)
@blp.response(201, IncidentSchema)
def open_incident(body):
    """Open an incident: kind, what is known, accounts, tokens, agencies, time window."""
    return service.open_incident(current_actor(), body)


@blp.get("/<int:incident_id>")
@blp.response(200, IncidentSchema)
def get_incident(incident_id):
    """One incident with its steps and status."""
    return service.get_incident(current_actor(), incident_id)


@blp.post("/<int:incident_id>/contain")
@blp.arguments(IncidentReasonSchema)
@blp.response(200, IncidentContainmentSchema)
def contain(body, incident_id):
    """Lock the accounts, end their sessions, revoke their tokens (own agency's only)."""
    return service.contain(current_actor(), incident_id, body["reason"])


@blp.post("/<int:incident_id>/containment/reverse")
@blp.arguments(IncidentReasonSchema)
@blp.response(200, IncidentContainmentSchema)
def reverse_containment(body, incident_id):
    """An administrator reactivates the accounts a containment locked, with a reason."""
    return service.reverse_containment(current_actor(), incident_id, body["reason"])


@blp.get("/<int:incident_id>/scope")
@blp.response(200, IncidentScopeSchema)
def scope(incident_id):
    """Affected clients from the log, with the checkpoint and inclusion proofs."""
    return service.compute_scope(current_actor(), incident_id)


@blp.post("/<int:incident_id>/notifications")
@blp.response(201, IncidentNotificationListSchema)
def notify(incident_id):
    """Record one 164.404(c) notification per affected client and source agency."""
    return service.notify(current_actor(), incident_id)


@blp.get("/<int:incident_id>/notifications")
@blp.response(200, IncidentNotificationListSchema)
def notifications(incident_id):
    """The recorded notifications the caller may see."""
    return service.notifications(current_actor(), incident_id)


@blp.get("/<int:incident_id>/notifications.csv")
@blp.response(200, content_type="text/csv")
def notifications_csv(incident_id):
    """The notifications as CSV for the agencies' own mailing (no contact data)."""
    result = service.notifications(current_actor(), incident_id)
    return _csv(notices.to_csv(incident_id, result["items"]), f"incident-{incident_id}.csv")


@blp.post("/<int:incident_id>/close")
@blp.arguments(IncidentReasonSchema)
@blp.response(200, IncidentSchema)
def close(body, incident_id):
    """Close the incident with a reason."""
    return service.close(current_actor(), incident_id, body["reason"])


@blp.get("/<int:incident_id>/timeline")
@blp.arguments(IncidentTimelineQuerySchema, location="query")
@blp.response(200, IncidentTimelineSchema)
@blp.alt_response(200, content_type="text/csv", description="with format=csv")
def timeline(query, incident_id):
    """Every step of the incident: who, when, why (JSON or CSV)."""
    result = service.timeline(current_actor(), incident_id)
    if query["format"] != "csv":
        return result
    return _csv(notices.timeline_csv(result["items"]), f"incident-{incident_id}-timeline.csv")
