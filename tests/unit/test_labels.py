"""One word for one thing: `complaintd show`, the registration form and the register export
name each field of a case with its label from models/labels.py, and show the same value
under it; the registration mail uses the same labels.

The case is made as the daemon makes one: an Outlook forward through the intake into a
SQLite register, then filled in to the last field as replies and 综合部 would fill it. The
outputs come from that register through the code that prints `show`, attaches the form and
writes the export.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from daemon.config import Settings, load_settings
from daemon.export import HEADERS, export_register
from daemon.file_source import FileSource
from daemon.forms import registration_form
from daemon.intake import Intake
from daemon.queries import load_case
from daemon.rendering import Renderer
from daemon.store import open_engine, session
from daemon.views import CASE_FIELDS, FORM_FIELDS, case_text
from models.directory import Person
from models.labels import CLOCK_LABELS, CLOCK_PARTS, CLOCK_TABLE, FIELD_LABELS
from models.tables import Case, Outbox
from tests.support.mail import ROOT, T0, outlook_forward

SETTINGS: Settings = load_settings(ROOT / "config.toml", env={})
NOW = T0 + timedelta(days=1)
VOCABULARY = set(FIELD_LABELS.values())
CLOCK_HEADERS = {f"{name}{part}" for name in CLOCK_LABELS.values() for part in CLOCK_PARTS}
TIMES = frozenset({"received_at", "registered_at", "original_sent_at", "expected_completion_at", "resolved_at"})
# The export keeps 类别依据/类别说明 and 迟报 in columns of their own: its 投诉类别 and 状态
# cells hold the bare category and status, where the form and `show` add them in brackets.
SPLIT_IN_EXPORT = frozenset({"category", "status"})


@dataclass(frozen=True)
class Outputs:
    show: list[tuple[str, str]]  # label, value: the field lines of `complaintd show`
    form: list[tuple[str, str]]  # label, value: the rows of the 媒体投诉登记表 sheet
    csv: dict[str, str]  # header → value: the case's row of `complaintd export --format csv`
    xlsx_header: tuple[str, ...]
    mail: list[tuple[str, str]]  # label, value: the 【登记内容】 lines of the registration mail


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    tmp = tmp_path_factory.mktemp("labels")
    engine = open_engine(f"sqlite:///{tmp}/register.sqlite3")
    intake = Intake(SETTINGS, engine, Renderer(SETTINGS.daemon.timezone,
                                               Person("媒体投诉处理", "complaints@corp.example.com")))
    path = tmp / "forward.eml"
    path.write_bytes(outlook_forward(1, forwarder="sun@corp.example.com"))
    source = FileSource([path])
    outcome = intake.handle(source, next(source.fetch_new()), T0 + timedelta(minutes=10))
    assert outcome is not None and outcome.case_id
    with session(engine) as db:
        case = db.get(Case, outcome.case_id)
        assert case is not None
        for name, value in {
            "status": "resolved", "category": 2, "category_basis": "stated", "category_reason": "转发人注明",
            "receiver_email": "zhang.net@corp.example.com", "forwarder_note": "请按二类处理。",
            "original_from_name": "李明", "customer_number": "02788886666",
            "attachments": [{"filename": "现场照片.jpg", "content_type": "image/jpeg", "size": 1}],
            "account_manager": "陈静 <chen.am@corp.example.com>", "solution": "今晚加装室分设备。",
            "expected_completion_at": T0 + timedelta(hours=30), "statement": "已安排网络优化。",
            "resolved_at": T0 + timedelta(hours=5), "result": "信号恢复正常。", "late": True,
        }.items():
            setattr(case, name, value)
        db.add(case)
        db.commit()
        ack = db.exec(select(Outbox).where(Outbox.case_id == outcome.case_id, Outbox.step == "ack")).first()
        assert ack is not None
    record = load_case(engine, outcome.case_id)
    assert record is not None
    tz, directory = SETTINGS.daemon.timezone, SETTINGS.directory

    show = _show_fields(case_text(record, tz, directory))
    form_sheet = load_workbook(io.BytesIO(registration_form(record.case, record.deadlines, record.events,
                                                            directory, tz))).worksheets[0]
    exported = export_register(engine, tz, directory, "csv", None, "all", NOW)
    header, row = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"), newline="")))
    xlsx = load_workbook(io.BytesIO(export_register(engine, tz, directory, "xlsx", None, "all", NOW)))
    engine.dispose()
    return Outputs(show=show, form=_form_rows(form_sheet), csv=dict(zip(header, row, strict=True)),
                   xlsx_header=tuple(str(c.value) for c in xlsx.worksheets[0][1]), mail=_mail_fields(ack.data))


def _label_value(text: str) -> tuple[str, str]:
    label, _, value = text.partition("：")
    return label, value.strip()


def _show_fields(text: str) -> list[tuple[str, str]]:
    """The "label：value" lines down to the first blank line, then 投诉内容 with the text on
    the lines below it, down to the clocks."""
    fields, rest = text.split("\n\n", 1)
    complaint = f"{FIELD_LABELS['complaint_text']}：\n"
    assert rest.startswith(complaint)
    return [*(_label_value(line) for line in fields.splitlines()),
            (FIELD_LABELS["complaint_text"], rest.removeprefix(complaint).split(f"\n\n{CLOCK_TABLE[0]}：", 1)[0])]


def _form_rows(ws: object) -> list[tuple[str, str]]:
    """The label/value rows down to the blank row before the clocks; a value over several
    rows (the complaint) under one merged label is joined."""
    rows: list[tuple[str, str]] = []
    for label, value, *_ in ws.iter_rows(min_row=2, values_only=True):  # type: ignore[attr-defined]
        if label is None and value is None:
            break
        if label is None:
            rows[-1] = (rows[-1][0], f"{rows[-1][1]}\n{value}")
        else:
            rows.append((str(label), "" if value is None else str(value)))
    return rows


def _mail_fields(data: bytes) -> list[tuple[str, str]]:
    """The "label：value" lines of the registration mail's 【登记内容】 block (the complaint,
    under its label, ends it)."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    block = text.split("【登记内容】\n", 1)[1]
    lines = []
    for line in block.splitlines():
        lines.append(_label_value(line))
        if line.startswith(FIELD_LABELS["complaint_text"]):
            return lines
    raise AssertionError("the registration mail has no complaint")


def test_show_form_and_export_name_every_field_of_the_form_alike(outputs: Outputs) -> None:
    """Each field of the registration form is on all three, under its one label."""
    show, form = dict(outputs.show), dict(outputs.form)
    for name in FORM_FIELDS:
        label = FIELD_LABELS[name]
        assert label in show, f"show: no {label} ({name})"
        assert label in form, f"form: no {label} ({name})"
        assert label in outputs.csv, f"export: no {label} ({name})"


def test_no_output_words_a_field_another_way(outputs: Outputs) -> None:
    """Every label any of them writes is in the vocabulary, once: a second wording
    (预计完成 beside 预计完成时间, 对外口径, …) would be a label it does not know."""
    for where, labels in (("show", [label for label, _ in outputs.show]),
                          ("form", [label for label, _ in outputs.form]),
                          ("mail", [label for label, _ in outputs.mail])):
        assert set(labels) <= VOCABULARY, f"{where}: {sorted(set(labels) - VOCABULARY)}"
        assert len(labels) == len(set(labels)), f"{where} repeats a label"
    assert [label for label, _ in outputs.form] == [FIELD_LABELS[name] for name in FORM_FIELDS]
    assert {label for label, _ in outputs.show} == {label for label, _ in outputs.form}
    export = list(outputs.csv)
    assert export == list(outputs.xlsx_header) == list(HEADERS)
    assert export[:len(CASE_FIELDS)] == [FIELD_LABELS[name] for name in CASE_FIELDS]
    assert set(export[len(CASE_FIELDS):]) <= CLOCK_HEADERS


def test_each_field_shows_the_same_value_under_its_label(outputs: Outputs) -> None:
    """原发件人 is the name and 原发件人邮箱 the address on all three; 接收人员 is the
    directory's "name <address>" on all three; times agree to the minute (show adds seconds)."""
    show, form = dict(outputs.show), dict(outputs.form)
    for name in FORM_FIELDS:
        label = FIELD_LABELS[name]
        shown = show[label][:16] if name in TIMES else show[label]
        assert shown == form[label], label
        if name not in SPLIT_IN_EXPORT:
            assert outputs.csv[label] == form[label], label
    assert form["原发件人"] == "李明" and form["原发件人邮箱"] == "li.reporter@jcwb.example.cn"
    assert form["记者/联系人"] == "李记者"
    assert form["接收人员"] == "张伟 <zhang.net@corp.example.com>"
    assert form["预计完成时间"] == "2026-11-28 16:15" and form["对外解释口径"] == "已安排网络优化。"


def test_the_registration_mail_shows_the_sender_as_the_form_does(outputs: Outputs) -> None:
    """The mail names the journalist and the original's sender with the same two labels."""
    mail = dict(outputs.mail)
    assert mail[FIELD_LABELS["reporter_name"]] == "李记者"
    assert mail[FIELD_LABELS["original_from_name"]] == "李记者"  # as registered, before the correction
    assert mail[FIELD_LABELS["original_from_email"]] == "li.reporter@jcwb.example.cn"


def test_labels_module_has_a_label_per_record_field() -> None:
    """`--json`'s field names and the labels are the same set: a new field needs its words."""
    assert set(FIELD_LABELS) == set(CASE_FIELDS)
    assert len(set(FIELD_LABELS.values())) == len(FIELD_LABELS)  # no two fields share a label
    assert set(FORM_FIELDS) <= set(CASE_FIELDS)
