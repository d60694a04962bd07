"""Reports add no tables of their own.

They read the other blueprints' tables through the indexes those declare: service_records
(org_id, served_at), (volunteer_id, served_at) and (event_id); events (org_id, starts_at);
bookings (venue_id, starts_at); users (created_at), (home_org_id). The year-wide dashboard is
kept fast by services.DashboardCache (validated on every read, brought up to date
from new ledger records), not by a rollup table.
"""
