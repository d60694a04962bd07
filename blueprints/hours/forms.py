"""Forms of the hours blueprint; hours are typed as decimal hours and stored as whole minutes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from wtforms import DateField, DateTimeLocalField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from blueprints.core.forms import FlaskForm
from blueprints.core.timeutil import local_today, local_zone
from blueprints.core.translate import lazy_gettext as _l

from .models import BENEFICIARY_CATEGORIES, MAX_RECORD_MINUTES

SOURCE_LABELS = {
    "checkin": _l("Check-in"),
    "leader": _l("Recorded by the leader"),
    "correction": _l("Correction"),
    "backfill": _l("Added later"),
}
REQUEST_STATE_LABELS = {"pending": _l("Pending"), "approved": _l("Approved"), "rejected": _l("Rejected")}
ATTENDANCE_LABELS = {
    "confirmed": _l("Not marked"),
    "attended": _l("Attended"),
    "no_show": _l("No-show"),
    "waitlisted": _l("Waitlisted"),
    "cancelled": _l("Cancelled"),
}
BENEFICIARY_LABELS = {
    "children": _l("Children"),
    "elderly": _l("Elderly people"),
    "disabled": _l("People with disabilities"),
    "residents": _l("Residents"),
    "other": _l("Other"),
}
FLAG_LABELS = {
    "missing_checkout": _l("No check-out: fix the times or mark a no-show"),
    "below_minimum": _l("Below the minimum attendance: no hours"),
    "no_show": _l("No-show"),
    "not_marked": _l("Not marked: no hours"),
    "zero": _l("Too short to count"),
}
MAX_HOURS = MAX_RECORD_MINUTES // 60


def _finite(form, field) -> None:  # noqa: ANN001
    if field.data is not None and not Decimal(field.data).is_finite():
        raise ValidationError(_l("Enter between 0 and 24 hours."))


def hours_field(label=None, required: bool = True) -> DecimalField:
    checks = [InputRequired(message=_l("Enter the hours, e.g. 2.5."))] if required else [Optional()]
    return DecimalField(
        label or _l("Hours"),
        places=2,
        validators=[
            *checks,
            _finite,
            NumberRange(min=0, max=MAX_HOURS, message=_l("Enter between 0 and 24 hours.")),
        ],
        description=_l("In hours, e.g. 2.5 for two and a half hours."),
    )


def minutes_of(value: Decimal | None) -> int | None:
    """Decimal hours as whole minutes (2.5 -> 150)."""
    if value is None:
        return None
    try:
        return int((Decimal(value) * 60).to_integral_value())
    except (InvalidOperation, TypeError, ValueError):
        return None


def reason_field(label, message) -> TextAreaField:  # noqa: ANN001
    return TextAreaField(
        label,
        validators=[DataRequired(message=message), Length(max=500, message=_l("At most 500 characters."))],
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code shown by the leader"),
        validators=[DataRequired(message=_l("Enter the 6-digit code."))],
        description=_l("Six digits; it changes every minute."),
    )

    def validate_code(self, field):
        digits = "".join(ch for ch in (field.data or "") if ch.isdigit())
        if len(digits) != 6 or len(digits) != len((field.data or "").replace(" ", "")):
            raise ValidationError(_l("Enter the 6 digits shown on the leader's screen."))
        field.data = digits


class MarkForm(FlaskForm):
    state = StringField(validators=[AnyOf(("attended", "no_show"))])


class TimesForm(FlaskForm):
    checked_in_at = DateTimeLocalField(
        _l("Checked in at"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(message=_l("Enter the check-in time."))],
    )
    checked_out_at = DateTimeLocalField(_l("Checked out at"), format="%Y-%m-%dT%H:%M", validators=[Optional()])

    def validate_checked_out_at(self, field):
        if field.data and self.checked_in_at.data and field.data < self.checked_in_at.data:
            raise ValidationError(_l("The check-out cannot be before the check-in."))

    @staticmethod
    def aware(value: datetime | None) -> datetime | None:
        """A wall-clock time typed in the configured zone, as an aware datetime."""
        return value.replace(tzinfo=local_zone()) if value else None


class CorrectionForm(FlaskForm):
    hours = hours_field(_l("Correct hours"))
    reason = reason_field(_l("Reason for the correction"), _l("Say why the hours change."))


class AddRecordForm(FlaskForm):
    volunteer = SelectField(_l("Volunteer"), coerce=int, validate_choice=True)
    hours = hours_field()
    reason = reason_field(_l("Reason"), _l("Say why this record is added."))


class RequestForm(FlaskForm):
    hours = hours_field(_l("Hours you served"))
    message = reason_field(_l("Message to the team leader"), _l("Tell the leader what is wrong or missing."))


class ApproveForm(FlaskForm):
    hours = hours_field(_l("Hours to record"), required=False)
    #: one note for both decisions: optional to approve, the reason when rejecting (RejectForm, same prefix)
    note = TextAreaField(_l("Note to the volunteer (needed to reject)"), validators=[Optional(), Length(max=500)])


class RejectForm(FlaskForm):
    note = reason_field(_l("Reason for rejecting"), _l("Tell the volunteer why the request is rejected."))


class BeneficiaryForm(FlaskForm):
    """One count and one note per category; fields are added below."""

    def categories(self):
        for category in BENEFICIARY_CATEGORIES:
            yield category, self[f"count_{category}"], self[f"note_{category}"]


for _category in BENEFICIARY_CATEGORIES:
    setattr(
        BeneficiaryForm,
        f"count_{_category}",
        IntegerField(
            BENEFICIARY_LABELS[_category],
            validators=[Optional(), NumberRange(min=0, max=1_000_000, message=_l("Enter a number from 0 to 1000000."))],
        ),
    )
    setattr(
        BeneficiaryForm,
        f"note_{_category}",
        StringField(_l("Note"), validators=[Optional(), Length(max=300, message=_l("At most 300 characters."))]),
    )


class CertificateForm(FlaskForm):
    period_start = DateField(_l("From"), validators=[InputRequired(message=_l("Enter a date."))])
    period_end = DateField(_l("To"), validators=[InputRequired(message=_l("Enter a date."))])

    def validate_period_end(self, field):
        if field.data and self.period_start.data and field.data < self.period_start.data:
            raise ValidationError(_l("The end cannot be before the start."))
        if field.data and field.data > local_today():
            raise ValidationError(_l("The period cannot end in the future."))
