"""`flask feedback invite --event ID` / `--recent`: ask attendees of completed events to rate them."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

feedback_cli = AppGroup("feedback", help="Youth evaluation of events.")


@feedback_cli.command("invite")
@click.option("--event", "event_id", type=int, help="The id of one completed event.")
@click.option("--recent", is_flag=True, help="Every completed event whose rating window is still open.")
def invite_command(event_id: int | None, recent: bool) -> None:
    """Notify attendees who have not rated yet (each person is invited once per event)."""
    from blueprints.core.db import write_intent
    from blueprints.core.extensions import db
    from blueprints.events.models import Event

    from .services import events_to_invite, invite_feedback, member_window_problem

    if (event_id is None) == (not recent):
        click.echo("error: give either --event ID or --recent", err=True)
        sys.exit(2)
    with write_intent():
        if event_id is not None:
            event = db.session.get(Event, event_id)
            if event is None:
                click.echo(f"error: there is no event {event_id}", err=True)
                sys.exit(1)
            problem = member_window_problem(event)
            if problem:
                click.echo(f"error: event {event_id} ({event.title}): {problem}", err=True)
                sys.exit(1)
            n = invite_feedback(event)
            db.session.commit()
            click.echo(f"invited {n} attendees of event {event.id} ({event.title})")
            return
        total = 0
        events = events_to_invite()
        for event in events:
            total += invite_feedback(event)
        db.session.commit()
        click.echo(f"invited {total} attendees of {len(events)} events")
