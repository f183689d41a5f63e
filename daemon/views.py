"""How a case looks to people: template context, --json, and the terminal tables."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from daemon.queries import CaseRecord
from models.directory import Directory, Person
from models.labels import (
    CLOCK_STATES,
    CLOCK_TABLE,
    FIELD_LABELS,
    LATE,
    category_label,
    clock_label,
    event_label,
    status_label,
)
from models.tables import Case, Deadline, Event
from models.types import AckTarget, DeadlineKind

EXCERPT_CHARS = 1500  # the ack mail quotes the complaint; the full text is in the register

CASE_FIELDS = (
    "id", "status", "category", "category_basis", "category_reason", "received_at", "registered_at",
    "receiving_dept", "receiver_email", "forwarder_email", "forwarder_note", "media_outlet",
    "reporter_name", "original_from_name", "original_from_email", "original_sent_at",
    "original_subject", "phone", "customer_number", "complaint_text", "attachments",
    "account_manager", "solution", "expected_completion_at", "statement", "resolved_at", "result", "late",
)
# The registration form's rows, in its order: the form (daemon/forms.py) and `complaintd show`
# list these fields, each under its label from models/labels.py and with the same value.
FORM_FIELDS = (
    "id", "registered_at", "received_at", "receiving_dept", "receiver_email", "forwarder_email",
    "forwarder_note", "media_outlet", "reporter_name", "original_from_name", "original_from_email",
    "phone", "customer_number", "category", "original_subject", "original_sent_at", "complaint_text",
    "attachments", "account_manager", "solution", "expected_completion_at", "result", "resolved_at",
    "statement", "status",
)


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the configured zone's offset (SPEC §6)."""
    return value.astimezone(tz).isoformat() if value is not None else None


def case_json(record: CaseRecord, tz: ZoneInfo) -> dict[str, Any]:
    """The §5 record with its deadlines and event log."""
    out = case_summary_json(record.case, tz)
    out["deadlines"] = [deadline_json(d, tz) for d in record.deadlines]
    out["events"] = [event_json(e, tz) for e in record.events]
    return out


def case_summary_json(case: Case, tz: ZoneInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CASE_FIELDS:
        value = getattr(case, name)
        out[name] = iso(value, tz) if isinstance(value, datetime) else value
    return out


# What json.dumps(ensure_ascii=False) leaves raw of the control characters: DEL and C1.
_RAW_CONTROLS = re.compile(r"[\x7f-\x9f]")


def json_text(value: Any) -> str:
    """`--json` output: Chinese as it is, and every string exact once parsed; but no control
    character raw. json.dumps escapes C0 (ESC…) and leaves DEL and C1 (U+0080–U+009F) as they
    are, which a terminal may obey (U+009B is CSI); those are escaped too, still exact JSON."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return _RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def deadline_json(d: Deadline, tz: ZoneInfo) -> dict[str, Any]:
    return {"kind": d.kind, "round": d.round, "due": iso(d.due_at, tz), "met": iso(d.met_at, tz),
            "breached": iso(d.breached_at, tz), "late": d.late}


def event_json(e: Event, tz: ZoneInfo) -> dict[str, Any]:
    return {"at": iso(e.at, tz), "kind": e.kind, "actor": e.actor, "message_id": e.message_id,
            "subject": e.subject, "summary": e.summary}


class ClockView(Protocol):
    """A deadline as the mails show it: a stored Deadline, or one just drafted."""

    @property
    def kind(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def met_at(self) -> datetime | None: ...
    @property
    def late(self) -> bool: ...


ClockViewT = TypeVar("ClockViewT", bound=ClockView)


def mail_context(case: Case, deadlines: Sequence[ClockView], directory: Directory) -> dict[str, Any]:
    """What the case templates see: display strings, never template source."""
    dept = directory.department(case.receiving_dept)
    clocks = [clock_context(d) for d in in_due_order(deadlines) if d.kind != DeadlineKind.ACK]
    return {
        "case": {
            "id": case.id,
            "direct": case.forwarder_email is None,
            "late": case.late,
            "media_outlet": case.media_outlet,
            "reporter_name": case.reporter_name,
            "original_from_name": case.original_from_name,
            "original_from_email": case.original_from_email,
            "phone": case.phone,
            "customer_number": case.customer_number,
            "category_label": category_label(case.category, case.category_basis, case.category_reason),
            "forwarder_note": case.forwarder_note or "",
            "original_subject": case.original_subject,
            "original_sent_at": case.original_sent_at,
            "received_at": case.received_at,
            "receiving_dept": dept.name if dept else case.receiving_dept,
            "receiver": person_text(case.receiver_email, directory),
            "account_manager": case.account_manager,
            "attachments": "、".join(a.get("filename", "") for a in case.attachments),
            "complaint_excerpt": excerpt(case.complaint_text),
            "solution": case.solution,
            "expected_completion_at": case.expected_completion_at,
            "result": case.result,
        },
        "record": record_rows(case, directory),
        "clocks": clocks,
        "first_open": next((c for c in clocks if not c["met"]), None),
    }


def record_rows(case: Case, directory: Directory) -> list[dict[str, Any]]:
    """The registration form's rows for a mail's HTML part: each FORM_FIELDS field's label and
    its value as record_values gives it ("—" when it has none, "无" for no attachments), the
    complaint as the mail's excerpt. A time stays a datetime, shown by the template's `local`
    filter in the renderer's zone."""
    values = record_values(case, directory, lambda at: "")
    rows = []
    for name in FORM_FIELDS:
        value: str | datetime = getattr(case, name)
        if not isinstance(value, datetime):
            value = excerpt(values[name]) if name == "complaint_text" else values[name]
        rows.append({"name": name, "label": FIELD_LABELS[name],
                     "value": value or ("无" if name == "attachments" else "—")})
    return rows


def in_due_order(deadlines: Sequence[ClockViewT]) -> list[ClockViewT]:
    """Clocks as mail and the form list them: a person reads the list as "what comes when",
    and the clocks a takeover starts were made after the registration's later ones."""
    return sorted(deadlines, key=lambda d: d.due_at)


def directory_name(email: str, directory: Directory) -> str:
    """What the directory calls an address: a person's name, 综合部's shared mailbox by the
    department's name; the address itself for anyone it does not name (staff known by a
    `*@domain` pattern or listed by address alone). Never the display name a mail claimed."""
    known = directory.person(email) or next(
        (p for p in directory.mailboxes(directory.general_dept) if p.email == email.lower()), None)
    return known.name if known and known.name else email


def greeting(people: Sequence[Person], directory: Directory) -> str:
    """The salutation of a mail to `people`: "张伟、李娜"."""
    return "、".join(dict.fromkeys(directory_name(p.email, directory) for p in people))


# How a clock stands, as the HTML part's clock table marks it: a class, and the word shown.
def clock_context(d: ClockView) -> dict[str, Any]:
    """A clock as the templates see it. `state` is a CLOCK_STATES key (`state_label` its
    word): met once met, else overdue when breached or already past at registration (迟报),
    else open."""
    breached = getattr(d, "breached_at", None) is not None
    state = "met" if d.met_at is not None else "overdue" if breached or d.late else "open"
    return {"kind": str(d.kind), "label": clock_label(d.kind), "name": clock_title(d.kind, getattr(d, "round", 0)),
            "due_at": d.due_at, "met": d.met_at is not None, "met_at": d.met_at, "breached": breached,
            "late": d.late, "state": state, "state_label": CLOCK_STATES[state]}


def first_line(text: str, limit: int = 200) -> str:
    """A mail's first non-blank line, as the event log quotes it."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:limit]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "……（全文见登记记录）"


# -- terminal ---------------------------------------------------------------------------------

def terminal_safe(text: str, *, multiline: bool = False) -> str:
    """Text from mail (outlet, subject, complaint, event summaries) made harmless to print:
    each control character (C0 such as ESC, DEL, C1 such as U+009B CSI) is shown as an escape
    like \\x1b instead of acting on the terminal. `multiline` keeps line breaks and tabs (the
    complaint text); elsewhere they are escaped too, so that one field stays on its line."""
    if multiline:
        text = text.replace("\r\n", "\n")
    kept = "\n\t" if multiline else ""
    return "".join(ch if ch in kept or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}"
                   for ch in text)


def cases_table(rows: Sequence[tuple[Case, Deadline | None]], tz: ZoneInfo, now: datetime,
                directory: Directory, color: bool = False) -> str:
    """`complaintd cases`: one aligned line per case, the clock that comes next and the time
    left (a closed case has none); a line whose next clock is past due, not yet acted on by
    the daemon, in red when the terminal shows colour."""
    header = (*(FIELD_LABELS[f] for f in ("id", "status", "received_at", "receiving_dept", "media_outlet")),
              "下一时限", "剩余")
    lines = [header]
    overdue = []
    for case, nxt in rows:
        dept = directory.department(case.receiving_dept)
        lines.append(tuple(terminal_safe(cell) for cell in (
            case.id,
            status_label(case.status),
            case.received_at.astimezone(tz).strftime("%m-%d %H:%M"),
            dept.name if dept else case.receiving_dept,
            case.media_outlet or "—",
            f"{nxt.due_at.astimezone(tz):%m-%d %H:%M} {clock_label(nxt.kind)}" if nxt else "—",
            time_left(nxt.due_at - now) if nxt else "",
        )))
        overdue.append(nxt is not None and nxt.due_at <= now)
    if len(lines) == 1:
        return "没有符合条件的案件。"
    aligned = align(lines)
    if color:
        aligned = [aligned[0]] + [f"\x1b[31m{line}\x1b[0m" if late else line
                                  for line, late in zip(aligned[1:], overdue, strict=True)]
    return "\n".join(aligned)


def case_text(record: CaseRecord, tz: ZoneInfo, directory: Directory) -> str:
    """`complaintd show ID`: the registration form's fields, its clocks and its timeline."""

    def t(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    values = record_values(record.case, directory, t)
    fields = [(FIELD_LABELS[name], values[name] or ("无" if name == "attachments" else "—"))
              for name in FORM_FIELDS if name != "complaint_text"]
    out = [f"{label}：{terminal_safe(value)}" for label, value in fields]
    out += ["", f"{FIELD_LABELS['complaint_text']}：", terminal_safe(values["complaint_text"] or "—", multiline=True),
            "", f"{CLOCK_TABLE[0]}："]
    out += align([CLOCK_TABLE] + [
        (terminal_safe(clock_name(d, directory)), t(d.due_at) or "—", t(d.met_at) or "—",
         t(d.breached_at) or "—", LATE if d.late else "")
        for d in record.deadlines
    ])
    out += ["", "记录："]
    out += [terminal_safe(f"{t(e.at)}  {event_label(e.kind)}  {e.actor}  {e.summary}"
                          + (f"  {e.message_id}" if e.message_id else "")) for e in record.events]
    return "\n".join(out)


def record_values(case: Case, directory: Directory, when: Callable[[datetime | None], str]) -> dict[str, str]:
    """Each FORM_FIELDS field of `case` as display text, "" when it has none: the status and
    category in words, people and departments as the directory names them, times by `when`."""
    values: dict[str, str] = {}
    for name in FORM_FIELDS:
        value = getattr(case, name)
        values[name] = when(value) if isinstance(value, datetime) else "" if value is None else str(value)
    dept = directory.department(case.receiving_dept)
    values.update(
        status=status_label(case.status) + (f"（{LATE}）" if case.late else ""),
        category=category_label(case.category, case.category_basis, case.category_reason, ask=False),
        receiving_dept=dept.name if dept else case.receiving_dept,
        receiver_email=person_text(case.receiver_email, directory),
        forwarder_email=person_text(case.forwarder_email, directory),
        attachments="、".join(str(a.get("filename", "")) for a in case.attachments),
    )
    return values


def person_text(email: str | None, directory: Directory) -> str:
    """`张伟 <zhang.net@…>` for someone the directory names, else the address as it is."""
    if not email:
        return ""
    person = directory.person(email)
    return person.mailbox if person and person.name else email


def clock_name(d: Deadline, directory: Directory) -> str:
    """"评估答复（可处理/无法处理）", "动态报告 第2次", and for an answer awaited from someone
    "确认回复（张伟）": an ack window's round only counts windows, the person is what the
    reader needs (the address when the directory names nobody)."""
    if d.kind == DeadlineKind.ACK and d.target:
        return f"{clock_label(d.kind)}（{directory_name(AckTarget.parse(d.target).address, directory)}）"
    return clock_title(d.kind, d.round)


def clock_title(kind: str, round_: int) -> str:
    """A clock's name with its round: "动态报告 第2次"; the first round has no number."""
    return clock_label(kind) + (f" 第{round_}次" if round_ else "")


def time_left(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "超时 " if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m" if hours else f"{sign}{rest // 60}m{rest % 60:02d}s"


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Pad columns by display width: a Chinese character takes two cells in a terminal."""
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(r, widths, strict=False)).rstrip()
            for r in rows]


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
