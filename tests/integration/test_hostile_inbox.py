"""The inbox is the attack surface: on real Dovecot and SMTP, what an outsider's mail can and
cannot do (issue 10). A From header proves nothing; a case changes only for a reply that
proves its sender received that case's mail (threading to their own Message-ID, or their
own token in the subject tag)."""

from __future__ import annotations

import email.header
from datetime import timedelta

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.queries import list_cases, load_case
from daemon.rendering import token_of
from daemon.replies import Replies
from daemon.store import session
from models.tables import Event, InboundMail
from tests.integration.test_clocks_e2e import our_mail_to, run_until, step_of
from tests.integration.test_replies_e2e import CASE, case_row, new_mails, reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

GD = "liu.gd@corp.example.com"


def events(app: App, kind: str) -> list[Event]:
    with session(app.engine) as db:
        return list(db.exec(select(Event).where(Event.case_id == CASE, Event.kind == kind)))


def tagged(token: str) -> str:
    return f"回复：[{CASE}·{token}] 媒体投诉已登记"


# -- forged decisions (3) and From read from its display name (4) ---------------------------

def test_a_forged_general_dept_cannot_dismiss_and_the_real_one_is_asked(app: App, imap: Dovecot,
                                                                       smtp: SmtpServer) -> None:
    """From: 综合部's A, the case tag in the subject, no threading headers: nothing changes;
    the real 刘洋 (never the forger) gets one mail asking him to answer our mail instead."""
    reply(imap, None, f"刘洋 <{GD}>", "非媒体投诉", subject=f"回复：[{CASE}] 媒体投诉已登记", in_reply_to="")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"
    assert new_mails(smtp, seen) == {("verify", GD)}
    ask = our_mail_to(smtp, "verify", GD).parsed()
    text = ask.get_body(("plain",)).get_content()
    assert "非媒体投诉" in text and "未做任何处理" in text
    assert [e.actor for e in events(app, "rejected")] == [GD]


def test_a_forged_pattern_member_cannot_close_a_case(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """An address that only matches a department's *@domain pattern, forged, with the tag: refused."""
    reply(imap, None, "Anyone <nobody@net.corp.example.com>", "办结：已解决", subject=f"回复：[{CASE}]", in_reply_to="")
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"


def test_a_forged_company_leader_cannot_approve_by_subject_tag(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """综合部 drafts a statement; a forger writes 批准 as the company leader with the tag and a
    made-up token: no statement goes to the interface persons."""
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", GD), f"刘洋 <{GD}>", "口径：我们不予置评。")
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    reply(imap, None, "赵总 <zhao.ceo@corp.example.com>", "批准", subject=tagged("abcdef"), in_reply_to="")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=2))
    assert "statement" not in {s for s, _ in new_mails(smtp, seen)}
    assert case_row(app).statement_approved_at is None


def test_another_recipients_token_proves_nothing(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """zonghe@'s copy of the ack carries zonghe@'s token; 刘洋 quoting it cannot act."""
    stolen = token_of(our_mail_to(smtp, "ack", "zonghe@corp.example.com").message_id or "")
    reply(imap, None, f"刘洋 <{GD}>", "非媒体投诉", subject=tagged(stolen), in_reply_to="")
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"


def test_the_display_name_is_never_the_sender(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """From: liu.gd@corp.example.com <attacker@evil.example> is the attacker: an outsider, whose
    mail about the case is relayed to its people as a follow-up and changes nothing."""
    reply(imap, None, f"{GD} <attacker@evil.example>", "非媒体投诉", subject=f"回复：[{CASE}]", in_reply_to="")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"
    got = new_mails(smtp, seen)
    assert ("verify", GD) not in got
    assert all("evil.example" not in r for _, r in got)
    (event,) = [e for e in events(app, "mail_in") if e.actor == "attacker@evil.example"]
    assert event.summary.startswith("外部来信")


def test_a_header_dropping_client_acts_with_its_own_token(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """A phone client that keeps only the subject: 孙明's own token there is proof enough."""
    token = token_of(our_mail_to(smtp, "ack", "sun@corp.example.com").message_id or "")
    reply(imap, None, "孙明 <sun@corp.example.com>", "无法处理", subject=tagged(token), in_reply_to="")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "account_manager"
    assert ("confirm", "sun@corp.example.com") in new_mails(smtp, seen)


def test_answering_the_verification_mail_gets_the_command_through(app: App, imap: Dovecot,
                                                                  smtp: SmtpServer) -> None:
    """A genuine user whose client dropped everything: asked once, they answer that mail and it acts."""
    imap.append(("From: 孙明 <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
                 f"Subject: [{CASE}] 无法处理\r\nMessage-ID: <own-words@corp.example.com>\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "无法处理\r\n".encode())
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"
    ask = our_mail_to(smtp, "verify", "sun@corp.example.com")
    reply(imap, ask, "孙明 <sun@corp.example.com>", "无法处理")
    run_until(app, T0 + timedelta(minutes=7))
    assert case_row(app).status == "account_manager"


# -- outsiders writing again (9) -------------------------------------------------------------

def test_an_outsiders_follow_up_is_attached_and_its_people_told(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """关于[MT-…]的补充投诉 from the journalist: on the case's record, relayed to the receiver,
    their leader and 综合部; the journalist hears nothing from us; the case is unchanged."""
    imap.append(("From: 李记者 <li.reporter@jcwb.example.cn>\r\nTo: complaints@corp.example.com\r\n"
                 f"Subject: {email.header.Header(f'关于[{CASE}]的补充投诉', 'utf-8').encode()}\r\n"
                 "Message-ID: <more@jcwb.example.cn>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 ).encode() + "今天又断网了三个小时，<b>请尽快</b>处理。\r\n".encode())
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"
    got = new_mails(smtp, seen)
    assert {("followup", "sun@corp.example.com"), ("followup", "wang.net@corp.example.com"),
            ("followup", "zonghe@corp.example.com")} <= got
    assert all("jcwb" not in r for _, r in got)
    relayed = our_mail_to(smtp, "followup", "sun@corp.example.com").parsed()
    assert "今天又断网了三个小时" in relayed.get_body(("plain",)).get_content()
    assert "<b>" not in relayed.get_body(("html",)).get_content()  # their markup is text
    assert any("今天又断网" in e.summary for e in events(app, "mail_in"))


def test_an_outsiders_mail_naming_no_real_case_is_registered(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """A customer who writes "[MT-20991231-9999]" is still a complainant: a new case, not a rejection."""
    imap.append(("From: 王先生 <wang@customer.example.net>\r\nTo: complaints@corp.example.com\r\n"
                 "Subject: Re: [MT-20991231-9999] 投诉\r\nMessage-ID: <c1@customer.example.net>\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
                + "家里宽带一周没修好，我要找电视台。\r\n".encode())
    run_until(app, T0 + timedelta(minutes=6))
    cases = list_cases(app.engine, "all", T0 + timedelta(minutes=6))
    assert len(cases) == 2
    new = next(c for c, _ in cases if c.id != CASE)
    assert "一周没修好" in (new.complaint_text or "")


def test_outsider_follow_ups_are_relayed_a_few_times_an_hour(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Twenty mails from one outsider in a burst: all recorded, at most five relayed."""
    for n in range(20):
        reply(imap, None, "李记者 <li.reporter@jcwb.example.cn>", f"第{n}次催促", subject=f"[{CASE}] 催促", in_reply_to="")
    run_until(app, T0 + timedelta(minutes=6))
    relayed = {m.message_id.split(".")[2] for m in smtp.messages if step_of(m) == "followup"}  # type: ignore[union-attr]
    assert len(relayed) == 5
    assert len([e for e in events(app, "mail_in") if "催促" in e.summary]) == 20


# -- auto-replies found by their subject tag (10) ---------------------------------------------

def test_an_out_of_office_found_only_by_its_subject_tag_hands_over_to_b(app: App, imap: Dovecot,
                                                                       smtp: SmtpServer) -> None:
    """An out-of-office that drops the threading headers but quotes our subject: B is told."""
    run_until(app, T0 + timedelta(hours=1))
    ours = our_mail_to(smtp, "general_dept", GD)
    subject = "自动回复: " + str(ours.parsed()["Subject"])
    imap.append((f"From: 刘洋 <{GD}>\r\nTo: complaints@corp.example.com\r\n"
                 f"Subject: {email.header.Header(subject, 'utf-8').encode()}\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "我正在休假。\r\n".encode())
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    assert ("failover", "zhou.gd@corp.example.com") in new_mails(smtp, seen)


def test_an_encoded_word_in_reply_to_still_threads(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Python's email package folds a long Message-ID into RFC 2047 words: the reply still counts."""
    ours = our_mail_to(smtp, "ack", "sun@corp.example.com").message_id or ""
    folded = email.header.Header(ours, "utf-8").encode()
    assert folded.startswith("=?utf-8?")
    imap.append(("From: 孙明 <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
                 f"Subject: Re: ack\r\nIn-Reply-To: {folded}\r\nReferences: {folded}\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "无法处理\r\n".encode())
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "account_manager"


# -- one mail never stops intake (1), all or nothing per message (11) ---------------------------

@pytest.mark.parametrize("message_id", [
    "<caf\xc3\xa9\xe6\x8a\x95\xe8\xaf\x89@evil.example>".encode("latin-1"),  # 8-bit UTF-8
    "<\xcd\xb6\xcb\xdf@evil.example>".encode("latin-1"),  # GBK
    b"no-angle-brackets-\xff\xfe@evil.example",
])
def test_a_raw_byte_in_message_id_never_stops_intake(app: App, imap: Dovecot, smtp: SmtpServer,
                                                     message_id: bytes) -> None:
    """The hostile mail and the complaint after it are both registered; the inbox empties."""
    imap.append(b"From: x@evil.example\r\nTo: complaints@corp.example.com\r\nSubject: hi\r\n"
                b"Message-ID: " + message_id + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                + "我要向媒体曝光你们。\r\n".encode())
    imap.append(outlook_forward(2, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(minutes=6))
    assert imap.messages("INBOX") == []
    assert len(list_cases(app.engine, "all", T0 + timedelta(minutes=6))) == 3


def test_a_message_that_fails_half_way_changes_nothing(app: App, imap: Dovecot, smtp: SmtpServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """办结 has closed the case in the session when composing the mails raises: the case stays
    open, the reply is quarantined and 综合部 told, and the next reply is handled as usual."""
    ack = our_mail_to(smtp, "ack", "sun@corp.example.com")
    real_mails = Replies._mails

    def broken(self: Replies, db, reply_, mail):  # type: ignore[no-untyped-def]
        if "办结" in mail.text:
            raise RuntimeError("composing failed")
        return real_mails(self, db, reply_, mail)

    monkeypatch.setattr(Replies, "_mails", broken)
    reply(imap, ack, "孙明 <sun@corp.example.com>", "办结：已解决")
    reply(imap, ack, "孙明 <sun@corp.example.com>", "进展：正在抢修")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    record = load_case(app.engine, CASE)
    assert record is not None and record.case.status == "registered" and record.case.resolved_at is None
    assert all(d.met_at is None for d in record.deadlines if d.kind == "assess")  # no ack kept either
    assert {r for s, r in new_mails(smtp, seen) if s.startswith("quarantine")} >= {"zonghe@corp.example.com"}
    assert len(imap.messages("Quarantine")) == 1
    assert any("正在抢修" in e.summary for e in record.events if e.kind == "mail_in")
    assert any(e.summary.startswith("进展") for e in record.events if e.kind == "command")
    with session(app.engine) as db:
        statuses = sorted(m.status for m in db.exec(select(InboundMail).where(InboundMail.kind != "complaint")))
    assert statuses == ["quarantined", "reply"]
