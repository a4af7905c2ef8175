"""The default vocabularies of DESIGN.md (roles, categories, purposes)."""

ROLES = (
    "system_admin",
    "agency_admin",
    "case_worker",
    "supervisor",
    "consent_officer",
    "privacy_officer",
    "data_steward",
    "integration",
)
ADMIN_ROLES = frozenset({"system_admin", "agency_admin"})
CATEGORIES = (
    "housing",
    "health",
    "behavioral_health",
    "substance_use",
    "education",
    "child_welfare",
    "justice",
    "economic_security",
    "early_childhood",
)
PURPOSES = ("care_coordination", "treatment", "payment", "operations", "eligibility", "emergency")
