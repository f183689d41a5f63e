"""What complaintd would do, shown without doing it: `complaintd plan` and `ingest --dry-run`.

The plan is models/plan.py's simulation over the policy; this module only says it, as one
line per mail (or answer) in the terminal, or as JSON for tools. A dry run parses a file
with the real parser and drafts its record with intake's own builder, then shows every field
with where it came from and the plan for that case. Neither opens the database or a mail
server: nothing is written, nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from daemon.config import Settings
from daemon.file_source import FileSource
from daemon.intake import case_row, parse_context
from daemon.views import FORM_FIELDS, align, clock_context, in_due_order, iso, record_values, terminal_safe
from models.directory import Deadlines, Directory, Person
from models.labels import (
    FAILOVER_LABELS,
    FIELD_LABELS,
    LATE,
    SOURCE_LABELS,
    STEP_LABELS,
    clock_label,
    status_label,
)
from models.plan import Plan, PlannedAnswer, PlannedMail, Scripted, Start, offset_text, simulate
from models.policy import Clock
from models.provenance import sources
from models.registration import arrival, draft_case
from models.types import DeadlineKind
from parsers import parse
from parsers.message import Kind

ARROW = "↳"  # marks a failover: someone did not answer, and the next person is told


# -- the plan as text ------------------------------------------------------------------------

def plan_text(plan: Plan, tz: ZoneInfo, directory: Directory, deadlines: Deadlines,
              answers: Sequence[Scripted] = ()) -> str:
    """The timeline: a heading, one line per mail or answer, what still runs after it."""
    start = plan.start
    outlet = start.outlet.name if start.outlet else "（媒体单位未知）"
    head = [(f"预案：{start.receiving_dept.name} 收到关于 {outlet} 的投诉；"
             f"{FIELD_LABELS['receiver_email']}：{plan.receiver.mailbox}；"
             f"{FIELD_LABELS['received_at']}：{_when(start.received_at, tz)}"),
            "答复：" + ("；".join(a.written for a in answers) if answers else "无人答复")]
    if start.registered_at != start.received_at:
        head.append(f"{FIELD_LABELS['registered_at']}：{_when(start.registered_at, tz)}"
                    f"（{offset_text(start.registered_at - start.received_at)}）")
    lines = [_entry_line(e) for e in plan.entries] or ["（在此期间没有邮件）"]
    until = plan.until - start.received_at
    tail = [(f"至 {offset_text(until)}（{_when(plan.until, tz)}）为止，共 {len(plan.mails)} 封；"
             f"{FIELD_LABELS['status']}：{status_label(plan.status.value)}")]
    if plan.left_open:
        tail.append("此后仍在计时：" + "；".join(_open_clock(c, start.received_at, directory, deadlines)
                                              for c in plan.left_open))
    else:
        tail.append("此后没有仍在计时的时限。")
    return "\n".join(terminal_safe(line) for line in [*head, "", *lines, "", *tail])


def _entry_line(entry: PlannedMail | PlannedAnswer) -> str:
    if isinstance(entry, PlannedAnswer):
        return f"{offset_text(entry.offset)}  {_answer_text(entry)}"
    n = entry.notify
    parts = [offset_text(entry.offset), _step_text(entry), _people("收件", n.to)]
    parts += [_people("抄送", n.cc)] if n.cc else []
    parts += [_people("等待", n.awaits, names_only=True)] if n.awaits else []
    parts += ["附登记表"] if n.attach_form else []
    parts += [LATE] if n.late else []
    return "  ".join(parts)


def _step_text(entry: PlannedMail) -> str:
    if entry.silent is None:
        return STEP_LABELS[entry.notify.step]
    silent = entry.silent.name or entry.silent.email
    if entry.failover:
        return f"{ARROW} {FAILOVER_LABELS[entry.failover]}（{silent} 未答复）"
    return f"{ARROW} {STEP_LABELS[entry.notify.step]}（{silent}）"


def _answer_text(entry: PlannedAnswer) -> str:
    who = entry.person.mailbox
    if entry.script.unreachable:
        return f"【{entry.script.says}】{who}：无法联系，其确认时限即刻到期"
    said = f"【答复】{who}：{entry.script.says}"
    if entry.done:
        said += " → " + "；".join(entry.done)
    if entry.refused:
        said += "（未采纳：" + "；".join(entry.refused) + "）"
    return said


def _people(word: str, people: Sequence[Person], names_only: bool = False) -> str:
    shown = [(p.name or p.email) if names_only else p.mailbox for p in people]
    return f"{word}：" + "、".join(shown)


def _open_clock(clock: Clock, received_at: datetime, directory: Directory, deadlines: Deadlines) -> str:
    """A clock still running at the end: the repeating report says how often."""
    label = clock_label(clock.kind)
    if clock.kind == DeadlineKind.ACK:
        person = directory.person(clock.awaited)
        label += f"（{person.name if person and person.name else clock.awaited}）"
    due = offset_text(clock.due_at - received_at)
    if clock.kind == DeadlineKind.PROGRESS:
        return f"{label} 每 {_duration(deadlines[DeadlineKind.PROGRESS])}一次，下次 {due}"
    return f"{label} {due}"


def _duration(length: timedelta) -> str:
    """4 小时, 30 分钟, 90 秒: a duration as the largest whole unit says it."""
    seconds = int(length.total_seconds())
    for unit, word in ((3600, "小时"), (60, "分钟")):
        if seconds % unit == 0:
            return f"{seconds // unit} {word}"
    return f"{seconds} 秒"


def _when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# -- the plan as JSON -------------------------------------------------------------------------

def plan_json(plan: Plan, tz: ZoneInfo, deadlines: Deadlines, answers: Sequence[Scripted] = ()) -> dict[str, Any]:
    """The same timeline for tools: offsets in seconds and as the text writes them."""
    start = plan.start
    return {
        "receiving_dept": {"id": start.receiving_dept.id, "name": start.receiving_dept.name},
        "media_outlet": start.outlet.name if start.outlet else None,
        "receiver": _person_json(plan.receiver),
        "received_at": iso(start.received_at, tz),
        "registered_at": iso(start.registered_at, tz),
        "answers": [a.written for a in answers],
        "timeline": [_entry_json(e, tz) for e in plan.entries],
        "until": iso(plan.until, tz),
        "until_offset": offset_text(plan.until - start.received_at),
        "status": plan.status.value,
        "left_open": [{"kind": c.kind, "label": clock_label(c.kind), "awaits": c.awaited or None,
                       "due": iso(c.due_at, tz), "offset": offset_text(c.due_at - start.received_at),
                       "every_seconds": int(deadlines[DeadlineKind.PROGRESS].total_seconds())
                       if c.kind == DeadlineKind.PROGRESS else None} for c in plan.left_open],
    }


def _entry_json(entry: PlannedMail | PlannedAnswer, tz: ZoneInfo) -> dict[str, Any]:
    common = {"offset": offset_text(entry.offset), "offset_seconds": int(entry.offset.total_seconds()),
              "at": iso(entry.at, tz)}
    if isinstance(entry, PlannedAnswer):
        return {"type": "answer", **common, "who": _person_json(entry.person), "says": entry.script.says,
                "unreachable": entry.script.unreachable, "done": list(entry.done), "refused": list(entry.refused)}
    n = entry.notify
    return {"type": "mail", **common, "step": n.step.value, "label": _step_text(entry), "round": n.round,
            "to": [_person_json(p) for p in n.to], "cc": [_person_json(p) for p in n.cc],
            "awaits": [_person_json(p) for p in n.awaits], "failover": entry.failover or None,
            "silent": _person_json(entry.silent) if entry.silent else None,
            "attach_form": n.attach_form, "late": n.late}


def _person_json(person: Person) -> dict[str, str]:
    return {"name": person.name, "email": person.email}


# -- ingest --dry-run -------------------------------------------------------------------------

def dry_run(settings: Settings, path: Path, now: datetime) -> str:
    """One file as intake would register it: the record, each field's source, and its plan."""
    item = next(FileSource([path]).fetch_new())
    mail = parse(item.raw, parse_context(settings))
    head = terminal_safe(f"== {path}（试运行：不写入登记簿，不发信）")
    if mail.kind is not Kind.COMPLAINT:
        return f"{head}\n" + terminal_safe(f"不是新投诉：{mail.kind.value} — {mail.reason}")
    directory, tz = settings.directory, settings.daemon.timezone
    arrived = item.arrived_at or now
    draft = draft_case(mail, directory, settings.deadlines, arrived, now)
    case = case_row(draft, mail, "dry-run", "—", now)
    where = sources(mail, draft, directory, arrival(arrived, now))
    values = record_values(case, directory, lambda at: at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if at else "")
    rows = [(FIELD_LABELS[name], values[name] or "—", f"［{SOURCE_LABELS[where[name]]}］" if name in where else "")
            for name in FORM_FIELDS if name != "complaint_text"]
    out = [head, *align([(terminal_safe(a), terminal_safe(b), c) for a, b, c in rows]), "",
           f"{FIELD_LABELS['complaint_text']}：［{SOURCE_LABELS[where['complaint_text']]}］",
           terminal_safe(case.complaint_text or "—", multiline=True), ""]
    clocks = [clock_context(d) for d in in_due_order(draft.deadlines)]
    out += ["时限：", *align([(c["label"], f"{c['due_at'].astimezone(tz):%Y-%m-%d %H:%M:%S}",
                              "完成" if c["met"] else (LATE if c["late"] else "")) for c in clocks]), ""]
    start = Start(draft.receiving_dept, directory.outlet(draft.media_outlet), draft.received_at, now,
                  draft.receiver_email)
    plan = simulate(start, directory, settings.deadlines, tz)
    out.append(plan_text(plan, tz, directory, settings.deadlines))
    return "\n".join(out)

