"""The category on the record (issue 11): stated by the forwarder, or judged from the story
and confirmed by reply. On real Dovecot and SMTP."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.store import session
from models.tables import Case, Event
from tests.integration.test_clocks_e2e import daemon_at, our_mail_to, run_until
from tests.integration.test_replies_e2e import reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration


def forward(note: str, story: str) -> bytes:
    """孙明 forwards a journalist's mail inline, Outlook style, with his note on top."""
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = "转发: 关于光谷小区信号问题的采访"
    msg["Date"] = format_datetime(T0 + timedelta(minutes=5))
    msg["Message-ID"] = f"<cat-{abs(hash(note + story))}@corp.example.com>"
    msg.set_content(f"{note}\n\n-----邮件原件-----\n发件人: 王芳 <wang.fang@jcwb.example.cn>\n"
                    f"发送时间: 2026年11月27日 10:15\n收件人: 孙明 <sun@corp.example.com>\n"
                    f"主题: 关于光谷小区信号问题的采访\n\n{story}\n")
    return msg.as_bytes()


RESIDENTS = ("您好，我是江城晚报记者王芳。光谷小区多位业主向我们报料，小区已经三天没有手机信号，"
             "居民生活受到很大影响。我们代业主向贵公司反映，请说明原因和修复时间。\n\n王芳\n手机：130 6080 9393")


@pytest.fixture
def app(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> App:
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    yield app
    app.close()


def the_case(app: App) -> Case:
    with session(app.engine) as db:
        return db.exec(select(Case)).one()


def test_a_category_stated_in_words_in_the_note_is_stated(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    imap.append(forward("请按三类媒体投诉登记，谢谢。", RESIDENTS))
    run_until(app, T0 + timedelta(minutes=5))
    case = the_case(app)
    assert (case.category, case.category_basis) == (3, "stated")
    assert case.forwarder_note and "请按三类媒体投诉登记" in case.forwarder_note


def test_a_judged_category_is_asked_for_and_a_reply_replaces_it(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """A journalist speaking for residents, nothing stated: 3, judged; the ack asks 孙明 to
    confirm; his 类别：2 replaces it and the log says from what to what."""
    imap.append(forward("请处理。", RESIDENTS))
    run_until(app, T0 + timedelta(minutes=5))
    case = the_case(app)
    assert (case.category, case.category_basis) == (3, "judged") and case.category_reason
    ack = our_mail_to(smtp, "ack", "sun@corp.example.com").parsed().get_body(("plain",)).get_content()
    assert "推测：3." in ack and "类别：N" in ack
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>", "类别：2")
    run_until(app, T0 + timedelta(minutes=6))
    case = the_case(app)
    assert (case.category, case.category_basis) == (2, "stated")
    with session(app.engine) as db:
        said = [e.summary for e in db.exec(select(Event).where(Event.kind == "command"))]
    assert any("推测 3 类" in s and "2 类" in s for s in said), said
