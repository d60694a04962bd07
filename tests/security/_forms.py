"""Find the app's forms the way a browser does: open every page (as someone allowed to), read each
`<form method="post">` with its fields, and map its action to an endpoint of the URL map."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from werkzeug.exceptions import HTTPException

#: POST routes whose forms carry nothing but the CSRF token (a button), by endpoint
BUTTONS = {
    "auth.logout",
    "notifications.open_one",
    "notifications.read_all",
    "events.reset_feed",
    "events.register_view",
    "events.cancel_mine",
    "events.cancel_registration_view",
    "events.publish",
    "events.complete",
    "events.category_toggle",
    "teams.join",
    "teams.leave",
    "teams.approve",
    "teams.decline",
    "teams.make_leader",
    "teams.unmake_leader",
    "teams.remove",
    "venues.approve",
    "venues.cancel",
    "venues.remove_closure_view",
    "venues.revoke",
    "orgs.revoke",
    "hours.scan_post",
    "hours.mark",
    "hours.mark_all",
    "hours.confirm",
    "feedback.hide",
    "feedback.restore",
    "feedback.customise",
    "feedback.revert",
    "feedback.remove_checklist_item",
}


@dataclass
class Form:
    endpoint: str
    action: str
    viewer: str
    kinds: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        """The fields a person fills in (the CSRF token goes in the header, as htmx sends it)."""
        return [n for n in self.kinds if not n.endswith("csrf_token")]

    def defaults(self) -> dict[str, str]:
        """What the page would send untouched: input values, the first option of selects and buttons."""
        out = {}
        for name in self.fields:
            if self.kinds[name] in ("select", "radio", "button"):
                if self.options.get(name):  # a submit button's last value is the real action, not "search"
                    out[name] = self.options[name][-1 if self.kinds[name] == "button" else 0]
            elif self.kinds[name] != "checkbox":
                out[name] = self.values.get(name, "")
        return out


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = {"action": a.get("action", ""), "kinds": {}, "options": {}, "values": {}, "also": []}
                self.forms.append(self._form)
            else:
                self._form = None
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type", "text") not in ("submit", "button", "image", "reset", "file"):
            kind = a.get("type", "text").lower()
            form["kinds"].setdefault(name, kind)
            if kind in ("radio", "checkbox"):
                form["options"].setdefault(name, []).append(a.get("value", "on"))
            else:
                form["values"].setdefault(name, a.get("value", ""))
        elif tag == "textarea" and name:
            form["kinds"].setdefault(name, "textarea")
        elif tag == "select" and name:
            form["kinds"].setdefault(name, "select")
            form["options"].setdefault(name, [])
            self._select = name
        elif tag == "option" and self._select:
            form["options"][self._select].append(a.get("value", ""))
        if tag in ("button", "input") and a.get("formaction"):  # the same fields, posted elsewhere
            form["also"].append(a["formaction"])
        if tag == "button" and name:
            form["kinds"].setdefault(name, "button")
            form["options"].setdefault(name, []).append(a.get("value", ""))

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_in(html: str, page_url: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    for form in list(parser.forms):
        parser.forms.extend({**form, "action": other, "also": []} for other in form.pop("also"))
    for form in parser.forms:
        target = urlsplit(urljoin("http://localhost" + page_url, form["action"] or page_url))
        form["action"] = target.path + (f"?{target.query}" if target.query else "")
    return parser.forms


def discover(app, act, pages) -> dict[str, Form]:  # noqa: ANN001
    """{endpoint: the first form found posting to it} over `pages` ((viewer, url) pairs)."""
    adapter = app.url_map.bind("localhost")
    found: dict[str, Form] = {}
    seen_pages = set()
    for viewer, url in pages:
        if (viewer, url) in seen_pages:
            continue
        seen_pages.add((viewer, url))
        response = act(viewer, "GET", url)
        if response.status_code != 200 or not response.content_type.startswith("text/html"):
            continue
        for raw in forms_in(response.get_data(as_text=True), url):
            try:
                endpoint, _args = adapter.match(raw["action"].split("?")[0], method="POST")
            except HTTPException:
                continue
            form = found.get(endpoint)
            if form is None or (len(raw["kinds"]) > len(form.kinds)):
                found[endpoint] = Form(endpoint, raw["action"], viewer, raw["kinds"], raw["options"], raw["values"])
    return found
