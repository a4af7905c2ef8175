"""Every model, imported in one place so Alembic and the tests see the whole schema."""

from caseops.agencies.models import Agency
from caseops.audit.models import AccessEvent
from caseops.auth.models import ApiToken, UserSession
from caseops.authz.models import CasbinRule, PolicyVersion
from caseops.extensions import db
from caseops.users.models import RecoveryCode, User

metadata = db.metadata

__all__ = [
    "AccessEvent",
    "Agency",
    "ApiToken",
    "CasbinRule",
    "PolicyVersion",
    "RecoveryCode",
    "User",
    "UserSession",
    "metadata",
]
