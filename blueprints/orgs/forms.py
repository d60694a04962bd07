"""Organisation forms."""

from __future__ import annotations

from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from blueprints.auth.forms import PhoneField, phone_validators
from blueprints.core.forms import FlaskForm
from blueprints.core.translate import lazy_gettext as _l

from .models import CERTIFICATE_ISSUERS, ORG_KINDS, ROUNDING_RULES
from .services import parse_thresholds

KIND_LABELS = {
    "city": _l("City"),
    "district": _l("County or district"),
    "town": _l("Town or street"),
    "community": _l("Village or community"),
    "school": _l("School"),
    "enterprise": _l("Enterprise"),
    "other": _l("Other"),
}
ROUNDING_LABELS = {
    "nearest_half_hour": _l("To the nearest half hour"),
    "local_15_45": _l("Under 15 min: 0; 15–45 min: half an hour; 45–60 min: an hour"),
    "down_half_hour": _l("Whole half hours only"),
    "nearest_quarter": _l("To the nearest quarter hour"),
    "exact": _l("Exact minutes"),
}
ISSUER_LABELS = {
    "self": _l("Volunteers print their own"),
    "leader": _l("Team leaders issue them"),
    "coordinator": _l("Coordinators issue them"),
}


def _name_field():
    return StringField(
        _l("Organisation name"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=120, message=_l("At most 120 characters."))],
    )


class OrgForm(FlaskForm):
    name = _name_field()
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in ORG_KINDS], default="community")

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter a name."))


class MoveForm(FlaskForm):
    parent = IntegerField(
        _l("New parent organisation"), validators=[DataRequired(message=_l("Choose where to move it."))]
    )
    org_query = StringField(_l("Search organisations"), validators=[Optional(), Length(max=60)])


INHERIT = SelectChoice("", _l("Inherit from the parent organisation"))


class SettingsForm(FlaskForm):
    annual_target_hours = IntegerField(
        _l("Annual volunteer-hour target (hours)"),
        validators=[Optional(), NumberRange(min=0, max=2000, message=_l("Enter a number from 0 to 2000."))],
        description=_l("Leave empty to inherit (default 20 hours)."),
    )
    star_thresholds = StringField(
        _l("Star-level thresholds (hours)"),
        validators=[Optional(), Length(max=60), Regexp(r"^[\d,，\s]+$", message=_l("Use numbers and commas only."))],
        description=_l("Five rising numbers, e.g. 100,300,600,1000,1500. Leave empty to inherit."),
    )
    rounding_rule = SelectField(
        _l("Hour rounding"),
        choices=[INHERIT] + [SelectChoice(k, ROUNDING_LABELS[k]) for k in ROUNDING_RULES],
        default="",
    )
    min_attendance_percent = IntegerField(
        _l("Minimum attendance for hours to count (% of the event)"),
        validators=[Optional(), NumberRange(min=0, max=100, message=_l("Enter a number from 0 to 100."))],
        description=_l("0 turns the rule off. Leave empty to inherit."),
    )
    certificate_issuer = SelectField(
        _l("Who issues service certificates"),
        choices=[INHERIT] + [SelectChoice(k, ISSUER_LABELS[k]) for k in CERTIFICATE_ISSUERS],
        default="",
    )

    def validate_star_thresholds(self, field):
        if field.data and field.data.strip():
            try:
                parse_thresholds(field.data)
            except ValueError:
                raise ValidationError(_l("Enter five rising whole numbers separated by commas.")) from None


class GrantForm(FlaskForm):
    phone = PhoneField(_l("Mobile number of the new coordinator"), validators=phone_validators)
