"""parse() on hostile and odd MIME (issue 10): whatever the bytes, the ParsedMail is clean and sensible."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from parsers import SAFETY_NET_PREFIX, Kind, ParseContext, ParsedMail, parse

SHANGHAI = ZoneInfo("Asia/Shanghai")
CTX = ParseContext(
    timezone=SHANGHAI,
    case_prefix="MT",
    own_addresses=frozenset({"complaints@corp.example.com"}),
    own_message_id_domain="complaintd.corp.example.com",
)
COMPLAINT = "投诉内容：江城花园小区宽带断网三天。"


def _mail(head: str | bytes, body: bytes = COMPLAINT.encode("utf-8") + b"\n") -> bytes:
    head = head.encode("utf-8") if isinstance(head, str) else head
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n\r\n" + body


def _readable(result: ParsedMail) -> None:
    assert result.kind is not Kind.UNUSABLE, result.reason
    assert not result.reason.startswith(SAFETY_NET_PREFIX), result.reason


# --- charset labels: only text charsets decode; anything else is a noted guess ---------------

ODD_LABELS = ["zlib", "idna", "punycode", "base64", "rot13", "uu", "hex", "bz2", "undefined",
              "unicode_escape", "x-no-such-charset", "utf-8\x00", "utf-8\x00x"]


@pytest.mark.parametrize("label", ODD_LABELS, ids=[repr(label) for label in ODD_LABELS])
def test_an_odd_body_charset_label_falls_back_to_a_guess_not_to_quarantine(label: str) -> None:
    """A complaint body labelled zlib, idna, base64 or with a NUL decodes as UTF-8, and the label is noted."""
    head = f'From: li.reporter@jcwb.example.cn\nSubject: x\nContent-Type: text/plain; charset="{label}"\n' \
           "Content-Transfer-Encoding: 8bit"
    result = parse(_mail(head), CTX)
    _readable(result)
    assert result.kind is Kind.COMPLAINT
    assert result.text == COMPLAINT
    assert any(repr(label) in p and "utf-8" in p for p in result.problems), result.problems


@pytest.mark.parametrize("label", ODD_LABELS, ids=[repr(label) for label in ODD_LABELS])
def test_an_odd_encoded_word_charset_falls_back_to_a_guess(label: str) -> None:
    """An encoded-word subject =?idna?b?…?= (or zlib, NUL …) decodes as UTF-8 instead of failing the mail."""
    word = "=?" + label + "?b?5a695bim5pat572R?="  # 宽带断网 in UTF-8
    result = parse(_mail(f"From: li.reporter@jcwb.example.cn\nSubject: {word}\nContent-Type: text/plain; charset=utf-8"), CTX)
    _readable(result)
    assert result.subject == "宽带断网"
    assert result.text == COMPLAINT


def test_an_undecodable_body_under_an_odd_label_is_replaced_not_fatal() -> None:
    """Bytes that fit neither UTF-8 nor GB18030, labelled punycode, come out with replacement characters."""
    head = 'From: a@example.com\nSubject: junk\nContent-Type: text/plain; charset="punycode"'
    result = parse(_mail(head, b"ok \x81\x20\xff end"), CTX)
    _readable(result)
    assert result.text.startswith("ok ") and result.text.endswith(" end")
    assert any("punycode" in p for p in result.problems), result.problems
