"""Golden decision suites: ``caseops policy test FILE.yaml [--draft DRAFT.yaml]``.

A suite is a small isolated world (agencies, users and their roles, clients and which
agency holds which category of record, consents, relationships) with a fixed ``now`` and,
per case, the decision expected for every section of one user's view of one client. It is
decided by the live view's pure decision (``access.rules.decide_view``, which asks
``consent.decide``) against an in-memory Casbin enforcer holding the policy's ``p`` rules
(the deployment's current rules, or those plus a draft) and the suite's own ``g`` lines.
Nothing touches the database. The format is in docs/simulation.md.

Relationships are stated, not derived: a ``referral`` entry is the referral the view would
find open (``accepted``, ``in-progress`` or ``on-hold``: another status opens nothing) and
the categories it shares; the referral state machine and its consent gate have tests of
their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

import consent
from caseops.access.rules import Facts, SectionDecision, SectionFacts, decide_view
from caseops.simulation import engine
from caseops.vocabulary import CATEGORIES, PURPOSES, ROLES

DEFAULT_SUITE = Path(__file__).with_name("suites") / "default_policy.yaml"
OPEN_REFERRAL = frozenset({"accepted", "in-progress", "on-hold"})
DECISIONS = ("shown", "withheld", "hidden")
COMPARED = ("basis", "reason", "relationship", "consent_id", "referral_id")
KINDS = ("care_team", "referral", "break_glass")


class SuiteError(ValueError):
    """The suite (or draft) file is not well formed: each problem named."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class CaseResult:
    name: str
    header: str
    mismatches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass
class SuiteResult:
    suite: str
    cases: list[CaseResult]

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def report(self) -> str:
        """A readable diff: each failing case, each section expected vs got."""
        lines = []
        for case in self.cases:
            lines.append(f"{'PASS' if case.passed else 'FAIL'}  {case.name}  ({case.header})")
            lines.extend(f"      {m}" for m in case.mismatches)
        lines.append(
            f"{self.suite}: {len(self.cases)} cases, {len(self.cases) - len(self.failed)} "
            f"passed, {len(self.failed)} failed"
        )
        return "\n".join(lines)


# --- reading ----------------------------------------------------------------------------


def _instant(value: Any, where: str, problems: list[str]) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}: not an ISO 8601 date-time: {value!r}")
            return None
    if parsed.tzinfo is None:
        problems.append(f"{where}: give a time zone (e.g. 2026-06-01T12:00:00Z)")
        return None
    return parsed.astimezone(UTC)


def _day(value: Any, where: str, problems: list[str]) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{where}: not an ISO 8601 date: {value!r}")
        return None


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SuiteError([f"{path}: {error}"]) from error
    if not isinstance(data, dict):
        raise SuiteError([f"{path}: expected a mapping at the top level"])
    return data


def load_draft(path: str | Path) -> dict[str, list[dict[str, str]]]:
    """``{add: [rules], remove: [rules]}``, rules as ``/api/v1/policies`` takes them."""
    data = load_yaml(path)
    problems: list[str] = []
    draft: dict[str, list[dict[str, str]]] = {"add": [], "remove": []}
    for name in data:
        if name not in draft:
            problems.append(f"draft: unknown key {name!r} (add, remove)")
    for name in draft:
        for i, rule in enumerate(data.get(name) or []):
            where = f"draft.{name}[{i}]"
            if not isinstance(rule, dict):
                problems.append(f"{where}: a rule is a mapping sub, dom, obj, act, eft")
                continue
            missing = [f for f in ("sub", "dom", "obj", "act") if not rule.get(f)]
            if missing:
                problems.append(f"{where}: missing {', '.join(missing)}")
                continue
            if rule["sub"] not in ROLES:
                problems.append(f"{where}.sub: one of the roles: {', '.join(ROLES)}")
            eft = rule.get("eft", "allow")
            if eft not in ("allow", "deny"):
                problems.append(f"{where}.eft: allow or deny")
            draft[name].append(
                {f: str(rule[f]) for f in ("sub", "dom", "obj", "act")} | {"eft": eft}
            )
    if problems:
        raise SuiteError(problems)
    return draft


@dataclass(frozen=True)
class _World:
    now: datetime
    part2: Mapping[str, bool]
    treating: Mapping[str, bool]
    covered: Mapping[str, bool]
    users: Mapping[str, tuple[str, tuple[str, ...]]]
    records: Mapping[str, tuple[SectionFacts, ...]]
    birth_dates: Mapping[str, date | None]
    consents: Mapping[str, tuple[consent.Consent, ...]]
    revocations: Mapping[str, tuple[consent.Revocation, ...]]
    trust: Mapping[str, consent.Trust]
    relationships: Mapping[tuple[str, str], tuple[dict[str, Any], ...]]
    # data sharing agreements and waivers (issue 22); none unless the suite says so
    agreements: consent.Agreements = consent.NO_AGREEMENTS


def _agreements(
    data: Mapping[str, Any], agencies: Mapping[str, Any], problems: list[str]
) -> consent.Agreements:
    """``waivers``: ``all`` (every pair: an upgraded installation) or a list of [a, b]
    pairs; ``agreements``: ``{id, parties, categories, purposes, starts_on, ends_on}``,
    each accepted by every party on its first day. Absent: none (a new installation)."""
    codes = sorted(agencies)
    spec = data.get("waivers") or []
    if spec == "all":
        pairs = [(a, b) for i, a in enumerate(codes) for b in codes[i + 1 :]]
    elif isinstance(spec, list) and all(
        isinstance(p, list) and len(p) == 2 and set(p) <= set(codes) for p in spec
    ):
        pairs = [tuple(p) for p in spec]
    else:
        problems.append("waivers: 'all' or a list of [agency, agency] pairs")
        pairs = []
    versions = []
    for i, item in enumerate(data.get("agreements") or []):
        where = f"agreements[{i}]"
        parties = frozenset(item.get("parties") or [])
        start = _day(item.get("starts_on"), f"{where}.starts_on", problems)
        end = (
            _day(item.get("ends_on"), f"{where}.ends_on", problems) if item.get("ends_on") else None
        )
        if len(parties) < 2 or not parties <= set(codes) or start is None:
            problems.append(f"{where}: two or more of the suite's agencies and a starts_on")
            continue
        versions.append(
            consent.Agreement(
                id=str(item.get("id") or f"agreement-{i + 1}"),
                parties=parties,
                starts_at=consent.agreements.day_start(start),
                ends_at=consent.agreements.period_end(end),
                share=(
                    consent.ShareClause(
                        categories=frozenset(item.get("categories") or []),
                        purposes=frozenset(item.get("purposes") or []),
                    ),
                ),
                acceptances={p: consent.agreements.day_start(start) for p in parties},
            )
        )
    return consent.Agreements(tuple(versions), consent.agreements.waived_pairs(pairs))


def _world(data: Mapping[str, Any]) -> _World:
    problems: list[str] = []
    now = _instant(data.get("now"), "now", problems)
    agencies = data.get("agencies") or {}
    if not isinstance(agencies, dict) or not agencies:
        problems.append("agencies: a mapping of agency codes")
        agencies = {}
    facts = {code: dict(v or {}) for code, v in agencies.items()}
    users: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, spec in (data.get("users") or {}).items():
        spec = spec or {}
        if spec.get("agency") not in facts:
            problems.append(f"users.{name}.agency: one of the suite's agencies")
        bad = [r for r in spec.get("roles") or [] if r not in ROLES]
        if bad:
            problems.append(f"users.{name}.roles: unknown {bad}")
        users[str(name)] = (str(spec.get("agency")), tuple(spec.get("roles") or ()))
    records: dict[str, tuple[SectionFacts, ...]] = {}
    births: dict[str, date | None] = {}
    for client, spec in (data.get("clients") or {}).items():
        spec = spec or {}
        births[client] = _day(spec.get("birth_date"), f"clients.{client}.birth_date", problems)
        sections = []
        for i, key in enumerate(spec.get("records") or []):
            agency, _, category = str(key).partition("/")
            if agency not in facts or category not in CATEGORIES:
                problems.append(
                    f"clients.{client}.records[{i}]: agency/category of the suite's agencies "
                    f"and of {', '.join(CATEGORIES)}"
                )
                continue
            part2 = bool(facts[agency].get("part2_program"))
            sections.append(SectionFacts(i + 1, agency, part2, category))
        keys = [f"{s.agency}/{s.category}" for s in sections]
        if len(set(keys)) != len(keys):
            problems.append(f"clients.{client}.records: each agency/category once")
        records[client] = tuple(sections)
    consents: dict[str, list[consent.Consent]] = {c: [] for c in records}
    revocations: dict[str, list[consent.Revocation]] = {c: [] for c in records}
    attestations: dict[str, list[consent.Attestation]] = {c: [] for c in records}
    for i, spec in enumerate(data.get("consents") or []):
        where = f"consents[{i}]"
        client = spec.get("client")
        if client not in records:
            problems.append(f"{where}.client: one of the suite's clients")
            continue
        sources = list(spec.get("sources") or [])
        recorder = spec.get("recorded_by", sources[0] if len(sources) == 1 else None)
        start = _instant(spec.get("effective_from"), f"{where}.effective_from", problems)
        end = (
            _instant(spec["expires_at"], f"{where}.expires_at", problems)
            if spec.get("expires_at")
            else None
        )
        if start is None:
            continue
        cid = str(spec.get("id") or f"consent-{i + 1}")
        try:
            consents[client].append(
                consent.Consent(
                    id=cid,
                    client_id=client,
                    grantor=consent.Grantor(kind="self", name=client),
                    provision=spec.get("provision", "permit"),
                    source_agencies=frozenset(sources),
                    categories=frozenset(spec.get("categories") or []),
                    recipients=frozenset(spec.get("recipients") or []),
                    purposes=frozenset(spec.get("purposes") or []),
                    effective_from=start,
                    expires_at=end,
                    signed_at=start,
                    evidence=consent.Evidence(method="written"),
                    revocation_right_acknowledged=True,
                    recorded_by="golden-suite",
                    recorded_at=start,
                    recorded_by_agency=recorder,
                )
            )
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
            continue
        for agency in spec.get("attested_by") or []:
            attestations[client].append(
                consent.Attestation(
                    consent_id=cid, agency=agency, attested_by="golden-suite", attested_at=start
                )
            )
        if spec.get("revoked_at"):
            revoked = _instant(spec["revoked_at"], f"{where}.revoked_at", problems)
            if revoked is not None:
                revocations[client].append(
                    consent.Revocation(
                        consent_id=cid,
                        revoked_at=revoked,
                        revoked_by=client,
                        reason="golden suite",
                        method="written",
                    )
                )
    relationships: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i, spec in enumerate(data.get("relationships") or []):
        where = f"relationships[{i}]"
        if spec.get("user") not in users or spec.get("client") not in records:
            problems.append(f"{where}: user and client of the suite")
            continue
        if spec.get("kind") not in KINDS:
            problems.append(f"{where}.kind: one of {', '.join(KINDS)}")
            continue
        relationships.setdefault((spec["user"], spec["client"]), []).append(dict(spec))
    pacts = _agreements(data, facts, problems)
    if problems or now is None:
        raise SuiteError(problems or ["now: required"])
    return _World(
        now=now,
        part2=MappingProxyType({a: bool(f.get("part2_program")) for a, f in facts.items()}),
        treating=MappingProxyType({a: bool(f.get("treating_provider")) for a, f in facts.items()}),
        covered=MappingProxyType({a: bool(f.get("covered_entity")) for a, f in facts.items()}),
        users=MappingProxyType(users),
        records=MappingProxyType(records),
        birth_dates=MappingProxyType(births),
        consents=MappingProxyType({c: tuple(v) for c, v in consents.items()}),
        revocations=MappingProxyType({c: tuple(v) for c, v in revocations.items()}),
        trust=MappingProxyType(
            {c: consent.Trust(attestations=tuple(v)) for c, v in attestations.items()}
        ),
        relationships=MappingProxyType({k: tuple(v) for k, v in relationships.items()}),
        agreements=pacts,
    )


# --- deciding ---------------------------------------------------------------------------


def _facts(world: _World, user: str, client: str, purpose: str) -> Facts:
    related = world.relationships.get((user, client), ())
    care_team = any(r["kind"] == "care_team" for r in related)
    referrals = [
        r
        for r in related
        if r["kind"] == "referral" and r.get("status", "accepted") in OPEN_REFERRAL
    ]
    shared = {
        category: str(r.get("id") or f"referral-{n + 1}")
        for n, r in enumerate(referrals)
        for category in r.get("categories") or []
    }
    agency = world.users[user][0]
    return Facts(
        client_id=client,
        sections=world.records[client],
        consents=world.consents[client],
        revocations=world.revocations[client],
        birth_date=world.birth_dates.get(client),
        relationship=care_team,
        break_glass=any(r["kind"] == "break_glass" for r in related),
        trust=world.trust[client],
        referral_categories=MappingProxyType({} if care_team else shared),
        recipient_treating_provider=world.treating.get(agency, False),
        recipient_covered_entity=world.covered.get(agency, False),
        treating_relationship=care_team
        or any(r.get("purpose", "care_coordination") == "treatment" for r in referrals),
        agreements=world.agreements,
    )


def _got(d: SectionDecision) -> dict[str, Any]:
    decision = "shown" if d.shown else "hidden" if d.hidden else "withheld"
    return {"decision": decision} | {name: getattr(d, name) for name in COMPARED}


def _describe(values: Mapping[str, Any]) -> str:
    extra = ", ".join(f"{k}={values[k]}" for k in COMPARED if values.get(k) is not None)
    return f"{values['decision']}" + (f" ({extra})" if extra else "")


def _expected(value: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    spec = {"decision": value} if isinstance(value, str) else dict(value or {})
    if spec.get("decision") not in DECISIONS:
        problems.append(f"{where}.decision: one of {', '.join(DECISIONS)}")
        return None
    unknown = set(spec) - {"decision", *COMPARED}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
        return None
    return spec


def run_suite(
    data: Mapping[str, Any],
    policy_rows: Iterable[Sequence[str]],
    draft: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> SuiteResult:
    """Decide every case of the suite under ``policy_rows`` (Casbin ``p`` rows) and the
    optional draft; raises ``SuiteError`` when the file itself is wrong."""
    world = _world(data)
    enforcer = engine.build(
        policy_rows,
        [
            [name, role, agency]
            for name, (agency, roles) in sorted(world.users.items())
            for role in roles
        ],
    )
    if draft:
        engine.apply_draft(enforcer, draft.get("add") or (), draft.get("remove") or ())
    problems: list[str] = []
    results = []
    for i, case in enumerate(data.get("cases") or []):
        where = f"cases[{i}]"
        name = str(case.get("name") or where)
        user, client, purpose = case.get("user"), case.get("client"), case.get("purpose")
        if user not in world.users or client not in world.records or purpose not in PURPOSES:
            problems.append(f"{where}: user and client of the suite, purpose of {PURPOSES}")
            continue
        at = _instant(case["at"], f"{where}.at", problems) if case.get("at") else world.now
        expected = {
            str(k): _expected(v, f"{where}.expect.{k}", problems)
            for k, v in (case.get("expect") or {}).items()
        }
        if at is None or any(v is None for v in expected.values()):
            continue
        agency, roles = world.users[user]
        decisions = decide_view(
            _facts(world, user, client, purpose),
            agency,
            engine.permits(enforcer, roles, agency),
            purpose,
            at,
        )
        result = CaseResult(name, f"{user} -> {client}, {purpose}")
        got = {engine.key(d): _got(d) for d in decisions}
        for key in sorted(set(got) | set(expected)):
            if key not in got:
                result.mismatches.append(
                    f"{key}: expected {_describe(expected[key])}, "
                    "but the client has no such section"
                )
            elif key not in expected:
                result.mismatches.append(
                    f"{key}: not in expect; got {_describe(got[key])} (list every section)"
                )
            else:
                want = expected[key]
                differs = [k for k in want if want[k] != got[key][k]]
                if differs:
                    result.mismatches.append(
                        f"{key}: expected {_describe(want)}, got {_describe(got[key])}"
                    )
        results.append(result)
    if problems:
        raise SuiteError(problems)
    if not results:
        raise SuiteError(["cases: at least one case"])
    return SuiteResult(str(data.get("suite") or "suite"), results)
