"""Forms: booking request, rejection, venue details and rules, opening hours, closures, managers."""

from __future__ import annotations

from wtforms import BooleanField, DateField, IntegerField, SelectMultipleField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from blueprints.auth.forms import PhoneField, phone_validators
from blueprints.core.forms import FlaskForm
from blueprints.core.translate import lazy_gettext as _l

from .models import FACILITIES
from .services import parse_intervals

FACILITY_LABELS = {
    "projector": _l("Projector"),
    "wifi": _l("Wi-Fi"),
    "kitchen": _l("Kitchen"),
    "library": _l("Reading corner"),
    "piano": _l("Piano"),
    "sports": _l("Sports equipment"),
    "computers": _l("Computers"),
    "accessible": _l("Step-free access"),
    "stage": _l("Stage"),
    "garden": _l("Garden"),
}
STATE_LABELS = {
    "pending": _l("Waiting for a decision"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
}
WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]


class LocalDateField(DateField):
    """A date input; an empty value is simply missing (the required message alone, not two)."""

    def process_formdata(self, valuelist):
        if valuelist and not (valuelist[0] or "").strip():
            self.data = None
            self.raw_data = []  # blanks count as missing for InputRequired too (else data None passes it)
            return
        super().process_formdata(valuelist)


class LocalTimeField(TimeField):
    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("invalid_value_message", _l("Enter a time like 09:30."))
        super().__init__(label, validators, format=TIME_FORMATS, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and not (valuelist[0] or "").strip():
            self.data = None
            self.raw_data = []  # blanks count as missing for InputRequired too (else data None passes it)
            return
        super().process_formdata(valuelist)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def facility_choices() -> list[SelectChoice]:
    return [SelectChoice(key, FACILITY_LABELS[key]) for key in FACILITIES]


class BookingForm(FlaskForm):
    day = LocalDateField(
        _l("Date"),
        validators=[InputRequired(message=_l("Choose a date."))],
        invalid_value_message=_l("Enter a date like 2026-05-04."),
    )
    start = LocalTimeField(_l("Start time"), validators=[InputRequired(message=_l("Enter the start time."))])
    end = LocalTimeField(_l("End time"), validators=[InputRequired(message=_l("Enter the end time."))])
    purpose = StringField(
        _l("What is it for?"),
        validators=[
            DataRequired(message=_l("Say what the booking is for.")),
            Length(max=200, message=_l("At most 200 characters.")),
        ],
        description=_l("e.g. 七彩假期 reading club for primary pupils"),
    )
    attendees = IntegerField(
        _l("Expected attendees"), validators=[InputRequired(message=_l("Enter how many people will come."))]
    )

    def validate_purpose(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Say what the booking is for."))


class RejectForm(FlaskForm):
    reason = StringField(
        _l("Reason for rejecting"),
        validators=[
            DataRequired(message=_l("Give a reason for the rejection.")),
            Length(max=500, message=_l("At most 500 characters.")),
        ],
    )

    def validate_reason(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Give a reason for the rejection."))


def _positive(message):
    return NumberRange(min=1, message=message)


class VenueForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=120, message=_l("At most 120 characters."))],
        description=_l("e.g. 翠屏区白沙街道青年之家"),
    )
    address = StringField(
        _l("Address"), validators=[Optional(), Length(max=255, message=_l("At most 255 characters."))]
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=2000, message=_l("At most 2000 characters."))]
    )
    capacity = IntegerField(
        _l("Capacity (people)"),
        validators=[
            DataRequired(message=_l("Enter how many people fit.")),
            _positive(_l("Enter a number of at least 1.")),
        ],
    )
    facilities = MultiCheckboxField(
        _l("Facilities"),
        choices=facility_choices(),
        validate_choice=True,
        invalid_choice_message=_l("Choose facilities from the list."),
    )
    contact_phone = StringField(
        _l("Public contact number"),
        validators=[
            Optional(),
            Length(max=20, message=_l("At most 20 characters.")),
            Regexp(r"^[\d\-\s+()]+$", message=_l("Use digits, spaces and dashes only.")),
        ],
        description=_l("An office line shown on the youth home's page."),
    )
    min_duration_minutes = IntegerField(
        _l("Shortest booking (minutes)"),
        validators=[
            DataRequired(message=_l("Enter a number of minutes.")),
            NumberRange(min=5, max=1440, message=_l("Enter a number from 5 to 1440.")),
        ],
        default=30,
    )
    max_duration_minutes = IntegerField(
        _l("Longest booking (minutes)"),
        validators=[
            DataRequired(message=_l("Enter a number of minutes.")),
            NumberRange(min=5, max=1440, message=_l("Enter a number from 5 to 1440.")),
        ],
        default=240,
    )
    max_days_ahead = IntegerField(
        _l("Bookable up to (days ahead)"),
        validators=[
            DataRequired(message=_l("Enter a number of days.")),
            NumberRange(min=1, max=366, message=_l("Enter a number from 1 to 366.")),
        ],
        default=30,
    )
    min_notice_hours = IntegerField(
        _l("Minimum notice (hours)"),
        validators=[
            Optional(),
            NumberRange(min=0, max=720, message=_l("Enter a number from 0 to 720.")),
        ],
        default=2,
        description=_l("A request must start at least this many hours after it is made."),
    )
    active = BooleanField(_l("Taking bookings"), default=True)

    def validate_name(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter a name."))

    def validate_max_duration_minutes(self, field):
        if field.data and self.min_duration_minutes.data and field.data < self.min_duration_minutes.data:
            raise ValidationError(_l("The longest booking must not be shorter than the shortest."))

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "address": (self.address.data or "").strip(),
            "description": (self.description.data or "").strip(),
            "capacity": self.capacity.data,
            "facilities": ",".join(k for k in FACILITIES if k in (self.facilities.data or [])),
            "contact_phone": (self.contact_phone.data or "").strip() or None,
            "min_duration_minutes": self.min_duration_minutes.data,
            "max_duration_minutes": self.max_duration_minutes.data,
            "max_days_ahead": self.max_days_ahead.data,
            "min_notice_hours": self.min_notice_hours.data or 0,
            "active": bool(self.active.data),
        }


class NewVenueForm(VenueForm):
    org_id = IntegerField(
        _l("Organisation running it"),
        validators=[DataRequired(message=_l("Choose the organisation that runs this youth home."))],
        description=_l("Search by name, then choose one."),
    )
    org_query = StringField(_l("Search organisations"), validators=[Optional(), Length(max=60)])


def venue_form_data(venue) -> dict:  # noqa: ANN001
    return {
        "name": venue.name,
        "address": venue.address,
        "description": venue.description,
        "capacity": venue.capacity,
        "facilities": venue.facility_list,
        "contact_phone": venue.contact_phone or "",
        "min_duration_minutes": venue.min_duration_minutes,
        "max_duration_minutes": venue.max_duration_minutes,
        "max_days_ahead": venue.max_days_ahead,
        "min_notice_hours": venue.min_notice_hours,
        "active": venue.active,
    }


INTERVAL_ERRORS = {
    "format": _l("Write times like 09:00-12:00, 14:00-18:00."),
    "order": _l("Each interval must close after it opens."),
    "overlap": _l("The intervals overlap."),
}


class HoursForm(FlaskForm):
    """One text field per weekday: '09:00-12:00, 14:00-18:00'; empty means closed."""

    day0 = StringField(WEEKDAYS[0], validators=[Optional(), Length(max=200)])
    day1 = StringField(WEEKDAYS[1], validators=[Optional(), Length(max=200)])
    day2 = StringField(WEEKDAYS[2], validators=[Optional(), Length(max=200)])
    day3 = StringField(WEEKDAYS[3], validators=[Optional(), Length(max=200)])
    day4 = StringField(WEEKDAYS[4], validators=[Optional(), Length(max=200)])
    day5 = StringField(WEEKDAYS[5], validators=[Optional(), Length(max=200)])
    day6 = StringField(WEEKDAYS[6], validators=[Optional(), Length(max=200)])

    def day_fields(self):
        return [getattr(self, f"day{i}") for i in range(7)]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        self.week = {}
        for i, field in enumerate(self.day_fields()):
            try:
                self.week[i] = parse_intervals(field.data or "")
            except ValueError as exc:
                field.errors = [*field.errors, INTERVAL_ERRORS.get(str(exc), INTERVAL_ERRORS["format"])]
                ok = False
        return ok


class ClosureForm(FlaskForm):
    starts_on = LocalDateField(
        _l("First closed day"),
        validators=[InputRequired(message=_l("Choose a date."))],
        invalid_value_message=_l("Enter a date like 2026-05-04."),
    )
    ends_on = LocalDateField(
        _l("Last closed day"),
        validators=[InputRequired(message=_l("Choose a date."))],
        invalid_value_message=_l("Enter a date like 2026-05-04."),
    )
    reason = StringField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason (holiday, repairs…).")),
            Length(max=200, message=_l("At most 200 characters.")),
        ],
    )

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The last day must not be before the first."))


class ManagerForm(FlaskForm):
    phone = PhoneField(_l("Mobile number of the new manager"), validators=phone_validators)
