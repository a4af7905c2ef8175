"""The catalogue of access-log action names: the one list the writer accepts, the privacy
officer's ``action`` filter validates against, and the docs print (``docs/audit-actions.md``
is generated from it by ``caseops audit actions``).

Names are ``<area>.<what happened>``. A name is a public contract (auditors' scripts filter
on it): add names, never rename one silently. The writer refuses a name not listed here,
so a new feature cannot invent an action nobody can find.
"""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    # administration
    "admin.agency_created": "a system administrator created an agency",
    "admin.agency_denied": "a refused attempt to manage agencies",
    "admin.agency_facts_changed": (
        "a system administrator changed an agency's treating provider, covered entity or "
        "Part 2 program facts"
    ),
    "admin.user_created": "an account was created",
    "admin.user_deactivated": "an account was deactivated",
    "admin.user_reactivated": "an account was reactivated",
    "admin.second_factor_reset": "an account's second factor was reset",
    "admin.user_unlocked": "a locked account was unlocked",
    "admin.roles_changed": "an account's roles were changed",
    "admin.token_created": "a refused attempt to issue a token for another account",
    "admin.tokens_listed": "a refused attempt to list another account's tokens",
    "admin.token_revoked": "a refused attempt to revoke another account's token",
    "admin.grant_pending": (
        "roles that read client records were granted from outside the account's agency "
        "and await its approval (flagged for review)"
    ),
    "admin.grant_approved": "an agency approved roles granted from outside it (or a refusal)",
    "admin.user_view": "a refused attempt to view an account the caller may not manage",
    "admin.users_list": "a refused attempt to list another agency's accounts",
    # the access log itself
    "audit.access_statement": (
        "a privacy or consent officer produced a client's verifiable access statement"
    ),
    "audit.activity": "a privacy officer read the activity report",
    "audit.break_glass_queue": "a privacy officer read the break-the-glass queue",
    "audit.break_glass_review": "a privacy officer reviewed a break-the-glass grant",
    "audit.denied": "a refused attempt to use the access log",
    "audit.disclosures": "a privacy officer produced a client's accounting of disclosures",
    "audit.export": "the log was exported",
    "audit.search": "the log was searched",
    "audit.verify": "the log was verified",
    # 42 CFR 2.24: the intermediary's list of disclosures under a general designation
    "part2.denied": "a refused attempt to record or produce a patient's 2.24 list",
    "part2.list_produced": "a consent officer produced a patient's 2.24 list of disclosures",
    "part2.list_requested": "a consent officer recorded a patient's written request for the list",
    # referrals between agencies
    "referral.assign": "a refused attempt to assign a referral",
    "referral.assigned": "a recipient supervisor assigned a referral to a worker",
    "referral.create": "a refused attempt to create a referral",
    "referral.created": "a referral was created (a draft, or sent through the consent gate)",
    "referral.list": "a worker listed their agency's incoming or outgoing referrals",
    "referral.move": "a refused move of a referral (wrong side or role)",
    "referral.moved": "a referral changed status (who, from, to, which side)",
    "referral.preview": "a worker asked what a referral to an agency could share",
    "referral.send": "a referral refused by the consent gate (each uncovered pair named)",
    "referral.viewed": "a referral and its history were read",
    # sign-in and tokens
    "auth.lockout": "an account was locked after failed sign-ins",
    "auth.login": "a sign-in (success or failure)",
    "auth.logout": "a sign-out",
    "auth.second_factor_enrolled": "a second factor was enrolled",
    "auth.session_ended": "a session ended (idle or absolute timeout)",
    "auth.token_created": "an API token was issued",
    "auth.token_rejected": "a request with an unknown, expired or revoked token",
    "auth.token_revoked": "an API token was revoked",
    "auth.creator_used_account": (
        "an account was used from the address or session of the administrator who "
        "created it (flagged for review)"
    ),
    # need to know
    "care_team.add": "a refused attempt to join a care team",
    "care_team.added": "a worker joined a client's care team",
    "client.break_glass": "emergency access was opened (flagged for review)",
    "client.search": "a client search",
    "client.view": "a client record view (sections shown and withheld)",
    "client.view_check": "a check whether a client view changed",
    # the worker's desk (issue 18)
    "desk.caseload": (
        "a worker listed their caseload (names and birth dates of the clients listed, and "
        "which were marked changed since their last view), or a refused attempt"
    ),
    # consents
    "consent.amended": "a consent was amended (a new version)",
    "consent.attested": "a source agency's consent officer stood behind a consent",
    "consent.clients_named": (
        "a consent officer's lists (to attest, expiring, recent revocations) named the "
        "clients whose consents they hold (names and birth dates of the clients listed)"
    ),
    "consent.denied": "a refused attempt to record, amend, revoke, attest or read consents",
    "consent.document_stored": "a signed consent form was stored",
    "consent.recorded": "a consent was recorded",
    "consent.revoked": "a consent was revoked",
    "consent.sharing_viewed": "what may be shared with whom was read",
    "consent.trust_rule_added": "an agency set a standing rule accepting a partner's consents",
    "consent.trust_rule_ended": "an agency ended a standing trust rule",
    "consent.viewed": "consents were read",
    # data sharing agreements
    "agreement.accepted": "an agency administrator accepted a data sharing agreement",
    "agreement.amended": "a data sharing agreement was amended (a new version)",
    "agreement.denied": "a refused attempt to record, accept, amend, end or read agreements",
    "agreement.document_read": "a party read an agreement's signed document",
    "agreement.recorded": "a data sharing agreement was recorded",
    "agreement.terminated": "a data sharing agreement was terminated",
    # incident response
    "incident.closed": "a privacy officer closed an incident",
    "incident.contained": (
        "a privacy officer locked an incident's accounts, ended their sessions and revoked "
        "their tokens (denied: accounts referred to their agency's administrator)"
    ),
    "incident.containment_reversed": "an administrator reversed an incident's containment",
    "incident.denied": "a refused attempt to handle incidents",
    "incident.notified": "notification records were made for an incident's affected clients",
    "incident.opened": "a privacy officer opened an incident",
    "incident.scoped": "an incident's affected clients were computed from the log",
    # the master client index
    "linkage.hold_resolved": (
        "a data steward decided whose a row suspended by re-homing is (consent, care team)"
    ),
    "linkage.keep_apart": "a data steward kept two records apart",
    "linkage.link": "a data steward linked two records",
    "linkage.model_read": "a refused attempt to read the linkage model",
    "linkage.rebuild": "the operator re-linked every record",
    "linkage.reindex": "the operator recomputed identifiers",
    "linkage.rehomed": (
        "rows keyed by a client (consents, care teams) moved, kept or suspended after records "
        "changed client"
    ),
    "linkage.review_list": "a refused attempt to read the review queue",
    "linkage.train": "the operator trained a new linkage model from the records",
    "linkage.undo": "a data steward undid a link or unlink",
    "linkage.unlink": "a data steward unlinked a record",
    # workers' notes on clients (issue 18): sections of the author's agency, read only
    # through the record view (client.view names the notes disclosed)
    "note.amend": "a refused attempt to amend a note",
    "note.amended": "a note was amended (a new text and its reason; the original is kept)",
    "note.write": "a refused attempt to write a note",
    "note.written": "a worker wrote a note on a client (a section of their agency)",
    # the client's own pages (/my) and their access codes
    "portal.code_issued": "a consent officer issued a client an access code",
    "portal.code_revoked": "a consent officer revoked a client's access code",
    "portal.codes_listed": "a consent officer listed a client's access codes",
    "portal.denied": "a refused attempt to issue, list or revoke access codes",
    "portal.lockout": "an access code or an address was locked after failed client sign-ins",
    "portal.sign_in": "a client sign-in with an access code (success or failure)",
    "portal.sign_out": "a client signed out of their own pages",
    "portal.viewed": "a client read their own pages (who accessed, consents, referrals)",
    "portal.statement": "a client downloaded or printed their verifiable access statement",
    # the role policy
    "policy.denied": "a refused attempt to change the policy",
    "policy.impact": (
        "a privacy officer or system administrator replayed logged views under a draft policy "
        "(or a refused attempt)"
    ),
    "policy.rule_added": "a policy rule was added",
    "policy.rule_removed": "a policy rule was removed",
    "policy.test": "the operator ran a golden decision suite (failure: a case did not match)",
    # agency records
    "record.bulk_write": "a refused bulk write",
    "record.import": "the operator imported a file of records",
    "record.withdraw": "a record was withdrawn",
    "record.write": "a record was created or updated",
    # policy simulation
    "simulation.view": (
        "a privacy officer simulated what a user would see of a client (or a refused attempt)"
    ),
    # tasks on clients (issue 18): coordination data of one agency
    "task.assign": "a refused attempt to reassign a task",
    "task.assigned": "a task was handed to another worker of its agency",
    "task.create": "a refused attempt to create a task",
    "task.created": "a worker created a task on a client (for themself or a colleague)",
    "task.list": "a worker listed tasks (their own, a colleague's, or a client's)",
    "task.move": "a refused attempt to mark a task done or cancelled",
    "task.moved": "a task was marked done or cancelled",
    # webhooks to agency systems
    "webhook.delivered": "a webhook delivery attempt was answered 2xx by the agency's system",
    "webhook.denied": "a refused attempt to manage an agency's webhooks",
    "webhook.disabled": "an agency administrator disabled a webhook",
    "webhook.failed": "a webhook delivery attempt failed (retried with backoff, or given up)",
    "webhook.registered": "an agency administrator registered a webhook",
}

NAMES = frozenset(ACTIONS)


def check(action: str) -> str:
    """``action`` if it is catalogued; ValueError otherwise (a programming error)."""
    if action not in NAMES:
        raise ValueError(f"audit action {action!r} is not in caseops.audit.actions.ACTIONS")
    return action


def markdown() -> str:
    """The catalogue as the Markdown table of ``docs/audit-actions.md``."""
    lines = [
        "# Access-log action names",
        "",
        "Generated by `caseops audit actions` from `caseops/audit/actions.py`; the writer",
        "refuses any other name and `GET /api/v1/audit/events?action=` accepts only these.",
        "",
        "| action | recorded when |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in sorted(ACTIONS.items())]
    return "\n".join(lines) + "\n"
