"""The register export (`complaintd export`): every case as one row, for people who live in Excel.

XLSX: sheet "登记簿" with every SPEC §5 field and each procedure clock's due / met / breached
time, a frozen bold header, filters and widths that fit Chinese text; sheet "统计" with the
statistics of the same cases (models/statistics.py). CSV: the register sheet alone, UTF-8 with
a BOM so that Excel does not read it as GBK.

Times are local to the configured zone as "YYYY-MM-DD HH:MM" text (it sorts and filters as
text). Every XLSX value is written as a string cell, never a formula; in the CSV, a text that
Excel would take for a formula (=…, @…, +/-… with more than a number) gets a leading "'".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.engine import Engine

from daemon.clock import SystemClock
from daemon.errors import ComplaintdError
from daemon.forms import BOLD, BORDER, LABEL_FILL, LINE_HEIGHT, WRAP, cell_text, local_time, print_on_a4, text_lines
from daemon.queries import STATUS_FILTERS, all_clocks, list_cases
from daemon.store import session
from daemon.views import CASE_FIELDS, case_summary_json, display_width, person_text
from models.directory import Directory
from models.labels import (
    CATEGORY_BASIS_LABELS,
    CLOCK_LABELS,
    CLOCK_PARTS,
    FIELD_LABELS,
    LATE,
    category_label,
    status_label,
)
from models.statistics import CaseFacts, DeadlineFacts, Durations, Statistics, register_statistics
from models.tables import Case, Deadline
from models.types import DeadlineKind

FORMATS = ("xlsx", "csv")  # `complaintd export --format` lists them too
REGISTER_SHEET = "登记簿"
STATS_SHEET = "统计"
BOM = "\ufeff"

# The procedure's clocks with a column each (round 0), named as everywhere (models/labels.py).
CLOCK_COLUMNS = (
    DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT, DeadlineKind.SOLUTION,
    DeadlineKind.NORMAL_COMPLETION, DeadlineKind.GROUP, DeadlineKind.HIGHER_AUTHORITY,
)
HEADERS = tuple(FIELD_LABELS[f] for f in CASE_FIELDS) + tuple(
    f"{CLOCK_LABELS[kind]}{part}" for kind in CLOCK_COLUMNS for part in CLOCK_PARTS)

WRAPPED = frozenset(FIELD_LABELS[f] for f in ("complaint_text", "solution", "result", "statement"))
COMPLAINT_WIDTH = 60
MAX_WIDTH = 40  # a wider value is cut off in view (wrapped ones wrap); the cell keeps it all
MAX_ROW_LINES = 8  # a register row shows the start of a long complaint; the form shows it all
STATUS_FILTER_LABELS = {"open": "未结", "overdue": "超时未结", "closed": "已结", "all": "全部"}
_CSV_FORMULA_START = frozenset("=@\t\r")
_PLAIN_NUMBER = frozenset("0123456789 .,-+()")


@dataclass(frozen=True)
class Register:
    """The cases of one export, oldest first, with all their clocks, and their statistics."""

    rows: tuple[tuple[Case, tuple[Deadline, ...]], ...]
    statistics: Statistics
    status: str


def export_register(engine: Engine, tz: ZoneInfo, directory: Directory, fmt: str, since: date | None,
                    status: str, now: datetime | None = None) -> bytes:
    """The register as XLSX or CSV bytes: cases received on or after `since` (a local date),
    filtered by status as `complaintd cases` filters them."""
    if fmt not in FORMATS:
        raise ComplaintdError(f"export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    register = load_register(engine, tz, since, status, now or SystemClock().now())
    table = register_table(register.rows, tz, directory)
    if fmt == "csv":
        return register_csv(table)
    return register_xlsx(table, register, tz, directory)


def load_register(engine: Engine, tz: ZoneInfo, since: date | None, status: str, now: datetime) -> Register:
    if status not in STATUS_FILTERS:
        raise ComplaintdError(f"status {status!r}: choose one of {', '.join(STATUS_FILTERS)}")
    start = day_start(since, tz) if since is not None else None
    cases = [c for c, _ in reversed(list_cases(engine, status, now))
             if start is None or c.received_at >= start]
    with session(engine) as db:
        clocks = all_clocks(db, [c.id for c in cases])
    rows = tuple((c, clocks.get(c.id, ())) for c in cases)
    stats = register_statistics([case_facts(c, d) for c, d in rows], start, now)
    return Register(rows, stats, status)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of `day`, in UTC."""
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def case_facts(case: Case, deadlines: Sequence[Deadline]) -> CaseFacts:
    """What models.statistics needs of a case: the steps' times from its round-0 clocks."""
    facts = tuple(DeadlineFacts(d.kind, d.due_at, d.met_at, d.breached_at) for d in deadlines)
    first = {d.kind: f for d, f in zip(deadlines, facts, strict=True) if d.round == 0}

    def met(kind: DeadlineKind) -> datetime | None:
        clock = first.get(kind)
        return clock.met_at if clock else None

    def done(kind: DeadlineKind) -> datetime | None:  # met, or breached (the daemon acted)
        clock = first.get(kind)
        return clock.decided_at if clock else None

    return CaseFacts(
        id=case.id, category=case.category, receiving_dept=case.receiving_dept,
        media_outlet=case.media_outlet, received_at=case.received_at, status=case.status,
        resolved_at=case.resolved_at, assessed_at=met(DeadlineKind.ASSESS),
        account_manager_at=done(DeadlineKind.ACCOUNT_MANAGER),
        general_dept_at=done(DeadlineKind.GENERAL_DEPT), deadlines=facts,
    )


# -- the register table -----------------------------------------------------------------------

def register_table(rows: Sequence[tuple[Case, Sequence[Deadline]]], tz: ZoneInfo,
                   directory: Directory) -> list[tuple[str, ...]]:
    """The header row, then one row of display text per case."""
    table = [HEADERS]
    for case, deadlines in rows:
        values = case_summary_json(case, tz)
        row = [field_text(name, values[name], case, tz, directory) for name in CASE_FIELDS]
        clocks = {d.kind: d for d in deadlines if d.round == 0}
        for kind in CLOCK_COLUMNS:
            d = clocks.get(kind)
            row += [local_time(d.due_at, tz), local_time(d.met_at, tz), local_time(d.breached_at, tz)] \
                if d else ["", "", ""]
        table.append(tuple(row))
    return table


def field_text(name: str, value: Any, case: Case, tz: ZoneInfo, directory: Directory) -> str:
    """One §5 field as a person reads it: local times, labels, names."""
    if isinstance(getattr(case, name), datetime):
        return local_time(getattr(case, name), tz)
    if name == "category":
        return category_label(value, ask=False)
    if name == "category_basis":
        return CATEGORY_BASIS_LABELS.get(value, "") if value else ""
    if value is None:
        return ""
    if name == "status":
        return status_label(value)
    if name == "receiving_dept":
        dept = directory.department(value)
        return dept.name if dept else value
    if name in ("receiver_email", "forwarder_email"):  # as the form and `show` name them
        return person_text(value, directory)
    if name == "attachments":
        return "、".join(str(a.get("filename", "")) for a in value)
    if name == "late":
        return LATE if value else ""
    return str(value)


# -- CSV --------------------------------------------------------------------------------------

def register_csv(table: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_safe(v) for v in row] for row in table)
    return (BOM + out.getvalue()).encode("utf-8")


def csv_safe(value: str) -> str:
    """Text Excel shows as text: a leading "'" when it would start a formula (CSV injection).

    A phone number such as "+86 139 1234 5678" or "-5" stays as it is: Excel reads it as a
    number at worst, never as a formula that calls anything.
    """
    if not value:
        return value
    if value[0] in _CSV_FORMULA_START or (value[0] in "+-" and not set(value) <= _PLAIN_NUMBER):
        return "'" + value
    return value


# -- XLSX -------------------------------------------------------------------------------------

def register_xlsx(table: Sequence[Sequence[str]], register: Register, tz: ZoneInfo,
                  directory: Directory) -> bytes:
    wb = Workbook()
    wb.properties.title = "媒体投诉登记簿"
    wb.properties.creator = "complaintd"
    wb.properties.created = register.statistics.until.astimezone(UTC).replace(tzinfo=None)
    ws = wb.active
    assert ws is not None  # a new Workbook always has one sheet
    ws.title = REGISTER_SHEET
    _register_sheet(ws, table)
    _stats_sheet(wb.create_sheet(STATS_SHEET), register, tz, directory)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text(ws: Worksheet, row: int, column: int, value: str) -> Any:
    cell = ws.cell(row=row, column=column)
    if value:
        cell.value = cell_text(value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell


def _register_sheet(ws: Worksheet, table: Sequence[Sequence[str]]) -> None:
    top = Alignment(vertical="top")
    for c, header in enumerate(table[0], start=1):
        cell = _text(ws, 1, c, header)
        cell.font, cell.fill, cell.border = BOLD, LABEL_FILL, BORDER
        cell.alignment = Alignment(vertical="center")
    widths = [column_width(header, [row[i] for row in table[1:]]) for i, header in enumerate(table[0])]
    wrapped = [i for i, header in enumerate(table[0]) if header in WRAPPED]
    for r, values in enumerate(table[1:], start=2):
        for c, value in enumerate(values, start=1):
            _text(ws, r, c, value).alignment = WRAP if c - 1 in wrapped else top
        lines = max((text_lines(values[i], max(1, widths[i] - 2)) for i in wrapped if values[i]), default=1)
        if lines > 1:
            ws.row_dimensions[r].height = min(lines, MAX_ROW_LINES) * LINE_HEIGHT
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    last = get_column_letter(len(table[0]))
    ws.freeze_panes = "B2"  # the header row and the case id stay in view
    ws.auto_filter.ref = f"A1:{last}{len(table)}"
    ws.print_title_rows = "1:1"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE


def column_width(header: str, values: Sequence[str]) -> int:
    """Character widths that fit the header and the widest line (a CJK character counts two)."""
    if header == FIELD_LABELS["complaint_text"]:
        return COMPLAINT_WIDTH
    widest = max((display_width(line) for v in values for line in v.split("\n")), default=0)
    # The header needs room for the filter button too.
    return min(MAX_WIDTH, max(display_width(header) + 4, widest + 2))


def duration_text(value: timedelta | None) -> str:
    """"2小时05分", "45分"; empty for no value. Rounded to the minute."""
    if value is None:
        return ""
    minutes = round(value / timedelta(minutes=1))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}小时{minutes:02d}分" if hours else f"{minutes}分"


def duration_minutes(value: timedelta | None) -> float | None:
    return round(value / timedelta(minutes=1), 1) if value is not None else None


def period_text(stats: Statistics, tz: ZoneInfo) -> str:
    start = local_time(stats.since, tz) if stats.since is not None else "最早"
    return f"{start} 至 {local_time(stats.until, tz)}（按接收时间）"


def statistics_rows(register: Register, tz: ZoneInfo, directory: Directory) -> list[tuple[str, list[Any]]]:
    """The 统计 sheet as (style, cells) rows; style is title, heading, head, label, row or note."""
    s = register.statistics
    rate = s.on_time_percent

    def durations(label: str, d: Durations) -> tuple[str, list[Any]]:
        return "row", [label, d.count, duration_text(d.median), duration_text(d.p90),
                       duration_minutes(d.median), duration_minutes(d.p90)]

    def dept(dept_id: str) -> str:
        found = directory.department(dept_id)
        return found.name if found else dept_id

    def counts(title: str, head: str, items: Sequence[tuple[str, int]]) -> list[tuple[str, list[Any]]]:
        return [("heading", [title]), ("head", [head, "件数"]), *[("row", [k, n]) for k, n in items]]

    return [
        ("title", ["媒体投诉登记簿统计"]),
        ("label", ["统计期间", period_text(s, tz)]),
        ("label", ["状态筛选", STATUS_FILTER_LABELS.get(register.status, register.status)]),
        ("label", ["案件数", s.cases]),
        ("label", ["其中已结", s.closed]),
        ("label", ["时限按时完成率", None if rate is None else rate / 100,
                   f"{s.deadlines_on_time}/{s.deadlines_decided}（已完成或已超时的时限，不含确认回复）"]),
        ("heading", ["各环节用时（自接收时间起）"]),
        ("head", ["环节", "件数", "中位数", "90%分位", "中位数（分钟）", "90%分位（分钟）"]),
        durations(CLOCK_LABELS[DeadlineKind.ASSESS], s.to_assessment),
        durations(CLOCK_LABELS[DeadlineKind.ACCOUNT_MANAGER], s.to_account_manager),
        durations(CLOCK_LABELS[DeadlineKind.GENERAL_DEPT], s.to_general_dept),
        durations("办结", s.to_resolution),
        ("note", ["百分位按线性插值计算，同 Excel 的 MEDIAN / PERCENTILE.INC。"]),
        *counts("按投诉类别", FIELD_LABELS["category"], [(category_label(k, ask=False), n) for k, n in s.by_category]),
        *counts("按接收部门", FIELD_LABELS["receiving_dept"], [(dept(k), n) for k, n in s.by_department]),
        *counts("按媒体单位", FIELD_LABELS["media_outlet"], [(k or "（未识别）", n) for k, n in s.by_outlet]),
        *counts("按状态", FIELD_LABELS["status"], [(status_label(k), n) for k, n in s.by_status]),
    ]


def _stats_sheet(ws: Worksheet, register: Register, tz: ZoneInfo, directory: Directory) -> None:
    rows = statistics_rows(register, tz, directory)
    first = max(display_width(str(v[0])) + 2 for style, v in rows if style in ("label", "head", "row"))
    for letter, width in zip("ABCDEF", (min(60, max(16, first)), 14, 14, 14, 16, 16), strict=True):
        ws.column_dimensions[letter].width = width
    r = 0
    for style, values in rows:
        r += 1
        if style == "heading":
            r += 1  # a blank row before each table
        for c, value in enumerate(values, start=1):
            cell = _text(ws, r, c, value) if isinstance(value, str) else ws.cell(row=r, column=c, value=value)
            if style in ("title", "heading"):
                cell.font = Font(bold=True, size=14 if style == "title" else 12)
            elif style == "head":
                cell.font, cell.fill, cell.border = BOLD, LABEL_FILL, BORDER
            elif style == "label" and c == 1:
                cell.font = BOLD
            if style == "label" and values[0] == "时限按时完成率" and c == 2:
                cell.number_format = "0.0%"
            elif isinstance(value, float):
                cell.number_format = "0.0"
    print_on_a4(ws)


def default_filename(fmt: str, now: datetime, tz: ZoneInfo) -> str:
    return f"登记簿-{now.astimezone(tz):%Y%m%d}.{fmt}"
