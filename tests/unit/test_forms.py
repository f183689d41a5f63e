"""The registration form (媒体投诉登记表) as 综合部 opens it: every field, the clocks, the log."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from daemon.config import load_settings
from daemon.forms import CELL_LIMIT, registration_form
from models.tables import Case, Deadline, Event

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
DIRECTORY = SETTINGS.directory
TZ = SETTINGS.daemon.timezone
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # 10:15 in Asia/Shanghai
CASE_ID = "MT-20261127-0001"
COMPLAINT = ("本人是江城晚报记者，接到读者反映：光谷小区三期自11月20日起手机信号极差，"
             "室内基本无法通话，多次拨打客服热线均未解决。\n") * 30


def bare_case(**fields: object) -> Case:
    values: dict[str, object] = dict(
        id=CASE_ID, status="registered", received_at=T0, registered_at=T0 + timedelta(minutes=6),
        receiving_dept="network", source_key="<fwd@corp.example.com>", updated_at=T0,
    )
    values.update(fields)
    return Case(**values)


def full_case() -> Case:
    return bare_case(
        status="general_dept", category=2, receiver_email="zhang.net@corp.example.com",
        forwarder_email="zhang.net@corp.example.com", media_outlet="江城晚报", reporter_name="李记者",
        original_from_name="李明", original_from_email="li.reporter@jcwb.example.cn",
        original_sent_at=T0 - timedelta(minutes=5), original_subject="光谷小区没信号，请核实",
        phone="13912345678", customer_number="02788886666", complaint_text=COMPLAINT,
        category_basis="stated", category_reason="转发人注明", forwarder_note="转综合部登记，请按二类处理。",
        attachments=[{"filename": "现场照片.jpg", "content_type": "image/jpeg", "size": 1}],
        account_manager="陈静 <chen.am@corp.example.com>", solution="今晚加装室分设备，明日复测。",
        expected_completion_at=T0 + timedelta(hours=30), statement="已安排网络优化，预计明日恢复。",
        result="已加装设备，信号恢复正常。", resolved_at=T0 + timedelta(hours=28), late=True,
    )


DEADLINES = [
    Deadline(case_id=CASE_ID, kind="assess", due_at=T0 + timedelta(minutes=15),
             met_at=T0 + timedelta(minutes=20), late=True),
    Deadline(case_id=CASE_ID, kind="general_dept", due_at=T0 + timedelta(hours=1),
             breached_at=T0 + timedelta(hours=1, seconds=1)),
    Deadline(case_id=CASE_ID, kind="ack", round=4, due_at=T0 + timedelta(hours=1, minutes=10),
             met_at=T0 + timedelta(hours=1, minutes=5), target="general_dept/0/liu.gd@corp.example.com"),
    Deadline(case_id=CASE_ID, kind="ack", round=5, due_at=T0 + timedelta(hours=1, minutes=10),
             target="general_dept/0/sun@corp.example.com"),
    Deadline(case_id=CASE_ID, kind="progress", round=2, due_at=T0 + timedelta(hours=8)),
]
EVENTS = [
    Event(case_id=CASE_ID, at=T0 + timedelta(minutes=6), kind="registered", actor="complaintd",
          summary="登记为媒体投诉", message_id="<fwd@corp.example.com>", subject="转发：光谷小区没信号"),
    Event(case_id=CASE_ID, at=T0 + timedelta(minutes=20), kind="mail_in", actor="zhang.net@corp.example.com",
          summary="无法处理", message_id="<r1@corp.example.com>", subject="回复：[MT-20261127-0001] 媒体投诉已登记"),
]


def workbook(case: Case, deadlines: list[Deadline] = DEADLINES, events: list[Event] = EVENTS) -> Workbook:
    return load_workbook(io.BytesIO(registration_form(case, deadlines, events, DIRECTORY, TZ)))


def fields(ws: Worksheet) -> dict[str, object]:
    """The label/value rows up to the clock table; a value on several rows is joined by lines."""
    out: dict[str, object] = {}
    label = ""
    for first, value, *_ in ws.iter_rows(min_row=2, values_only=True):
        if first is None and value is None:
            break
        if first is None:  # the next row of a long value, under a merged label
            out[label] = f"{out[label]}\n{value}"
        else:
            label = str(first)
            out[label] = value
    return out


def row_of(ws: Worksheet, label: str) -> int:
    return next(c.row for c in ws["A"] if c.value == label)


def test_every_field_is_on_the_form_in_chinese() -> None:
    """A full record: labels and values round-trip, times in the configured zone, names from the directory."""
    ws = workbook(full_case())["媒体投诉登记表"]
    assert ws["A1"].value == "媒体投诉登记表" and ws["A1"].font.b
    assert "A1:E1" in {str(r) for r in ws.merged_cells.ranges}
    got = fields(ws)
    assert got == {
        "编号": CASE_ID, "登记时间": "2026-11-27 10:21", "接收时间": "2026-11-27 10:15", "接收部门": "网络部",
        "接收人员": "张伟 <zhang.net@corp.example.com>", "转发人": "张伟 <zhang.net@corp.example.com>",
        "媒体单位": "江城晚报", "记者/联系人": "李记者", "原发件人": "李明",
        "原发件人邮箱": "li.reporter@jcwb.example.cn", "联系电话": "13912345678",
        "客户号码": "02788886666", "投诉类别": "2. 媒体人员投诉公司业务、网络、工程、服务（依据：转发人注明）",
        "原邮件主题": "光谷小区没信号，请核实", "原邮件时间": "2026-11-27 10:10", "投诉内容": COMPLAINT,
        "转发人附言": "转综合部登记，请按二类处理。",
        "附件": "现场照片.jpg", "客户经理": "陈静 <chen.am@corp.example.com>", "处理方案": "今晚加装室分设备，明日复测。",
        "预计完成时间": "2026-11-28 16:15", "处理结果": "已加装设备，信号恢复正常。", "办结时间": "2026-11-28 14:15",
        "对外解释口径": "已安排网络优化，预计明日恢复。", "状态": "综合部处理（迟报）",
    }
    content = row_of(ws, "投诉内容")
    assert ws.cell(content, 2).alignment.wrap_text
    assert all(100 < (ws.row_dimensions[r].height or 0) <= 409 for r in range(content, content + 3))
    assert f"A{content}:A{content + 2}" in {str(r) for r in ws.merged_cells.ranges}  # 61 lines: 3 rows
    label = ws.cell(row_of(ws, "编号"), 1)
    assert label.font.b and label.fill.fill_type == "solid" and label.border.left.style == "thin"


def test_clocks_table_lists_each_deadline_and_how_it_went() -> None:
    """One row per deadline: label (with the round, or for an answer awaited, whose: the
    directory's name, the address when it names nobody), due, met, breached, 迟报 when late."""
    ws = workbook(full_case())["媒体投诉登记表"]
    title = row_of(ws, "各时限及完成情况")
    rows = [r[:5] for r in ws.iter_rows(min_row=title + 1, values_only=True)]
    assert rows == [
        ("时限", "到期", "完成", "超时", "备注"),
        ("评估答复（可处理/无法处理）", "2026-11-27 10:30", "2026-11-27 10:35", None, "迟报"),
        ("上报综合部（附登记表）", "2026-11-27 11:15", None, "2026-11-27 11:15", None),
        ("确认回复（刘洋）", "2026-11-27 11:25", "2026-11-27 11:20", None, None),
        ("确认回复（sun@corp.example.com）", "2026-11-27 11:25", None, None, None),
        ("动态报告 第2次", "2026-11-27 18:15", None, None, None),
    ]
    assert all(ws.cell(title + 3, c).border.bottom.style == "thin" for c in range(1, 6))


def test_a_mostly_empty_record_still_makes_a_form() -> None:
    """Only the required fields: empty cells, category 待定, department by name, no clocks or events."""
    wb = workbook(bare_case(), deadlines=[], events=[])
    got = fields(wb["媒体投诉登记表"])
    assert got["编号"] == CASE_ID and got["接收部门"] == "网络部" and got["状态"] == "已登记"
    assert got["投诉类别"] == "待定"
    for label in ("接收人员", "转发人", "媒体单位", "记者/联系人", "原发件人", "原发件人邮箱", "联系电话", "原邮件时间",
                  "投诉内容", "预计完成时间", "处理结果"):
        assert got[label] is None, label
    log = wb["媒体投诉相关记录"]
    assert log.max_row == 2 and log.freeze_panes == "A3"


def test_event_log_sheet_has_a_title_and_a_frozen_filtered_header() -> None:
    """Sheet 2 is the 媒体投诉相关记录 of the case, titled so on paper: one row per event,
    header bold, frozen and filtered, both repeated on every printed page."""
    log = workbook(full_case())["媒体投诉相关记录"]
    rows = list(log.iter_rows(values_only=True))
    assert rows[0][0] == f"媒体投诉相关记录（{CASE_ID}）" and log["A1"].font.b
    assert "A1:F1" in {str(r) for r in log.merged_cells.ranges}
    assert rows[1] == ("时间", "人员", "事项", "说明", "邮件主题", "Message-ID")
    assert rows[2:] == [
        ("2026-11-27 10:21", "complaintd", "登记", "登记为媒体投诉", "转发：光谷小区没信号", "<fwd@corp.example.com>"),
        ("2026-11-27 10:35", "zhang.net@corp.example.com", "来信", "无法处理",
         "回复：[MT-20261127-0001] 媒体投诉已登记", "<r1@corp.example.com>"),
    ]
    assert log["A2"].font.b and log.freeze_panes == "A3" and log.auto_filter.ref == "A2:F4"
    assert log.print_title_rows == "$1:$2"


def test_the_form_prints_on_a4_one_page_wide() -> None:
    """A4 portrait, fit to one page width, the title repeated on every page."""
    wb = workbook(full_case())
    ws = wb["媒体投诉登记表"]
    assert int(ws.page_setup.paperSize or 0) == 9 and ws.page_setup.orientation == "portrait"  # 9 is A4
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1"
    assert wb.sheetnames == ["媒体投诉登记表", "媒体投诉相关记录"]


def test_complaint_text_is_data_never_a_formula() -> None:
    """Text starting with "=" stays text; control characters XML cannot carry are dropped; overlong text is cut."""
    wb = workbook(bare_case(complaint_text="=HYPERLINK(\"http://evil\")\x07", media_outlet="+1 报社",
                            original_subject="x" * (CELL_LIMIT + 10)), deadlines=[], events=[])
    ws = wb["媒体投诉登记表"]
    cell = ws.cell(row_of(ws, "投诉内容"), 2)
    assert cell.value == "=HYPERLINK(\"http://evil\")" and cell.data_type == "s"
    assert ws.cell(row_of(ws, "媒体单位"), 2).data_type == "s"
    subject = str(ws.cell(row_of(ws, "原邮件主题"), 2).value)
    assert len(subject) == CELL_LIMIT and subject.endswith("全文见登记记录）")


def test_one_huge_paragraph_is_cut_into_printable_rows() -> None:
    """A complaint longer than one row can show is spread over rows, none over Excel's height limit."""
    text = "信号差" * 3000
    ws = workbook(bare_case(complaint_text=text), deadlines=[], events=[])["媒体投诉登记表"]
    first = row_of(ws, "投诉内容")
    last = row_of(ws, "附件") - 1
    assert last - first >= 5
    assert "".join(str(ws.cell(r, 2).value) for r in range(first, last + 1)) == text
    assert all((ws.row_dimensions[r].height or 0) <= 409 for r in range(first, last + 1))


def test_a_long_message_id_is_never_clipped() -> None:
    """Our Message-IDs run to ~95 characters and Outlook's nearly as long: each wraps within
    its column, and the row is tall enough for it with a line to spare, since a spreadsheet
    breaks it where it can, not at the column's last character."""
    ids = ["<MT-20261127-0001.completion_overdue.1795747560.9f3a0123456789ab@complaintd.corp.example.com>",
           "<TYZPR06MB6213A1B2C3D4E5F60718293A4B5C6D7E8F@TYZPR06MB6213.apcprd06.prod.outlook.com>"]
    events = [Event(case_id=CASE_ID, at=T0, kind="mail_out", actor="complaintd", summary="已发送给 sun@corp.example.com",
                    message_id=mid) for mid in ids]
    log = workbook(full_case(), events=events)["媒体投诉相关记录"]
    width = log.column_dimensions["F"].width
    for row in (3, 4):
        cell = log.cell(row, 6)
        assert cell.value in ids and cell.alignment.wrap_text
        lines = math.ceil(len(str(cell.value)) / width) + 1
        assert (log.row_dimensions[row].height or 15) >= lines * 15, (cell.value, width)
