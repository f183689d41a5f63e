"""parse() on our own invented complaint mails (tests/fixtures/eml, made by make_eml.py) and on bad input."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import parsers
from parsers import SAFETY_NET_PREFIX, Address, Kind, ParseContext, ParsedMail, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))
CTX = ParseContext(
    timezone=SHANGHAI,
    case_prefix="MT",
    own_addresses=frozenset({"complaints@corp.example.com"}),
    own_message_id_domain="complaintd.corp.example.com",
)
JOURNALIST = "li.reporter@jcwb.example.cn"


def parse_fixture(name: str) -> ParsedMail:
    return parse((FIXTURES / name).read_bytes(), CTX)


# --- forwards, one per client --------------------------------------------------------------

FORWARDS = [
    # file, forwarder, original subject, original sent (local), sentence in the complaint text
    ("fwd_outlook_zh.eml", "sun@corp.example.com", "关于江城花园小区宽带连续三天断网的采访函",
     datetime(2026, 11, 27, 10, 15), "江城花园小区宽带连续三天频繁断网"),
    ("fwd_outlook_en.eml", "sun@corp.example.com", "Readers charged roaming fees at home",
     datetime(2026, 11, 27, 10, 15), "charged international roaming fees"),
    ("fwd_foxmail.eml", "sun@corp.example.com", "滨江新区5G信号差的采访请求",
     datetime(2026, 11, 27, 10, 15), "滨江新区多个住宅小区5G信号极差"),
    ("fwd_coremail.eml", "someone@net.corp.example.com", "江城东区大面积手机无信号",
     datetime(2026, 11, 27, 10, 15, 30), "江城东区大面积手机无信号，持续两个多小时"),
    ("fwd_gmail_zh.eml", "sun@corp.example.com", "人民路营业厅服务态度问题",
     datetime(2026, 11, 27, 10, 15), "工作人员态度恶劣"),
    ("fwd_gmail_en.eml", "sun@corp.example.com", "光华路光缆被挖断影响三个小区",
     datetime(2026, 11, 27, 10, 15), "光华路沿线施工挖断光缆"),
    ("fwd_thunderbird_zh.eml", "sun@corp.example.com", "IPTV晚间卡顿花屏",
     datetime(2026, 11, 27, 10, 15), "每晚8点后频繁卡顿、花屏"),
    ("fwd_thunderbird_en.eml", "sun@corp.example.com", "老年用户被办理高价套餐",
     datetime(2026, 11, 27, 10, 15), "每月199元的融合套餐"),
    ("fwd_apple_mail.eml", "sun@corp.example.com", "大学城宽带晚高峰网速慢",
     datetime(2026, 11, 27, 10, 15), "网速只有标称速率的十分之一"),
    ("fwd_rfc822_attachment.eml", "sun@corp.example.com", "读者反映话费被重复扣费",
     datetime(2026, 11, 27, 9, 5), "重复扣取套餐费288元"),
    ("fwd_nested.eml", "someone@net.corp.example.com", "读者反映话费被重复扣费",
     datetime(2026, 11, 27, 9, 5), "重复扣取套餐费288元"),
]


@pytest.mark.parametrize(("name", "forwarder", "subject", "sent", "sentence"), FORWARDS, ids=[f[0] for f in FORWARDS])
def test_forward_yields_the_journalists_original(
    name: str, forwarder: str, subject: str, sent: datetime, sentence: str
) -> None:
    """Each client's forward is a COMPLAINT whose original is the journalist's mail: sender, time, subject, text."""
    result = parse_fixture(name)
    assert result.kind is Kind.COMPLAINT, result.reason
    assert result.forwarded
    assert result.sender is not None and result.sender.email == forwarder
    assert result.original is not None
    assert result.original.sender is not None and result.original.sender.email == JOURNALIST
    assert result.original.subject == subject
    assert result.original.sent_at == sent.replace(tzinfo=SHANGHAI)
    assert sentence in result.text
    assert "原始邮件" not in result.text and "Forwarded" not in result.text
    assert result.problems == ()


def test_outlook_chinese_forward_keeps_note_and_category_from_the_forwarder() -> None:
    """The forwarder's words above the 邮件原件 block become the note, and its 类别：2 the category."""
    result = parse_fixture("fwd_outlook_zh.eml")
    assert "请尽快评估处理" in result.note
    assert "江城花园" not in result.note
    assert result.form.category == 2
    assert result.form.phone == "13912345678"  # from the journalist's own text
    assert result.original is not None and result.original.sender == Address("李记者", JOURNALIST)
    assert result.sent_at == datetime(2026, 11, 27, 10, 32, 7, tzinfo=CST)


def test_foxmail_forward_reads_quoted_name_and_morning_time() -> None:
    """Foxmail's "李记者"<a@b>; sender and 2026年11月27日(星期五) 上午10:15 are read."""
    result = parse_fixture("fwd_foxmail.eml")
    assert result.original is not None
    assert result.original.sender == Address("李记者", JOURNALIST)
    assert result.note.strip().startswith("王经理")


def test_forward_as_attachment_lists_the_attached_mail_and_uses_its_headers() -> None:
    """A message/rfc822 attachment is the original; the outer body is the note."""
    result = parse_fixture("fwd_rfc822_attachment.eml")
    assert result.reason.startswith("new complaint forwarded as attachment")
    assert "请市场部协助核实" in result.note
    assert [a.content_type for a in result.attachments] == ["message/rfc822"]
    assert result.attachments[0].filename == "读者反映话费被重复扣费.eml"
    assert result.form.customer_number == "13812345678"


def test_nested_forward_takes_the_innermost_original_and_the_outer_note() -> None:
    """A forward of a forward yields the journalist (innermost), not the intermediate staff member."""
    result = parse_fixture("fwd_nested.eml")
    assert result.original is not None and result.original.sender is not None
    assert result.original.sender.email == JOURNALIST
    assert result.note == "Forwarding again for registration."
    assert "周涛：请看下面" not in result.text


def test_apple_mail_forward_drops_the_phone_footer_from_the_note() -> None:
    """"发自我的iPhone" is signature noise, not part of the forwarder's note."""
    result = parse_fixture("fwd_apple_mail.eml")
    assert result.note == "请网络部评估。"


# --- direct mails and the staff form -----------------------------------------------------------


def test_direct_mail_from_journalist_is_a_complaint_without_original() -> None:
    """A journalist writing directly gives a COMPLAINT, not forwarded, text without the signature."""
    result = parse_fixture("direct_journalist.eml")
    assert result.kind is Kind.COMPLAINT
    assert not result.forwarded and result.original is None
    assert result.sender == Address("李记者", JOURNALIST)
    assert "江城东区大面积手机无信号" in result.text
    assert "社会新闻部" not in result.text  # below the "-- " delimiter
    assert result.reason == f"new complaint written directly by {JOURNALIST}"


def test_staff_form_fields_are_extracted() -> None:
    """The 字段：值 form typed by staff fills every form field; 投诉内容 spans lines, 第2类 is 2."""
    result = parse_fixture("staff_form.eml")
    assert result.kind is Kind.COMPLAINT and not result.forwarded
    form = result.form
    assert form.media_outlet == "江城晚报"
    assert form.reporter_name == "李明"
    assert form.phone == "13912345678"
    assert form.customer_number == "073188886666"  # typed 0731-88886666: stored as digits (issue 11)
    assert form.category == 2
    assert form.complaint_text == (
        "江城晚报记者反映江城花园小区宽带自11月24日起连续三天断网，\n"
        "居民多次报修无人上门，记者要求今天下午5点前答复断网原因和修复时间。"
    )


# --- charsets and encodings ------------------------------------------------------------------

CHARSETS = [
    ("cs_utf8_base64.eml", "光纤安装排期过长", "光纤入户安装排期长达一个月"),
    ("cs_utf8_qp.eml", "宽带断网五天无人处理", "我就找电视台曝光"),
    ("cs_gbk_8bit.eml", "营业厅排队两小时", "排队两小时仍未办理完业务"),
    ("cs_gb2312_holding_gbk.eml", "维修技术员未修复即离开", "投诉人王喆反映，维修技术员赵镕上门后未修复故障即离开。"),
    ("cs_gb18030.eml", "𠮷先生投诉服务态度", "读者𠮷先生反映营业厅员工服务态度恶劣。"),
    ("cs_big5.eml", "讀者投訴寬頻中斷", "本報記者陳大文接獲讀者投訴，寬頻服務自十一月二十五日起頻繁中斷。"),
    ("cs_rfc2047_b_subject.eml", "关于江城东区基站停电的投诉", "Base station outage"),
    ("cs_html_only.eml", "宽带断网（网页版来信）", "读者反映江城花园小区宽带连续三天断网"),
]


@pytest.mark.parametrize(("name", "subject", "sentence"), CHARSETS, ids=[c[0] for c in CHARSETS])
def test_charset_fixture_decodes_subject_and_body(name: str, subject: str, sentence: str) -> None:
    """Subject and body come out as the intended Chinese text, with no replacement characters."""
    result = parse_fixture(name)
    assert result.kind is Kind.COMPLAINT, result.reason
    assert result.subject == subject
    assert sentence in result.text
    assert "\ufffd" not in result.text + result.subject


def test_gb2312_label_with_gbk_only_characters_loses_nothing() -> None:
    """喆 and 镕 are not in GB2312; a gb2312-labelled part holding them is decoded whole, silently."""
    result = parse_fixture("cs_gb2312_holding_gbk.eml")
    assert "王喆" in result.text and "赵镕" in result.text
    assert result.problems == ()


def test_raw_8bit_gbk_headers_are_decoded_and_reported() -> None:
    """A From name and Subject in raw GBK bytes are decoded, with the guess noted in problems."""
    result = parse_fixture("cs_gbk_8bit.eml")
    assert result.sender == Address("李记者", JOURNALIST)
    assert any("Subject" in p and "gb18030" in p for p in result.problems)


def test_big5_sender_name_is_decoded() -> None:
    """An RFC 2047 Big5 display name decodes to traditional characters."""
    assert parse_fixture("cs_big5.eml").sender == Address("陳大文", "chan@news.example.hk")


def test_rfc2231_and_rfc2047_attachment_names_are_decoded_with_sizes() -> None:
    """filename*0*=UTF-8''… continuations and =?gb2312?B?…?= names both decode; sizes are decoded sizes."""
    result = parse_fixture("cs_rfc2231_filename.eml")
    assert [(a.filename, a.content_type, a.size) for a in result.attachments] == [
        ("断网截图.png", "image/png", 8 + 1024),
        ("现场照片.jpg", "image/jpeg", 4 + 1000),
    ]


def test_html_only_body_becomes_text_and_feeds_the_form() -> None:
    """An HTML-only mail yields readable text (no tags) and its table yields form fields."""
    result = parse_fixture("cs_html_only.eml")
    assert "<" not in result.text and "**" not in result.text
    assert result.form.media_outlet == "江城晚报"
    assert result.form.reporter_name == "李明"
    assert result.form.phone == "13912345678"


def test_q_encoded_reply_subject_gives_reply_with_case_tag() -> None:
    """A Q-encoded 回复：[MT-…] subject decodes, and the mail is a REPLY with its case tag and text."""
    result = parse_fixture("cs_rfc2047_q_subject.eml")
    assert result.subject == "回复：[MT-20261127-0001] 可处理"
    assert result.kind is Kind.REPLY
    assert result.case_tag == "MT-20261127-0001"
    assert result.text == "可处理，预计今天下午修复。"


@pytest.mark.parametrize("name", ["outlook-forward.eml", "foxmail-forward.eml", "staff-form.eml"])
def test_examples_for_newcomers_parse_as_complaints(name: str) -> None:
    """The three example mails in examples/ are complaints dated November 2026."""
    result = parse((EXAMPLES / name).read_bytes(), CTX)
    assert result.kind is Kind.COMPLAINT, result.reason
    assert result.sent_at is not None and (result.sent_at.year, result.sent_at.month) == (2026, 11)
    assert result.forwarded is (name != "staff-form.eml")


# --- bad input: always a value -------------------------------------------------------------


def _mail(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + body


def test_empty_message_is_unusable() -> None:
    """b"" (and blank bytes) are UNUSABLE with a reason that says the message is empty."""
    for raw in (b"", b"\r\n \r\n"):
        result = parse(raw, CTX)
        assert result.kind is Kind.UNUSABLE
        assert "empty" in result.reason


def test_bytes_without_headers_are_unusable() -> None:
    """Text or binary without any mail header is UNUSABLE: not an e-mail message."""
    for raw in (b"hello, this is not a mail\n", b"\x00\x01\x02\xff" * 50):
        result = parse(raw, CTX)
        assert result.kind is Kind.UNUSABLE
        assert result.reason.startswith("not an e-mail message")


def test_truncated_mime_is_a_complaint_with_problems() -> None:
    """A multipart cut mid-base64 with its boundary never closed still yields the text and a problem."""
    text = base64.b64encode("江城花园小区宽带断网，请尽快处理。".encode()).decode()
    raw = _mail(
        "From: li.reporter@jcwb.example.cn\nTo: complaints@corp.example.com\nSubject: cut\n"
        "Date: Fri, 27 Nov 2026 10:15:00 +0800\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="cut"',
        b"--cut\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + text.encode()
        + b"\r\n--cut\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"JVBERi0xLjQKJc",
    )
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert "江城花园小区宽带断网" in result.text
    assert any("closing boundary missing" in p for p in result.problems), result.problems
    assert [a.filename for a in result.attachments] == ["a.pdf"]


def test_undecodable_charset_label_falls_back_and_is_reported() -> None:
    """An unknown charset label on UTF-8 bytes decodes as UTF-8 and records the label in problems."""
    raw = _mail(
        "From: li.reporter@jcwb.example.cn\nSubject: label\nMIME-Version: 1.0\n"
        'Content-Type: text/plain; charset="x-unknown"\nContent-Transfer-Encoding: 8bit',
        "宽带断网三天。".encode(),
    )
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.text == "宽带断网三天。"
    assert any("'x-unknown'" in p and "utf-8" in p for p in result.problems), result.problems


def test_bytes_fitting_no_charset_are_replaced_not_fatal() -> None:
    """Bytes valid in neither the label nor UTF-8 nor GB18030 decode with replacement characters."""
    raw = _mail("From: a@example.com\nSubject: junk\nContent-Type: text/plain; charset=y", b"ok \x81\x20\xff end")
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.text.startswith("ok") and result.text.endswith("end")
    assert any("replacement" in p for p in result.problems)


def test_twenty_megabyte_attachment_is_listed_with_its_size() -> None:
    """A 20 MB attachment (built here, not committed) is listed with its decoded size; the text is read."""
    size = 20 * 1024 * 1024
    payload = base64.encodebytes(bytes(range(256)) * (size // 256)).replace(b"\n", b"\r\n")
    raw = _mail(
        "From: li.reporter@jcwb.example.cn\nSubject: video\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="big"',
        b"--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "现场视频见附件。".encode()
        + b"\r\n--big\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"scene.mp4\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--big--\r\n",
    )
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.text == "现场视频见附件。"
    assert [(a.filename, a.size) for a in result.attachments] == [("scene.mp4", size)]


def test_nul_byte_in_a_header_is_removed_and_reported() -> None:
    """A NUL inside the Subject is dropped from the value (databases refuse it) and noted in problems."""
    headers = "From: li.reporter@jcwb.example.cn\nSubject: 宽带\x00断网\nDate: Fri, 27 Nov 2026 10:15:00 +0800"
    raw = _mail(headers, "正文".encode())
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.subject == "宽带断网"
    assert any("NUL" in p for p in result.problems)


def test_deeply_nested_multiparts_are_unusable_not_a_crash() -> None:
    """Thousands of nested multiparts give UNUSABLE with a clear reason, not a RecursionError."""
    raw = b"From: a@example.com\nSubject: deep\nMIME-Version: 1.0\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3000)
    ) + b"Content-Type: text/plain\n\nhello\n"
    result = parse(raw, CTX)
    assert result.kind in (Kind.UNUSABLE, Kind.COMPLAINT)
    assert not result.reason.startswith(SAFETY_NET_PREFIX)


def test_obsolete_header_syntax_is_repaired() -> None:
    """RFC 5322 obsolete "From  : x" headers (blank before the colon) are still read."""
    raw = b"From  : li.reporter@jcwb.example.cn\nSubject : test\n\nbody\n"
    result = parse(raw, CTX)
    assert result.kind is Kind.COMPLAINT
    assert result.sender == Address("", JOURNALIST)
    assert result.subject == "test"


def test_outlook_msg_file_is_unusable() -> None:
    """An Outlook .msg (OLE2) dropped in the mailbox is UNUSABLE with a reason saying so."""
    result = parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), CTX)
    assert result.kind is Kind.UNUSABLE
    assert "Outlook .msg" in result.reason


def test_a_bug_in_the_parser_is_caught_by_the_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception inside parse() becomes UNUSABLE with the 'internal parser error:' reason."""

    def broken(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(parsers.classifier, "classify", broken)
    result = parse((FIXTURES / "direct_journalist.eml").read_bytes(), CTX)
    assert result.kind is Kind.UNUSABLE
    assert result.reason.startswith(SAFETY_NET_PREFIX)
    assert "KeyError" in result.reason


# --- purity --------------------------------------------------------------------------------

ALLOWED_IMPORTS = {"html2text", "emailforwardparser", "phonenumbers", "parsers", "__future__"}


def test_parsers_import_only_the_standard_library_and_parsing_libraries() -> None:
    """parsers/ imports nothing from daemon/ or models/, no database, network or clock module."""
    import ast
    import sys

    forbidden_stdlib = {"socket", "ssl", "imaplib", "smtplib", "sqlite3", "time", "asyncio", "urllib", "http"}
    package = Path(parsers.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_IMPORTS or top in sys.stdlib_module_names, f"{source.name} imports {name}"
                assert top not in forbidden_stdlib, f"{source.name} imports {name}"
        assert "datetime.now" not in source.read_text(encoding="utf-8"), source.name
