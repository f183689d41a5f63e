"""A case mail's HTML part reads like the board: the record as label | value rows, the clocks
by due time with how each stands, the event log; and complaint text in it is only ever text.

Each mail is made as the daemon makes it (daemon/escalation.py case_mail, the intake's
registration mail), composed, read back with the email package and parsed with html.parser.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from daemon.config import load_settings
from daemon.escalation import case_mail
from daemon.intake import Intake
from daemon.outbox import outbox_rows
from daemon.rendering import Renderer
from daemon.views import FORM_FIELDS, record_values
from models.directory import Person
from models.labels import FIELD_LABELS
from models.policy import Notify, Step
from models.tables import Case, Deadline, Event
from models.types import EventKind
from parsers.message import Address, Kind, ParsedMail

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
DIRECTORY = SETTINGS.directory
TZ = SETTINGS.daemon.timezone
RENDERER = Renderer(TZ, Person("媒体投诉处理", "complaints@corp.example.com"))
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # 10:15 in Shanghai
NOW = T0 + timedelta(hours=1)
CASE_ID = "MT-20261127-0001"


def full_case(**fields: Any) -> Case:
    values: dict[str, Any] = dict(
        id=CASE_ID, status="general_dept", received_at=T0, registered_at=T0 + timedelta(minutes=6),
        receiving_dept="network", receiver_email="zhang.net@corp.example.com", forwarder_email="sun@corp.example.com",
        source_key="<x@y>", updated_at=T0, complaint_text="小区没有信号。", category=2, category_basis="stated",
        category_reason="转发人注明", media_outlet="江城晚报", reporter_name="李记者", original_from_name="李明",
        original_from_email="li.reporter@jcwb.example.cn", phone="13912345678", customer_number="02788886666",
        original_subject="小区没信号", original_sent_at=T0 - timedelta(minutes=5), forwarder_note="请按二类处理。",
        account_manager="陈静 <chen.am@corp.example.com>", solution="今晚加装室分设备。",
        expected_completion_at=T0 + timedelta(hours=30), statement="已安排网络优化。",
        attachments=[{"filename": "现场照片.jpg", "content_type": "image/jpeg", "size": 1}],
    )
    values.update(fields)
    return Case(**values)


# Made in this order, as a takeover adds its clocks after the registration's later ones.
CLOCKS = (  # kind, minutes after receipt, met after (minutes), breached
    ("assess", 15, 10, False),
    ("account_manager", 30, None, True),
    ("solution", 240, None, False),
    ("normal_completion", 72 * 60, None, False),
    ("general_dept", 60, 55, False),
    ("group", 120, None, False),
)


def deadlines() -> list[Deadline]:
    return [Deadline(case_id=CASE_ID, kind=kind, due_at=T0 + timedelta(minutes=due),
                     met_at=T0 + timedelta(minutes=met) if met is not None else None,
                     breached_at=T0 + timedelta(minutes=due) if breached else None)
            for kind, due, met, breached in CLOCKS]


EVENTS = [
    Event(case_id=CASE_ID, at=T0, kind=EventKind.MAIL_IN, actor="sun@corp.example.com", summary="转来投诉"),
    Event(case_id=CASE_ID, at=T0 + timedelta(minutes=30), kind=EventKind.BREACHED, actor="complaintd",
          summary="时限已过：告知媒体单位客户经理"),
]


def html_of(case: Case, step: Step = Step.GENERAL_DEPT, events: list[Event] = EVENTS) -> str:
    """The HTML part of `step`'s mail about `case`, as the outbox holds it."""
    notify = Notify(step, 0, DIRECTORY.mailboxes(DIRECTORY.general_dept), (), (), NOW)
    mail = case_mail(SETTINGS, case, deadlines(), events, notify, NOW)
    row = outbox_rows(RENDERER, DIRECTORY, mail, NOW, SETTINGS.message_id_domain)[0]
    msg = email.message_from_bytes(row["data"], policy=email.policy.default)  # type: ignore[arg-type]
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


@dataclass
class Row:
    css_class: str
    cells: list[tuple[str, str, str]] = field(default_factory=list)  # tag, class, text

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.cells]


@dataclass
class Table:
    css_class: str
    rows: list[Row] = field(default_factory=list)


class Board(HTMLParser):
    """The tables of an HTML part (cells' text as shown), every element's tag, and the text
    of its paragraphs."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.tags: list[str] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._p: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        css = dict(attrs).get("class") or ""
        if tag == "table":
            self.tables.append(Table(css))
        elif tag == "tr":
            self.tables[-1].rows.append(Row(css))
        elif tag in ("th", "td"):
            self.tables[-1].rows[-1].cells.append((tag, css, ""))
            self._cell = []
        elif tag == "p":
            self._p = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            cell_tag, css, _ = self.tables[-1].rows[-1].cells[-1]
            self.tables[-1].rows[-1].cells[-1] = (cell_tag, css, "".join(self._cell))
            self._cell = None
        elif tag == "p" and self._p is not None:
            self.paragraphs.append("".join(self._p))
            self._p = None

    def handle_data(self, data: str) -> None:
        for collecting in (self._cell, self._p):
            if collecting is not None:
                collecting.append(data)

    def table(self, css_class: str) -> Table:
        (found,) = [t for t in self.tables if css_class in t.css_class.split()]
        return found


def form_values(case: Case) -> dict[str, str]:
    """What the registration form shows for each field (the XLSX's times, to the minute)."""
    values = record_values(case, DIRECTORY, lambda at: at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if at else "")
    return {name: values[name] or ("无" if name == "attachments" else "—") for name in FORM_FIELDS}


def test_the_record_is_a_table_of_every_form_field_with_its_value() -> None:
    """Each field of the 登记表, in its order, under its one label, with the form's value."""
    case = full_case()
    rows = Board(html_of(case)).table("record").rows
    assert [[tag for tag, _, _ in r.cells] for r in rows] == [["th", "td"]] * len(FORM_FIELDS)
    expected = form_values(case)
    assert [tuple(r.texts) for r in rows] == [(FIELD_LABELS[name], expected[name]) for name in FORM_FIELDS]
    shown = dict(tuple(r.texts) for r in rows)
    assert shown["客户经理"] == "陈静 <chen.am@corp.example.com>"
    assert shown["接收人员"] == "张伟 <zhang.net@corp.example.com>"
    assert shown["预计完成时间"] == "2026-11-28 16:15" and shown["状态"] == "综合部处理"


def test_an_empty_field_shows_a_dash_and_no_attachment_says_none() -> None:
    """A record not yet filled in still has every row: "—" for a blank, 无 for no files."""
    case = full_case(solution=None, expected_completion_at=None, attachments=[], statement=None)
    shown = dict(tuple(r.texts) for r in Board(html_of(case)).table("record").rows)
    assert len(shown) == len(FORM_FIELDS)
    assert shown["处理方案"] == shown["预计完成时间"] == shown["对外解释口径"] == "—"
    assert shown["附件"] == "无"


def test_clocks_are_listed_by_due_time_with_met_and_overdue_marked_in_words() -> None:
    """时限 | 到期 | 状态, earliest first; a met clock says 已完成 and when, a breached one
    已超时, the others 进行中, each row's class saying the same for the style sheet."""
    table = Board(html_of(full_case())).table("clocks")
    header, *rows = table.rows
    assert header.texts == ["时限", "到期", "状态"]
    assert [r.texts for r in rows] == [
        ["评估答复（可处理/无法处理）", "11-27 10:30", "已完成 11-27 10:25"],
        ["告知媒体单位客户经理", "11-27 10:45", "已超时"],
        ["上报综合部（附登记表）", "11-27 11:15", "已完成 11-27 11:10"],
        ["成立公司级处理小组", "11-27 12:15", "进行中"],
        ["报送解决方案", "11-27 14:15", "进行中"],
        ["正常流程办结", "11-30 10:15", "进行中"],
    ]
    assert [r.css_class for r in rows] == ["met", "overdue", "met", "open", "open", "open"]
    assert all(r.cells[2][1] == "state" for r in rows)


def test_the_text_part_lists_the_clocks_in_the_same_order() -> None:
    """Both parts of one mail say "what comes when" alike."""
    notify = Notify(Step.GENERAL_DEPT, 0, DIRECTORY.mailboxes(DIRECTORY.general_dept), (), (), NOW)
    parts = RENDERER.parts("general_dept", case_mail(SETTINGS, full_case(), deadlines(), EVENTS, notify, NOW).context)
    listed = parts.text.split("【处理时限】", 1)[1].split("【", 1)[0]
    times = [line[2:13] for line in listed.splitlines() if line.startswith("- ")]
    html_times = [r.texts[1] for r in Board(parts.html).table("clocks").rows[1:]]
    assert times == html_times == sorted(html_times)


def test_a_clock_already_past_at_registration_is_overdue_and_late() -> None:
    """The registration mail marks a clock that ran out before the case was registered."""
    late = [Deadline(case_id=CASE_ID, kind="assess", due_at=T0 + timedelta(minutes=15), late=True),
            Deadline(case_id=CASE_ID, kind="general_dept", due_at=T0 + timedelta(minutes=60))]
    forward = ParsedMail(Kind.COMPLAINT, "", message_id="<fwd@corp.example.com>", subject="转发",
                         sender=Address("孙明", "sun@corp.example.com"))
    rows = Intake(SETTINGS, create_engine("sqlite://"), RENDERER)._acknowledgment(full_case(late=True), late, forward, NOW)
    msg = email.message_from_bytes(rows[0]["data"], policy=email.policy.default)  # type: ignore[arg-type]
    board = Board(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]
    _, first, second = board.table("clocks").rows
    assert (first.css_class, first.texts[2]) == ("overdue", "已超时（迟报）")
    assert (second.css_class, second.texts[2]) == ("open", "进行中")
    assert len(board.table("record").rows) == len(FORM_FIELDS)
    assert "注意：登记时已有时限过期（迟报），请立即处理。" in board.paragraphs


def test_the_event_log_is_a_table() -> None:
    """时间 | 人员 | 事项 | 说明, as the form's log sheet heads them, one row per event."""
    header, *rows = Board(html_of(full_case())).table("events").rows
    assert header.texts == ["时间", "人员", "事项", "说明"]
    assert [r.texts for r in rows] == [["11-27 10:15", "sun@corp.example.com", "来信", "转来投诉"],
                                       ["11-27 10:45", "complaintd", "超时", "时限已过：告知媒体单位客户经理"]]


def test_a_mail_without_events_has_no_event_table() -> None:
    """No log yet: no empty table."""
    assert not [t for t in Board(html_of(full_case(), events=[])).tables if "events" in t.css_class]


def test_the_steps_own_words_come_first_as_paragraphs() -> None:
    """The greeting, what the step is about and what it asks, as the text part says them."""
    paragraphs = Board(html_of(full_case(), Step.SOLUTION_OVERDUE)).paragraphs
    assert paragraphs[:3] == [
        "综合部、刘洋：",
        f"媒体投诉 {CASE_ID} 在接收后 4 小时内未收到经媒体/客户确认的解决方案。",
        "请部门领导督促接收部门立即回复“方案：……”并写明“预计完成：……”，同时报综合部。请回复“收到”。",
    ]


def test_markup_and_template_syntax_in_the_complaint_show_as_text() -> None:
    """<script> and {{ 7*7 }} in the complaint are the words the journalist wrote, in the
    投诉内容 cell; no element comes from them."""
    hostile = "<script>alert(1)</script> {{ 7*7 }} {% raw %} <b onmouseover=x>粗</b>"
    board = Board(html_of(full_case(complaint_text=hostile, media_outlet="<i>晚报</i>")))
    shown = dict(tuple(r.texts) for r in board.table("record").rows)
    assert shown["投诉内容"] == hostile and shown["媒体单位"] == "<i>晚报</i>"
    assert not {"script", "b", "i"} & set(board.tags)
    assert "49" not in shown["投诉内容"]


def test_words_of_an_answer_quoted_in_a_mail_show_as_text() -> None:
    """A follow-up mail quotes what an outsider wrote, in the step's own paragraphs."""
    notify = Notify(Step.FOLLOWUP, 0, DIRECTORY.mailboxes(DIRECTORY.general_dept), (), (), NOW)
    mail = case_mail(SETTINGS, full_case(), deadlines(), EVENTS, notify, NOW, from_address="x@evil.example",
                     their_subject="<script>s</script>", their_text="{{ 7*7 }}\n\n<img src=x onerror=alert(1)>")
    board = Board(RENDERER.parts("followup", mail.context).html)
    assert "<img src=x onerror=alert(1)>" in board.paragraphs
    assert any("{{ 7*7 }}" in p for p in board.paragraphs)
    assert any("主题：<script>s</script>" in p for p in board.paragraphs)
    assert not {"script", "img"} & set(board.tags)


def test_every_case_mail_has_the_board_look() -> None:
    """Whatever the step, its HTML part holds the record and the clocks as tables."""
    extra = {"done": ["已确认收到"], "claimed": "sun@corp.example.com", "their_subject": "回复",
             "understood": ["收到"], "from_address": "li.reporter@jcwb.example.cn", "their_text": "补充"}
    for step in Step:
        notify = Notify(step, 1, DIRECTORY.mailboxes(DIRECTORY.general_dept), (), (), NOW)
        board = Board(RENDERER.parts(step.value, case_mail(SETTINGS, full_case(), deadlines(), EVENTS, notify, NOW,
                                                           **extra).context).html)
        assert len(board.table("record").rows) == len(FORM_FIELDS), step
        assert len(board.table("clocks").rows) == len(CLOCKS) + 1, step
