"""Forms of the worker, consent officer and data steward pages.

They check types only (a date is a date, a choice is one of the choices). What makes a
consent complete or a justification sufficient is the services' business: their
field-level errors are put next to these fields by ``attach_errors``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from caseops.ui import display
from caseops.vocabulary import CATEGORIES, PURPOSES
from consent import ANY, CLIENT_METHODS, EvidenceMethod, GrantorKind

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"

CATEGORY_LABELS = {
    "housing": "Housing",
    "health": "Health",
    "behavioral_health": "Behavioral health",
    "substance_use": "Substance use (42 CFR Part 2)",
    "education": "Education (FERPA)",
    "child_welfare": "Child welfare",
    "justice": "Justice",
    "economic_security": "Economic security",
    "early_childhood": "Early childhood",
}
PURPOSE_LABELS = {
    "care_coordination": "Care coordination",
    "treatment": "Treatment",
    "payment": "Payment",
    "operations": "Operations",
    "eligibility": "Eligibility",
    "emergency": "Emergency",
}
GRANTOR_LABELS = {
    "self": "The client",
    "parent": "Parent",
    "guardian": "Guardian",
    "authorized_representative": "Authorized representative",
}
EVIDENCE_LABELS = {
    "written": "Written (signed form)",
    "electronic": "Electronic signature",
    "verbal_witnessed": "Verbal, witnessed",
}
REVOCATION_LABELS = {
    "written": "In writing",
    "electronic": "Electronically",
    "verbal": "Verbally",
    "linkage": "Ended by the client index (records moved to another client)",
}
BREAK_GLASS_DURATIONS = [
    SelectChoice(15, "15 minutes"),
    SelectChoice(30, "30 minutes"),
    SelectChoice(60, "1 hour"),
    SelectChoice(120, "2 hours"),
]


def label(labels: dict[str, str], code: str) -> str:
    return labels.get(code, code.replace("_", " ").capitalize())


def _choices(codes, labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(code, label(labels, code)) for code in codes]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UTCDateTimeField(DateTimeLocalField):
    """An HTML ``datetime-local`` input (it has no zone): the value is read in the
    deployment's time zone (``CASEOPS_TIME_ZONE``, UTC by default) and stored as UTC; a
    label ending "(UTC)" names that zone instead."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=DATETIME_FORMAT, **kwargs)
        zone = display.zone_name()
        if zone != display.DEFAULT_ZONE and self.label.text.endswith("(UTC)"):
            self.label.text = self.label.text[: -len("(UTC)")] + f"({zone})"

    @property
    def utc(self) -> datetime | None:
        if not self.data:
            return None
        return self.data.replace(tzinfo=display.time_zone()).astimezone(UTC)


def utc_input_value(moment: datetime | None) -> datetime | None:
    """A stored instant as the naive value a ``datetime-local`` input shows, in the
    deployment's time zone."""
    if moment is None:
        return None
    moment = display.local(moment)
    return moment.replace(tzinfo=None, second=0, microsecond=0)


# --- finding a client -----------------------------------------------------------------


class SearchForm(FlaskForm):
    """A GET form: nothing changes, so no CSRF token."""

    class Meta:
        csrf = False

    q = StringField("Name", validators=[Optional(), Length(max=200)])
    birth_date = DateField("Birth date", validators=[Optional()])


class PurposeForm(FlaskForm):
    class Meta:
        csrf = False

    purpose = SelectField(
        "Purpose of this look",
        choices=_choices(PURPOSES, PURPOSE_LABELS),
        default="care_coordination",
    )


class ActionForm(FlaskForm):
    """A CSRF-protected button (join the care team, link, keep apart, undo)."""


class BreakGlassForm(FlaskForm):
    justification = TextAreaField(
        "Why is this an emergency?", validators=[DataRequired(), Length(max=2000)]
    )
    purpose = SelectField(
        "Purpose", choices=_choices(PURPOSES, PURPOSE_LABELS), default="emergency"
    )
    minutes = SelectField(
        "Access lasts",
        choices=BREAK_GLASS_DURATIONS,
        coerce=int,
        default=60,
    )


# --- consents ------------------------------------------------------------------------


class ConsentForm(FlaskForm):
    provision = RadioField(
        "The client",
        choices=[
            SelectChoice("permit", "permits sharing"),
            SelectChoice("deny", "refuses sharing"),
        ],
        default="permit",
    )
    source_agencies = CheckboxesField("Agencies whose records may be shared (source)")
    categories = CheckboxesField(
        "Kinds of information",
        choices=[SelectChoice(ANY, "Any category (*)"), *_choices(CATEGORIES, CATEGORY_LABELS)],
    )
    recipients = CheckboxesField("Agencies that may receive them (recipients)")
    purposes = CheckboxesField(
        "Purposes",
        choices=[SelectChoice(ANY, "Any purpose (*)"), *_choices(PURPOSES, PURPOSE_LABELS)],
    )
    effective_from = UTCDateTimeField("Effective from (UTC)", validators=[Optional()])
    expires_at = UTCDateTimeField("Expires at (UTC)", validators=[Optional()])
    expiry_event = StringField(
        "…or expires on this event", validators=[Optional(), Length(max=200)]
    )
    grantor_kind = SelectField(
        "Signed by",
        choices=[
            SelectChoice("", "Choose who signed"),
            *_choices([k.value for k in GrantorKind], GRANTOR_LABELS),
        ],
    )
    grantor_name = StringField("Name of the person who signed", validators=[Length(max=200)])
    signed_at = UTCDateTimeField("Signed at (UTC)", validators=[Optional()])
    evidence_method = SelectField(
        "How the consent was given",
        choices=[
            SelectChoice("", "Choose how"),
            *_choices([m.value for m in EvidenceMethod], EVIDENCE_LABELS),
        ],
    )
    document = FileField(
        "Signed form (PDF, PNG or JPEG)",
        render_kw={"accept": "application/pdf,image/png,image/jpeg"},
    )
    document_sha256 = HiddenField()
    revocation_right_acknowledged = BooleanField(
        "The client was told they may revoke this consent at any time"
    )

    def set_agencies(self, codes: list[str]) -> None:
        agencies = [
            SelectChoice(ANY, "Any agency (*)"),
            *[SelectChoice(code, code.upper()) for code in codes],
        ]
        self.source_agencies.choices = agencies
        self.recipients.choices = agencies

    def body(self) -> dict[str, object]:
        """The API's consent body (ISO strings, as ``ConsentBodySchema`` loads them)."""

        def iso(field: UTCDateTimeField) -> str | None:
            return field.utc.isoformat() if field.utc else None

        return {
            "provision": self.provision.data or None,
            "source_agencies": self.source_agencies.data or [],
            "categories": self.categories.data or [],
            "recipients": self.recipients.data or [],
            "purposes": self.purposes.data or [],
            "effective_from": iso(self.effective_from),
            "expires_at": iso(self.expires_at),
            "expiry_event": (self.expiry_event.data or "").strip() or None,
            "grantor": {
                "kind": self.grantor_kind.data or None,
                "name": (self.grantor_name.data or "").strip() or None,
            },
            "signed_at": iso(self.signed_at),
            "evidence": {
                "method": self.evidence_method.data or None,
                "document_sha256": self.document_sha256.data or None,
            },
            "revocation_right_acknowledged": bool(self.revocation_right_acknowledged.data),
        }

    def fill_from(self, described: dict) -> None:
        """Prefill from a consent as ``consents.service.describe`` gives it (amending)."""
        self.provision.data = described["provision"]
        self.source_agencies.data = list(described["source_agencies"])
        self.categories.data = list(described["categories"])
        self.recipients.data = list(described["recipients"])
        self.purposes.data = list(described["purposes"])
        self.effective_from.data = utc_input_value(described["effective_from"])
        self.expires_at.data = utc_input_value(described["expires_at"])
        self.expiry_event.data = described["expiry_event"]
        self.grantor_kind.data = described["grantor"]["kind"]
        self.grantor_name.data = described["grantor"]["name"]
        self.signed_at.data = utc_input_value(described["signed_at"])
        self.evidence_method.data = described["evidence"]["method"]
        self.document_sha256.data = described["evidence"]["document_sha256"] or ""
        self.revocation_right_acknowledged.data = described["revocation_right_acknowledged"]


# Where the service's error keys (API field names) show up on the form.
CONSENT_ERROR_FIELDS = {
    "grantor.kind": "grantor_kind",
    "grantor.name": "grantor_name",
    "grantor": "grantor_name",
    "evidence.method": "evidence_method",
    "evidence.document_sha256": "document",
    "evidence": "evidence_method",
    "file": "document",
}


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        "Reason for the revocation",
        validators=[DataRequired(message="Give the reason."), Length(min=3, max=1000)],
    )
    method = SelectField(
        "The client revoked",
        choices=_choices([m.value for m in CLIENT_METHODS], REVOCATION_LABELS),
        default="written",
    )
    confirm = BooleanField(
        "I confirm: sharing under this consent stops now, for every agency",
        validators=[DataRequired(message="Tick the box to confirm the revocation.")],
    )


def attach_errors(
    form: FlaskForm, details: dict[str, list[str]], aliases: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """Put a service's ``{field: [reasons]}`` next to the form's fields; returns the
    reasons that belong to no field (shown above the form)."""
    aliases = aliases or {}
    unplaced: dict[str, list[str]] = {}
    for key, reasons in details.items():
        name = aliases.get(key, key)
        if name in form._fields and name != "csrf_token":
            field = form[name]
            field.errors = [*field.errors, *reasons]
        else:
            unplaced.setdefault(key, []).extend(reasons)
    return unplaced
