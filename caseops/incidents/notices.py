"""Notification records (HIPAA 45 CFR 164.404(c)) and their letters/CSV.

One record per affected client and source agency: the agency whose records were shown
notifies its client. Each carries the elements 164.404(c)(1) requires, in plain language:

(A) what happened, with the date of the breach and of its discovery;
(B) the kinds of protected information involved (categories of records, never contents);
(C) the steps individuals should take to protect themselves;
(D) what the agencies are doing to investigate, mitigate harm and prevent a recurrence;
(E) contact procedures.

The deadline is 60 calendar days after discovery (164.404(b)). A source agency that is a
42 CFR Part 2 program is named as such, so its letter is handled under Part 2 too.

No contact data, ever: no address, no name, nothing read from a record. The client is
named by id and a placeholder each agency fills from its own system when mailing (a
privacy officer reads no record contents). Sending mail is out of scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from caseops import spreadsheet

NOTICE_DAYS = 60
NAME_PLACEHOLDER = "[client name: added by the agency from its own records]"
ADDRESS_PLACEHOLDER = "[mailing address: added by the agency from its own records]"
STEPS = (
    "Review the letters, statements and notices you receive from the agencies that serve "
    "you and tell us about any service or contact you do not recognise. Ask us for an "
    "accounting of who was shown your information. If you think your information is being "
    "misused, you may also complain to the U.S. Department of Health and Human Services, "
    "Office for Civil Rights."
)
CSV_COLUMNS = (
    "incident_id",
    "notification_id",
    "client_id",
    "client_name",
    "source_agency",
    "source_agency_name",
    "part2_program",
    "kinds_of_data",
    "breach_window",
    "discovered_on",
    "deadline",
    "what_happened",
    "steps_individuals_should_take",
    "what_is_being_done",
    "contact_procedures",
)
KIND_LABEL = {
    "breach": "a breach of protected information",
    "security_incident": "a security incident",
}


def deadline(discovered_at: datetime) -> str:
    """The last day to notify: 60 calendar days after discovery."""
    return (discovered_at + timedelta(days=NOTICE_DAYS)).date().isoformat()


def _label(category: str) -> str:
    return category.replace("_", " ")


def build(
    incident: Any,
    affected: list[dict[str, Any]],
    agencies: dict[str, tuple[str, bool]],
    what_is_being_done: str,
) -> list[dict[str, Any]]:
    """One record per affected client x source agency. ``agencies``: code -> (name,
    part2_program); ``affected``: ``scope.compute``'s affected clients."""
    window = (
        f"{incident.window_start.date().isoformat()} to {incident.window_end.date().isoformat()}"
    )
    discovered = incident.discovered_at.date().isoformat()
    records = []
    for client in affected:
        for agency in client["source_agencies"]:
            name, part2 = agencies.get(agency, (agency, False))
            categories = sorted(
                {k.split("/", 1)[1] for k in client["sections"] if k.split("/", 1)[0] == agency}
            )
            shown = [
                e
                for e in client["entries"]
                if any(k.split("/", 1)[0] == agency for k in e["sections"])
            ]
            seqs = [e["seq"] for e in shown]
            records.append(
                {
                    "notification_id": f"{incident.id}-{len(records) + 1}",
                    "client_id": client["client_id"],
                    "client_name": NAME_PLACEHOLDER,
                    "mailing_address": ADDRESS_PLACEHOLDER,
                    "source_agency": agency,
                    "source_agency_name": name,
                    "part2_program": part2,
                    "part2_notice": (
                        f"{name} is a 42 CFR Part 2 program: this notice concerns substance "
                        "use disorder records protected by 42 CFR Part 2."
                        if part2
                        else None
                    ),
                    "recipient_agencies": sorted(
                        {e["actor_agency"] for e in shown if e["actor_agency"]}
                    ),
                    "what_happened": (
                        f"Between {window}, {KIND_LABEL.get(incident.kind, incident.kind)} "
                        f"let an account see parts of your records held by {name}. We "
                        f"discovered it on {discovered}. {incident.summary}"
                    ),
                    "kinds_of_data": [_label(c) for c in categories],
                    "steps_individuals_should_take": STEPS,
                    "what_is_being_done": what_is_being_done,
                    "contact_procedures": (
                        f"Contact the privacy officer of {name} [the agency adds its toll-free "
                        "telephone number, e-mail address, web site or postal address]."
                    ),
                    "breach_window": window,
                    "discovered_on": discovered,
                    "deadline": deadline(incident.discovered_at),
                    "entries": seqs,
                }
            )
    return records


def to_csv(incident_id: int, records: list[dict[str, Any]]) -> str:
    """One line per notification, for the agency's own mail merge (no contact data)."""
    return spreadsheet.to_csv(
        CSV_COLUMNS, (item | {"incident_id": incident_id} for item in records)
    )


TIMELINE_COLUMNS = ("at", "step", "actor", "actor_agency", "reason", "access_event_seq")


def timeline_csv(steps: list[dict[str, Any]]) -> str:
    return spreadsheet.to_csv(TIMELINE_COLUMNS, steps)
