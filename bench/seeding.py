"""What the view benches seed, in one place: consents of the kind a deployment holds.

The recipient agency's consent officer records the client's consent and the source agency's
officer attests it, as the trust model asks (docs/trust-model.md). Without the attestation
the consented sections would be withheld as ``consent_not_attested`` and a bench would time
refusals instead of views.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def housing_permit(now: datetime) -> dict[str, Any]:
    """hha's housing section for cchc's care coordination, for 90 days."""
    return {
        "provision": "permit",
        "source_agencies": ["hha"],
        "categories": ["housing"],
        "recipients": ["cchc"],
        "purposes": ["care_coordination"],
        "effective_from": now - timedelta(days=1),
        "expires_at": now + timedelta(days=90),
        "grantor": {"kind": "self", "name": "Client"},
        "signed_at": now - timedelta(days=1),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }


def consent_housing_to_cchc(recorder, attester, client_id: str, now: datetime) -> None:
    """Record the permit at cchc and have hha stand behind it."""
    from caseops.registry import service as consents

    row = consents.record_consent(recorder, client_id, housing_permit(now))
    consents.attest(attester, row.id)
