"""A case reads as one conversation in every recipient's mailbox (SPEC §4), on real Dovecot
and SMTP: each mail hangs under a message that recipient holds, and names only their own."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest

from daemon.app import App
from daemon.rendering import token_of
from tests.integration.test_clocks_e2e import our_mail_to, run_until, step_of
from tests.integration.test_replies_e2e import CASE, reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0
from tests.support.smtp import Received, SmtpServer

pytestmark = pytest.mark.integration

FORWARDER = "sun@corp.example.com"


def threading_of(m: Received) -> tuple[str, str | None, list[str]]:
    """Message-ID, In-Reply-To, References, as a mail client reads them."""
    head = m.parsed()
    return str(head["Message-ID"]), head["In-Reply-To"] and str(head["In-Reply-To"]), \
        str(head["References"] or "").split()


def root(m: Received) -> str:
    """The top of the mail's conversation: the oldest id it references (RFC 5322 §3.6.4), or
    the mail itself when it references none."""
    message_id, in_reply_to, references = threading_of(m)
    return references[0] if references else in_reply_to or message_id


def test_every_recipient_sees_one_conversation_per_case(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Nobody assesses for five hours, the forwarder acknowledges, 综合部 convenes the group,
    A contacts fall silent and B steps in: every recipient's mail of the case shares one root, a message they hold
    (for the forwarder: their own forward), and each mail answers one of their own copies."""
    forward = our_mail_to(smtp, "ack", FORWARDER).parsed()["In-Reply-To"]
    reply(imap, our_mail_to(smtp, "ack", FORWARDER), f"孙明 <{FORWARDER}>", "收到")
    at = T0 + timedelta(minutes=5)
    while at < T0 + timedelta(hours=5):
        at += timedelta(minutes=5)
        run_until(app, at)
        if at == T0 + timedelta(hours=1, minutes=5):
            reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"),
                  "刘洋 <liu.gd@corp.example.com>", "成立小组：网络部、市场部")

    mails: dict[str, list[Received]] = defaultdict(list)
    for m in smtp.messages:
        mails[m.rcpt_tos[0]].append(m)
    steps = {step_of(m) for m in smtp.messages}
    assert {"ack", "confirm", "assess_overdue", "failover", "general_dept", "group"} <= steps
    assert all(len(mails[a]) >= 5 for a in (FORWARDER, "liu.gd@corp.example.com", "wang.net@corp.example.com"))
    minted = {threading_of(m)[0]: m.rcpt_tos[0] for m in smtp.messages}
    for address, theirs in mails.items():
        held = {threading_of(m)[0] for m in theirs}
        tops = {root(m) for m in theirs}
        assert len(tops) == 1, f"{address} sees {len(tops)} conversations: {tops}"
        (top,) = tops
        assert top in held or (address == FORWARDER and top == forward), address
        for m in theirs:
            message_id, in_reply_to, references = threading_of(m)
            if message_id != top:
                assert in_reply_to in held | {forward} and top in references, (address, step_of(m))
            # Only their own copies: another recipient's Message-ID would prove receipt in their name.
            assert all(minted.get(r, address) == address for r in [*references, in_reply_to or ""]), address
            # The per-recipient token in the subject tag survives composing per thread.
            assert str(m.parsed()["Subject"]).startswith(f"[{CASE}·{token_of(message_id)}] ")
