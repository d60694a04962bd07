"""CSV and XLSX responses: streamed, UTF-8 with BOM for CSV, formula injection neutralised."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from urllib.parse import quote

from flask import Response, stream_with_context

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value):
    """Make a cell safe for spreadsheets: text that could start a formula is prefixed with '."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "ignore").decode() or "export"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def csv_chunks(header: Sequence, rows: Iterable[Sequence], bom: bool = True) -> Iterator[str]:
    """Yield CSV text in chunks of a few hundred rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if bom:
        buf.write("\ufeff")
    writer.writerow([neutralise(str(h)) for h in header])
    for i, row in enumerate(rows, 1):
        writer.writerow([_cell_text(v) for v in row])
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def send_csv(filename: str, header: Sequence, rows: Iterable[Sequence]) -> Response:
    """Stream a CSV download; rows may be a generator over a server-side cursor."""
    response = Response(stream_with_context(csv_chunks(header, rows)), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = _disposition(filename)
    return response


def write_xlsx(target, header: Sequence, rows: Iterable[Sequence], sheet_title: str = "Sheet1") -> None:
    """Write a workbook in openpyxl's write-only mode (rows go to disk, memory stays flat)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    bold = Font(bold=True)
    head = []
    for h in header:
        cell = WriteOnlyCell(ws, value=neutralise(str(h)))
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for row in rows:
        ws.append([_xlsx_value(ws, v) for v in row])
    wb.save(target)


def _xlsx_value(ws, value):
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        safe = neutralise(value)
        cell = WriteOnlyCell(ws, value=safe)
        cell.data_type = "s"  # never a formula, whatever the text
        return cell
    return value


def send_xlsx(filename: str, header: Sequence, rows: Iterable[Sequence], sheet_title: str = "Sheet1") -> Response:
    """An XLSX download built in a temporary file and streamed from disk."""
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        write_xlsx(path, header, rows, sheet_title)
    except BaseException:
        os.unlink(path)
        raise

    def stream() -> Iterator[bytes]:
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(64 * 1024):
                    yield chunk
        finally:
            os.unlink(path)

    response = Response(stream(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Content-Length"] = str(os.path.getsize(path))
    return response
