"""Large attachments are measured, not parsed: their size survives, text parts are untouched."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from parsers import parse
from parsers.message import Kind, ParseContext

CTX = ParseContext(ZoneInfo("Asia/Shanghai"))


def mail_with(attachment: bytes, maintype: str, subtype: str, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["Subject"] = "现场照片"
    msg.set_content("请看附件。", charset="utf-8")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def test_a_20_mb_photo_reports_its_exact_size() -> None:
    """The attachment list says 现场照片.jpg and its true byte count, without decoding it."""
    photo = bytes(range(256)) * (20 * 4096) + b"tail"
    parsed = parse(mail_with(photo, "image", "jpeg", "现场照片.jpg"), CTX)
    assert parsed.kind is Kind.COMPLAINT
    assert [(a.filename, a.size) for a in parsed.attachments] == [("现场照片.jpg", len(photo))]
    assert parsed.text.startswith("请看附件")


def test_a_long_base64_text_body_is_still_read() -> None:
    """A text part is never elided, however long: its words reach the complaint text."""
    text = ("江城晚报记者反映小区没有信号。" * 40000).encode("utf-8")
    raw = (b"From: sun@corp.example.com\r\nSubject: long\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(text).replace(b"\n", b"\r\n"))
    parsed = parse(raw, CTX)
    assert "江城晚报记者反映小区没有信号" in parsed.text
