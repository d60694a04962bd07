"""Team forms."""

from __future__ import annotations

from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from blueprints.auth.forms import PhoneField, normalise_phone, phone_validators
from blueprints.auth.models import PHONE_PATTERN
from blueprints.core.forms import FlaskForm
from blueprints.core.translate import gettext
from blueprints.core.translate import lazy_gettext as _l

from .models import JOIN_POLICIES

JOIN_POLICY_LABELS = {
    "open": _l("Open: anyone can join at once"),
    "approval": _l("By approval: a leader accepts each request"),
}
JOIN_POLICY_SHORT = {"open": _l("Open to join"), "approval": _l("Joining needs approval")}
MEMBERSHIP_STATE_LABELS = {
    "pending": _l("Waiting for approval"),
    "active": _l("Member"),
    "declined": _l("Declined"),
    "left": _l("Left"),
    "removed": _l("Removed"),
}
ROLE_LABELS = {"leader": _l("Leader"), "member": _l("Member")}


def _name_field():
    return StringField(
        _l("Team name"),
        validators=[
            DataRequired(message=_l("Enter a team name.")),
            Length(max=120, message=_l("At most 120 characters.")),
        ],
    )


def _policy_field():
    return SelectField(
        _l("Who may join"),
        choices=[SelectChoice(p, JOIN_POLICY_LABELS[p]) for p in JOIN_POLICIES],
        default="open",
    )


class TeamForm(FlaskForm):
    """A coordinator creates a team in their scope and names its first leaders."""

    name = _name_field()
    description = TextAreaField(
        _l("About the team"), validators=[Optional(), Length(max=2000, message=_l("At most 2000 characters."))]
    )
    join_policy = _policy_field()
    org_id = IntegerField(
        _l("Organisation"),
        validators=[DataRequired(message=_l("Choose the organisation the team belongs to."))],
        description=_l("Search by name; only organisations you coordinate are listed."),
    )
    org_query = StringField(_l("Search organisations"), validators=[Optional(), Length(max=60)])
    leader_phones = TextAreaField(
        _l("Mobile numbers of the leaders"),
        validators=[DataRequired(message=_l("Name at least one leader."))],
        description=_l("One or more numbers, separated by commas or new lines. They need an account."),
    )

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter a team name."))

    def validate_leader_phones(self, field):
        import re

        parts = []
        for chunk in re.split(r"[,，;；、\n]+", field.data or ""):
            whole = normalise_phone(chunk.strip())
            if whole and re.match(PHONE_PATTERN, whole):
                parts.append(whole)  # "139 1234 5678": one number written with spaces
            else:
                parts.extend(normalise_phone(p) for p in chunk.split())
        bad = [p for p in parts if not re.match(PHONE_PATTERN, p or "")]
        if not parts:
            raise ValidationError(_l("Name at least one leader."))
        if bad:
            # gettext, not _l: a lazy message renders as markup, and this one repeats what was typed
            raise ValidationError(gettext("Not a mobile number: %(value)s", value=", ".join(bad)))
        if len(parts) > 10:
            raise ValidationError(_l("At most 10 leaders at once."))
        self.phones = list(dict.fromkeys(parts))


class TeamEditForm(FlaskForm):
    name = _name_field()
    description = TextAreaField(
        _l("About the team"), validators=[Optional(), Length(max=2000, message=_l("At most 2000 characters."))]
    )
    join_policy = _policy_field()

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter a team name."))


class LeaderForm(FlaskForm):
    phone = PhoneField(_l("Mobile number of the new leader"), validators=phone_validators)
