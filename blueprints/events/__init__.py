"""Events, registration, waitlist, weekly activity list, calendar feeds."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("events", __name__, url_prefix="/events")


def _event_when(event) -> str:  # noqa: ANN001
    """'2026年11月25日 周三 14:00–17:00' / 'Nov 25, 2026 Wed 14:00–17:00' in the reader's language."""
    from flask_babel import format_date, format_time

    from blueprints.core.timeutil import to_local

    start, end = event.starts_at, event.ends_at
    text = f"{format_date(start, 'medium')} {format_date(start, 'EEE')} {format_time(start, 'HH:mm')}–"
    if to_local(start).date() != to_local(end).date():
        text += f"{format_date(end, 'medium')} "
    return text + format_time(end, "HH:mm")


def _short_date(value) -> str:  # noqa: ANN001
    """'11月16日' / 'Nov 16': a day of the current year's calendar, briefly."""
    from babel.dates import format_skeleton
    from flask_babel import get_locale

    return format_skeleton("MMMd", value, locale=get_locale())


def _category_label(category) -> str:  # noqa: ANN001
    from flask_babel import get_locale

    return category.label(str(get_locale())) if category is not None else ""


def _volunteer_panel(user) -> dict | None:  # noqa: ANN001
    from .queries import home_events

    rows = home_events(user).mine  # one statement for both events panels
    return {
        "confirmed": [(e, r) for e, r in rows if r.state == "confirmed"],
        "waitlisted": [(e, r) for e, r in rows if r.state == "waitlisted"],
    }


def _leader_panel(user) -> dict | None:  # noqa: ANN001
    from .queries import home_events

    home = home_events(user)
    if not home.led_team_ids:
        return None
    return {"events": home.led}


def _team_slot(team, can_manage: bool = False) -> dict:  # noqa: ANN001
    from flask_login import current_user

    from .queries import team_upcoming
    from .services import can_create_event

    return {
        "team_events": team_upcoming(team, include_drafts=can_manage),
        "can_create": can_create_event(current_user, team),
    }


def _labels() -> dict:
    from .forms import EVENT_STATE_LABELS, REGISTRATION_STATE_LABELS

    return {"event_states": EVENT_STATE_LABELS, "registration_states": REGISTRATION_STATE_LABELS}


def init_app(app: Flask) -> None:
    from blueprints.core.registry import HomePanel, NavItem, Slot, get_registry
    from blueprints.core.translate import lazy_gettext as _l
    from blueprints.notifications.services import register_kind

    from . import models, routes  # noqa: F401

    register_kind("event_changed", _l("“%(title)s” has a new time or place: %(when)s, %(place)s."))
    register_kind("event_cancelled", _l("“%(title)s” (%(when)s) was cancelled: %(reason)s"))
    register_kind("waitlist_promoted", _l("A place freed up: you are now confirmed for “%(title)s” (%(when)s)."))
    register_kind("registration_cancelled", _l("The organiser cancelled your place at “%(title)s” (%(when)s)."))

    app.add_template_filter(_event_when, "event_when")
    app.context_processor(_labels)
    app.add_template_filter(_category_label, "category_label")
    app.add_template_filter(_short_date, "short_date")
    app.register_blueprint(bp)
    registry = get_registry(app)
    registry.add_nav(NavItem("events.week", _l("Activities"), order=10))
    registry.add_nav(NavItem("events.mine", _l("My events"), order=40, visible=lambda user: user.is_authenticated))
    registry.add_nav(
        NavItem(
            "events.category_list",
            _l("Service categories"),
            order=86,
            visible=lambda user: user.is_authenticated and user.is_admin,
            group="admin",
        )
    )
    registry.add_panel(HomePanel("events/_panel_leader.html", _leader_panel, order=15))
    registry.add_panel(HomePanel("events/_panel_mine.html", _volunteer_panel, order=20))
    registry.add_slot("team.page", Slot("events/_team_events.html", _team_slot, order=10))
