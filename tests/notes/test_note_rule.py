"""The pure rule behind "a note is a section": ``decide_section`` never looks at what kind
of row a section is, so a note is decided exactly as a record of its author's agency in
its category, whatever the consents, relationship, policy or break-the-glass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

import consent
from caseops.access.rules import Facts, SectionFacts, decide_section
from caseops.vocabulary import CATEGORIES

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
READER = "cchc"
AGENCIES = ("cchc", "hha", "rrp")
WAIVED = consent.Agreements(
    waived=consent.agreements.waived_pairs([(a, b) for a in AGENCIES for b in AGENCIES])
)


def _consent(source: str, categories: frozenset[str], provision: str) -> consent.Consent:
    return consent.Consent(
        id=f"k-{source}-{provision}",
        client_id="c1",
        grantor=consent.Grantor(kind="self", name="Client"),
        provision=provision,
        source_agencies=frozenset({source}),
        categories=categories,
        recipients=frozenset({READER}),
        purposes=frozenset({"care_coordination"}),
        effective_from=AT - timedelta(days=30),
        expires_at=AT + timedelta(days=300),
        signed_at=AT - timedelta(days=30),
        evidence=consent.Evidence(method="written"),
        revocation_right_acknowledged=True,
        recorded_by="officer",
        recorded_by_agency=source,
        recorded_at=AT - timedelta(days=30),
    )


consents = st.lists(
    st.builds(
        _consent,
        st.sampled_from(AGENCIES),
        st.frozensets(st.sampled_from(CATEGORIES), min_size=1, max_size=3),
        st.sampled_from(["permit", "deny"]),
    ),
    max_size=3,
)


# the two outcomes, always tried: the author's own agency reads it; another's, without
# consent, does not
@example("cchc", False, "health", [], True, False, frozenset({"read"}), True)
@example("hha", False, "behavioral_health", [], True, False, frozenset({"read"}), True)
@given(
    agency=st.sampled_from(AGENCIES),
    part2_program=st.booleans(),
    category=st.sampled_from(CATEGORIES),
    given_consents=consents,
    relationship=st.booleans(),
    break_glass=st.booleans(),
    allowed=st.frozensets(st.sampled_from(["read", "break_glass", "break_glass_part2"])),
    waived=st.booleans(),
)
def test_a_note_is_decided_as_a_record_of_its_agency_in_its_category(
    agency, part2_program, category, given_consents, relationship, break_glass, allowed, waived
):
    record = SectionFacts(1, agency, part2_program, category)
    note = SectionFacts("nte_1", agency, part2_program, category, "note")
    facts = Facts(
        client_id="c1",
        sections=[record, note],
        consents=given_consents,
        revocations=[],
        birth_date=None,
        relationship=relationship,
        break_glass=break_glass,
        agreements=WAIVED if waived else consent.NO_AGREEMENTS,
    )

    def permits(obj: str, act: str) -> bool:
        return act in allowed

    on_record = decide_section(record, facts, READER, permits, "care_coordination", AT)
    on_note = decide_section(note, facts, READER, permits, "care_coordination", AT)
    if agency == READER and relationship and "read" in allowed:
        assert on_record.shown  # the examples above reach both outcomes
    assert replace(on_note, section=record) == on_record
    assert note.part2 == record.part2 == (part2_program or category == "substance_use")
