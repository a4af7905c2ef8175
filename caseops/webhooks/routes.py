"""/api/v1/agencies/{code}/webhooks: an agency administrator's webhooks."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.webhooks import service
from caseops.webhooks.delivery import register_periodic_delivery
from caseops.webhooks.schemas import (
    DeliveriesQuery,
    DeliveryOut,
    WebhookBody,
    WebhookCreatedOut,
    WebhookOut,
)

blp = ApiBlueprint(
    "webhooks", __name__, url_prefix="/api/v1/agencies", description="Webhooks to agency systems"
)

# Registering the API also starts background delivery beside the audit sealer.
blp.record_once(lambda state: register_periodic_delivery(state.app))


@blp.post("/<code>/webhooks")
@blp.arguments(WebhookBody)
@blp.response(201, WebhookCreatedOut)
def register_webhook(body, code):
    """Register a webhook (the agency's agency_admin); the secret is shown this once."""
    return service.register(current_actor(), code, body)


@blp.get("/<code>/webhooks")
@blp.response(200, WebhookOut(many=True))
def list_webhooks(code):
    """The agency's webhooks, disabled ones included; never their secrets."""
    return service.webhooks(current_actor(), code)


@blp.delete("/<code>/webhooks/<webhook_id>")
@blp.response(200, WebhookOut)
def disable_webhook(code, webhook_id):
    """Disable a webhook: nothing more is sent to it; it and its deliveries stay listed."""
    return service.disable(current_actor(), code, webhook_id)


@blp.get("/<code>/webhooks/<webhook_id>/deliveries")
@blp.arguments(DeliveriesQuery, location="query")
@blp.response(200, DeliveryOut(many=True))
def list_deliveries(query, code, webhook_id):
    """The delivery log: per event, attempts, last status or error, next attempt."""
    return service.deliveries(current_actor(), code, webhook_id, query["status"], query["limit"])
