"""Places where blueprints plug into shared pages without importing each other.

- nav: links in the top navigation, each shown when its `visible(user)` says so;
- home panels: sections of the signed-in home page;
- badges: small counters next to nav links (pending approvals, unread notifications);
- dashboard sections: extra sections of the coordinator dashboard (e.g. satisfaction);
- slots: pieces one blueprint adds to another's page (a "rate this event" link, check-in links);
- facts: numbers about the signed-in user that the layout needs on every page (badge counts, "manages a
  venue", "coordinates an org"), fetched together in one statement by `user_facts(user)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, has_request_context

#: badge counts stop here (shown as "99+"): counting a coordinator's whole city on every page is not worth it
BADGE_COUNT_CAP = 100


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any  # a lazy_gettext string
    order: int = 50
    visible: Callable[[Any], bool] = lambda user: True
    badge: str | None = None  # name of a registered badge
    group: str = "main"  # "main" or "admin"


@dataclass(frozen=True)
class HomePanel:
    template: str
    context: Callable[[Any], dict | None]  # return None to hide the panel for this user
    order: int = 50


@dataclass(frozen=True)
class DashboardSection:
    """A section of the coordinator dashboard: context(user, org, start, end) -> dict or None."""

    template: str
    context: Callable[..., dict | None]
    order: int = 50


@dataclass(frozen=True)
class Slot:
    """A piece another blueprint adds to a page: `context(**page_values)` -> dict, or None to skip.

    Pages render every slot registered under a name with `{{ slot("venue.page", venue=venue) }}`.
    Names in use: "venue.page" (venue), "event.volunteer" (event, registration),
    "event.leader" (event), "event.summary" (event), "my_events.past_row" (event, registration).
    """

    template: str
    context: Callable[..., dict | None]
    order: int = 50


@dataclass
class Registry:
    nav: list[NavItem] = field(default_factory=list)
    panels: list[HomePanel] = field(default_factory=list)
    badges: dict[str, Callable[[Any], int]] = field(default_factory=dict)
    dashboard_sections: list[DashboardSection] = field(default_factory=list)
    slots: dict[str, list[Slot]] = field(default_factory=dict)
    #: name -> fn(user) returning a scalar SQL expression; all are read in ONE statement per request
    facts: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: the facts' SELECT, built once per process for admins and once for everyone else (see user_facts),
    #: and their columns for the user loader's statement (facts_columns)
    facts_statements: dict[Any, Any] = field(default_factory=dict, repr=False)

    def add_fact(self, name: str, expression: Callable[[Any], Any]) -> None:
        """A number about the signed-in user (a badge count, "manages a venue") read with the others."""
        self.facts[name] = expression
        self.facts_statements.clear()

    def add_slot(self, name: str, slot: Slot) -> None:
        entries = self.slots.setdefault(name, [])
        if all(existing.template != slot.template for existing in entries):
            entries.append(slot)
            entries.sort(key=lambda s: s.order)

    def add_nav(self, item: NavItem) -> None:
        if all(existing.endpoint != item.endpoint for existing in self.nav):
            self.nav.append(item)
            self.nav.sort(key=lambda n: n.order)

    def add_panel(self, panel: HomePanel) -> None:
        if all(existing.template != panel.template for existing in self.panels):
            self.panels.append(panel)
            self.panels.sort(key=lambda p: p.order)

    def add_dashboard_section(self, section: DashboardSection) -> None:
        if all(existing.template != section.template for existing in self.dashboard_sections):
            self.dashboard_sections.append(section)
            self.dashboard_sections.sort(key=lambda s: s.order)

    def add_badge(self, name: str, count: Callable[[Any], int]) -> None:
        self.badges[name] = count


def get_registry(app) -> Registry:  # noqa: ANN001
    return app.extensions.setdefault("qingyi_registry", Registry())


class _FactsUser:
    """Stands for the signed-in user while the facts' SELECT is built once per process: `id` is a bound
    parameter filled in at each execution; `is_admin` is known (one statement for each value). A fact
    that reads anything else makes the statement per request, as before."""

    is_authenticated = True

    def __init__(self, is_admin: bool) -> None:
        import sqlalchemy as sa

        self.id = sa.bindparam("facts_user_id", type_=sa.Integer)
        self.is_admin = is_admin

    def __getattr__(self, name: str):  # noqa: ANN204
        raise _NotCacheable(name)


class _NotCacheable(AttributeError):
    pass


def _facts_columns(facts: dict, user) -> list:  # noqa: ANN001
    import sqlalchemy as sa

    return [sa.func.coalesce(expr(user), 0).label(name) for name, expr in facts.items()]


def facts_columns(admin: bool = False) -> list | None:
    """The facts as labelled columns with the user's id as the bound parameter `facts_user_id`, built once
    per process: the user loader selects them together with the user's row (one statement for both).
    None when a fact cannot be built that way, or there are none."""
    registry = get_registry(current_app)
    key = ("columns", admin)
    columns = registry.facts_statements.get(key)
    if columns is None:
        try:
            columns = _facts_columns(registry.facts, _FactsUser(admin)) or False
        except _NotCacheable:
            columns = False
        registry.facts_statements[key] = columns
    return columns or None


def remember_user_facts(user, row) -> None:  # noqa: ANN001
    """Keep facts read with the user (a row with a column per fact) for this request (see user_facts)."""
    g.setdefault("_user_facts", {})[user.id] = _facts_of(row, get_registry(current_app).facts)


def _facts_of(row, facts: dict) -> dict[str, int]:  # noqa: ANN001 - a Row, or a named tuple of fetch()
    return {name: int(getattr(row, name) or 0) for name in facts}


def forget_user_facts() -> None:
    """After the request's own commit: what it changed may change the badges, so read them again."""
    if has_request_context():
        g.pop("_user_facts", None)


def user_facts(user) -> dict[str, int]:  # noqa: ANN001
    """Every registered fact about `user`, in one SELECT, cached for the request.

    Building the SELECT (subqueries, aliases) costs several milliseconds, more than running it: it is
    built once per process with the user's id as a parameter (facts that need "now" use a bindparam
    with callable_, evaluated at each execution). For most users the user loader reads them with the
    user's row already (facts_columns), and this costs nothing.
    """
    if not getattr(user, "is_authenticated", False):
        return {}
    cache = g.setdefault("_user_facts", {}) if has_request_context() else {}
    if user.id not in cache:
        import sqlalchemy as sa

        from .extensions import db

        registry = get_registry(current_app)
        facts = registry.facts
        if not facts:
            return {}
        admin = bool(user.is_admin)
        statement = registry.facts_statements.get(("select", admin))
        if statement is None:
            columns = facts_columns(admin)
            statement = registry.facts_statements[("select", admin)] = sa.select(*columns) if columns else False
        if statement is False:  # a fact that cannot be built once: built for this user
            row = db.session.execute(sa.select(*_facts_columns(facts, user))).one()
        else:
            row = db.session.execute(statement, {"facts_user_id": user.id}).one()
        cache[user.id] = _facts_of(row, facts)
    return cache[user.id]


def user_fact(user, name: str) -> int:  # noqa: ANN001
    return user_facts(user).get(name, 0)
