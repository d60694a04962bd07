"""`flask reports export-hours` and the streaming export's memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date

import pytest
from openpyxl import load_workbook

from blueprints.core.extensions import db
from blueprints.hours.models import ServiceRecord
from blueprints.reports.exports import hours_rows
from blueprints.reports.periods import Period


def _args(ledger, *extra) -> list[str]:
    year = ledger["year"]
    return ["reports", "export-hours", "--start", f"{year}-01-01", "--end", f"{year}-12-31", *extra]


def test_csv_to_stdout_for_one_district(runner, r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    result = runner.invoke(args=_args(r_ledger, "--org", str(d1.id), "--locale", "en"))
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert sum(int(r["Minutes"]) for r in rows) == r_ledger["d1"]["minutes"]
    assert {r["Name"] for r in rows} == {"王小明", "李华", '\'=HYPERLINK("http://x")'}
    assert all("****" in r["Mobile (masked)"] for r in rows)
    # the sibling district: its own volunteers, and a who served there too
    d2 = r_ledger["orgs"]["d2"]
    other = runner.invoke(args=_args(r_ledger, "--org", str(d2.id), "--locale", "en"))
    names = {r["Name"] for r in csv.DictReader(io.StringIO(other.stdout_bytes.decode("utf-8-sig")))}
    assert names == {"赵六", "王小明"}


def test_xlsx_to_a_file_with_chinese_headers(runner, r_ledger, tmp_path):
    target = tmp_path / "hours.xlsx"
    result = runner.invoke(args=_args(r_ledger, "--format", "xlsx", "--output", str(target)))
    assert result.exit_code == 0, result.output
    book = load_workbook(target, read_only=True)  # holds the file open until closed
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    assert rows[0][0] == "姓名"
    col = rows[0].index("分钟")
    assert sum(r[col] for r in rows[1:]) == r_ledger["d1"]["minutes"] + 240 + 30  # the whole city
    formula = next(r[0] for r in rows[1:] if "HYPERLINK" in r[0])
    assert formula.startswith("'=")


def test_xlsx_to_stdout(runner, r_ledger):
    result = runner.invoke(args=_args(r_ledger, "--format", "XLSX"))
    assert result.exit_code == 0
    rows = list(load_workbook(io.BytesIO(result.stdout_bytes), read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 1 + 4  # header, then a, b, c and z


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2026-02-30", "--end", "2026-03-01"], "--start must be a date as YYYY-MM-DD"),
        (["--start", "01/02/2026", "--end", "2026-03-01"], "--start must be a date as YYYY-MM-DD"),
        (["--start", "2026-03-01", "--end", "soon"], "--end must be a date as YYYY-MM-DD"),
        (["--start", "2026-03-02", "--end", "2026-03-01"], "--start 2026-03-02 is after --end 2026-03-01"),
        (["--start", "2026-01-01", "--end", "2026-03-01", "--org", "99999"], "no organisation with id 99999"),
        (["--start", "2026-01-01", "--end", "2026-03-01", "--format", "pdf"], "unknown format 'pdf'"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(runner, r_ledger, extra, message, tmp_path):
    target = tmp_path / "out.csv"
    result = runner.invoke(args=["reports", "export-hours", *extra, "--output", str(target)])
    assert result.exit_code != 0
    assert message in result.output
    assert not target.exists()


def test_several_top_level_orgs_need_org(runner, r_ledger, make_org):
    make_org("另一市", kind="city")
    year = r_ledger["year"]
    result = runner.invoke(args=["reports", "export-hours", "--start", f"{year}-01-01", "--end", f"{year}-12-31"])
    assert result.exit_code != 0 and "choose one with --org" in result.output


def _ledger_of(volunteers: int, make_user, r_team, r_event, org, year: int) -> None:
    from blueprints.auth.models import User

    team = r_team(org)
    events = [r_event(team, date(year, 1 + i % 12, 1 + i % 28)) for i in range(10)]
    start = db.session.query(User).count()
    users = [
        {
            "name": f"志愿者{start + i}",
            "phone": f"136{start + i:08d}",
            "password_hash": "x",
            "home_org_id": org.id,
            "feed_token": f"mem-{start + i}",
        }
        for i in range(volunteers)
    ]
    db.session.execute(User.__table__.insert(), users)
    ids = [u for (u,) in db.session.execute(db.select(User.id).where(User.phone.like("136%")))]
    records = [
        {
            "volunteer_id": uid,
            "event_id": e.id,
            "minutes": 60,
            "source": "leader",
            "served_at": e.starts_at,
            "org_id": e.org_id,
        }
        for uid in ids
        for e in events[:3]
    ]
    db.session.execute(ServiceRecord.__table__.insert(), records)
    db.session.commit()


@pytest.mark.slow
def test_export_memory_stays_flat_as_rows_grow(app, city_tree, make_user, r_team, r_event):
    """Python memory held while streaming 3x more rows stays about the same (rows are not collected)."""
    year = 2026
    org = city_tree["c1"]

    def peak() -> tuple[int, int]:
        tracemalloc.start()
        n = 0
        with app.test_request_context():
            for _row in hours_rows(org, Period.year_of(year)):
                n += 1
        _current, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return n, top

    # more rows than the fetch buffers hold from the start, so both runs hold full buffers
    _ledger_of(8000, make_user, r_team, r_event, org, year)
    peak()  # warm up: compiled-statement caches, imports
    small_rows, small_peak = peak()
    _ledger_of(16000, make_user, r_team, r_event, org, year)
    big_rows, big_peak = peak()
    assert (small_rows, big_rows) == (8000, 24000)
    assert big_peak < small_peak * 1.25 + 100_000, (small_peak, big_peak)


def test_cli_csv_is_byte_for_byte_the_download(runner, client, login_as, r_ledger):
    d1 = r_ledger["orgs"]["d1"]
    year = r_ledger["year"]
    login_as(r_ledger["coord1"])
    web = client.get(
        "/reports/hours/export",
        query_string={
            "org": d1.id,
            "period": "custom",
            "start": f"{year}-01-01",
            "end": f"{year}-12-31",
            "format": "csv",
        },
        headers={"Accept-Language": "zh-CN"},
        buffered=True,
    ).get_data()
    cli = runner.invoke(args=_args(r_ledger, "--org", str(d1.id))).stdout_bytes
    assert cli == web
    assert "'=HYPERLINK" in cli.decode("utf-8-sig")
