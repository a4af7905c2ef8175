"""The decision's consent read (columns, on every view, poll and search) gives exactly
what the entity read gives: the same consents, revocations and trust, for every client of
the demo (consents amended, revoked, attested and waiting, and clients with none)."""

from __future__ import annotations

from sqlalchemy import select

from caseops.clients.models import Client
from caseops.demo.clients import seed_clients
from caseops.demo.seed import seed
from caseops.extensions import db
from caseops.registry import service as consents


def test_decision_consents_equal_the_entity_read_for_every_demo_client(app):
    seed()
    seed_clients()
    client_ids = db.session.scalars(select(Client.id).order_by(Client.id)).all()
    seen = {"consents": 0, "revocations": 0, "attestations": 0, "none": 0}
    for client_id in client_ids:
        data = consents.consents_of(client_id)
        domain, revocations = data.domain
        read = consents.decision_consents(client_id)
        assert (read.consents, read.revocations, read.trust) == (domain, revocations, data.trust)
        seen["consents"] += len(domain)
        seen["revocations"] += len(revocations)
        seen["attestations"] += len(data.trust.attestations)
        seen["none"] += not domain
    # the demo holds every case the two reads could differ on
    assert all(seen.values()), seen
