"""The README's path for a newcomer, as real processes on the embedded default (Maildir, SQLite)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from daemon.rendering import token_of
from tests.support.mail import FORWARDERS, ROOT, outlook_forward, set_keys
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def complaintd(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=workdir, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check:
        assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder holding only the shipped config.toml, as after a fresh clone."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    set_keys(tmp_path / "config.toml", "reports", digest_at="off")  # mail here depends on no clock
    return tmp_path


def test_dropping_an_example_into_the_inbox_registers_and_acknowledges_it(workdir: Path) -> None:
    """cp examples/…eml var/mail/complaints/new/ → run --once → cases, show, ack in var/mail/sent."""
    complaintd(workdir, "run", "--once")  # a first start creates the folders
    inbox = workdir / "var/mail/complaints"
    shutil.copy(ROOT / "examples/outlook-forward.eml", inbox / "new" / "outlook-forward.eml")
    complaintd(workdir, "run", "--once")

    table = complaintd(workdir, "cases").stdout
    case_id = next(word for word in table.split() if word.startswith("MT-"))
    assert "江城晚报" in table and "网络部" in table
    record = json.loads(complaintd(workdir, "show", case_id, "--json").stdout)
    assert record["media_outlet"] == "江城晚报"
    assert record["forwarder_email"] == "sun@corp.example.com"
    assert "时限" in complaintd(workdir, "show", case_id).stdout
    complaintd(workdir, "show", case_id, "--form", "form.xlsx")
    sheet = openpyxl.load_workbook(workdir / "form.xlsx").worksheets[0]
    assert {"媒体投诉登记表", case_id, "江城晚报"} <= {c.value for row in sheet.iter_rows() for c in row}

    sent = sorted((workdir / "var/mail/sent/new").iterdir())
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sent]
    # Each copy's tag carries its recipient's token (the start of its Message-ID's random part).
    assert mails and all(m["Subject"].startswith(f"[{case_id}·{token_of(m['Message-ID'])}] ") for m in mails)
    assert not list((inbox / "new").iterdir()) and not list((inbox / "cur").iterdir())
    assert len(list((inbox / ".Processed/cur").iterdir())) == 1


def test_an_empty_file_in_the_inbox_is_quarantined_and_reported(workdir: Path) -> None:
    """A zero-byte file dropped into the Maildir: kept in .Quarantine, 综合部 told, daemon fine."""
    complaintd(workdir, "run", "--once")
    inbox = workdir / "var/mail/complaints"
    (inbox / "new" / "empty.eml").write_bytes(b"")
    complaintd(workdir, "run", "--once")
    assert [p.stat().st_size for p in (inbox / ".Quarantine/cur").iterdir()] == [0]
    sent = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in (workdir / "var/mail/sent/new").iterdir()]
    assert sent and all("无法自动登记" in m["Subject"] for m in sent)
    assert "empty message" in sent[0].get_body(("plain",)).get_content()


def test_ingest_survives_raw_bytes_in_a_message_id(workdir: Path) -> None:
    """8-bit bytes (UTF-8, GBK) in Message-ID once stopped intake with a traceback; now the
    mail is registered like any other, and so is the one after it."""
    hostile = workdir / "hostile.eml"
    hostile.write_bytes(b"From: x@evil.example\r\nTo: complaints@corp.example.com\r\nSubject: hi\r\n"
                        b"Message-ID: <\xcd\xb6\xcb\xdf\xe6\x8a\x95@evil.example>\r\n"
                        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "我要向媒体曝光。\r\n".encode())
    example = sorted((ROOT / "examples").glob("*.eml"))[0]
    out = complaintd(workdir, "ingest", str(hostile), str(example)).stdout
    assert out.count("registered MT-") == 2, out
    again = complaintd(workdir, "ingest", str(hostile)).stdout
    assert "already recorded (registered MT-" in again


def test_ingest_registers_files_once(workdir: Path) -> None:
    """`complaintd ingest` runs the same pipeline; ingesting the same file again adds nothing."""
    examples = sorted((ROOT / "examples").glob("*.eml"))
    first = complaintd(workdir, "ingest", *map(str, examples)).stdout
    assert first.count("registered MT-") == len(examples)
    again = complaintd(workdir, "ingest", *map(str, examples)).stdout
    assert again.count("already recorded (registered MT-") == len(examples)
    listing = json.loads(complaintd(workdir, "cases", "--status", "all", "--json").stdout)
    assert len(listing) == len(examples)


def test_run_refuses_an_invalid_config_naming_the_problems(workdir: Path) -> None:
    """`run` on a broken config exits 1 with the problems by key, like `check`."""
    path = workdir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('tick = "1s"', 'tick = "soon"'), encoding="utf-8")
    done = complaintd(workdir, "run", "--once", check=False)
    assert done.returncode == 1
    assert 'daemon.tick: \'soon\' is not a duration' in done.stderr


def test_sigkill_at_random_moments_never_duplicates_a_case(workdir: Path) -> None:
    """The daemon SIGKILLed five times while 40 complaints arrive: afterwards exactly 40 cases,
    every message out of the inbox, and each forwarder acknowledged for each case."""
    path = workdir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('poll_interval = "30s"', 'poll_interval = "1s"'),
                    encoding="utf-8")
    complaintd(workdir, "run", "--once")
    inbox = workdir / "var/mail/complaints"
    for n in range(40):
        tmp = inbox / "tmp" / f"{n}.eml"
        tmp.write_bytes(outlook_forward(n))
        tmp.rename(inbox / "new" / f"{n}.eml")
    rng = random.Random(20261127)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=workdir,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        time.sleep(rng.uniform(0.3, 1.5))  # when to pull the plug, not a deadline
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    complaintd(workdir, "run", "--once")

    listing = json.loads(complaintd(workdir, "cases", "--status", "all", "--json").stdout)
    assert len(listing) == 40
    assert len({c["original_subject"] for c in listing}) == 40
    assert not list((inbox / "new").iterdir()) and not list((inbox / "cur").iterdir())
    sent = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in (workdir / "var/mail/sent/new").iterdir()]
    # The acknowledgments (the complaints are a day old, so escalations follow them too).
    to_forwarders = {(m["X-Complaintd-Case"], m["Message-ID"].strip()) for m in sent
                     if m["X-Envelope-To"].strip() in FORWARDERS and ".ack." in m["Message-ID"]}
    assert len({case for case, _ in to_forwarders}) == 40
    assert len(to_forwarders) == 40  # one Message-ID per case and forwarder, however often written


def test_a_second_daemon_on_the_same_sqlite_database_is_refused(workdir: Path) -> None:
    """While one `complaintd run` holds the register, another is refused by name, no traceback;
    once the first stops, a new one starts."""
    complaintd(workdir, "run", "--once")
    lock = workdir / "var/complaintd.sqlite3.lock"
    first = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=workdir, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        end = time.monotonic() + 20
        while lock.read_text().strip() != str(first.pid) and time.monotonic() < end:
            time.sleep(0.05)
        second = complaintd(workdir, "run", "--once", check=False)
        assert second.returncode == 2
        assert f"another complaintd (pid {first.pid}) is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
    complaintd(workdir, "run", "--once")


def test_status_says_whether_the_daemon_is_alive(workdir: Path) -> None:
    """No daemon: status names the problems and exits 1. A running one: healthy, exit 0."""
    idle = complaintd(workdir, "status", check=False)
    assert idle.returncode == 1 and "没有 complaintd 进程在运行" in idle.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=workdir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end:  # until its first poll and pass are recorded
            status = complaintd(workdir, "status", check=False)
            if status.returncode == 0:
                break
            time.sleep(0.1)
        assert status.returncode == 0, status.stderr
        assert "daemon：运行中" in status.stdout and "待发邮件：0 封" in status.stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0


def sent_subjects(workdir: Path) -> list[str]:
    folder = workdir / "var/mail/sent/new"
    return [str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"])
            for p in folder.iterdir()] if folder.exists() else []


def test_sighup_refuses_a_broken_config_and_takes_a_good_one(workdir: Path) -> None:
    """SIGHUP with a typo: the daemon keeps running on the old directory and tells 综合部 what
    is wrong. SIGHUP with a new interface person: taken, and reported as 接口人变更报备."""
    path = workdir / "config.toml"
    good = path.read_text(encoding="utf-8")
    complaintd(workdir, "run", "--once")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert wait_until(lambda: complaintd(workdir, "status", check=False).returncode == 0)
        path.write_text(good.replace('tick = "1s"', 'tick = "1 second"'), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: any(s.startswith("配置文件修改未生效") for s in sent_subjects(workdir)))
        assert proc.poll() is None
        path.write_text(good.replace('{ name = "张伟", email = "zhang.net@corp.example.com", phone = "13800000002" }',
                                     '{ name = "赵六", email = "zhao6.net@corp.example.com" }'), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: any(s.startswith("接口人变更报备") for s in sent_subjects(workdir)))
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    report = next(p for p in (workdir / "var/mail/sent/new").iterdir()
                  if "接口人变更报备" in str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]))
    text = email.message_from_bytes(report.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
    assert "网络部 接口人A角：张伟 <zhang.net@corp.example.com> → 赵六 <zhao6.net@corp.example.com>" in text
