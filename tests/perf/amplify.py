"""Multiply the demo data in place (INSERT … SELECT), so a page's statement count can be compared at
1× and at about 10× the rows: the same count means no N+1.

Copies, k = 1..9 (ids shifted by k × the table's max id):
- volunteers (phone 139…) as new users, with their memberships of the same teams;
- teams (the same org, name + "·k") with their leaders and members;
- venues (name + "·k") with their opening hours; every booking, pending (approved copies would collide);
- every event (no booking) with its registrations, service records, correction requests, people
  served and feedback; and every original event's registrations again by the copied volunteers;
- notifications and audit entries.
"""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.core.extensions import db

COPIES = 9


def _max_id(table: sa.Table) -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) or 0


def amplify(copies: int = COPIES) -> None:
    t = db.metadata.tables
    off = {name: _max_id(t[name]) + 1 for name in t if "id" in t[name].c}

    def copy(name: str, slot: int, shift: dict[str, int], /, where=None, **overrides) -> None:  # noqa: ANN001
        """INSERT INTO name SELECT … FROM name: id + slot × offset; FKs to tables in `shift` move along."""
        table = t[name]
        exprs = []
        for col in table.c:
            if col.name in overrides:
                exprs.append(overrides[col.name](col).label(col.name))
            elif col.name == "id":
                exprs.append((col + slot * off[name]).label("id"))
            elif col.foreign_keys:
                target = next(iter(col.foreign_keys)).column.table.name
                if target in shift:
                    exprs.append((col + shift[target] * off[target]).label(col.name))
                else:
                    exprs.append(col)
            else:
                exprs.append(col)
        query = sa.select(*exprs).select_from(table).where(table.c.id < off[name])  # originals only
        if where is not None:
            query = query.where(where(table))
        db.session.execute(sa.insert(table).from_select([c.name for c in table.c], query))

    users = t["users"]
    volunteer = users.c.phone.like("139%")
    for k in range(1, copies + 1):
        tag = f"·{k}"
        copy(
            "users",
            k,
            {},
            where=lambda tb: tb.c.phone.like("139%"),
            phone=lambda c, k=k: sa.literal(f"2{k}") + sa.func.substr(c, 3),
            feed_token=lambda c, k=k: c + sa.literal(f"-{k}"),
        )
        volunteer_ids = sa.select(users.c.id).where(volunteer)
        copy(
            "memberships",
            k,
            {"users": k},
            where=lambda tb, v=volunteer_ids: tb.c.user_id.in_(v),
            decided_by_id=lambda c: c,
        )
        # teams with their own memberships (slot + copies keeps their ids apart from the ones above)
        copy("teams", k, {}, name=lambda c, tag=tag: c + sa.literal(tag))
        copy("memberships", k + copies, {"teams": k}, decided_by_id=lambda c: c)
        copy("venues", k, {}, name=lambda c, tag=tag: c + sa.literal(tag))
        copy("opening_hours", k, {"venues": k})
        copy(
            "bookings",
            k,
            {},
            state=lambda c: sa.case((c == "approved", sa.literal("pending")), else_=c),
        )
        copy("events", k, {}, booking_id=lambda c: sa.null())
        copy("registrations", k, {"events": k})
        # the copied volunteers at the original events (a second slot range of ids)
        copy(
            "registrations",
            k + copies,
            {"users": k},
            where=lambda tb, v=volunteer_ids: tb.c.user_id.in_(v),
            attendance_by_id=lambda c: c,
        )
        copy(
            "service_records",
            k,
            {"events": k, "registrations": k, "service_records": k},
            recorded_by_id=lambda c: c,
        )
        copy(
            "correction_requests",
            k,
            {"events": k, "service_records": k},
            decided_by_id=lambda c: c,
        )
        copy("beneficiary_counts", k, {"events": k})
        copy("feedback", k, {"events": k})
        copy("notifications", k, {})
        copy("audit_log", k, {})
    db.session.commit()
