"""The board for tests and benchmarks: a register filled through the real intake, settings
with a [web] table, and the app on it (Starlette's TestClient or a `complaintd web` process)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.engine import Engine

from daemon.config import Settings, load_settings
from daemon.file_source import FileSource
from daemon.intake import Intake
from daemon.rendering import Renderer
from models.directory import Person
from tests.support.mail import FORWARDERS, ROOT, outlook_forward, set_keys

SECRET = "test-secret-for-the-board-only-0123456789"
SECRET_ENV = "COMPLAINTD_WEB_SECRET"


def board_config(tmp_path: Path, port: int = 8080) -> Path:
    """The shipped config on Maildir and SQLite under `tmp_path`, with [web] on `port`."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^# \[web\]\n# listen = .*$",
                  f'[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "http://127.0.0.1:{port}"', text)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return set_keys(path, "reports", digest_at="off")


def board_settings(tmp_path: Path, port: int = 8080) -> Settings:
    return load_settings(board_config(tmp_path, port), env={SECRET_ENV: SECRET})


def fill_register(settings: Settings, engine: Engine, mails: Sequence[bytes], now: datetime) -> list[str]:
    """Register `mails` through the real intake (parse, record, clocks, acknowledgments
    queued) at `now`; the case ids, in order. Nothing is sent."""
    folder = Path(settings.path).parent / "incoming"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, raw in enumerate(mails):
        path = folder / f"{i:06d}.eml"
        path.write_bytes(raw)
        paths.append(path)
    renderer = Renderer(settings.daemon.timezone, Person(settings.outbound.from_name, settings.outbound.from_email))
    intake = Intake(settings, engine, renderer)
    source = FileSource(paths)
    ids = []
    for item in source.fetch_new():
        outcome = intake.handle(source, item, now)
        if outcome is not None and outcome.case_id:
            ids.append(outcome.case_id)
    return ids


def invented(n: int, start: datetime) -> list[bytes]:
    """`n` forwarded complaints, a minute apart from `start`, from the test forwarders."""
    return [outlook_forward(i, sent=start + timedelta(minutes=i), forwarder=FORWARDERS[i % len(FORWARDERS)])
            for i in range(n)]


HOSTILE = "<script>alert(1)</script> {{ 7*7 }} <img src=x onerror=alert(2)>"


def hostile_complaint() -> bytes:
    """A forwarded complaint whose text holds markup and template syntax."""
    msg = EmailMessage()
    msg["From"] = "同事 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = "转发: 江城晚报记者投诉"
    msg["Message-ID"] = "<hostile-1@corp.example.com>"
    msg["Date"] = "Fri, 27 Nov 2026 10:20:00 +0800"
    msg.set_content(f"请处理。\n\n江城晚报记者来信：{HOSTILE} 小区没有信号，联系电话 13912345678。\n")
    return msg.as_bytes()


@dataclasses.dataclass
class FakeClock:
    """A TimeSource that stands still until advanced."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by
