"""How pages write instants and agencies for people who read them without a manual.

* Instants in the deployment's time zone (``CASEOPS_TIME_ZONE``, an IANA name checked at
  start-up by ``caseops.config``), with the zone's abbreviation, so a case worker in
  Chicago reads "09:30 CST", not "15:30 UTC". The API keeps ISO 8601 with offsets: only
  pages convert. A ``<time datetime=...>`` keeps the exact instant for machines.
* Agencies by name ("Harbor Housing Alliance"), not code ("hha"); the code stays in a
  ``title`` where a page needs it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g, has_app_context
from markupsafe import Markup, escape
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.extensions import db

DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo:
    return UTC if name == DEFAULT_ZONE else ZoneInfo(name)


def zone_name() -> str:
    if not has_app_context():
        return DEFAULT_ZONE
    return current_app.config.get("CASEOPS_TIME_ZONE") or DEFAULT_ZONE


def time_zone() -> tzinfo:
    """The deployment's time zone (UTC unless ``CASEOPS_TIME_ZONE`` names another)."""
    return _zone(zone_name())


def local(value: datetime) -> datetime:
    """An instant in the deployment's time zone (a naive value is taken as UTC, as the
    database stores every instant)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(time_zone())


def when(value: Any) -> str:
    """An instant as ``YYYY-MM-DD HH:MM ZONE`` in the deployment's zone ("2026-03-02 09:30
    CST"; "… UTC" by default); dates and text pass through, nothing is "—"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        moment = local(value)
        return moment.strftime("%Y-%m-%d %H:%M ") + (moment.tzname() or zone_name())
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def time_tag(value: Any) -> Markup:
    """``<time datetime="exact ISO instant">local reading</time>``."""
    if not isinstance(value, datetime):
        return escape(when(value))
    exact = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return Markup('<time datetime="{}">{}</time>').format(exact, when(value))


def _agency_names() -> dict[str, str]:
    """code -> name, read once per request (agencies are few and their names public)."""
    if "agency_names" not in g:
        rows = db.session.execute(select(Agency.code, Agency.name))
        g.agency_names = {code: name for code, name in rows}
    return g.agency_names


def agency_name(code: Any) -> str:
    """An agency's name for a page; the code itself if unknown (or "any agency" for *)."""
    if code is None or code == "":
        return "—"
    if code == "*":
        return "any agency"
    return _agency_names().get(str(code)) or str(code).upper()


def agency_tag(code: Any) -> Markup:
    """The agency's name, its code in a ``title`` for those who know the codes."""
    if code in (None, "", "*"):
        return escape(agency_name(code))
    return Markup('<span title="{}" class="agency-name">{}</span>').format(
        str(code).upper(), agency_name(code)
    )


def signed_label(consent: Any) -> str:
    """A consent as people recognise it: "signed 2026-03-02 by Maria Lopez" (a consent
    described by ``registry.service.describe``), instead of its ``cns_…`` id."""
    signed_at = consent.get("signed_at") if isinstance(consent, dict) else None
    grantor = (consent.get("grantor") or {}).get("name") if isinstance(consent, dict) else None
    day = local(signed_at).date().isoformat() if isinstance(signed_at, datetime) else None
    return f"signed {day or 'on an unknown date'} by {grantor or 'the client'}"


def install(app) -> None:
    app.add_template_filter(signed_label, "signed_label")
    app.add_template_filter(when, "when")
    app.add_template_filter(time_tag, "time_tag")
    app.add_template_filter(agency_name, "agency_name")
    app.add_template_filter(agency_tag, "agency_tag")
    app.add_template_global(zone_name, "time_zone_name")
    app.add_template_global(lambda: dict(_agency_names()), "agency_names")
