"""`complaintd plan`, `ingest --dry-run` and the directory audit of `check`, as real processes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from models.labels import FIELD_LABELS, SOURCE_LABELS
from tests.support.mail import ROOT, server_config, set_keys

pytestmark = pytest.mark.integration

EXAMPLES = sorted((ROOT / "examples").glob("*.eml"))
AT = ["--at", "2026-12-01 23:50"]


def complaintd(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The shipped config.toml alone in a folder (Maildir in and out, SQLite under var/)."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    set_keys(tmp_path / "config.toml", "reports", digest_at="off")
    return tmp_path


# -- plan ---------------------------------------------------------------------------------------

SCRIPTS = {
    "silence": ["--dept", "network", "--outlet", "江城晚报"],
    "branch": ["--branch", "--outlet", "江城电视台"],
    "answers": ["--dept", "网络部", "--outlet", "江城晚报社", "--answers", "assess=可处理@0:05; am=退信@0:31",
                "--answers", "gd=成立小组：网络部@1:20"],
}


def plan(workdir: Path, *args: str, config_first: bool = False) -> subprocess.CompletedProcess[str]:
    """`complaintd -c X plan …` or `complaintd plan … -c X`: both documented forms."""
    config = ["-c", str(workdir / "config.toml")]
    done = complaintd(workdir, *([*config, "plan", *args] if config_first else ["plan", *args, *config]))
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_json_says_what_the_text_says(workdir: Path, script: str) -> None:
    """One text line per timeline entry, in order: its offset first, then its step (failovers
    marked), every recipient and whose answer is awaited; the same from either -c position."""
    text = plan(workdir, *SCRIPTS[script], *AT).stdout
    assert plan(workdir, *SCRIPTS[script], *AT, config_first=True).stdout == text
    data = json.loads(plan(workdir, *SCRIPTS[script], *AT, "--json").stdout)
    lines = [line for line in text.splitlines() if line.startswith("+")]
    assert len(lines) == len(data["timeline"]) > 0
    for line, entry in zip(lines, data["timeline"], strict=True):
        assert line.startswith(entry["offset"] + "  "), (line, entry)
        if entry["type"] == "answer":
            assert entry["who"]["email"] in line and entry["says"] in line
            continue
        assert entry["label"] in line
        for person in [*entry["to"], *entry["cc"]]:
            assert person["email"] in line, (person, line)
        for person in entry["awaits"]:
            assert f"{person['name'] or person['email']}" in line.split("等待：", 1)[1]
    assert f"至 {data['until_offset']}" in text
    for clock in data["left_open"]:
        assert f"{clock['label']}" in text.split("此后仍在计时：", 1)[1]


def test_silence_lists_every_step_it_leads_to(workdir: Path) -> None:
    """For the shipped config: every SPEC §3 step that silence reaches, A → B and 越级上报
    among the failovers, the company leader's silence put to 综合部."""
    data = json.loads(plan(workdir, *SCRIPTS["silence"], *AT, "--json").stdout)
    mails = [e for e in data["timeline"] if e["type"] == "mail"]
    steps = {m["step"] for m in mails}
    assert {"assess_overdue", "account_manager", "general_dept", "group_overdue", "solution_overdue",
            "progress", "failover", "leader_silent"} <= steps
    assert {m["failover"] for m in mails if m["step"] == "failover"} == {"a", "leader"}
    assert data["received_at"] == "2026-12-01T23:50:00+08:00"
    assert [c["kind"] for c in data["left_open"]] == ["progress", "normal_completion"]
    assert data["left_open"][0]["every_seconds"] == 4 * 3600
    text = plan(workdir, *SCRIPTS["silence"], *AT).stdout
    assert "+0:25  ↳ 越级上报（王强 未答复）  收件：赵总 <zhao.ceo@corp.example.com>" in text
    assert "+0:40  ↳ 转B角（陈静 未答复）  收件：吴磊 <wu.am@corp.example.com>" in text
    assert "动态报告 每 4 小时一次，下次 +25:00" in text


def test_the_answers_and_the_higher_authority_show(workdir: Path) -> None:
    data = json.loads(plan(workdir, *SCRIPTS["answers"], *AT, "--json").stdout)
    steps = [(e["offset"], e.get("step", e["type"])) for e in data["timeline"]]
    assert ("+0:05", "answer") in steps and ("+0:05", "confirm") in steps
    assert ("+1:20", "group") in steps and ("+2:20", "higher_authority") in steps
    assert "account_manager" not in {s for _, s in steps}  # 可处理 at once


@pytest.mark.parametrize(("args", "said"), [
    (["--dept", "sales"], "no department 'sales'"),
    (["--dept", "network", "--outlet", "南方周末"], "no media outlet '南方周末'"),
    (["--dept", "network", "--answers", "assess=可处理"], "WHO=WHAT@H:MM"),
    (["--dept", "network", "--at", "tomorrow"], "YYYY-MM-DD HH:MM"),
])
def test_a_plan_that_cannot_be_made_says_why(workdir: Path, args: list[str], said: str) -> None:
    done = complaintd(workdir, "plan", *args)
    assert done.returncode == 2 and said in done.stderr


# -- ingest --dry-run ---------------------------------------------------------------------------

def rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_a_dry_run_prints_record_and_plan_and_changes_nothing(workdir: Path) -> None:
    """With a register holding a case and its mail: each example's record (every field, with
    its source) and plan are printed; the rows of every table, the mailboxes and the sent
    mail are as before."""
    assert complaintd(workdir, "ingest", str(EXAMPLES[0])).returncode == 0
    database = workdir / "var/complaintd.sqlite3"
    before, on_disk = rows(database), files(workdir / "var")
    assert before["cases"] == 1 and before["outbox"] > 0

    done = complaintd(workdir, "ingest", "--dry-run", *map(str, EXAMPLES))
    assert done.returncode == 0, done.stderr
    assert rows(database) == before
    assert files(workdir / "var") == on_disk
    reports = done.stdout.split("\n\n== ")
    assert len(reports) == len(EXAMPLES)
    for path, report in zip(EXAMPLES, reports, strict=True):
        assert str(path) in report.splitlines()[0]
        for name in ("received_at", "receiving_dept", "media_outlet", "complaint_text", "account_manager"):
            assert FIELD_LABELS[name] in report, (path.name, name)
        assert f"［{SOURCE_LABELS['directory']}］" in report and f"［{SOURCE_LABELS['original_text']}］" in report
        assert "预案：网络部 收到关于 江城晚报 的投诉" in report
        assert "告知媒体单位客户经理" in report


def test_a_dry_run_needs_no_database(workdir: Path) -> None:
    done = complaintd(workdir, "ingest", "--dry-run", str(EXAMPLES[0]))
    assert done.returncode == 0, done.stderr
    assert not (workdir / "var").exists()


def test_neither_a_plan_nor_a_dry_run_needs_a_password(tmp_path: Path) -> None:
    """They log in nowhere: a config for IMAP and SMTP servers, neither password variable set."""
    config = server_config(tmp_path, inbound="imaps://complaints%40corp.example.com@127.0.0.1:9/INBOX",
                           outbound="smtp://complaints%40corp.example.com@127.0.0.1:9")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTD_")}
    for args in (["ingest", "--dry-run", str(EXAMPLES[0])], ["plan", "--dept", "network"]):
        done = subprocess.run([sys.executable, "-m", "daemon", "-c", str(config), *args], capture_output=True,
                              text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        assert "预案：网络部" in done.stdout


def test_a_dry_run_shows_where_a_forward_came_from(workdir: Path) -> None:
    """The Outlook example: its time from the forwarded header, the outlet by the journalist's
    domain, the category from the forwarder's note."""
    report = complaintd(workdir, "ingest", "--dry-run", str(ROOT / "examples/outlook-forward.eml")).stdout
    fields = {line.split()[0]: line for line in report.splitlines()[1:] if line.strip()}
    assert fields[FIELD_LABELS["received_at"]].endswith(f"［{SOURCE_LABELS['forwarded_header']}］")
    assert fields[FIELD_LABELS["media_outlet"]].endswith(f"［{SOURCE_LABELS['directory']}］")
    assert fields[FIELD_LABELS["category"]].endswith(f"［{SOURCE_LABELS['note']}］")
    assert fields[FIELD_LABELS["forwarder_email"]].endswith(f"［{SOURCE_LABELS['header']}］")


# -- check: the directory audit -----------------------------------------------------------------

HOLES: dict[str, tuple[str, str, str]] = {  # key: (text of the shipped file, replaced by, in which occurrence)
    "departments.marketing.interface_b": ('interface_b = { name = "蒋丽", email = "jiang.mkt@corp.example.com" }', "", "first"),
    "departments.customer_service.leader": ('members = ["*@net.corp.example.com", "sun@corp.example.com"]',
                                            ('members = ["*@net.corp.example.com", "sun@corp.example.com", '
                                            '"han.cs@corp.example.com"]'), "first"),
    "media_outlets.江城电视台.account_manager_a": (
        ('account_manager_a = { name = "陈静", email = "chen.am@corp.example.com" }\n'
        'account_manager_b = { name = "吴磊", email = "wu.am@corp.example.com" }'), "", "last"),
    "media_outlets.江城晚报.account_manager_b": ('account_manager_b = { name = "吴磊", email = "wu.am@corp.example.com" }',
                                              'account_manager_b = { name = "陈静", email = "chen.am@corp.example.com" }',
                                              "first"),
    "departments": ("in_company_group = true", "in_company_group = false", "all"),
    "departments.east_branch.leader": ('leader = { name = "秦刚", email = "qin.east@corp.example.com" }',
                                       'leader = { name = "杨帆", email = "yang.cs@corp.example.com" }', "first"),
    "departments.network.interface_b": ('interface_b = { name = "李娜", email = "li.net@corp.example.com" }',
                                        'interface_b = { name = "李娜", email = "lina@gmail.com" }', "first"),
}


def with_holes(text: str) -> str:
    for old, new, which in HOLES.values():
        assert old in text, old
        if which == "all":
            text = text.replace(old, new)
        elif which == "last":
            head, _, tail = text.rpartition(old)
            text = head + new + tail
        else:
            text = text.replace(old, new, 1)
    return text


def test_check_names_each_hole_by_key_and_strict_fails(workdir: Path) -> None:
    config = workdir / "config.toml"
    config.write_text(with_holes(config.read_text(encoding="utf-8")), encoding="utf-8")
    done = complaintd(workdir, "check")
    assert done.returncode == 0, done.stderr
    warned = [line.split(": ", 2)[1] for line in done.stdout.splitlines() if line.startswith("warning: ")]
    assert set(warned) == set(HOLES)  # a hole may draw two findings on its key
    for strict in (["check", "--strict", "-c", str(config)], ["-c", str(config), "check", "--strict"]):
        failed = complaintd(workdir, *strict)
        assert failed.returncode == 1
        n = len(warned)
        assert failed.stdout == done.stdout.replace(f"{n} warnings", f"{n} warnings (--strict: failing)")


def test_the_shipped_config_passes_strict(workdir: Path) -> None:
    done = complaintd(workdir, "check", "--strict")
    assert done.returncode == 0, done.stdout
    assert "warning" not in done.stdout



def test_a_reader_that_stops_early_gets_no_traceback(workdir: Path) -> None:
    """`complaintd plan … | head`: the pipe closes under the printer (here a reader that reads
    nothing at all); the command ends quietly, as a shell tool does, with no traceback."""
    shell = (f"{sys.executable} -m daemon -c {workdir / 'config.toml'} plan --dept network --outlet 江城晚报 "
             "--at '2026-12-01 23:50' | true")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], cwd=workdir, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stderr == ""
    assert done.returncode in (0, 141)  # 141 when the pipe closed while the plan was being written
