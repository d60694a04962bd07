"""Account forms."""

from __future__ import annotations

import re

from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from blueprints.core.forms import FlaskForm
from blueprints.core.translate import lazy_gettext as _l

from .models import PHONE_PATTERN

MIN_PASSWORD = 8


def normalise_phone(value: str | None) -> str | None:
    """Strip spaces, dashes and a +86 prefix so '138 0013 8000' and '+8613800138000' match."""
    if value is None:
        return None
    digits = re.sub(r"[\s\-()]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


class PhoneField(StringField):
    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = normalise_phone(self.data)


phone_validators = [
    DataRequired(message=_l("Enter your mobile number.")),
    Regexp(PHONE_PATTERN, message=_l("Enter an 11-digit mainland mobile number, like 13800138000.")),
]


class LoginForm(FlaskForm):
    phone = PhoneField(_l("Mobile number"), validators=phone_validators)
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Enter your password."))])
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=60, message=_l("At most 60 characters."))],
    )
    phone = PhoneField(_l("Mobile number"), validators=phone_validators, description=_l("Used to sign in."))
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(message=_l("Choose a password.")),
            Length(min=MIN_PASSWORD, max=128, message=_l("Use 8 to 128 characters.")),
        ],
        description=_l("At least 8 characters."),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[
            DataRequired(message=_l("Repeat the password.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )
    home_org = IntegerField(
        _l("Home organisation"),
        validators=[DataRequired(message=_l("Choose the organisation you belong to."))],
        description=_l("Search by name: your community, school or company."),
    )
    org_query = StringField(_l("Search organisations"), validators=[Optional(), Length(max=60)])

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter your name."))


class ProfileForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=60, message=_l("At most 60 characters."))],
    )
    email = StringField(
        _l("Email (optional)"),
        validators=[
            Optional(),
            Length(max=254, message=_l("At most 254 characters.")),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an email address like name@example.com.")),
        ],
    )
    home_org = IntegerField(
        _l("Home organisation"), validators=[DataRequired(message=_l("Choose the organisation you belong to."))]
    )
    org_query = StringField(_l("Search organisations"), validators=[Optional(), Length(max=60)])

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter your name."))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(message=_l("Enter your password."))])
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Choose a password.")),
            Length(min=MIN_PASSWORD, max=128, message=_l("Use 8 to 128 characters.")),
        ],
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[
            DataRequired(message=_l("Repeat the password.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )
