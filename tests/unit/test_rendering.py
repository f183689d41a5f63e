"""Case mail as people receive it: Chinese, threaded, marked automatic, and never code."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from daemon.config import load_settings
from daemon.outbox import Mail, Thread, outbox_rows
from daemon.rendering import TOKEN_LENGTH, Renderer, token_of
from daemon.views import mail_context
from models.directory import Person
from models.registration import intake_deadlines
from models.tables import Case

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
DIRECTORY = SETTINGS.directory
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
RENDERER = Renderer(SETTINGS.daemon.timezone, Person("媒体投诉处理", "complaints@corp.example.com"))
SUN = Person("孙明", "sun@corp.example.com")


def case(**fields: object) -> Case:
    values: dict[str, object] = dict(
        id="MT-20261127-0001", status="registered", received_at=T0, registered_at=T0 + timedelta(minutes=6),
        receiving_dept="network", receiver_email="sun@corp.example.com", forwarder_email="sun@corp.example.com",
        source_key="<x@y>", updated_at=T0, complaint_text="小区没有信号。",
    )
    values.update(fields)
    return Case(**values)


def full_case() -> Case:
    return case(category=2, media_outlet="江城晚报", reporter_name="李记者", original_from_name="李记者",
                original_from_email="li.reporter@jcwb.example.cn", original_sent_at=T0,
                original_subject="小区没信号", phone="13912345678", customer_number="02788886666",
                attachments=[{"filename": "现场照片.jpg", "content_type": "image/jpeg", "size": 1}],
                account_manager="陈静 <chen.am@corp.example.com>")


def ack(c: Case, to: list[Person], cc: list[Person], now: datetime = T0 + timedelta(minutes=6)) -> list[email.message.EmailMessage]:
    deadlines = intake_deadlines(c.received_at, DIRECTORY.general_dept if c.forwarder_email is None
                                 else DIRECTORY.department("network"), SETTINGS.deadlines, now)
    context = mail_context(c, deadlines, DIRECTORY)
    context["greeting"] = "孙明"
    rows = outbox_rows(RENDERER, DIRECTORY, Mail(c.id, "ack", "ack", context, to, cc,
                                                 thread=Thread("<fwd@corp.example.com>", ("<fwd@corp.example.com>",))),
                       now, SETTINGS.message_id_domain)
    return [email.message_from_bytes(r["data"], policy=email.policy.default) for r in rows]  # type: ignore[misc]


def test_every_recipient_has_their_own_token_in_the_subject_tag() -> None:
    """A client that drops threading headers still proves which copy it answers: the subject
    tag carries that recipient's token, the start of the random part of their Message-ID."""
    msgs = ack(full_case(), [SUN], list(DIRECTORY.mailboxes(DIRECTORY.general_dept)))
    assert len(msgs) == 3
    tokens = set()
    for msg in msgs:
        token = token_of(msg["Message-ID"])
        assert len(token) == TOKEN_LENGTH and token in msg["Message-ID"]
        assert msg["Subject"].startswith(f"[MT-20261127-0001·{token}] 媒体投诉已登记")
        tokens.add(token)
    assert len(tokens) == 3


def text_of(msg: email.message.EmailMessage, kind: str = "plain") -> str:
    return msg.get_body((kind,)).get_content()  # type: ignore[union-attr]


def test_acknowledgment_reads_like_a_colleague_wrote_it() -> None:
    """Chinese subject with the case tag and the first deadline; the record and clocks in the body."""
    msgs = ack(full_case(), [SUN], list(DIRECTORY.mailboxes(DIRECTORY.general_dept)))
    msg = msgs[0]
    token = token_of(msg["Message-ID"])
    assert msg["Subject"] == f"[MT-20261127-0001·{token}] 媒体投诉已登记：江城晚报 — 请于 11-27 10:30 前评估答复（可处理/无法处理）"
    body = text_of(msg)
    for words in ("孙明：", "您转来的媒体投诉已登记，编号 MT-20261127-0001", "媒体单位：江城晚报",
                  "记者/联系人：李记者\n", "原发件人邮箱：li.reporter@jcwb.example.cn", "联系电话：13912345678",
                  "接收时间：2026-11-27 10:15", "11-27 11:15  上报综合部（附登记表）", "附件：现场照片.jpg",
                  "无法处理", "抄送综合部"):
        assert words in body
    assert "<td>江城晚报</td>" in text_of(msg, "html")


def test_every_copy_is_threaded_automatic_and_has_its_own_message_id() -> None:
    """One copy per recipient; each threads under the forward and asks robots to stay quiet."""
    msgs = ack(full_case(), [SUN], list(DIRECTORY.mailboxes(DIRECTORY.general_dept)))
    assert len({m["Message-ID"] for m in msgs}) == len(msgs) == 3
    for msg in msgs:
        assert msg["Message-ID"].endswith("@complaintd.corp.example.com>")
        assert msg["In-Reply-To"] == "<fwd@corp.example.com>"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["To"] == "孙明 <sun@corp.example.com>"
        assert "综合部 <zonghe@corp.example.com>" in msg["Cc"]


def test_a_mostly_empty_record_still_renders() -> None:
    """No outlet, reporter or numbers: the mail says so, and asks for corrections."""
    body = text_of(ack(case(), [SUN], [])[0])
    assert "媒体单位：未识别（请回复“媒体单位：……”更正）" in body
    assert "投诉类别：待定（请回复“类别：1-5”）" in body
    assert "联系电话：—" in body


def test_late_registration_is_flagged() -> None:
    """Registered after the assessment clock ran out: the mail says 迟报 where it applies."""
    late = full_case()
    late.late = True  # as registration marks it
    body = text_of(ack(late, [SUN], [], now=T0 + timedelta(minutes=40))[0])
    assert "注意：登记时已有时限过期（迟报）" in body
    assert "评估答复（可处理/无法处理）（已超时，迟报）" in body


def test_complaint_text_is_data_never_template_or_markup() -> None:
    """Jinja syntax stays literal; HTML is escaped; CR/LF in a subject or name never makes a header."""
    hostile = case(complaint_text="{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %} <script>alert(1)</script>",
                   original_subject="坏\r\nBcc: everyone@example.com", media_outlet="江城晚报\nX-Evil: 1")
    msg = ack(hostile, [Person("孙\r\n明", "sun@corp.example.com")], [])[0]
    body = text_of(msg)
    assert "{{ 7 * 7 }}" in body and "49" not in body
    assert "&lt;script&gt;" in text_of(msg, "html") and "<script>" not in text_of(msg, "html")
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in msg["Subject"]


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    """StrictUndefined: a template that names something the code forgot fails loudly."""
    with pytest.raises(UndefinedError):
        RENDERER.parts("ack", {"greeting": "x"}, "MT-20261127-0001")


def test_quarantine_notice_renders() -> None:
    """The notice to 综合部 names the message, the folder and the reason."""
    parts = RENDERER.parts("quarantine", {
        "greeting": "综合部", "folder": "Quarantine",
        "mail": {"mailbox": "imap://box/INBOX", "uid": "42", "sender": "x@y.example", "subject": "坏邮件",
                 "seen_at": T0, "size": 10, "reason": "empty message"}})
    assert parts.subject == "投诉邮箱有一封来信无法自动登记，已隔离：坏邮件"
    assert "原因：empty message" in parts.text and "UID 42" in parts.text


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def composed(attachments: list[tuple[str, str, bytes]]) -> bytes:
    parts = RENDERER.parts("ack", {**mail_context(full_case(), [], DIRECTORY), "greeting": "刘洋"},
                           "MT-20261127-0001")
    return RENDERER.compose(parts, to=[SUN], message_id="<a.b@complaintd.corp.example.com>",
                            date=T0, attachments=attachments)


def test_the_registration_form_travels_as_an_attachment_with_its_chinese_name() -> None:
    """With a file the mail is multipart/mixed: both bodies still found, the file named and intact."""
    form = bytes(range(256)) * 40
    data = composed([("媒体投诉登记表-MT-20261127-0001.xlsx", XLSX, form)])
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/mixed" and not msg.defects
    assert "媒体投诉已登记" in text_of(msg) and "江城晚报" in text_of(msg, "html")
    files = list(msg.iter_attachments())
    assert len(files) == 1
    assert files[0].get_content_type() == XLSX and files[0].get_content_disposition() == "attachment"
    assert files[0].get_filename() == "媒体投诉登记表-MT-20261127-0001.xlsx"
    assert files[0].get_content() == form
    # Both spellings of the name are there, for clients that read only one of them.
    start = data.index(b"Content-Type: " + XLSX.encode())
    head = data[start:data.index(b"\r\n\r\n", start)].decode("ascii")
    assert "filename*=utf-8''%E5%AA%92%E4%BD%93" in head and 'filename="=?utf-8?b?' in head
    assert "name*=utf-8''" in head and ' name="=?utf-8?b?' in head


def test_the_mails_of_one_decision_carry_one_registration_form_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision with two form-carrying mails (综合部's takeover, the group), each to several
    people: every copy carries the same file, built once, since all of them show the same
    case version."""
    import daemon.forms
    from daemon.escalation import RegistrationForm, case_mail
    from models.policy import Notify, Step

    built: list[str] = []
    real = daemon.forms.registration_form
    monkeypatch.setattr(daemon.forms, "registration_form", lambda c, *rest: built.append(c.id) or real(c, *rest))
    gd = DIRECTORY.mailboxes(DIRECTORY.general_dept)
    group = (DIRECTORY.department("network").interface_a, DIRECTORY.leaders.company)
    c = full_case()
    form = RegistrationForm(SETTINGS, c, [], [])
    files = []
    for notify in (Notify(Step.GENERAL_DEPT, 0, gd, (SUN,), (), T0, attach_form=True),
                   Notify(Step.GROUP, 0, group, gd, (), T0, attach_form=True)):
        for row in outbox_rows(RENDERER, DIRECTORY, case_mail(SETTINGS, c, [], [], notify, T0, form=form), T0,
                               SETTINGS.message_id_domain):
            msg = email.message_from_bytes(row["data"], policy=email.policy.default)  # type: ignore[arg-type]
            files += [f.get_content() for f in msg.iter_attachments()]  # type: ignore[attr-defined]
    assert built == [c.id]
    assert len(files) >= 6 and len(set(files)) == 1 and files[0].startswith(b"PK")  # one XLSX (a zip)


def test_without_attachments_the_mail_is_unchanged() -> None:
    """No files: multipart/alternative as before, no mixed boundary anywhere."""
    data = composed([])
    assert b"=_complaintd_mixed" not in data
    assert email.message_from_bytes(data, policy=email.policy.default).get_content_type() == "multipart/alternative"


def test_a_long_attachment_name_is_split_not_overlong() -> None:
    """A name too long for one header line goes in RFC 2231 continuations and still reads back whole."""
    name = "媒体投诉登记表" * 20 + ".xlsx"
    data = composed([(name, XLSX, b"x"), ("notes.bin", "application/octet-stream", b"\x00\xff")])
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(data, policy=email.policy.default)
    files = list(msg.iter_attachments())
    assert [f.get_filename() for f in files] == [name, "notes.bin"]
    assert [f.get_content() for f in files] == [b"x", b"\x00\xff"]


@pytest.mark.parametrize("hostile", [
    "<" + "x" * 1_000_000 + "@evil.example>",  # a 1 MB id
    "no-brackets@evil.example",
    "<caf\u00e9@evil.example>",  # 8-bit
    "<a@b>\r\nBcc: boss@corp.example.com",
])
def test_hostile_inbound_ids_are_never_echoed_in_threading_headers(hostile: str) -> None:
    """The forward's own Message-ID threads our ack under it, but only a well-formed one:
    every header line stays within RFC 5322's 998 characters and nothing is injected."""
    c = full_case()
    context = mail_context(c, [], DIRECTORY)
    context["greeting"] = "孙明"
    rows = outbox_rows(RENDERER, DIRECTORY, Mail(c.id, "ack", "ack", context, [SUN],
                                                 thread=Thread(hostile, ("<ok@corp.example.com>", hostile))),
                       T0, SETTINGS.message_id_domain)
    data: bytes = rows[0]["data"]  # type: ignore[assignment]
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["In-Reply-To"] is None and msg["Bcc"] is None
    assert str(msg["References"]) == "<ok@corp.example.com>"


def test_each_copy_answers_its_own_recipients_earlier_mail() -> None:
    """People who each hold an earlier copy of their own: each new copy answers that copy
    (with its ancestors), names nobody else's, and still carries its own token in the tag;
    someone who has had no mail yet gets a copy that starts their conversation."""
    c = full_case()
    context = {**mail_context(c, [], DIRECTORY), "greeting": "孙明"}
    liu, zonghe = DIRECTORY.mailboxes(DIRECTORY.general_dept)[::-1]
    own = {SUN.email: Thread("<ack.sun@complaintd.corp.example.com>",
                             ("<fwd@corp.example.com>", "<ack.sun@complaintd.corp.example.com>")),
           liu.email: Thread("<ack.liu@complaintd.corp.example.com>", ("<ack.liu@complaintd.corp.example.com>",))}
    rows = outbox_rows(RENDERER, DIRECTORY, Mail(c.id, "ack", "ack", context, [SUN], [liu, zonghe],
                                                 thread=Thread(own=own)), T0, SETTINGS.message_id_domain)
    msgs = {str(r["recipient"]): email.message_from_bytes(r["data"], policy=email.policy.default)  # type: ignore[arg-type]
            for r in rows}
    assert msgs[SUN.email]["In-Reply-To"] == "<ack.sun@complaintd.corp.example.com>"
    assert str(msgs[SUN.email]["References"]).split() == ["<fwd@corp.example.com>",
                                                          "<ack.sun@complaintd.corp.example.com>"]
    assert msgs[liu.email]["In-Reply-To"] == "<ack.liu@complaintd.corp.example.com>"
    assert msgs[zonghe.email]["In-Reply-To"] is None and msgs[zonghe.email]["References"] is None
    for msg in msgs.values():
        assert msg["Subject"].startswith(f"[MT-20261127-0001·{token_of(msg['Message-ID'])}] ")


def greeting_of(rows: list[dict[str, object]]) -> str:
    """The salutation a recipient reads first: the plain text's first line."""
    msg = email.message_from_bytes(rows[0]["data"], policy=email.policy.default)  # type: ignore[arg-type]
    return text_of(msg).splitlines()[0]


def test_people_are_greeted_by_their_directory_name_or_else_their_address() -> None:
    """The directory's name whenever it names the person, whatever their mail's From said; an
    address only for someone it does not name (孙明 is 网络部 staff by address alone): the
    same salutation in the registration mail as in every later mail."""
    from sqlalchemy import create_engine

    from daemon.escalation import case_mail
    from daemon.intake import Intake
    from models.policy import Notify, Step
    from parsers.message import Address, Kind, ParsedMail

    intake = Intake(SETTINGS, create_engine("sqlite://"), RENDERER)
    forward = ParsedMail(Kind.COMPLAINT, "", message_id="<fwd@corp.example.com>", subject="转发: 没信号",
                         sender=Address("同事1", "sun@corp.example.com"))
    deadlines = intake_deadlines(T0, DIRECTORY.department("network"), SETTINGS.deadlines, T0)  # type: ignore[arg-type]
    assert greeting_of(intake._acknowledgment(case(), deadlines, forward, T0)) == "sun@corp.example.com："
    direct = intake._acknowledgment(case(forwarder_email=None, receiving_dept="general_dept"), deadlines, forward, T0)
    assert greeting_of(direct) == "综合部、刘洋："

    def mail_to(*people: Person) -> str:
        notify = Notify(Step.ASSESS_OVERDUE, 0, people, (), (), T0)
        return greeting_of(outbox_rows(RENDERER, DIRECTORY, case_mail(SETTINGS, case(), [], [], notify, T0),
                                       T0, SETTINGS.message_id_domain))

    assert mail_to(Person("", "sun@corp.example.com")) == "sun@corp.example.com："
    assert mail_to(Person("Wang Qiang", "wang.net@corp.example.com"), Person("", "zhang.net@corp.example.com")) \
        == "王强、张伟："


def test_the_clocks_in_a_mail_are_listed_in_the_order_they_fall_due() -> None:
    """The 综合部 mail lists the registration's clocks and those its takeover started (group,
    progress) by due time, as a person reads "what comes when", not in the order they were made."""
    from daemon.escalation import case_mail
    from models.policy import Notify, Step
    from models.tables import Deadline

    due = {"assess": 15, "account_manager": 30, "general_dept": 60, "solution": 240, "normal_completion": 72 * 60,
           "group": 120, "progress": 300}  # minutes after receipt; the last two made at the takeover
    clocks = [Deadline(case_id="MT-20261127-0001", kind=kind, due_at=T0 + timedelta(minutes=m)) for kind, m in due.items()]
    notify = Notify(Step.GENERAL_DEPT, 0, DIRECTORY.mailboxes(DIRECTORY.general_dept), (), (), T0 + timedelta(hours=1))
    rows = outbox_rows(RENDERER, DIRECTORY, case_mail(SETTINGS, full_case(), clocks, [], notify, T0 + timedelta(hours=1)),
                       T0, SETTINGS.message_id_domain)
    text = text_of(email.message_from_bytes(rows[0]["data"], policy=email.policy.default))  # type: ignore[arg-type]
    listed = text.split("【处理时限】", 1)[1].split("【", 1)[0]
    times = [line[2:13] for line in listed.splitlines() if line.startswith("- ")]
    assert len(times) == len(due) and times == sorted(times), listed


def test_a_case_mail_subject_names_the_case_once_in_its_tag() -> None:
    """The tag [MT-…·token] already names the case: no subject repeats the number after it."""
    from daemon.escalation import case_mail
    from models.policy import Notify, Step
    from models.types import AckTarget

    people = (SUN,)
    extra = {"done": ["已确认收到"], "claimed": SUN.email, "their_subject": "回复", "understood": ["收到"],
             "from_address": "li.reporter@jcwb.example.cn", "their_text": "补充"}
    for step in Step:
        notify = Notify(step, 1, people, (), (), T0, False, False,
                        AckTarget(Step.FAILOVER, 0, DIRECTORY.general_dept.interface_a.email))
        (row,) = outbox_rows(RENDERER, DIRECTORY, case_mail(SETTINGS, full_case(), [], [], notify, T0, **extra),
                             T0, SETTINGS.message_id_domain)
        subject = str(email.message_from_bytes(row["data"], policy=email.policy.default)["Subject"])  # type: ignore[arg-type]
        assert subject.count("MT-20261127-0001") == 1, subject
