"""The kind of a mail: OWN > BOUNCE > AUTOREPLY > BULK > REPLY > COMPLAINT (parsers.classify via parse())."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import Kind, ParseContext, ParsedMail, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
CTX = ParseContext(
    timezone=ZoneInfo("Asia/Shanghai"),
    case_prefix="MT",
    own_addresses=frozenset({"complaints@corp.example.com"}),
    own_message_id_domain="complaintd.corp.example.com",
)
OUR_ID = "<case-1.level-1.9f2c@complaintd.corp.example.com>"


def mail(body: str = "收到，正在处理。", **headers: str) -> ParsedMail:
    """Parse a small UTF-8 mail; keyword arguments are headers (underscores become dashes)."""
    fields = {"From": "王强 <wang.net@corp.example.com>", "To": "complaints@corp.example.com",
              "Subject": "test", "Date": "Fri, 27 Nov 2026 10:15:00 +0800", "Message-ID": "<m1@corp.example.com>",
              "MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8",
              "Content-Transfer-Encoding": "8bit"}
    for key, value in headers.items():
        fields[key.replace("_", "-")] = value
    head = "".join(f"{k}: {v}\n" for k, v in fields.items() if v is not None)
    return parse((head + "\n" + body).encode("utf-8"), CTX)


# --- auto-replies ----------------------------------------------------------------------------

AUTO_HEADER_CASES = [
    {"Auto_Submitted": "auto-replied"},
    {"Auto_Submitted": "auto-generated"},
    {"X_Autoreply": "yes"},
    {"X_Autorespond": "Vacation"},
    {"Precedence": "auto_reply"},
]


@pytest.mark.parametrize("headers", AUTO_HEADER_CASES, ids=[next(iter(h)) for h in AUTO_HEADER_CASES])
def test_autoreply_headers_make_an_autoreply(headers: dict[str, str]) -> None:
    """RFC 3834 Auto-Submitted and the common X-Autoreply/X-Autorespond/Precedence headers mean AUTOREPLY."""
    assert mail(Subject="[MT-20261127-0001] 媒体投诉处理通知", **headers).kind is Kind.AUTOREPLY


AUTO_SUBJECTS = [
    "自动回复: [MT-20261127-0001] 媒体投诉处理通知",
    "自动答复: 媒体投诉处理通知",
    "Re: 自动回复：媒体投诉处理通知",
    "Automatic reply: [MT-20261127-0001] media complaint",
    "Auto Reply: media complaint",
    "Out of Office: media complaint",
    "休假中：11月27日至12月1日",
    "Autosvar: media complaint",
]


@pytest.mark.parametrize("subject", AUTO_SUBJECTS)
def test_autoreply_subjects_make_an_autoreply(subject: str) -> None:
    """Out-of-office subjects in Chinese and English mean AUTOREPLY, even with a case tag."""
    result = mail(Subject=subject)
    assert result.kind is Kind.AUTOREPLY, result.reason


def test_auto_submitted_no_is_a_human_mail() -> None:
    """Auto-Submitted: no is what humans send; it is not an auto-reply."""
    assert mail(Subject="江城花园小区断网", Auto_Submitted="no").kind is Kind.COMPLAINT


def test_subject_mentioning_a_holiday_is_not_an_autoreply() -> None:
    """A complaint about a network outage during the holidays (休假期间) is still a complaint."""
    assert mail(Subject="关于休假期间网络中断的投诉").kind is Kind.COMPLAINT


def test_read_receipt_is_an_autoreply() -> None:
    """A multipart/report disposition notification (read receipt) is an automatic answer."""
    body = ('--r\nContent-Type: text/plain\n\nDisplayed.\n--r\nContent-Type: message/disposition-notification\n\n'
            "Final-Recipient: rfc822; zhang.net@corp.example.com\n"
            "Disposition: manual-action/MDN-sent-manually; displayed\n--r--\n")
    result = mail(body, Subject="已读: 媒体投诉处理通知",
                  Content_Type='multipart/report; report-type=disposition-notification; boundary="r"')
    assert result.kind is Kind.AUTOREPLY


# --- bounces ---------------------------------------------------------------------------------


def test_dsn_bounce_names_the_failed_recipient() -> None:
    """An RFC 3464 DSN is a BOUNCE and failed_recipients comes from Final-Recipient."""
    result = parse((FIXTURES / "bounce_dsn.eml").read_bytes(), CTX)
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ("zhang.net@corp.example.com",)
    assert not result.forwarded  # the returned message is not a forward


def test_chinese_coremail_bounce_names_the_failed_recipient_from_text() -> None:
    """A text-only 系统退信 from postmaster is a BOUNCE; the recipient is read from the text."""
    result = parse((FIXTURES / "bounce_coremail_zh.eml").read_bytes(), CTX)
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ("li.net@corp.example.com",)


def test_aliyun_style_bounce_is_a_bounce() -> None:
    """'来自postmaster@aliyun.com的退信' with '无法发送到 x' is a BOUNCE naming x."""
    result = mail("很抱歉您发送的邮件被退回。\n\n无法发送到 li.net@corp.example.com\n\t退信原因: 收件方邮箱不存在\n",
                  From="<postmaster@aliyun.com>", Subject="来自postmaster@aliyun.com的退信")
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ("li.net@corp.example.com",)


def test_exchange_chinese_non_delivery_report_is_a_bounce() -> None:
    """Exchange's '无法送达:' report from its MicrosoftExchange… system address is a BOUNCE."""
    result = mail("邮件无法传递给以下收件人或组:\n\nli.net@corp.example.com\n找不到该电子邮件地址。\n",
                  From="Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example.com>",
                  Subject="无法送达: [MT-20261127-0001] 媒体投诉处理通知")
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ("li.net@corp.example.com",)


def test_exchange_english_undeliverable_from_postmaster_is_a_bounce() -> None:
    """'Undeliverable:' from postmaster with X-Failed-Recipients is a BOUNCE naming that recipient."""
    result = mail("Delivery has failed to these recipients.\n", From="postmaster@corp.example.com",
                  Subject="Undeliverable: [MT-20261127-0001] media complaint",
                  X_Failed_Recipients="zhang.net@corp.example.com")
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ("zhang.net@corp.example.com",)


def test_delayed_dsn_is_a_bounce_without_failed_recipients() -> None:
    """A 'delayed' DSN is not final: BOUNCE (never a case) but nobody counts as unreachable yet."""
    body = ("--d\nContent-Type: text/plain\n\nStill trying.\n--d\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mail.corp.example.com\n\nFinal-Recipient: rfc822; zhang.net@corp.example.com\n"
            "Action: delayed\nStatus: 4.4.1\n--d--\n")
    result = mail(body, From="MAILER-DAEMON@mail.corp.example.com", Subject="Delayed Mail (still being retried)",
                  Content_Type='multipart/report; report-type=delivery-status; boundary="d"')
    assert result.kind is Kind.BOUNCE
    assert result.failed_recipients == ()
    assert "delayed" in result.reason


def test_staff_forwarding_a_bounce_is_not_a_bounce() -> None:
    """'FW: Undeliverable: …' sent by a person is not a delivery report."""
    result = mail("请看这个退信。", From="孙明 <sun@corp.example.com>", Subject="FW: Undeliverable: 江城晚报采访")
    assert result.kind is not Kind.BOUNCE


# --- bulk, own mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"List_Id": "江城晚报读者来信 <readers.jcwb.example.cn>"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list", "List_Unsubscribe": "<mailto:leave@jcwb.example.cn>"},
    ],
    ids=["list-id", "bulk", "junk", "list+unsubscribe"],
)
def test_list_and_bulk_mail_is_bulk(headers: dict[str, str]) -> None:
    """List-Id or Precedence list/bulk/junk make a mail BULK."""
    assert mail(Subject="江城晚报读者来信周报", **headers).kind is Kind.BULK


def test_list_unsubscribe_alone_is_not_bulk() -> None:
    """A List-Unsubscribe header without List-Id or Precedence does not make a mail bulk."""
    assert mail(Subject="宽带断网", List_Unsubscribe="<mailto:x@example.com>").kind is Kind.COMPLAINT


def test_forward_on_a_mailing_list_is_bulk_and_still_forwarded() -> None:
    """Forwarded and original are filled for every kind: a list forward is BULK and forwarded."""
    body = ("FYI\n\n---------- Forwarded message ---------\nFrom: Li Reporter <li.reporter@jcwb.example.cn>\n"
            "Date: Fri, Nov 27, 2026 at 10:15 AM\nSubject: 宽带断网\nTo: <sun@corp.example.com>\n\n正文\n")
    result = mail(body, Subject="Fwd: 宽带断网", List_Id="<staff.corp.example.com>")
    assert result.kind is Kind.BULK
    assert result.forwarded
    assert result.original is not None and result.original.sender is not None
    assert result.original.sender.email == "li.reporter@jcwb.example.cn"


def test_mail_from_our_own_address_is_own() -> None:
    """Mail From complaintd's own address is OWN, even when it also looks automatic."""
    result = mail(From="媒体投诉处理 <Complaints@corp.example.com>", Auto_Submitted="auto-generated",
                  Subject="[MT-20261127-0001] 媒体投诉处理通知")
    assert result.kind is Kind.OWN


def test_mail_with_our_message_id_is_own() -> None:
    """A Message-ID in complaintd's domain means the mail is ours (a loop), whatever the From."""
    assert mail(Message_ID="<case-1.level-2.77@complaintd.corp.example.com>").kind is Kind.OWN


# --- replies ---------------------------------------------------------------------------------


def test_reply_threaded_by_in_reply_to() -> None:
    """In-Reply-To naming one of our Message-IDs makes a REPLY."""
    result = mail(Subject="Re: 媒体投诉处理通知", In_Reply_To=OUR_ID)
    assert result.kind is Kind.REPLY
    assert result.in_reply_to == (OUR_ID,)
    assert result.case_tag is None


def test_reply_threaded_by_references() -> None:
    """References naming one of our Message-IDs makes a REPLY too."""
    result = mail(Subject="答复: 媒体投诉处理通知", References=f"<other@corp.example.com> {OUR_ID}")
    assert result.kind is Kind.REPLY


def test_reply_by_subject_tag_with_chinese_prefix() -> None:
    """回复：[MT-20261127-0001] … is a REPLY carrying its case tag, even without threading headers."""
    result = mail("收到", Subject="回复：[MT-20261127-0001] 媒体投诉处理通知")
    assert result.kind is Kind.REPLY
    assert result.case_tag == "MT-20261127-0001"


def test_reply_by_full_width_bracket_tag() -> None:
    """A tag retyped with full-width brackets 【MT-…】 is recognised."""
    result = mail("可处理", Subject="【mt-20261127-0002】 可处理")
    assert result.kind is Kind.REPLY
    assert result.case_tag == "MT-20261127-0002"


def test_tag_with_another_prefix_is_not_a_reply() -> None:
    """Only the configured case prefix counts: [XX-…] with prefix MT is no case tag."""
    result = mail(Subject="回复：[XX-20261127-0001] 投诉")
    assert result.kind is Kind.COMPLAINT
    assert result.case_tag is None
    other = parse(b"From: a@corp.example.com\nSubject: Re: [XX-20261127-0001] x\n\nok\n", replace(CTX, case_prefix="XX"))
    assert other.kind is Kind.REPLY and other.case_tag == "XX-20261127-0001"


def test_in_reply_to_someone_else_is_a_complaint() -> None:
    """Threading to a Message-ID that is not ours does not make a reply."""
    assert mail(Subject="Re: 宽带", In_Reply_To="<x@jcwb.example.cn>").kind is Kind.COMPLAINT


def test_outlook_reply_text_is_only_the_new_lines() -> None:
    """A reply's text is what the person wrote above the quoted 邮件原件 block; it is no forward."""
    body = ("可处理\n预计完成：2026-11-27 18:00\n\n王强\n\n-----邮件原件-----\n发件人: 媒体投诉处理 <complaints@corp.example.com>\n"
            "发送时间: 2026年11月27日 10:20\n收件人: 王强 <wang.net@corp.example.com>\n主题: [MT-20261127-0001] 媒体投诉处理通知\n\n请评估。\n")
    result = mail(body, Subject="答复: [MT-20261127-0001] 媒体投诉处理通知", In_Reply_To=OUR_ID)
    assert result.kind is Kind.REPLY
    assert not result.forwarded
    assert result.text == "可处理\n预计完成：2026-11-27 18:00\n\n王强"


def test_qq_mail_reply_quote_is_cut() -> None:
    """QQ Mail's '------------------ 原始邮件 ------------------' quote and '在 … 写道：' are cut from a reply."""
    body = ("收到\n\n在 2026年11月27日 10:20，媒体投诉处理 写道：\n> 请评估。\n")
    assert mail(body, Subject="回复：[MT-20261127-0001] 通知").text == "收到"
    body = ("确认\n\n------------------ 原始邮件 ------------------\n"
            "发件人: \"媒体投诉处理\"<complaints@corp.example.com>;\n发送时间: 2026年11月27日(星期五) 上午10:20\n\n请评估。\n")
    assert mail(body, Subject="回复：[MT-20261127-0001] 通知").text == "确认"


def test_correction_fields_in_a_reply_fill_the_form() -> None:
    """类别：N and 媒体单位：… typed in a reply are returned as form fields (SPEC §4 corrections)."""
    result = mail("类别：3\n媒体单位：江城晚报社\n", Subject="回复：[MT-20261127-0001] 通知")
    assert result.kind is Kind.REPLY
    assert result.form.category == 3
    assert result.form.media_outlet == "江城晚报社"


def test_plain_complaint_without_markers_is_a_complaint() -> None:
    """A mail with none of the markers above is a new COMPLAINT."""
    result = mail("江城花园小区宽带断网三天。", From="李记者 <li.reporter@jcwb.example.cn>", Subject="宽带断网")
    assert result.kind is Kind.COMPLAINT
    assert result.reason == "new complaint written directly by li.reporter@jcwb.example.cn"


def test_reply_with_an_attached_mail_keeps_its_own_text() -> None:
    """A reply that attaches a mail is marked forwarded, but its text stays the reply's own lines."""
    inner = "From: li.reporter@jcwb.example.cn\nSubject: 补充材料\n\n这是补充材料。\n"
    body = (f"--a\nContent-Type: text/plain; charset=utf-8\n\n上报综合部\n--a\nContent-Type: message/rfc822\n\n{inner}--a--\n")
    result = mail(body, Subject="回复：[MT-20261127-0001] 通知", Content_Type='multipart/mixed; boundary="a"')
    assert result.kind is Kind.REPLY
    assert result.forwarded and result.original is not None and result.original.subject == "补充材料"
    assert result.text == "上报综合部"


def test_notice_from_a_system_administrator_is_not_a_bounce() -> None:
    """A 系统管理员 notice without bounce subject or returned mail is not a delivery report."""
    result = mail("本周六晚进行邮件系统维护。", From="系统管理员 <admin@corp.example.com>", Subject="系统维护通知")
    assert result.kind is Kind.COMPLAINT
