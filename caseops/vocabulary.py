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

# Services one agency may ask another to provide (a small vocabulary, after the Gravity
# SDOH service-request codes and Open Referral's taxonomy, kept short on purpose). Each
# names the record category a referral for it speaks of: sending one tells the recipient
# the client needs that service, so the referral itself is a disclosure in that category
# (a referral to substance-use treatment is 42 CFR Part 2 information).
SERVICES: dict[str, tuple[str, str]] = {
    "housing_assistance": ("Housing assistance", "housing"),
    "primary_care": ("Primary health care", "health"),
    "behavioral_health_care": ("Behavioral health care", "behavioral_health"),
    "substance_use_treatment": ("Substance-use treatment", "substance_use"),
    "education_support": ("Education support", "education"),
    "child_welfare_services": ("Child and family services", "child_welfare"),
    "legal_aid": ("Legal aid and reentry", "justice"),
    "income_support": ("Income, food and benefits support", "economic_security"),
    "early_childhood_services": ("Early childhood services", "early_childhood"),
}
URGENCIES = ("routine", "urgent")
