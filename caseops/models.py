"""Every model, imported in one place so Alembic and the tests see the whole schema."""

from caseops.access.models import BreakGlassGrant, CareTeamMember
from caseops.agencies.models import Agency, AgencyFactChange
from caseops.agreements.models import (
    AgreementAcceptance,
    AgreementClause,
    AgreementParty,
    AgreementRecord,
    AgreementTermination,
)
from caseops.audit.models import (
    AccessEvent,
    AuditCheckpoint,
    AuditLeaf,
    AuditNode,
    BreakGlassReview,
)
from caseops.audit.part2_models import Part2ListAnswer, Part2ListRequest
from caseops.auth.models import ApiToken, UserSession
from caseops.authz.models import CasbinRule, PolicyVersion
from caseops.clients.models import Client, KeptApart, LinkEvent, RecordIdentifier, ReviewItem
from caseops.events.models import Notification, RecordChange
from caseops.extensions import db
from caseops.incidents.models import Incident, IncidentStep
from caseops.matching.models import ClientKeyHold, ClientKeyMove, LinkageModelVersion
from caseops.notes.models import Note, NoteAmendment
from caseops.portal.models import ClientAccessCode, ClientPortalSession, PortalAddressFailure
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.referrals.models import Referral, ReferralMove
from caseops.registry.models import ConsentDocument, ConsentRecord, ConsentRevocation
from caseops.tasks.models import Task, TaskMove
from caseops.users.models import RecoveryCode, User
from caseops.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

metadata = db.metadata

__all__ = [
    "AccessEvent",
    "Agency",
    "AgencyFactChange",
    "AgreementAcceptance",
    "AgreementClause",
    "AgreementParty",
    "AgreementRecord",
    "AgreementTermination",
    "ApiToken",
    "AuditCheckpoint",
    "AuditLeaf",
    "AuditNode",
    "BreakGlassGrant",
    "BreakGlassReview",
    "CareTeamMember",
    "CasbinRule",
    "Client",
    "ClientAccessCode",
    "ClientKeyHold",
    "ClientKeyMove",
    "ClientPortalSession",
    "ConsentDocument",
    "ConsentRecord",
    "ConsentRevocation",
    "Incident",
    "IncidentStep",
    "KeptApart",
    "LinkEvent",
    "LinkageModelVersion",
    "Note",
    "NoteAmendment",
    "Notification",
    "Part2ListAnswer",
    "Part2ListRequest",
    "PolicyVersion",
    "PortalAddressFailure",
    "RecordChange",
    "RecordIdentifier",
    "RecoveryCode",
    "Referral",
    "ReferralMove",
    "ReviewItem",
    "SourceRecord",
    "SourceRecordVersion",
    "Task",
    "TaskMove",
    "User",
    "UserSession",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "metadata",
]
