"""Webhooks to agency systems: a transactional outbox (``outbox.enqueue``), signed
at-least-once delivery (``delivery.deliver_due``), and the agency administrator's API."""
