"""Event forms: create and edit, cancel with a reason, capacity, service categories."""

from __future__ import annotations

from decimal import Decimal

from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.datetime import DateTimeLocalField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from blueprints.core.forms import FlaskForm
from blueprints.core.timeutil import local_zone
from blueprints.core.translate import lazy_gettext as _l

EVENT_STATE_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}
REGISTRATION_STATE_LABELS = {
    "confirmed": _l("Confirmed"),
    "waitlisted": _l("On the waitlist"),
    "cancelled": _l("Cancelled"),
    "attended": _l("Attended"),
    "no_show": _l("Did not come"),
}
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
NO_BOOKING = SelectChoice("", _l("No booking: give an address below"))


def _when(label, required: bool = True, description=None):
    validators = [InputRequired(message=_l("Enter a date and time."))] if required else [Optional()]
    return DateTimeLocalField(
        label,
        validators=validators,
        format=DATETIME_FORMATS,
        tz=local_zone,
        invalid_value_message=_l("Enter a date and time."),
        description=description,
    )


class EventForm(FlaskForm):
    """Everything a leader sets on an event. Choices are filled in by the view."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(message=_l("Enter a title.")), Length(max=120, message=_l("At most 120 characters."))],
    )
    description = TextAreaField(
        _l("What volunteers will do"),
        validators=[Optional(), Length(max=5000, message=_l("At most 5000 characters."))],
    )
    category_id = SelectField(_l("Service category"), coerce=int, validate_choice=True)
    starts_at = _when(_l("Starts"))
    ends_at = _when(_l("Ends"))
    booking_id = SelectField(
        _l("Youth-home booking"),
        description=_l("An approved booking of a leader of this team; the event is then held there."),
        validate_choice=True,
    )
    address = StringField(
        _l("Address"),
        validators=[Optional(), Length(max=255, message=_l("At most 255 characters."))],
        description=_l("Where to meet, when the event is not at a booked youth home."),
    )
    capacity = IntegerField(
        _l("Places"),
        validators=[
            InputRequired(message=_l("Enter how many volunteers can take part.")),
            NumberRange(min=1, max=10000, message=_l("Enter a number of places from 1 to 10000.")),
        ],
    )
    reg_opens_at = _when(_l("Registration opens"), required=False, description=_l("Empty: open as soon as published."))
    reg_closes_at = _when(
        _l("Registration closes"), required=False, description=_l("Empty: registration closes when the event starts.")
    )
    members_only = BooleanField(_l("Only members of the team may register"))
    allow_walk_ins = BooleanField(_l("Admit walk-ins at the door when places are free"))
    planned_hours = DecimalField(
        _l("Planned service hours per volunteer"),
        places=1,
        validators=[Optional(), NumberRange(min=0, max=24, message=_l("Enter hours from 0 to 24."))],
        description=_l("Empty: the length of the event."),
    )

    def validate_title(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter a title."))

    def validate_ends_at(self, field):
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The end must be after the start."))

    def validate_reg_closes_at(self, field):
        if field.data and self.starts_at.data and field.data > self.starts_at.data:
            raise ValidationError(_l("Registration must close before the event starts."))

    def validate_reg_opens_at(self, field):
        if not field.data:
            return
        if self.reg_closes_at.data and field.data >= self.reg_closes_at.data:
            raise ValidationError(_l("Registration must open before it closes."))
        if self.starts_at.data and field.data >= self.starts_at.data:
            raise ValidationError(_l("Registration must open before the event starts."))

    def validate(self, extra_validators=None) -> bool:  # noqa: ANN001
        ok = super().validate(extra_validators)
        self.address.data = (self.address.data or "").strip()
        if not self.address.data and not self.booking_id.data:
            self.address.errors = list(self.address.errors) + [
                _l("Give an address, or choose one of the team's youth-home bookings.")
            ]
            ok = False
        return ok

    @property
    def planned_minutes(self) -> int | None:
        if self.planned_hours.data is None:
            return None
        return int(Decimal(self.planned_hours.data) * 60)


class CancelEventForm(FlaskForm):
    reason = TextAreaField(
        _l("Why is the event cancelled?"),
        validators=[
            DataRequired(message=_l("Give a reason; registered volunteers will read it.")),
            Length(max=500, message=_l("At most 500 characters.")),
        ],
    )

    def validate_reason(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Give a reason; registered volunteers will read it."))


class CapacityForm(FlaskForm):
    capacity = IntegerField(
        _l("Places"),
        validators=[
            InputRequired(message=_l("Enter how many volunteers can take part.")),
            NumberRange(min=1, max=10000, message=_l("Enter a number of places from 1 to 10000.")),
        ],
    )


class CategoryForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter a short code.")),
            Length(max=40, message=_l("At most 40 characters.")),
            Regexp(r"^[a-z0-9_]+$", message=_l("Use lower-case letters, digits and _ only.")),
        ],
        description=_l("A short code for exports, e.g. youth_reading."),
    )
    name_zh = StringField(
        _l("Name in Chinese"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=60, message=_l("At most 60 characters."))],
    )
    name_en = StringField(
        _l("Name in English"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=60, message=_l("At most 60 characters."))],
    )


class CategoryRenameForm(FlaskForm):
    name_zh = StringField(
        _l("Name in Chinese"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=60, message=_l("At most 60 characters."))],
    )
    name_en = StringField(
        _l("Name in English"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=60, message=_l("At most 60 characters."))],
    )
    position = IntegerField(
        _l("Order"), validators=[Optional(), NumberRange(min=0, max=999, message=_l("Enter a number from 0 to 999."))]
    )


def event_form_data(event) -> dict:  # noqa: ANN001
    """Form data of an existing event (pass as FlaskForm(data=...))."""
    return {
        "title": event.title,
        "description": event.description,
        "category_id": event.category_id,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "booking_id": str(event.booking_id or ""),
        "address": event.address,
        "capacity": event.capacity,
        "reg_opens_at": event.reg_opens_at,
        "reg_closes_at": event.reg_closes_at,
        "members_only": event.members_only,
        "allow_walk_ins": event.allow_walk_ins,
        "planned_hours": None if event.planned_minutes is None else Decimal(event.planned_minutes) / 60,
    }


__all__ = [
    "EventForm",
    "CancelEventForm",
    "CapacityForm",
    "CategoryForm",
    "CategoryRenameForm",
    "EVENT_STATE_LABELS",
    "REGISTRATION_STATE_LABELS",
    "NO_BOOKING",
    "event_form_data",
]
