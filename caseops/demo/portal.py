"""A demo access code, so the client's own pages (/my) can be tried after ``make run``.

A code's text exists only when it is issued (it is stored as a hash), so every
``caseops demo seed`` issues a fresh one for Maria Lopez through the service, as hha's
consent officer, and revokes the demo codes issued before it.
"""

from __future__ import annotations

from sqlalchemy import select

from caseops.auth.service import actor_for
from caseops.extensions import db
from caseops.portal import service as portal
from caseops.portal.models import ClientAccessCode
from caseops.records.models import SourceRecord
from caseops.users.service import get_user

OFFICER = "hha.consent"
MARIA_RECORD = "HH-1001"
MARIA_BIRTH_DATE = "1984-03-12"


def seed_portal() -> str:
    maria = db.session.scalar(
        select(SourceRecord.client_id).where(SourceRecord.source_record_id == MARIA_RECORD)
    )
    if maria is None:
        return "client pages: no demo client to issue an access code to"
    officer = actor_for(get_user(OFFICER))
    earlier = db.session.scalars(
        select(ClientAccessCode.code_id).where(
            ClientAccessCode.client_id == maria,
            ClientAccessCode.issued_by == OFFICER,
            ClientAccessCode.revoked_at.is_(None),
        )
    ).all()
    for code_id in earlier:
        portal.revoke_code(officer, code_id)
    issued = portal.issue_code(officer, maria)
    return (
        "Client pages (/my): Maria Lopez signs in at /my/sign-in with access code "
        f"{issued['code']} and birth date {MARIA_BIRTH_DATE}"
    )
