"""Every POST route refuses a request without a CSRF token (generated from the URL map)."""

from __future__ import annotations

import re


def _sample_url(rule) -> str:
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", "1", url)
    return url


def test_every_post_route_rejects_missing_csrf(app, client):
    post_rules = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or set())]
    assert len(post_rules) >= 10
    failures = []
    for rule in post_rules:
        url = _sample_url(rule)
        response = client.post(url, data={"x": "1"}, csrf=False)
        if response.status_code != 400:
            failures.append(f"{rule.endpoint} {url} -> {response.status_code}")
    assert not failures, "POST routes that did not refuse a missing CSRF token:\n" + "\n".join(failures)
