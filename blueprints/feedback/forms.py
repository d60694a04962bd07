"""Forms: a rating, a checklist item, an assessment (one score field per checklist item)."""

from __future__ import annotations

from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError
from wtforms.widgets import NumberInput

from blueprints.core.forms import FlaskForm
from blueprints.core.translate import gettext
from blueprints.core.translate import lazy_gettext as _l

from .services import COMMENT_MAX, REFUSALS


class WholeNumberField(StringField):
    """A whole number from `low` to `high`; anything else gets one clear message.

    The parsed value is in `.number` after validation (`.data` keeps the text as typed).
    """

    def __init__(
        self, label=None, validators=None, low: int = 0, high: int = 100, message=None, optional=False, **kwargs
    ):
        kwargs.setdefault("widget", NumberInput(min=low, max=high))
        super().__init__(label, validators, **kwargs)
        self.low, self.high, self.optional = low, high, optional
        self.message = message or _l("Enter a whole number from %(low)s to %(high)s.")
        self.number: int | None = None

    def pre_validate(self, form) -> None:
        text = (self.data or "").strip()
        if not text and self.optional:
            self.number = None
            raise StopValidation()
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not self.low <= value <= self.high:
            self.number = None
            raise StopValidation(str(self.message) % {"low": self.low, "high": self.high})
        self.number = value


class RatingForm(FlaskForm):
    """1-5 stars and an optional comment (members and the public alike)."""

    rating = WholeNumberField(_l("Your rating"), low=1, high=5, message=REFUSALS["bad_rating"])
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[Optional(), Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
        description=_l("What went well, what could be better? Leaders read this."),
    )
    next = HiddenField()


class ChecklistItemForm(FlaskForm):
    title = StringField(
        _l("Item"),
        validators=[
            DataRequired(message=_l("Enter what is assessed.")),
            Length(max=120, message=_l("At most 120 characters.")),
        ],
    )
    max_score = WholeNumberField(_l("Maximum score"), low=1, high=100)
    position = WholeNumberField(_l("Order"), low=0, high=999, optional=True)

    def validate_title(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("Enter what is assessed."))


class AssessmentBase(FlaskForm):
    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Optional(), Length(max=1000, message=_l("At most %(max)d characters."))],
        description=_l("What was seen, what should improve. The youth home's managers read this."),
    )


def assessment_form(checklist, formdata=None, data=None) -> AssessmentBase:
    """A form with one score field `score_<key>` per checklist entry."""

    class AssessmentForm(AssessmentBase):
        pass

    for entry in checklist.entries:
        setattr(
            AssessmentForm,
            f"score_{entry.key}",
            WholeNumberField(
                # formatted now (a plain str, which the label escapes): a lazy string with the item's
                # title in it would be rendered as markup, unescaped
                gettext("%(item)s (0–%(max)s)", item=entry.label, max=entry.max_score),
                low=0,
                high=entry.max_score,
            ),
        )
    kwargs = {"data": data} if data else {}
    if formdata is not None:
        kwargs["formdata"] = formdata
    return AssessmentForm(**kwargs)
