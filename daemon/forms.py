"""The registration form (媒体投诉登记表) as an XLSX workbook, built in memory for 综合部.

Sheet 1 is the form itself, printable on one A4 page width: the record as label/value rows,
then the clocks and how each went. Sheet 2 is the event log (媒体投诉相关记录).

Every value is written as text: complaint text is data, so a complaint that starts with "="
must not become a formula, and control characters that XML cannot carry are dropped.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from daemon.views import FORM_FIELDS, clock_name, display_width, in_due_order, record_values
from models.directory import Directory
from models.labels import CLOCK_TABLE, FIELD_LABELS, LATE, event_label
from models.tables import Case, Deadline, Event

FORM_TITLE = "媒体投诉登记表"
LOG_TITLE = "媒体投诉相关记录"
CLOCKS_TITLE = "各时限及完成情况"
COMPLAINT = FIELD_LABELS["complaint_text"]  # the one field that may run over several rows

CELL_LIMIT = 32767  # Excel refuses longer text in one cell ("repairs" the file)
TRUNCATED = "……（超出表格单元格长度，全文见登记记录）"

# Sheet 1: a label column, then four columns that the values span and the clock table uses.
FORM_WIDTHS = {"A": 24, "B": 20, "C": 20, "D": 20, "E": 12}
VALUE_WIDTH = sum(FORM_WIDTHS.values()) - FORM_WIDTHS["A"]  # in character widths
WRAP_WIDTH = VALUE_WIDTH - 4  # cell padding, and word wrap breaking early in Latin text
LINE_HEIGHT = 15.0  # points per line of 11-point text
MAX_ROW_HEIGHT = 409.0  # Excel's limit
ROW_LINES = int(MAX_ROW_HEIGHT // LINE_HEIGHT) - 2  # lines of a long complaint per row
# Sheet 2: a Message-ID of ours (up to ~95 characters) takes two lines of column F.
LOG_WIDTHS = {"A": 18, "B": 30, "C": 14, "D": 50, "E": 40, "F": 50}

_THIN = Side(style="thin")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
LABEL_FILL = PatternFill(fill_type="solid", start_color="FFDDEBF7", end_color="FFDDEBF7")
BOLD = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="center")
WRAP_TOP = Alignment(wrap_text=True, vertical="top")  # long text reads from the top
ROW_HEIGHT = 20.0  # a single-line field row: room to write by hand on the printout
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def registration_form(case: Case, deadlines: Sequence[Deadline], events: Sequence[Event],
                      directory: Directory, tz: ZoneInfo) -> bytes:
    """The 媒体投诉登记表 of `case` as XLSX bytes: the form, its clocks, and the event log."""
    wb = Workbook()
    wb.properties.title = f"{FORM_TITLE} {case.id}"
    wb.properties.creator = "complaintd"
    # openpyxl stamps `modified` with the time of saving; `created` at least is the case's own.
    wb.properties.created = case.registered_at.astimezone(UTC).replace(tzinfo=None)
    form = wb.active
    assert form is not None  # a new Workbook always has one sheet
    form.title = FORM_TITLE
    _form_sheet(form, case, deadlines, directory, tz)
    _log_sheet(wb.create_sheet(LOG_TITLE), case, events, tz)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def form_fields(case: Case, directory: Directory, tz: ZoneInfo) -> list[tuple[str, str]]:
    """The label/value rows of the form, in order, as display text."""
    values = record_values(case, directory, lambda value: local_time(value, tz))
    return [(FIELD_LABELS[name], values[name]) for name in FORM_FIELDS]


def clock_rows(deadlines: Sequence[Deadline], directory: Directory,
               tz: ZoneInfo) -> list[tuple[str, str, str, str, str]]:
    """One row per clock: 时限, 到期, 完成, 超时, 备注."""
    return [
        (clock_name(d, directory), local_time(d.due_at, tz), local_time(d.met_at, tz),
         local_time(d.breached_at, tz), LATE if d.late else "")
        for d in in_due_order(deadlines)
    ]


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """`YYYY-MM-DD HH:MM` in the configured zone; empty when there is no time."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def cell_text(value: str) -> str:
    """Text a cell can hold: no XML-illegal control characters, within Excel's length limit."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > CELL_LIMIT:
        value = value[:CELL_LIMIT - len(TRUNCATED)] + TRUNCATED
    return value


def text_lines(text: str, width: int = WRAP_WIDTH) -> int:
    """How many lines `text` takes wrapped at `width` (the value cells'; CJK counts two)."""
    return sum(max(1, math.ceil(display_width(line) / width)) for line in text.split("\n"))


def text_height(text: str, min_lines: int = 1) -> float:
    """Row height in points for `text`, with a spare line for the estimate's error."""
    return min(MAX_ROW_HEIGHT, (max(text_lines(text), min_lines) + 1) * LINE_HEIGHT)


def text_rows(text: str) -> list[str]:
    """`text` cut into pieces that each fit one row under Excel's row height limit.

    Cuts fall between paragraphs ("\n".join of the pieces gives the text back); only a
    paragraph too long for one row is cut inside, at a wrapped line's end.
    """
    rows: list[str] = []
    current: list[str] = []
    used = 0
    for paragraph in ILLEGAL_CHARACTERS_RE.sub("", text).split("\n"):
        for piece in _cut(paragraph, ROW_LINES * WRAP_WIDTH):
            lines = text_lines(piece)
            if current and used + lines > ROW_LINES:
                rows.append("\n".join(current))
                current, used = [], 0
            current.append(piece)
            used += lines
    rows.append("\n".join(current))
    return rows


def _cut(paragraph: str, width: int) -> list[str]:
    """`paragraph` in pieces of at most `width` display width (one piece when it fits)."""
    pieces, piece, used = [], "", 0
    for ch in paragraph:
        w = display_width(ch)
        if used + w > width:
            pieces.append(piece)
            piece, used = "", 0
        piece += ch
        used += w
    return [*pieces, piece]


def _put(ws: Worksheet, row: int, column: int, value: str, *, label: bool = False) -> None:
    cell = ws.cell(row=row, column=column)
    if value:
        cell.value = cell_text(value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
    cell.border = BORDER
    cell.alignment = WRAP
    if label:
        cell.font = BOLD
        cell.fill = LABEL_FILL


def _form_sheet(ws: Worksheet, case: Case, deadlines: Sequence[Deadline], directory: Directory,
                tz: ZoneInfo) -> None:
    last = len(FORM_WIDTHS)
    for letter, width in FORM_WIDTHS.items():
        ws.column_dimensions[letter].width = width

    row = _title(ws, 1, FORM_TITLE, last, size=16)
    for label, value in form_fields(case, directory, tz):
        # A long complaint goes on as many rows as a row's height limit needs, so that it
        # prints whole; a short value keeps one row, taller when it wraps.
        chunks = text_rows(value) if label == COMPLAINT else [value]
        _put(ws, row, 1, label, label=True)
        if len(chunks) > 1:
            ws.merge_cells(start_row=row, start_column=1, end_row=row + len(chunks) - 1, end_column=1)
        for chunk in chunks:
            _put(ws, row, 2, chunk)
            # Merging gives a range's edge cells the first cell's borders (MergedCellRange.format).
            ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=last)
            if label == COMPLAINT:
                ws.row_dimensions[row].height = text_height(chunk, min_lines=5)
                ws.cell(row=row, column=2).alignment = WRAP_TOP
                ws.cell(row=row, column=1).alignment = WRAP_TOP
            elif text_lines(chunk) > 1:
                ws.row_dimensions[row].height = text_height(chunk)
            else:
                ws.row_dimensions[row].height = ROW_HEIGHT
            row += 1

    row = _title(ws, row + 1, CLOCKS_TITLE, last, size=12)
    for column, header in enumerate(CLOCK_TABLE, start=1):
        _put(ws, row, column, header, label=True)
    ws.row_dimensions[row].height = ROW_HEIGHT
    for values in clock_rows(deadlines, directory, tz):
        row += 1
        for column, value in enumerate(values, start=1):
            _put(ws, row, column, value)
        ws.row_dimensions[row].height = ROW_HEIGHT
        _fit_row(ws, row, values, list(FORM_WIDTHS.values()))

    ws.print_title_rows = "1:1"
    ws.print_options.horizontalCentered = True
    print_on_a4(ws, ws.ORIENTATION_PORTRAIT)
    footer = ws.oddFooter
    assert footer is not None  # openpyxl makes every sheet's footer with it
    footer.center.text = "第 &P 页，共 &N 页"


def _fit_row(ws: Worksheet, row: int, values: Sequence[str], widths: Sequence[int]) -> None:
    """Make a row tall enough for its most wrapped cell (Excel does not grow rows on opening),
    with a spare line: a spreadsheet breaks a Message-ID or an address where it can, not at
    the column's last character."""
    lines = max(text_lines(v, max(1, w - 2)) for v, w in zip(values, widths, strict=True))
    if lines > 1:
        ws.row_dimensions[row].height = min(MAX_ROW_HEIGHT, (lines + 1) * LINE_HEIGHT)


def _title(ws: Worksheet, row: int, text: str, last: int, *, size: int) -> int:
    """A bold, centred heading across the sheet; returns the next row."""
    cell = ws.cell(row=row, column=1)
    cell.value = text
    cell.font = Font(bold=True, size=size)
    cell.alignment = CENTER
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
    ws.row_dimensions[row].height = size * 2
    return row + 1


def _log_sheet(ws: Worksheet, case: Case, events: Sequence[Event], tz: ZoneInfo) -> None:
    for letter, width in LOG_WIDTHS.items():
        ws.column_dimensions[letter].width = width
    header = _title(ws, 1, f"{LOG_TITLE}（{case.id}）", len(LOG_WIDTHS), size=14)
    for column, name in enumerate(("时间", "人员", "事项", "说明", "邮件主题", "Message-ID"), start=1):
        _put(ws, header, column, name, label=True)
    ws.row_dimensions[header].height = ROW_HEIGHT
    for row, e in enumerate(events, start=header + 1):
        values = (local_time(e.at, tz), e.actor, event_label(e.kind), e.summary, e.subject or "",
                  e.message_id or "")
        for column, value in enumerate(values, start=1):
            _put(ws, row, column, value)
        _fit_row(ws, row, values, list(LOG_WIDTHS.values()))
    ws.freeze_panes = f"A{header + 1}"
    ws.auto_filter.ref = f"A{header}:F{header + len(events)}"
    ws.print_title_rows = f"1:{header}"
    print_on_a4(ws, ws.ORIENTATION_LANDSCAPE)


def print_on_a4(ws: Worksheet, orientation: Literal["portrait", "landscape"] | None = None) -> None:
    """A4, as wide as one page and as many pages down as it takes: how 综合部 prints a sheet."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    if orientation is not None:
        ws.page_setup.orientation = orientation
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
