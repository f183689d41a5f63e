"""A bounce is traced to the mail it returns, so the right person's B can be told."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from parsers import parse
from parsers.message import Kind, ParseContext

CTX = ParseContext(ZoneInfo("Asia/Shanghai"), "MT", frozenset({"complaints@corp.example.com"}),
                   "complaintd.corp.example.com")
OURS = "<MT-20261127-0001.general_dept.0.0123456789abcdef@complaintd.corp.example.com>"
RETURNED_HEADERS = (f"From: complaints@corp.example.com\r\nTo: liu.gd@corp.example.com\r\n"
                    f"Subject: [MT-20261127-0001] x\r\nMessage-ID: {OURS}\r\n")


@pytest.mark.parametrize("returned_type, returned", [
    ("message/rfc822", RETURNED_HEADERS + "\r\nbody\r\n"),
    ("text/rfc822-headers", RETURNED_HEADERS),
])
def test_a_dsn_names_the_returned_mail_and_the_failed_recipient(returned_type: str, returned: str) -> None:
    """Whole returned mail or its headers only: its Message-ID is among the references."""
    raw = ("From: MAILER-DAEMON@mx.corp.example.com\r\nTo: complaints@corp.example.com\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           "Final-Recipient: rfc822; liu.gd@corp.example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
           f"--B\r\nContent-Type: {returned_type}\r\n\r\n{returned}--B--\r\n").encode()
    parsed = parse(raw, CTX)
    assert parsed.kind is Kind.BOUNCE
    assert parsed.failed_recipients == ("liu.gd@corp.example.com",)
    assert OURS in parsed.references
