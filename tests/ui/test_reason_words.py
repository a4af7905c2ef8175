"""Every reason code the consent decision can give reads as words on the pages."""

from __future__ import annotations


def test_every_consent_reason_has_words_in_the_sharing_matrix():
    """A reason code the decision can give must read as words on the sharing matrix, not
    as a raw code (the 2024 Part 2 reasons included)."""
    from caseops.ui.registry import SHARING_REASONS
    from consent import Reason

    unexplained = (
        {r.value for r in Reason} - set(SHARING_REASONS) - {"consent_permit", "no_consent"}
    )
    assert not unexplained, sorted(unexplained)
