"""`complaintd show` and `cases` print text from mail: terminal control characters in it (ESC,
C1 such as U+009B CSI, DEL, BEL) must reach the terminal as visible escapes, never act; --json
keeps every string exact and no control character raw either."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.store import open_engine, session
from models.tables import Case, Deadline, Event
from tests.support.mail import ROOT, T0

pytestmark = pytest.mark.integration

CASE_ID = "MT-20261127-0001"
HOSTILE = {  # as a mail could bring them, through the intake into the register
    "media_outlet": "江城\x1b[2J晚报\x9b31m",  # ESC clear-screen; CSI as one C1 character
    "original_subject": "信号\x07差\x7f\x85",  # BEL, DEL, NEL (C1)
    "reporter_name": "李\x1b]0;pwned\x07明",  # OSC: sets the window title
    "complaint_text": "第一行\r\n第二行\x1b[8m隐藏\x9d0;title\x9c",
}
SUMMARY = "回复：收到\x1b[1A\x1b[2K已处理"  # cursor up and erase line: would hide the line above
# Any byte that is a control on a terminal: C0 but line feed, DEL, and C1 encoded in UTF-8.
CONTROL_BYTES = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped config with its register in tmp_path, holding one case full of controls."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    database = f"sqlite:///{tmp_path}/complaintd.sqlite3"
    path = tmp_path / "config.toml"
    path.write_text(re.sub(r'(?m)^database = .*$', f'database = "{database}"', text), encoding="utf-8")
    engine = open_engine(database)
    with session(engine) as db:
        db.add(Case(id=CASE_ID, status="registered", received_at=T0, registered_at=T0, receiving_dept="network",
                    source_key="<hostile@jcwb.example.cn>", updated_at=T0, **HOSTILE))
        db.add(Deadline(case_id=CASE_ID, kind="assess", due_at=T0 + timedelta(days=3650)))  # never overdue
        db.add(Event(case_id=CASE_ID, at=T0, kind="mail_in", actor="wang\x1b[0m@net.corp.example.com",
                     summary=SUMMARY))
        db.commit()
    engine.dispose()
    return path


def complaintd(config: Path, *args: str) -> bytes:
    done = subprocess.run([sys.executable, "-m", "daemon", *args, "-c", str(config)], capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_show_prints_controls_as_visible_escapes(config: Path) -> None:
    out = complaintd(config, "show", CASE_ID)
    assert CONTROL_BYTES.findall(out) == []
    text = out.decode("utf-8")
    assert r"媒体单位：江城\x1b[2J晚报\x9b31m" in text
    assert r"原邮件主题：信号\x07差\x7f\x85" in text
    assert "投诉内容：\n第一行\n第二行\\x1b[8m隐藏\\x9d0;title\\x9c\n" in text  # its lines kept
    assert r"收到\x1b[1A\x1b[2K已处理" in text


def test_cases_prints_controls_as_visible_escapes(config: Path) -> None:
    out = complaintd(config, "cases")
    assert CONTROL_BYTES.findall(out) == []
    assert r"江城\x1b[2J晚报\x9b31m" in out.decode("utf-8")


@pytest.mark.parametrize("args", [("show", CASE_ID, "--json"), ("cases", "--json")], ids=["show", "cases"])
def test_json_keeps_every_string_exact_with_no_control_raw(config: Path, args: tuple[str, ...]) -> None:
    out = complaintd(config, *args)
    assert CONTROL_BYTES.findall(out.replace(b"\n", b"")) == []
    record = json.loads(out)
    record = record[0] if isinstance(record, list) else record
    assert {name: record[name] for name in HOSTILE} == HOSTILE
    assert "江城" in out.decode("utf-8")  # Chinese stays readable, not \u escapes
