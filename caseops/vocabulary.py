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
# 42 CFR Part 2 data: this category, or any record of an agency flagged part2_program.
PART2_CATEGORY = "substance_use"
PURPOSES = ("care_coordination", "treatment", "payment", "operations", "eligibility", "emergency")
