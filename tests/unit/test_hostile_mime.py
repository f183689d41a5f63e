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


# --- message ids: only syntactically valid ids leave the parser (defect 1) ------------------

def _with_ids(ids_head: bytes) -> bytes:
    return _mail(b"From: li.reporter@jcwb.example.cn\nSubject: ids\n" + ids_head + b"\nContent-Type: text/plain; charset=utf-8")


def _is_clean_id(value: str) -> bool:
    return (value.startswith("<") and value.endswith(">") and len(value) <= 250 and value.isascii()
            and value.isprintable() and " " not in value and "<" not in value[1:-1] and ">" not in value[1:-1])


@pytest.mark.parametrize("raw_id", [b"<a\xd6\xd0b@jcwb.example.cn>", b"<a\xe4\xb8\xadb@jcwb.example.cn>",
                                    b"<a\xffb@jcwb.example.cn>", b"\xd6\xd0@jcwb.example.cn"],
                         ids=["gbk", "utf-8", "invalid-8bit", "bare-gbk"])
def test_a_message_id_with_8bit_bytes_is_dropped_with_a_problem(raw_id: bytes) -> None:
    """A Message-ID holding raw GBK or UTF-8 octets becomes None (never a surrogate string) and is noted."""
    result = parse(_with_ids(b"Message-ID: " + raw_id), CTX)
    _readable(result)
    assert result.message_id is None
    assert any("Message-ID" in p for p in result.problems), result.problems
    assert result.text == COMPLAINT


def test_a_message_id_without_brackets_is_normalised() -> None:
    """``Message-ID: abc.123@jcwb.example.cn`` is read as ``<abc.123@jcwb.example.cn>``."""
    result = parse(_with_ids(b"Message-ID: abc.123@jcwb.example.cn"), CTX)
    assert result.message_id == "<abc.123@jcwb.example.cn>"


def test_an_overlong_message_id_is_dropped() -> None:
    """A 300-character Message-ID is junk, not a key: None, with a problem."""
    result = parse(_with_ids(b"Message-ID: <" + b"x" * 290 + b"@jcwb.example.cn>"), CTX)
    assert result.message_id is None
    assert any("Message-ID" in p for p in result.problems), result.problems


def test_threading_headers_keep_only_their_valid_ids() -> None:
    """In-Reply-To and References lose their 8-bit ids and keep the valid ones, in order."""
    head = (b"Message-ID: <ok@jcwb.example.cn>\nIn-Reply-To: <bad\xd6\xd0@h> <good@h>\n"
            b"References: <one@h> <two\xe4\xb8\xad@h>\n <three@h>")
    result = parse(_with_ids(head), CTX)
    assert result.message_id == "<ok@jcwb.example.cn>"
    assert result.in_reply_to == ("<good@h>",)
    assert result.references == ("<one@h>", "<three@h>")
    assert any("In-Reply-To" in p for p in result.problems) and any("References" in p for p in result.problems)


def test_references_keep_the_newest_fifty() -> None:
    """A References header of 80 ids keeps the last 50: the newest are the ones that thread."""
    ids = [f"<ref-{i:03d}@h>" for i in range(80)]
    result = parse(_with_ids(b"References: " + "\n ".join(ids).encode()), CTX)
    assert result.references == tuple(ids[-50:])
    assert any("References" in p and "50" in p for p in result.problems), result.problems


HOSTILE = {
    "gbk": b"\xd6\xd0\xce\xc4",
    "utf-8": "中文".encode(),
    "invalid": b"\xff\xfe\x80\xc0",
    "mixed": b"\xe4\xb8\xad\xd6\xd0\xff\x00\x1b",
}


def _hostile_mail(places: set[str], junk: bytes) -> bytes:
    """A complaint with two attachments, `junk` put into the headers (or parameters) named in `places`."""
    def h(name: str) -> bytes:
        return junk if name in places or "everywhere" in places else b""
    head = (b"From: " + h("from-name") + b" <li" + h("from") + b"@jcwb.example.cn>\n"
            b"Sender: x" + h("sender") + b"@jcwb.example.cn\n"
            b"To: " + h("to") + b" <complaints@corp.example.com>, a" + h("to") + b"@b.example\n"
            b"Cc: \"" + h("cc") + b"\" <cc" + h("cc") + b"@corp.example.com>\n"
            b"Subject: [MT-20261130-0001" + h("subject") + b"] " + h("subject") + b" =?gbk?b?" + h("subject") + b"?=\n"
            b"Date: Fri, 27 Nov 2026 10:00:00 +0800" + h("date") + b"\n"
            b"Message-ID: <m" + h("message-id") + b"@jcwb.example.cn>\n"
            b"In-Reply-To: <i" + h("in-reply-to") + b"@h>\n"
            b"References: <r" + h("references") + b"@h> <ok@h>\n"
            b"X-Mailer: " + h("x-mailer") + b"\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"; x=\"" + h("content-type") + b"\"")
    body = (b"--b1\r\nContent-Type: text/plain; charset=\"utf-8" + h("charset") + b"\"; format=" + h("content-type")
            + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + COMPLAINT.encode("utf-8") + b"\r\n"
            b"--b1\r\nContent-Type: application/pdf; name=\"a" + h("name") + b".pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"a" + h("filename") + b".pdf\"; x=" + h("content-disposition")
            + b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
            b"--b1\r\nContent-Type: image/png\r\n"
            b"Content-Disposition: attachment; filename*=gbk''%D6%D0" + h("filename*") + b".png\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
            b"--b1--\r\n")
    return _mail(head, body)


HOSTILE_PLACES = ["from-name", "from", "sender", "to", "cc", "subject", "date", "message-id", "in-reply-to",
                  "references", "x-mailer", "content-type", "charset", "name", "filename", "content-disposition",
                  "filename*", "everywhere"]


def _strings(value: object, path: str = "mail") -> list[tuple[str, str]]:
    """Every str inside a ParsedMail, with where it is."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, tuple):
        return [found for i, item in enumerate(value) for found in _strings(item, f"{path}[{i}]")]
    if hasattr(value, "__dataclass_fields__"):
        return [found for name in value.__dataclass_fields__ for found in _strings(getattr(value, name), f"{path}.{name}")]
    return []


@pytest.mark.parametrize("junk", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("where", HOSTILE_PLACES)
def test_hostile_bytes_in_any_header_give_a_clean_result(where: str, junk: bytes) -> None:
    """Raw 8-bit bytes in any header or parameter: parse() still reads the complaint, every str encodes as UTF-8, ids are valid."""
    result = parse(_hostile_mail({where}, junk), CTX)
    _readable(result)
    for path, text in _strings(result):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pytest.fail(f"{path} holds a lone surrogate: {text[:120]!r}")
    for mail_id in (result.message_id or "<ok@h>", *result.in_reply_to, *result.references):
        assert _is_clean_id(mail_id), mail_id
    assert COMPLAINT in result.text
    assert result.sender is not None and result.sender.email.endswith("@jcwb.example.cn")
    assert len(result.attachments) == 2


@pytest.mark.parametrize(("header", "kind"), [(b"Auto-Submitted: auto-replied \xd6\xd0\xff", Kind.AUTOREPLY),
                                              (b"List-Id: \xe4\xb8\xad\xff <news.jcwb.example.cn>", Kind.BULK)],
                         ids=["auto-submitted", "list-id"])
def test_hostile_bytes_quoted_into_the_reason_are_cleaned(header: bytes, kind: Kind) -> None:
    """The reason quotes Auto-Submitted or List-Id; raw bytes there still give a reason that encodes as UTF-8."""
    result = parse(_mail(b"From: a@jcwb.example.cn\nSubject: x\n" + header + b"\nContent-Type: text/plain"), CTX)
    assert result.kind is kind
    result.reason.encode("utf-8")
    assert any("reason" in p for p in result.problems), result.problems


# --- the sender: the angle address is the mailbox, a display name never is (defect 4) --------

def _from(value: str, more: str = "") -> ParsedMail:
    head = f"From: {value}\n{more}To: complaints@corp.example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8"
    return parse(_mail(head), CTX)


def _b(text: str) -> str:
    import base64

    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


@pytest.mark.parametrize("value", [
    "liu.gd@corp.example.com <attacker@evil.example>",
    '"liu.gd@corp.example.com" <attacker@evil.example>',
    "liu.gd@corp.example.com<attacker@evil.example>",
    _b("liu.gd@corp.example.com") + " <attacker@evil.example>",
    '"' + _b("liu.gd@corp.example.com") + '" <attacker@evil.example>',
    "=?utf-8?q?liu=2Egd=40corp=2Eexample=2Ecom?= <attacker@evil.example>",
], ids=["bare-name", "quoted-name", "no-space", "encoded-name", "quoted-encoded-name", "q-encoded-name"])
def test_a_display_name_that_looks_like_an_address_is_not_the_sender(value: str) -> None:
    """``liu.gd@corp.example.com <attacker@evil.example>`` and its quoted or encoded forms come from attacker@evil.example."""
    result = _from(value)
    assert result.sender is not None
    assert result.sender.email == "attacker@evil.example"
    assert result.sender.name == "liu.gd@corp.example.com"
    assert any("display name" in p and "attacker@evil.example" in p for p in result.problems), result.problems


def test_a_from_with_two_mailboxes_takes_the_first_and_says_so() -> None:
    """``From: liu.gd@corp.example.com, attacker@evil.example`` has no single author: the first is taken, with a problem."""
    result = _from("liu.gd@corp.example.com, attacker@evil.example")
    assert result.sender is not None and result.sender.email == "liu.gd@corp.example.com"
    assert any("2 mailboxes" in p for p in result.problems), result.problems


def test_a_from_with_two_mailboxes_and_a_sender_takes_the_sender() -> None:
    """RFC 5322 §3.6.2: with several authors, Sender: is who sent the mail."""
    result = _from("liu.gd@corp.example.com, attacker@evil.example", "Sender: attacker@evil.example\n")
    assert result.sender is not None and result.sender.email == "attacker@evil.example"
    assert any("2 mailboxes" in p and "Sender" in p for p in result.problems), result.problems


def test_text_after_an_angle_address_is_another_mailbox_not_the_sender() -> None:
    """``<attacker@evil.example> liu.gd@corp.example.com`` names two mailboxes; the forged second is not taken."""
    result = _from("<attacker@evil.example> liu.gd@corp.example.com")
    assert result.sender is not None and result.sender.email == "attacker@evil.example"
    assert any("2 mailboxes" in p for p in result.problems), result.problems


@pytest.mark.parametrize("value", [
    _b("x@corp.example.com <y@evil.example>"),
    "=?utf-8?q?x=40corp=2Eexample=2Ecom_=3Cy=40evil=2Eexample=3E?=",
], ids=["b", "q"])
def test_an_encoded_word_that_decodes_to_an_address_is_no_sender(value: str) -> None:
    """A From that is only an encoded word decoding to ``x@corp <y@evil>`` names no mailbox: no sender, a problem."""
    result = _from(value)
    _readable(result)
    assert result.sender is None
    assert any("From" in p and "no valid address" in p for p in result.problems), result.problems


@pytest.mark.parametrize(("value", "name", "email"), [
    ("Liu Gang <liu.gd@corp.example.com>", "Liu Gang", "liu.gd@corp.example.com"),
    ('"Wang, Qiang" <WQ@Corp.Example.com>', "Wang, Qiang", "wq@corp.example.com"),
    ("liu.gd@corp.example.com (Liu Gang)", "Liu Gang", "liu.gd@corp.example.com"),
    ("=?gbk?b?zfXHvw==?= <wq@corp.example.com>", "王强", "wq@corp.example.com"),
    ('"=?gbk?b?zfXHvw==?=" <wq@corp.example.com>', "王强", "wq@corp.example.com"),
    ("Mail Delivery Subsystem <MAILER-DAEMON>", "Mail Delivery Subsystem", "mailer-daemon"),
    ("liu.gd@corp.example.com <liu.gd@corp.example.com>", "liu.gd@corp.example.com", "liu.gd@corp.example.com"),
], ids=["plain", "quoted-comma", "comment-name", "encoded-gbk", "quoted-encoded", "daemon", "same-address"])
def test_ordinary_from_headers_read_as_before(value: str, name: str, email: str) -> None:
    """Everyday forms keep their name and address, with no problem noted."""
    result = _from(value)
    assert result.sender is not None
    assert (result.sender.name, result.sender.email) == (name, email)
    assert not any("From" in p for p in result.problems), result.problems


def test_recipients_are_read_by_the_same_rules() -> None:
    """To: with a group, a semicolon list and an address-like display name lists the real mailboxes."""
    head = ("From: li.reporter@jcwb.example.cn\nTo: team: a@corp.example.com, b@corp.example.com;, "
            "c@corp.example.com; d@corp.example.com\nCc: sun@corp.example.com <attacker@evil.example>\n"
            "Subject: x\nContent-Type: text/plain")
    result = parse(_mail(head), CTX)
    assert [a.email for a in result.to] == ["a@corp.example.com", "b@corp.example.com", "c@corp.example.com",
                                            "d@corp.example.com"]
    assert [a.email for a in result.cc] == ["attacker@evil.example"]


# --- threading ids in encoded words; case tags with the recipient's token (defect 10) ---------

OUR_LONG_ID = "<MT-20261130-0001.ack.0.9f3a7c2e4b1d9f3a7c2e4b1d9f3a7c2e4b1d@complaintd.corp.example.com>"


def test_an_in_reply_to_folded_into_encoded_words_by_python_still_threads() -> None:
    """Python's email package writes a long id as =?utf-8?q?=3C…?= words; the reply still threads to our mail."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "wang.net@corp.example.com"
    msg["Subject"] = "收到"
    msg["In-Reply-To"] = OUR_LONG_ID
    msg["References"] = "<MT-20261130-0001@complaintd.corp.example.com> " + OUR_LONG_ID
    msg.set_content("收到")
    raw = msg.as_bytes()
    assert b"In-Reply-To: =?utf-8?q?=3CMT-20261130-0001" in raw  # what this test is about
    result = parse(raw, CTX)
    assert result.kind is Kind.REPLY, result.reason
    assert result.in_reply_to == (OUR_LONG_ID,)
    assert result.references[-1] == OUR_LONG_ID


def test_the_issue_example_in_reply_to_decodes_to_the_id() -> None:
    """The exact header from issue 10 gives <MT-20261130-0001.ack.0.9f3a@complaintd.corp.example.com>."""
    head = ("From: wang.net@corp.example.com\nSubject: ok\nIn-Reply-To: =?utf-8?q?=3CMT-20261130-0001=2Eack=2E0=2E9f3a?=\n"
            " =?utf-8?q?=40complaintd=2Ecorp=2Eexample=2Ecom=3E?=\nContent-Type: text/plain")
    result = parse(_mail(head), CTX)
    assert result.in_reply_to == ("<MT-20261130-0001.ack.0.9f3a@complaintd.corp.example.com>",)
    assert result.kind is Kind.REPLY


TAGS = [
    ("回复：[MT-20261130-0001] 可处理", "MT-20261130-0001", None),
    ("回复：[MT-20261130-0001·7f3a9c] 可处理", "MT-20261130-0001", "7f3a9c"),
    ("Re: [MT-20261130-0001.7f3a] ok", "MT-20261130-0001", "7f3a"),
    ("Re: [MT-20261130-0001-7F3A9C12] ok", "MT-20261130-0001", "7f3a9c12"),
    ("答复: 【mt-20261130-0001·7f3a9c】 收到", "MT-20261130-0001", "7f3a9c"),
    ("=?utf-8?q?=5BMT-20261130-0001=C2=B77f3a9c=5D_?= =?utf-8?b?5pS25Yiw?=", "MT-20261130-0001", "7f3a9c"),
]


@pytest.mark.parametrize(("subject", "case_id", "token"), TAGS, ids=["plain", "dot", "period", "hyphen-upper",
                                                                      "full-width", "q-encoded"])
def test_a_reply_tag_gives_the_case_and_the_recipients_token(subject: str, case_id: str, token: str | None) -> None:
    """[MT-20261130-0001·7f3a9c] (also with "." or "-", 【】, encoded) is case MT-20261130-0001, token 7f3a9c."""
    result = parse(_mail(f"From: wang.net@corp.example.com\nSubject: {subject}\nContent-Type: text/plain"), CTX)
    assert result.kind is Kind.REPLY
    assert (result.case_tag, result.case_token) == (case_id, token)


def test_a_tag_with_an_overlong_token_is_no_tag() -> None:
    """Nine characters after the dot are no token of ours: the subject carries no tag, the mail is no reply."""
    result = parse(_mail("From: a@jcwb.example.cn\nSubject: [MT-20261130-0001·123456789] x\nContent-Type: text/plain"), CTX)
    assert result.case_tag is None and result.case_token is None
    assert result.kind is Kind.COMPLAINT


def test_the_case_prefix_comes_from_the_context() -> None:
    """With case_prefix TS, [TS-20261130-0001·abcd] is a tag and [MT-…] is not."""
    from dataclasses import replace

    ctx = replace(CTX, case_prefix="TS")
    ours = parse(_mail("From: a@corp.example.com\nSubject: Re: [TS-20261130-0001·abcd] x\nContent-Type: text/plain"), ctx)
    assert (ours.kind, ours.case_tag, ours.case_token) == (Kind.REPLY, "TS-20261130-0001", "abcd")
    other = parse(_mail("From: a@corp.example.com\nSubject: Re: [MT-20261130-0001·abcd] x\nContent-Type: text/plain"), ctx)
    assert other.case_tag is None


def test_an_auto_reply_to_a_case_mail_keeps_the_case_tag() -> None:
    """An out-of-office answer to a tagged mail is AUTOREPLY and still names its case and token."""
    head = ("From: zhang.net@corp.example.com\nSubject: 自动回复: [MT-20261130-0001·7f3a9c] 媒体投诉处理通知\n"
            "Auto-Submitted: auto-replied\nContent-Type: text/plain; charset=utf-8")
    result = parse(_mail(head, "我正在休假。".encode()), CTX)
    assert result.kind is Kind.AUTOREPLY
    assert (result.case_tag, result.case_token) == ("MT-20261130-0001", "7f3a9c")


def test_a_bounce_of_a_case_mail_keeps_the_case_tag() -> None:
    """A bounce whose subject repeats the tag is BOUNCE and names its case."""
    head = ("From: MAILER-DAEMON@mail.corp.example.com\nSubject: Undeliverable: [MT-20261130-0001] 媒体投诉处理通知\n"
            "X-Failed-Recipients: zhang.net@corp.example.com\nContent-Type: text/plain")
    result = parse(_mail(head, b"User unknown\n"), CTX)
    assert result.kind is Kind.BOUNCE
    assert result.case_tag == "MT-20261130-0001"
    assert result.failed_recipients == ("zhang.net@corp.example.com",)


# --- forward as attachment with an encoded message/rfc822 part (defect 8) --------------------

ORIGINAL_TEXT = "读者王女士向本报反映，其手机号码被重复扣取套餐费288元。"


def _original_mail(extra_part: bytes = b"") -> bytes:
    """The journalist's mail, as Outlook attaches it: UTF-8 headers in encoded words, 8bit text."""
    head = ("From: =?utf-8?b?5p2O6K6w6ICF?= <li.reporter@jcwb.example.cn>\r\nTo: sun@corp.example.com\r\n"
            "Subject: =?utf-8?b?6K+76ICF5Y+N5pig6K+d6LS56KKr6YeN5aSN5omj6LS5?=\r\n"
            "Date: Fri, 27 Nov 2026 09:05:00 +0800\r\nMessage-ID: <jcwb-0905@jcwb.example.cn>\r\nMIME-Version: 1.0\r\n")
    text = ORIGINAL_TEXT.encode("utf-8") + b"\r\n"
    if not extra_part:
        return head.encode() + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
    return (head.encode() + b'Content-Type: multipart/mixed; boundary="inner-b"\r\n\r\n--inner-b\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
            + b"--inner-b\r\n" + extra_part + b"\r\n--inner-b--\r\n")


def _encoded(data: bytes, cte: str) -> bytes:
    import base64
    import binascii

    if cte.lower() == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte.lower() == "quoted-printable":
        return binascii.b2a_qp(data)  # keeps the CRLF line ends as they are
    return data


def _forward_as_attachment(inner: bytes, cte: str) -> bytes:
    head = ("From: =?utf-8?b?5a2Z5piO?= <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
            "Subject: =?utf-8?b?6L2s5Y+ROiDor7vogIXlj43mmKDor53otLnooqvph43lpI3miaPotLk=?=\r\n"
            "Date: Fri, 27 Nov 2026 09:30:00 +0800\r\nMessage-ID: <fwd-0930@corp.example.com>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="outer-b"\r\n\r\n--outer-b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "王经理：附件是记者的来信，请核实。\r\n--outer-b\r\nContent-Type: message/rfc822\r\n"
            f"Content-Transfer-Encoding: {cte}\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n")
    return head.encode("utf-8") + _encoded(inner, cte) + b"\r\n--outer-b--\r\n"


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "Base64", "8bit"])
def test_an_encoded_attached_original_is_read_like_an_8bit_one(cte: str) -> None:
    """Forward as attachment whose message/rfc822 part is base64 or QP: the original's sender, time, subject and text."""
    result = parse(_forward_as_attachment(_original_mail(), cte), CTX)
    assert result.kind is Kind.COMPLAINT and result.forwarded
    assert result.original is not None and result.original.sender is not None
    assert result.original.sender.email == "li.reporter@jcwb.example.cn"
    assert result.original.sender.name == "李记者"
    assert result.original.subject == "读者反映话费被重复扣费"
    assert result.original.sent_at is not None and result.original.sent_at.isoformat() == "2026-11-27T09:05:00+08:00"
    assert result.text == ORIGINAL_TEXT
    assert result.note.startswith("王经理")
    assert [a.filename for a in result.attachments] == ["original.eml"]
    assert result.problems == ()


def test_files_inside_a_base64_attached_original_are_listed() -> None:
    """The attached original's own attachment (here a 1 MB photo) is listed with its name and size."""
    import base64

    photo = bytes(range(256)) * 4096
    part = (b'Content-Type: image/jpeg; name="photo.jpg"\r\nContent-Disposition: attachment; filename="photo.jpg"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(photo).replace(b"\n", b"\r\n"))
    result = parse(_forward_as_attachment(_original_mail(part), "base64"), CTX)
    assert result.original is not None and result.original.subject == "读者反映话费被重复扣费"
    assert ORIGINAL_TEXT in result.text
    assert [(a.filename, a.size) for a in result.attachments] == [("original.eml", result.attachments[0].size),
                                                                ("photo.jpg", len(photo))]


# --- large attachments cost little memory whatever their transfer encoding ----------------------

BIG = 2 * 1024 * 1024
NOTE = "孙经理：记者反映小区宽带断网三天，录音见附件。"


def _binary(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def _lines(size: int) -> bytes:
    line = ("记录 2026-11-27 " + "x" * 40).encode("gbk")[:69] + b"\n"
    return (line * (size // len(line) + 1))[:size]


def _big_body(cte: str, size: int = BIG) -> tuple[bytes, bytes, int]:
    """(encoded body, Content-Transfer-Encoding, expected size) of one attachment."""
    import base64
    import binascii

    if cte == "base64":
        return base64.encodebytes(_binary(size)).replace(b"\n", b"\r\n"), b"base64", size
    if cte == "base64-one-line":
        return base64.b64encode(_binary(size)), b"base64", size
    if cte == "quoted-printable":
        return binascii.b2a_qp(_lines(size)).replace(b"\n", b"\r\n"), b"quoted-printable", size
    if cte == "8bit":
        return _lines(size), b"8bit", size
    return _binary(size), b"binary", size


def _complaint_with_file(body: bytes, cte: bytes, *, ctype: bytes = b"application/octet-stream",
                         name: bytes = b"recording.bin", after: bytes = b"", close: bool = True) -> bytes:
    head = (b"From: =?utf-8?b?5a2Z5piO?= <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
            b"Subject: recording\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bench-b\"\r\n\r\n"
            b"--bench-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    part = (b"\r\n--bench-b\r\nContent-Type: " + ctype + b"\r\nContent-Disposition: attachment; filename=\"" + name
            + b"\"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n" + body)
    return head + NOTE.encode("utf-8") + part + after + (b"\r\n--bench-b--\r\n" if close else b"\r\n")


ENCODINGS = ["base64", "base64-one-line", "binary", "quoted-printable", "8bit"]


@pytest.mark.parametrize("cte", ENCODINGS)
def test_a_large_attachment_is_listed_with_its_size_in_any_encoding(cte: str) -> None:
    """A 2 MB attachment, base64 (76 columns or one line), binary, QP or 8bit: its name and size, and the text intact."""
    body, label, size = _big_body(cte)
    result = parse(_complaint_with_file(body, label), CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.text == NOTE
    [attachment] = result.attachments
    assert attachment.filename == "recording.bin"
    assert attachment.content_type == "application/octet-stream"
    assert abs(attachment.size - size) <= size // 20, attachment.size  # QP counts line ends as CRLF


@pytest.mark.parametrize("cte", ENCODINGS)
def test_a_large_attachment_costs_less_memory_than_its_size(cte: str) -> None:
    """parse() of a mail with a 2 MB attachment allocates less than 2 MB at its peak (it was 8-13 times that)."""
    import tracemalloc

    body, label, _ = _big_body(cte)
    raw = _complaint_with_file(body, label)
    tracemalloc.start()
    try:
        parse(raw, CTX)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BIG, f"{peak / 1e6:.1f} MB"


@pytest.mark.parametrize("size", [40_000, 200_000])
def test_a_uuencoded_file_is_listed_with_the_size_it_decodes_to(size: int) -> None:
    """Below 64 KB the file is parsed, above it only measured (its lines say their lengths):
    either way the size is what the mail's own decoder yields."""
    import binascii

    data = _binary(size)
    body = b"begin 644 recording.bin\r\n" + b"".join(
        binascii.b2a_uu(data[i:i + 45]).replace(b"\n", b"\r\n") for i in range(0, size, 45)) + b"`\r\nend\r\n"
    [attachment] = parse(_complaint_with_file(body, b"x-uuencode"), CTX).attachments
    assert attachment.size == size


def test_a_text_part_after_a_large_attachment_is_still_read() -> None:
    """Parts after a measured attachment keep their place: a second file after it is listed, and the text is intact."""
    body, label, size = _big_body("binary")
    after = (b"\r\n--bench-b\r\nContent-Type: application/pdf; name=\"form.pdf\"\r\nContent-Transfer-Encoding: base64"
             b"\r\n\r\nJVBERi0xLjQK")
    result = parse(_complaint_with_file(body, label, after=after), CTX)
    assert result.text == NOTE
    assert [(a.filename, a.size) for a in result.attachments] == [("recording.bin", size), ("form.pdf", 9)]


def test_boundary_lookalikes_inside_an_attachment_do_not_cut_it() -> None:
    """Lines like "--bench-bX" or " --bench-b" inside a binary file are content, not delimiters."""
    body = _binary(BIG // 2) + b"\r\n--bench-bX\r\n --bench-b\r\nx--bench-b\r\n--bench-b-x\r\n" + _binary(BIG // 2)
    result = parse(_complaint_with_file(body, b"binary"), CTX)
    assert result.text == NOTE
    assert [(a.filename, a.size) for a in result.attachments] == [("recording.bin", len(body))]


def test_a_large_attachment_without_a_closing_boundary_is_measured() -> None:
    """A truncated mail (no closing delimiter) still lists the file, with the defect noted."""
    body, label, size = _big_body("base64")
    result = parse(_complaint_with_file(body, label, close=False), CTX)
    assert result.text == NOTE
    assert [(a.filename, a.size) for a in result.attachments] == [("recording.bin", size)]
    assert any("closing boundary" in p for p in result.problems), result.problems


def test_a_large_named_text_attachment_is_measured_but_inline_text_is_read() -> None:
    """A 2 MB text/csv sent as a named attachment is a file (listed, measured); the inline complaint text is read."""
    body, _, size = _big_body("8bit")
    result = parse(_complaint_with_file(body, b"8bit", ctype=b"text/csv; charset=gbk", name=b"log.csv"), CTX)
    assert result.text == NOTE
    assert [(a.filename, a.content_type, a.size) for a in result.attachments] == [("log.csv", "text/csv", size)]


def test_a_mail_that_is_one_large_file_lists_it() -> None:
    """A single-part mail whose body is a 2 MB PDF has that file as its attachment and no text."""
    import base64

    data = _binary(BIG)
    raw = (b"From: li.reporter@jcwb.example.cn\r\nSubject: scan\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(data).replace(b"\n", b"\r\n"))
    result = parse(raw, CTX)
    _readable(result)
    assert [(a.filename, a.size) for a in result.attachments] == [("scan.pdf", BIG)]


def test_a_large_attachment_inside_a_forward_as_attachment_is_measured() -> None:
    """An 8bit attached original carrying a 2 MB recording: the original is read and its file listed with its size."""
    body, label, size = _big_body("base64-one-line")
    part = (b'Content-Type: audio/amr; name="call.amr"\r\nContent-Disposition: attachment; filename="call.amr"\r\n'
            b"Content-Transfer-Encoding: " + label + b"\r\n\r\n" + body)
    result = parse(_forward_as_attachment(_original_mail(part), "8bit"), CTX)
    assert result.original is not None and result.original.subject == "读者反映话费被重复扣费"
    assert ORIGINAL_TEXT in result.text
    assert ("call.amr", size) in [(a.filename, a.size) for a in result.attachments]


def test_an_attached_original_that_cannot_be_decoded_is_noted() -> None:
    """Damaged base64 in the message/rfc822 part: the original stays unknown, and problems say why."""
    raw = _forward_as_attachment(_original_mail(), "base64")
    start = raw.index(b'filename="original.eml"\r\n\r\n') + len(b'filename="original.eml"\r\n\r\n')
    result = parse(raw[:start] + b"!!!! damaged " + raw[start:], CTX)
    _readable(result)
    assert result.original is not None and result.original.sender is None
    assert any("attached message has no mail headers" in p for p in result.problems), result.problems
