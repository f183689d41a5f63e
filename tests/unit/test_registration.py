"""The registration decision (pure): who received it, which outlet, when the clocks started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config import load_settings
from models.directory import GENERAL_DEPT_ID
from models.registration import draft_case, received_time
from models.types import DeadlineKind
from parsers.message import Address, FormFields, Kind, Original, ParsedMail

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
DIRECTORY, DEADLINES = SETTINGS.directory, SETTINGS.deadlines
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # 10:15 in Shanghai
JOURNALIST = Address("李记者", "li.reporter@jcwb.example.cn")


def forward(sent_at: datetime | None = T0, sender: str = "sun@corp.example.com", **kw: object) -> ParsedMail:
    fields = dict(kind=Kind.COMPLAINT, reason="forwarded complaint", message_id="<f1@corp.example.com>",
                  subject="转发: 网络投诉", sender=Address("孙明", sender), sent_at=T0 + timedelta(minutes=5),
                  forwarded=True, original=Original(JOURNALIST, sent_at, "小区没信号"),
                  text="我是江城晚报记者，小区三天没有信号，电话13912345678。")
    fields.update(kw)
    return ParsedMail(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("sent, arrived, expected", [
    (T0, T0 + timedelta(minutes=20), T0),                                    # the original's time
    (None, T0, T0),                                                          # none: arrival
    (T0 + timedelta(hours=1), T0, T0),                                       # never after arrival
    (T0 - timedelta(days=30), T0, T0 - timedelta(days=7)),                   # never a week before
])
def test_received_at_is_the_originals_send_time_within_bounds(sent, arrived, expected) -> None:  # type: ignore[no-untyped-def]
    """SPEC §3: received_at is the original's send time, clamped to [arrival − 7 d, arrival]."""
    assert received_time(sent, arrived) == expected


def test_forward_from_staff_is_received_by_their_department() -> None:
    """The forwarder owns it first (首问负责); outlet and account manager come from the domain."""
    draft = draft_case(forward(), DIRECTORY, DEADLINES, T0 + timedelta(minutes=6), T0 + timedelta(minutes=6))
    assert draft.receiving_dept.id == "network"
    assert draft.receiver_email == draft.forwarder_email == "sun@corp.example.com"
    assert draft.media_outlet == "江城晚报"
    assert draft.account_manager == "陈静 <chen.am@corp.example.com>"
    assert draft.reporter_name == "李记者"
    assert draft.phone == "13912345678"
    assert draft.received_at == T0
    due = {d.kind: d.due_at for d in draft.deadlines}
    assert due[DeadlineKind.ASSESS] == T0 + timedelta(minutes=15)
    assert due[DeadlineKind.GENERAL_DEPT] == T0 + timedelta(hours=1)
    assert not draft.late


def test_direct_mail_from_outside_goes_to_general_dept() -> None:
    """A journalist mailing the box directly: 综合部 receives it, and its 1 h clock is met."""
    mail = ParsedMail(kind=Kind.COMPLAINT, reason="direct", subject="投诉", sender=JOURNALIST,
                      sent_at=T0, text="信号差")
    draft = draft_case(mail, DIRECTORY, DEADLINES, T0, T0)
    assert draft.receiving_dept.id == GENERAL_DEPT_ID
    assert draft.direct and draft.forwarder_email is None
    assert draft.original_from == JOURNALIST
    gd_clock = next(d for d in draft.deadlines if d.kind is DeadlineKind.GENERAL_DEPT)
    assert gd_clock.met_at == T0


def test_outlet_found_by_alias_in_the_text_when_the_domain_is_unknown() -> None:
    """A reporter writing from a free mailbox is matched by the outlet's alias in the text."""
    mail = forward(original=Original(Address("王", "wang@qq.example.com"), T0, "投诉"),
                   text="我是江城台记者，家里宽带断了")
    draft = draft_case(mail, DIRECTORY, DEADLINES, T0, T0)
    assert draft.media_outlet == "江城电视台"


def test_staff_typed_form_fields_win() -> None:
    """A staff-typed 字段：值 form names the outlet, reporter, numbers and category."""
    form = FormFields(media_outlet="江城晚报社", reporter_name="张记者", phone="13800001111",
                      customer_number="02788886666", complaint_text="营业厅态度差", category=2)
    mail = ParsedMail(kind=Kind.COMPLAINT, reason="form", subject="媒体投诉登记",
                      sender=Address("客服", "kefu@cs.corp.example.com"), sent_at=T0, form=form, text="…")
    draft = draft_case(mail, DIRECTORY, DEADLINES, T0, T0)
    assert draft.receiving_dept.id == "customer_service"
    assert (draft.media_outlet, draft.reporter_name, draft.phone, draft.customer_number, draft.category) == (
        "江城晚报", "张记者", "13800001111", "02788886666", 2)
    assert draft.complaint_text == "营业厅态度差"
    assert draft.original_from is None


def test_registered_after_a_deadline_is_marked_late() -> None:
    """A complaint forwarded 40 minutes after it came in: assess and AM clocks are already late (迟报)."""
    now = T0 + timedelta(minutes=40)
    draft = draft_case(forward(), DIRECTORY, DEADLINES, now, now)
    late = {d.kind for d in draft.deadlines if d.late}
    assert late == {DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER}
    assert draft.late


def test_a_direct_mails_own_date_is_the_senders_clock_and_does_not_count() -> None:
    """A journalist's PC set to 2017: the case runs from its arrival, on time, not 迟报; the
    Date is still recorded as what the mail said."""
    dated = datetime(2017, 3, 1, 9, 0, tzinfo=UTC)
    mail = ParsedMail(kind=Kind.COMPLAINT, reason="direct", subject="投诉", sender=JOURNALIST,
                      sent_at=dated, text="信号差")
    draft = draft_case(mail, DIRECTORY, DEADLINES, T0, T0 + timedelta(minutes=1))
    assert draft.received_at == T0
    assert not draft.late
    assert draft.original_sent_at == dated


def test_a_staff_note_runs_from_its_arrival_not_its_date() -> None:
    """A staff-typed note states no receive time; its Date (the staff PC's clock) does not count."""
    mail = ParsedMail(kind=Kind.COMPLAINT, reason="form", subject="媒体投诉登记",
                      sender=Address("客服", "kefu@cs.corp.example.com"), sent_at=T0 - timedelta(days=2),
                      form=FormFields(media_outlet="江城晚报社"), text="…")
    arrived = T0 - timedelta(hours=2)
    draft = draft_case(mail, DIRECTORY, DEADLINES, arrived, T0)
    assert draft.received_at == arrived
    late = {d.kind for d in draft.deadlines if d.late}
    assert late == {DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT}


def test_an_arrival_after_now_is_now() -> None:
    """A mail server whose clock runs ahead: the clocks start now, never in the future."""
    mail = forward(sent_at=None)
    draft = draft_case(mail, DIRECTORY, DEADLINES, T0 + timedelta(hours=1), T0)
    assert draft.received_at == T0
