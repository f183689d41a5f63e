"""`complaintd export`: the register as XLSX (with its statistics) and as CSV, opened as 综合部 would."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.engine import Engine
from sqlmodel import select

from daemon.config import Settings, load_settings
from daemon.export import BOM, HEADERS, case_facts, csv_safe, export_register
from daemon.file_source import FileSource
from daemon.intake import Intake
from daemon.rendering import Renderer
from daemon.store import open_engine, session
from models.directory import Person
from models.tables import Case, Deadline
from tests.support.mail import ROOT, T0, outlook_forward

pytestmark = pytest.mark.integration

NOW = T0 + timedelta(days=1)  # 2026-11-28 10:15 in Asia/Shanghai
COMPLAINT = "本人是江城晚报记者，接到读者反映：光谷小区三期手机信号极差。\n室内基本无法通话，请尽快处理。"
EMPTY_ID = "MT-20261128-0001"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped config.toml with the register in tmp_path (absolute, for the CLI's cwd too)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    lines = [f'database = "sqlite:///{tmp_path}/complaintd.sqlite3"' if line.startswith("database = ")
             else line for line in text.splitlines()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(config: Path) -> Settings:
    return load_settings(config, env={})


@pytest.fixture
def register(settings: Settings, tmp_path: Path) -> Engine:
    """Two forwarded complaints through the intake (one then filled in to the last field, one
    left as registered) and one case with almost nothing, received the next day."""
    engine = open_engine(settings.daemon.database)
    intake = Intake(settings, engine, Renderer(settings.daemon.timezone,
                                               Person("媒体投诉处理", "complaints@corp.example.com")))
    ids = []
    for n in (1, 2):
        path = tmp_path / f"fwd{n}.eml"
        path.write_bytes(outlook_forward(n, sent=T0 + timedelta(minutes=n)))
        source = FileSource([path])
        outcome = intake.handle(source, next(source.fetch_new()), T0 + timedelta(minutes=10))
        assert outcome is not None and outcome.case_id
        ids.append(outcome.case_id)
    with session(engine) as db:
        full = db.get(Case, ids[0])
        assert full is not None
        for name, value in dict(
            status="resolved", category=2, receiver_email="zhang.net@corp.example.com",
            original_from_name="李明", customer_number="02788886666", complaint_text=COMPLAINT,
            attachments=[{"filename": "现场照片.jpg", "content_type": "image/jpeg", "size": 1}],
            solution="=HYPERLINK(\"http://evil.example\")今晚加装室分设备", statement="已安排网络优化。",
            expected_completion_at=full.received_at + timedelta(hours=30), result="信号恢复正常。",
            resolved_at=full.received_at + timedelta(hours=5), late=True,
        ).items():
            setattr(full, name, value)
        db.add(full)
        clocks = {d.kind: d for d in db.exec(select(Deadline).where(Deadline.case_id == full.id))}
        assess, am = clocks["assess"], clocks["account_manager"]
        assess.met_at = full.received_at + timedelta(minutes=12)  # on time (due after 15 min)
        am.breached_at = am.due_at
        am.met_at = am.due_at + timedelta(minutes=3)
        db.add_all([assess, am])
        db.add(Case(id=EMPTY_ID, status="registered", received_at=T0 + timedelta(hours=22),
                    registered_at=T0 + timedelta(hours=22), receiving_dept="general_dept",
                    source_key="<empty@corp.example.com>", updated_at=T0 + timedelta(hours=22)))
        db.commit()
    return engine


def rows_by_id(ws: Worksheet) -> dict[str, dict[str, object]]:
    header = [c.value for c in ws[1]]
    return {str(r[0]): dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}


def table_of(ws: Worksheet) -> dict[str, list[object]]:
    """The 统计 sheet as first cell → the rest of the row."""
    return {str(r[0]): list(r[1:]) for r in ws.iter_rows(values_only=True) if r[0] is not None}


def test_xlsx_register_has_every_field_clock_and_chinese_text(register: Engine, settings: Settings) -> None:
    """One row per case, Chinese headers, local times, names not ids; frozen, filtered, fitted."""
    data = export_register(register, settings.daemon.timezone, settings.directory, "xlsx", None, "all", NOW)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["登记簿", "统计"]
    ws = wb["登记簿"]
    assert tuple(c.value for c in ws[1]) == HEADERS
    for header in ("编号", "状态", "投诉类别", "类别依据", "类别说明", "转发人附言", "接收时间", "登记时间",
                   "接收部门", "接收人员", "转发人",
                   "媒体单位", "记者/联系人", "联系电话", "客户号码", "投诉内容", "附件", "客户经理", "处理方案",
                   "预计完成时间", "对外解释口径", "办结时间", "处理结果", "评估答复到期", "评估答复完成",
                   "评估答复超时", "告知媒体单位客户经理超时", "上报综合部到期", "正常流程办结到期", "成立公司级处理小组到期",
                   "上报上一级主管部门超时", "原发件人", "原发件人邮箱"):
        assert header in HEADERS
    assert len(HEADERS) == 28 + 7 * 3  # the §5 fields, then due / met / breached of 7 clocks
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(row=1, column=len(HEADERS)).column_letter}4"

    rows = rows_by_id(ws)
    assert list(rows)[-1] == EMPTY_ID  # oldest first
    full = next(r for r in rows.values() if r["状态"] == "已办结")
    assert full["投诉类别"] == "2. 媒体人员投诉公司业务、网络、工程、服务"
    assert full["接收时间"] == "2026-11-27 10:16"  # the original's send time, in Shanghai
    assert full["接收部门"] in ("网络部", "客户服务中心")
    assert full["接收人员"] == "张伟 <zhang.net@corp.example.com>"  # as the form and `show` name him
    assert full["媒体单位"] == "江城晚报" and full["记者/联系人"] == "李记者"
    assert full["原发件人"] == "李明" and full["原发件人邮箱"] == "li.reporter@jcwb.example.cn"
    assert full["联系电话"] == "13912345678" and full["客户号码"] == "02788886666"
    assert full["投诉内容"] == COMPLAINT  # Chinese text and its line break round-trip
    assert full["附件"] == "现场照片.jpg" and full["迟报"] == "迟报"
    assert full["客户经理"] == "陈静 <chen.am@corp.example.com>"
    assert full["处理方案"] == "=HYPERLINK(\"http://evil.example\")今晚加装室分设备"  # text, not a formula
    assert full["办结时间"] == "2026-11-27 15:16" and full["预计完成时间"] == "2026-11-28 16:16"
    assert full["对外解释口径"] == "已安排网络优化。" and full["处理结果"] == "信号恢复正常。"
    assert full["评估答复到期"] == "2026-11-27 10:31" and full["评估答复完成"] == "2026-11-27 10:28"
    assert full["评估答复超时"] is None
    assert full["告知媒体单位客户经理完成"] and full["告知媒体单位客户经理超时"]

    empty = rows[EMPTY_ID]
    assert empty["状态"] == "已登记" and empty["投诉类别"] == "待定" and empty["接收部门"] == "综合部"
    assert empty["接收时间"] == "2026-11-28 08:15"
    assert all(empty[h] is None for h in ("媒体单位", "投诉内容", "附件", "客户经理", "评估答复到期", "迟报"))

    letters = {c.value: c.column_letter for c in ws[1]}
    assert ws.cell(row=2, column=HEADERS.index("投诉内容") + 1).alignment.wrap_text
    assert ws.column_dimensions[letters["投诉内容"]].width >= 40
    # Widths count a Chinese character as two: the date column fits "2026-11-27 10:16" and its header.
    assert ws.column_dimensions[letters["评估答复完成"]].width >= 16
    assert ws.column_dimensions[letters["编号"]].width >= len(EMPTY_ID)


def test_xlsx_statistics_sheet(register: Engine, settings: Settings) -> None:
    """统计: the period, counts by category / department / outlet, durations, deadlines on time."""
    data = export_register(register, settings.daemon.timezone, settings.directory, "xlsx", None, "all", NOW)
    stats = table_of(load_workbook(io.BytesIO(data))["统计"])
    assert stats["媒体投诉登记簿统计"] == [None] * 5
    assert stats["统计期间"][0] == "最早 至 2026-11-28 10:15（按接收时间）"
    assert stats["状态筛选"][0] == "全部"
    assert stats["案件数"][0] == 3 and stats["其中已结"][0] == 1
    # Decided: the full case's assess (on time) and account_manager (breached, then met late).
    assert stats["时限按时完成率"][0] == pytest.approx(0.5)
    assert stats["时限按时完成率"][1].startswith("1/2")
    assert stats["评估答复"][:5] == [1, "12分", "12分", 12.0, 12.0]
    assert stats["办结"][:3] == [1, "5小时00分", "5小时00分"]
    assert stats["上报综合部"][:3] == [0, None, None]
    assert stats["2. 媒体人员投诉公司业务、网络、工程、服务"][0] == 1
    # The second forward states no category: its story (a journalist for the residents) is
    # judged 3 (issue 11); only the empty case is left undecided.
    assert stats["3. 媒体人员受托或认为有新闻价值的投诉"][0] == 1
    assert stats["待定"][0] == 1
    assert stats["综合部"][0] == 1
    assert stats["江城晚报"][0] == 2 and stats["（未识别）"][0] == 1
    assert stats["已办结"][0] == 1 and stats["已登记"][0] == 2


def test_since_and_status_filter_the_rows_and_the_statistics(register: Engine, settings: Settings) -> None:
    """--since is a local date, inclusive; --status closed keeps the resolved case only."""
    tz, directory = settings.daemon.timezone, settings.directory
    wb = load_workbook(io.BytesIO(export_register(register, tz, directory, "xlsx", date(2026, 11, 28), "all", NOW)))
    assert list(rows_by_id(wb["登记簿"])) == [EMPTY_ID]
    assert table_of(wb["统计"])["统计期间"][0] == "2026-11-28 00:00 至 2026-11-28 10:15（按接收时间）"
    wb = load_workbook(io.BytesIO(export_register(register, tz, directory, "xlsx", None, "closed", NOW)))
    assert [r["状态"] for r in rows_by_id(wb["登记簿"]).values()] == ["已办结"]
    assert table_of(wb["统计"])["案件数"][0] == 1
    wb = load_workbook(io.BytesIO(export_register(register, tz, directory, "xlsx", date(2026, 12, 1), "all", NOW)))
    assert wb["登记簿"].max_row == 1 and table_of(wb["统计"])["案件数"][0] == 0  # an empty register


def test_csv_has_a_bom_and_reads_back_in_chinese(register: Engine, settings: Settings) -> None:
    """UTF-8 with BOM; csv.reader gets the Chinese header and values; formulas are defused."""
    data = export_register(register, settings.daemon.timezone, settings.directory, "csv", None, "all", NOW)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == HEADERS and len(rows) == 4
    by_id = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in rows[1:]}
    full = next(r for r in by_id.values() if r["状态"] == "已办结")
    assert full["投诉内容"] == COMPLAINT and full["媒体单位"] == "江城晚报"
    assert full["处理方案"] == "'=HYPERLINK(\"http://evil.example\")今晚加装室分设备"
    assert full["评估答复完成"] == "2026-11-27 10:28"
    assert by_id[EMPTY_ID]["接收部门"] == "综合部" and by_id[EMPTY_ID]["媒体单位"] == ""


def test_csv_safe_keeps_numbers_and_defuses_formulas() -> None:
    """Phone numbers stay as they are; =, @, +/- followed by more than a number get a quote."""
    assert csv_safe("+86 139 1234 5678") == "+86 139 1234 5678"
    assert csv_safe("-5") == "-5"
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_safe("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert csv_safe("江城晚报") == "江城晚报" and csv_safe("") == ""


def test_case_facts_take_the_steps_from_round_zero_clocks() -> None:
    """Assessment is the assess clock met; AM and 综合部 are their clocks met or else breached."""
    case = Case(id="MT-20261127-0001", status="local", received_at=T0, registered_at=T0,
                receiving_dept="network", source_key="k", updated_at=T0)
    clocks = [
        Deadline(case_id=case.id, kind="assess", due_at=T0 + timedelta(minutes=15),
                 breached_at=T0 + timedelta(minutes=15)),
        Deadline(case_id=case.id, kind="account_manager", due_at=T0 + timedelta(minutes=30),
                 breached_at=T0 + timedelta(minutes=30), met_at=T0 + timedelta(minutes=40)),
        Deadline(case_id=case.id, kind="general_dept", due_at=T0 + timedelta(hours=1),
                 met_at=T0 + timedelta(minutes=50)),
        Deadline(case_id=case.id, kind="progress", round=1, due_at=T0 + timedelta(hours=4)),
    ]
    facts = case_facts(case, clocks)
    assert facts.assessed_at is None  # breached is not an assessment
    assert facts.account_manager_at == T0 + timedelta(minutes=30)
    assert facts.general_dept_at == T0 + timedelta(minutes=50)
    assert [d.kind for d in facts.deadlines] == ["assess", "account_manager", "general_dept", "progress"]


def complaintd(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=cwd, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert b"Traceback" not in done.stderr
    return done


def test_cli_writes_the_files_and_refuses_a_bad_date(register: Engine, config: Path, tmp_path: Path) -> None:
    """CSV to -o FILE and to stdout, today's XLSX by default; bad --since or folder: exit 2, no traceback."""
    out = tmp_path / "reg.csv"
    done = complaintd(tmp_path, "export", "-c", str(config), "--format", "csv", "-o", str(out))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == str(out.resolve())
    text = out.read_bytes()
    assert text.startswith(BOM.encode()) and "媒体单位" in text.decode("utf-8-sig")

    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(config, here / "config.toml")
    done = complaintd(here, "export", "--status", "open", "--since", "2026-11-01")
    assert done.returncode == 0, done.stderr.decode()
    written = Path(done.stdout.decode().strip())
    assert written.parent == here.resolve() and written.name.startswith("登记簿-") and written.suffix == ".xlsx"
    assert len(list(rows_by_id(load_workbook(written)["登记簿"]))) == 2

    done = complaintd(tmp_path, "export", "-c", str(config), "-o", "-")
    assert done.returncode == 0 and done.stdout.startswith(BOM.encode())

    done = complaintd(tmp_path, "export", "-c", str(config), "--since", "2026-13-01")
    assert done.returncode == 2
    assert "--since '2026-13-01' is not a date" in done.stderr.decode()
    assert "YYYY-MM-DD" in done.stderr.decode()
    done = complaintd(tmp_path, "export", "-c", str(config), "-o", str(tmp_path / "no" / "such" / "dir.xlsx"))
    assert done.returncode == 2 and "cannot write" in done.stderr.decode()
