"""Administration forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from caseops.vocabulary import ROLES


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AgencyForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=32)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = StringField("Kind", default="other", validators=[Length(max=64)])
    part2_program = BooleanField("42 CFR Part 2 program (substance-use treatment)")
    ferpa_institution = BooleanField("FERPA educational institution")


class UserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    display_name = StringField("Full name", validators=[Optional(), Length(max=200)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    agency = SelectField("Agency", validators=[DataRequired()])
    roles = CheckboxesField("Roles", choices=[(r, r) for r in ROLES])
    password = PasswordField(
        "Initial password (leave empty to generate one)", validators=[Optional(), Length(max=1024)]
    )


class RolesForm(FlaskForm):
    roles = CheckboxesField("Roles", choices=[(r, r) for r in ROLES])


class ActionForm(FlaskForm):
    """A CSRF-protected button."""
