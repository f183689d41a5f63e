"""The registration record's complainant fields and category (issue 11): who, how to reach
them, which customer, which category — from the right layer of the mail."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config import load_settings
from models.registration import draft_case
from parsers import Kind, ParseContext, ParsedMail, parse
from parsers.category import judged, stated
from parsers.phones import mentions, normalise
from tests.support.invented_complaints import _landline, _mobile, invent

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "fixtures" / "clients"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CTX = ParseContext(SHANGHAI, "MT", frozenset({"complaints@corp.example.com"}), "complaintd.corp.example.com")
SETTINGS = load_settings(ROOT / "config.toml", env={})
ARRIVED = datetime(2026, 11, 27, 11, 0, tzinfo=SHANGHAI)


def _forward(note: str, original: str, subject: str = "光谷小区手机没有信号",
             sender: str = "李明 <li.reporter@jcwb.example.cn>") -> bytes:
    body = (f"{note}\n\n-----原始邮件-----\n发件人: {sender}\n发送时间: 2026年11月27日 10:15\n"
            f"收件人: sun@corp.example.com\n主题: {subject}\n\n{original}")
    head = ("From: 孙明 <sun@corp.example.com>\nTo: complaints@corp.example.com\n"
            f"Subject: 转发: {subject}\nDate: Fri, 27 Nov 2026 10:40:00 +0800\nMessage-ID: <f1@corp.example.com>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
    return head.encode() + body.encode("utf-8")


def _record(raw: bytes) -> tuple[ParsedMail, object]:
    mail = parse(raw, CTX)
    assert mail.kind is Kind.COMPLAINT, mail.reason
    return mail, draft_case(mail, SETTINGS.directory, SETTINGS.deadlines, ARRIVED, ARRIVED)


STORY = ("您好，我是江城晚报记者李明。光谷小区已经三天没有手机信号，居民反映强烈，\n"
         "我们准备近期做一篇报道，请贵公司尽快处理并回复。\n\n李明\n江城晚报社会新闻部\n手机：130 6080 9393\n")


# --- acceptance cases ---------------------------------------------------------------------------

def test_a_category_said_in_words_in_the_note_is_stated() -> None:
    """"请按三类媒体投诉登记" in the forwarder's note: category 3, stated, with the forwarder's words."""
    mail, draft = _record(_forward("请按三类媒体投诉登记。", STORY))
    assert mail.category is not None and (mail.category.value, mail.category.basis) == (3, "stated")
    assert "转发人注明" in mail.category.reason and "三类" in mail.category.reason
    assert (draft.category, draft.category_basis) == (3, "stated")


def test_a_reporter_speaking_for_residents_is_judged_category_3() -> None:
    """No category said anywhere; a journalist writes for the residents: 3, judged, with a reason."""
    mail, draft = _record(_forward("请评估处理。", STORY))
    assert mail.category is not None and (mail.category.value, mail.category.basis) == (3, "judged")
    assert "居民" in mail.category.reason
    assert (draft.category, draft.category_basis) == (3, "judged")


def test_the_reporters_phone_is_recorded_not_the_forwarders_signature() -> None:
    """The forwarder's signature (电话 0728-…, 手机 180…) sits above the original; the record
    has the number the reporter signed with at the end of the original."""
    note = "请评估处理。\n\n孙明\n网络部\n电话：0728-88886666\n手机：180 7123 4567"
    mail, draft = _record(_forward(note, STORY))
    assert draft.phone == "13060809393"
    assert draft.reporter_name == "李明"
    assert "0728-88886666" in mail.note  # the note is kept whole, signature and all


@pytest.mark.parametrize("name", ["mutt_forward_inline.eml", "mutt_forward_attached.eml",
                                  "snail_forward_inline.eml", "snail_forward_attached.eml"])
def test_mutt_and_s_nail_forwards_are_read_like_any_other(name: str) -> None:
    """Forwards made with real mutt 2.2 and s-nail 14.9: the original's sender, time and subject,
    a clean text (no copied header lines, no end marker, no note), the note kept (s-nail types
    it below the original), phone, reporter and the category the note states."""
    mail, draft = _record((CLIENTS / name).read_bytes())
    assert mail.original is not None and mail.original.sender is not None
    assert (mail.original.sender.name, mail.original.sender.email) == ("李明", "li.reporter@jcwb.example.cn")
    assert mail.original.sent_at == datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)
    assert mail.original.subject == "光谷小区手机没有信号"
    assert mail.text.startswith("您好，我是江城晚报记者李明。")
    for leak in ("Message-ID", "MIME-Version", "Content-", "User-Agent", "Status:", "End forwarded", "转综合部"):
        assert leak not in mail.text
    assert mail.note == "转综合部登记，请按三类媒体投诉处理。"
    assert draft.phone == "13060809393" and draft.reporter_name == "李明"
    assert (draft.category, draft.category_basis) == (3, "stated")


# --- phones: forwarder and reporter, any written form -----------------------------------------

_WRITTEN = st.sampled_from(["mobile", "landline"])


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), forwarder_kind=_WRITTEN, reporter_kind=_WRITTEN,
       signature=st.sampled_from(["lines", "bar", "dashdash", "english"]))
def test_the_reporters_phone_wins_over_the_forwarders_in_any_format(
        seed: int, forwarder_kind: str, reporter_kind: str, signature: str) -> None:
    """Random valid CN mobiles and landlines, each in a random written form, for the forwarder's
    signature above and the reporter's sign-off below: the record holds the reporter's digits."""
    rng = random.Random(seed)
    own = _mobile(rng) if forwarder_kind == "mobile" else _landline(rng)
    theirs = _mobile(rng) if reporter_kind == "mobile" else _landline(rng)
    signatures = {
        "lines": f"孙明\n网络部\n电话：{own.written}",
        "bar": f"孙明 | 网络部 主管 | {own.written}",
        "dashdash": f"--\n孙明\n江城通信公司 网络部\nTel: {own.written}",
        "english": f"Best regards,\nSun Ming\nNetwork Dept.\nM: {own.written}",
    }
    original = ("您好，我是江城晚报记者李明。光谷小区已经三天没有手机信号，居民反映强烈。\n\n"
                f"李明\n江城晚报\n电话：{theirs.written}\n")
    _, draft = _record(_forward(f"请评估处理。\n\n{signatures[signature]}", original))
    assert draft.phone == theirs.digits


@pytest.mark.parametrize(("written", "digits"), [
    ("130 6080 9393", "13060809393"), ("+86 130-6080-9393", "13060809393"), ("008613060809393", "13060809393"),
    ("１３０６０８０９３９３", "13060809393"), ("0728-8888 6666", "072888886666"), ("(0728)88886666", "072888886666"),
    ("+86 27 8888 6666", "02788886666"), ("86-10-65123456", "01065123456"), ("（027）87654321", "02787654321"),
])
def test_numbers_are_stored_as_digits(written: str, digits: str) -> None:
    """Mobiles as 11 digits; landlines as 0, area code and local number."""
    assert normalise(written) == digits


@pytest.mark.parametrize("text", ["2026-11-27 10:15", "订单号202611271234567", "热线10086", "QQ 123456789",
                                  "wh02788886666", "88886666", "金额4008.00元"])
def test_what_is_no_phone_is_not_read_as_one(text: str) -> None:
    assert mentions(text) == []


# --- customer numbers, reporters, outlets -----------------------------------------------------

def test_a_customers_number_is_the_customer_number_not_the_phone() -> None:
    """"其手机号码…" is the customer's; "联系电话：…" under the journalist's text is the journalist's."""
    original = ("您好：\n\n读者王女士向本报反映，其手机号码138 1234 5678在11月被重复扣费，请核实。\n\n"
                "联系电话：139-1234-5678\n\n楚天都市报 张伟\n")
    _, draft = _record(_forward("请处理。", original, sender="张伟 <zw@ctdsb.example.cn>"))
    assert draft.customer_number == "13812345678"
    assert draft.phone == "13912345678"
    assert draft.media_outlet == "楚天都市报"  # an outlet the directory does not know
    assert draft.reporter_name == "张伟"


@pytest.mark.parametrize(("intro", "name", "outlet"), [
    ("我叫王芳，是一名记者，在长江日报工作。", "王芳", "长江日报"),
    ("我是湖北经视的记者欧阳娜。", "欧阳娜", "湖北经视"),
    ("本人刘洋，荆楚网记者。", "刘洋", "荆楚网"),
    ("这里是澎湃新闻，我是记者陈静。", "陈静", "澎湃新闻"),
])
def test_self_introductions_name_the_reporter_and_the_outlet(intro: str, name: str, outlet: str) -> None:
    original = f"您好：\n\n{intro}光谷小区居民反映已经三天没有手机信号，请尽快处理。\n"
    _, draft = _record(_forward("请处理。", original, sender="<news123@163.com>"))
    assert (draft.reporter_name, draft.media_outlet) == (name, outlet)


def test_a_field_the_forwarder_typed_in_the_note_corrects_the_original() -> None:
    """记者：… typed by the forwarder wins over the original's sign-off; his signature does not count."""
    note = "请登记。\n记者：赵磊\n\n孙明\n网络部\n电话：0728-88886666"
    _, draft = _record(_forward(note, STORY))
    assert draft.reporter_name == "赵磊"
    assert draft.phone == "13060809393"


def test_a_signature_with_its_own_fields_is_still_a_signature() -> None:
    """工号：… and 传真：… lines do not stop the forwarder's signature: its 电话 is not the reporter's."""
    note = "王经理，这个是三类的，麻烦登记一下。\n\n孙明\n网络部\n工号：10086\n电话：027-87654321\n传真：027-87654322"
    _, draft = _record(_forward(note, STORY))
    assert draft.phone == "13060809393"
    assert (draft.category, draft.category_basis) == (3, "stated")


def test_what_the_forwarder_states_in_the_note_wins() -> None:
    """"记者电话：…" in a sentence of the note, and 媒体单位 typed there, over the original's."""
    _, draft = _record(_forward("请处理，记者电话：13911112222\n媒体单位：楚天都市报\n\n孙明 网络部 18071234567", STORY))
    assert draft.phone == "13911112222"
    assert draft.media_outlet == "楚天都市报"  # over the jcwb.example.cn domain
    assert draft.account_manager is None  # an outlet the directory does not know


# --- categories -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("请按三类媒体投诉登记", 3), ("属第二类。", 2), ("二类投诉，请处理", 2), ("按第4类处理", 4),
    ("类别：3", 3), ("类别: 五", 5), ("投诉类别为壹", 1), ("4类投诉", 4), ("定为第３类", 3),
])
def test_a_category_is_read_in_words_and_digits(text: str, value: int) -> None:
    found = stated(text)
    assert found is not None and found[0] == value


@pytest.mark.parametrize("text", ["这一类问题很常见", "同一类投诉", "我家有三类套餐可选", "不属于三类", "请处理。"])
def test_words_that_are_no_category_are_not_read_as_one(text: str) -> None:
    assert stated(text) is None


@pytest.mark.parametrize(("story", "value"), [
    ("我是你们的老用户，家里宽带断了一周，再不解决我就找楚天都市报曝光。", 1),
    ("我是江城晚报记者李明，我家的宽带最近一直掉线，多次报修无果。", 2),
    ("我是江城晚报记者李明，接到光谷小区业主反映，小区三天没有信号。", 3),
    ("现将江城晚报记者李明反映的断网问题转你公司，请核实处理。\n\n省公司综合部", 4),
    ("我是江城晚报记者李明，想咨询一下国际漫游的资费标准，不着急，方便时回复即可。", 5),
])
def test_a_category_is_judged_from_the_story(story: str, value: int) -> None:
    """SPEC §2's five kinds, each from a story told its own way; a judged category has a reason."""
    found = judged(story)
    assert found is not None and found.value == value and found.basis == "judged" and found.reason


def test_a_customers_complaint_without_any_media_has_no_category() -> None:
    assert judged("我家宽带断了三天，请尽快派人维修。") is None


# --- the invented corpus (bench/accuracy.py) ----------------------------------------------------

def test_invented_complaints_are_registered_right_on_every_field() -> None:
    """200 invented mails (many clients, charsets, people, wordings): every field ≥ 0.97."""
    from bench.accuracy import FIELDS, measure  # the bench's own checks

    mails = invent(200, seed=29)
    wrong = measure(mails)
    shares = {name: 1 - len(wrong[name]) / len(mails) for name in FIELDS}
    assert all(share >= 0.97 for share in shares.values()), shares


# --- hostile text: the new patterns stay linear ------------------------------------------------

@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", ["1", "1 ", "13", "+86 ", "我是", "记者", "三类", "第", "类别：", "我叫王", "报",
                                  "向江城晚报", "电话：", "联系电话：139 ", "\n李明\n", "——\n", "0728-"])
def test_hostile_repetitions_do_not_stall_the_field_readers(unit: str) -> None:
    """100 KB of one unit as a forward's original and as its note: parse() returns (the timeout
    mark is the hang guard; bench/pathological.py measures how fast)."""
    line = (unit * (100_000 // len(unit) + 1))[:98_000]
    for note, original in ((line, STORY), ("请处理。", line)):
        mail = parse(_forward(note, original), CTX)
        assert mail.kind is Kind.COMPLAINT
