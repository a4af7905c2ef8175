"""Every model, imported in one place so Alembic and the tests see the whole schema."""

from caseops.access.models import BreakGlassGrant, CareTeamMember
from caseops.agencies.models import Agency
from caseops.audit.models import (
    AccessEvent,
    AuditCheckpoint,
    AuditLeaf,
    AuditNode,
    BreakGlassReview,
)
from caseops.auth.models import ApiToken, UserSession
from caseops.authz.models import CasbinRule, PolicyVersion
from caseops.clients.models import Client, KeptApart, LinkEvent, RecordIdentifier, ReviewItem
from caseops.extensions import db
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.registry.models import ConsentDocument, ConsentRecord, ConsentRevocation
from caseops.users.models import RecoveryCode, User

metadata = db.metadata

__all__ = [
    "AccessEvent",
    "Agency",
    "ApiToken",
    "AuditCheckpoint",
    "AuditLeaf",
    "AuditNode",
    "BreakGlassGrant",
    "BreakGlassReview",
    "CareTeamMember",
    "CasbinRule",
    "Client",
    "ConsentDocument",
    "ConsentRecord",
    "ConsentRevocation",
    "KeptApart",
    "LinkEvent",
    "PolicyVersion",
    "RecordIdentifier",
    "RecoveryCode",
    "ReviewItem",
    "SourceRecord",
    "SourceRecordVersion",
    "User",
    "UserSession",
    "metadata",
]
