"""Issue 16's acceptance in a real browser: Playwright drives Debian's chromium against
`complaintd web` on a loopback port, beside `complaintd run`, on a register filled through
the real intake (`complaintd ingest`), with login links read from the outbound Maildir."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from daemon.store import open_current
from daemon.web.auth import new_token, token_hash
from models.tables import LoginToken, Outbox
from tests.support.mail import ROOT
from tests.support.waiting import wait_until
from tests.support.web import SECRET, SECRET_ENV, board_config, hostile_complaint

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it (no browser downloads here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """A workdir with the daemon and the board running on it."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), SECRET_ENV: SECRET}
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, *args: str) -> None:
        with (self.workdir / f"{args[0]}.log").open("wb") as log:  # the child keeps its own descriptor
            self.processes.append(subprocess.Popen([sys.executable, "-m", "daemon", *args], cwd=self.workdir,
                                                   env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def link_for(self, address: str) -> str | None:
        """The login link in the newest login mail to `address` in the outbound Maildir."""
        links = []
        for path in sorted((self.workdir / "var/mail/sent/new").iterdir(), key=lambda p: p.stat().st_mtime):
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(mail["To"]) and "登录" in str(mail["Subject"]):
                found = re.search(r"http://\S+/login/\S+", mail.get_body(("plain",)).get_content())
                links += [found.group(0)] if found else []
        return links[-1] if links else None

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    board_config(tmp_path, port)
    s = Site(tmp_path, port)
    (tmp_path / "hostile.eml").write_bytes(hostile_complaint())
    out = s.run("ingest", str(ROOT / "examples/outlook-forward.eml"), str(tmp_path / "hostile.eml"))
    assert out.count("registered MT-") == 2, out
    s.start("run")
    s.start("web")
    try:
        assert wait_until(s.listening, timeout=30), (tmp_path / "web.log").read_text()
        yield s
    finally:
        s.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    assert CHROMIUM.exists(), "chromium is missing: apt-get install chromium (.ci/run does)"
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


def log_in(site: Site, browser: object, address: str) -> object:
    """A fresh browser context signed in as `address` through the mailed link."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.base}/login")
    page.fill("#email", address)
    page.click("button[type=submit]")
    page.wait_for_selector("#sent")
    assert wait_until(lambda: site.link_for(address), timeout=30), f"no login mail to {address}"
    page.goto(site.link_for(address))
    page.wait_for_selector("table.register")
    return page


def case_ids(site: Site) -> list[str]:
    """Oldest first: the example, then the hostile complaint (ingested in that order)."""
    return sorted(set(re.findall(r"MT-\d{8}-\d{4}", site.run("cases", "--status", "all"))))


def test_the_board_in_a_browser(site: Site, browser: object) -> None:
    """Log in by the mailed link; the register shows the case with its countdown; the case
    page its clocks and log; complaint markup shows as text and runs nothing."""
    page = log_in(site, browser, "liu.gd@corp.example.com")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    ids = case_ids(site)
    assert len(ids) == 2
    row = page.locator(f"#case-{ids[0]}")  # type: ignore[attr-defined]
    assert "江城晚报" in row.inner_text()
    countdown = row.locator(".countdown")
    assert countdown.get_attribute("data-due")
    assert re.fullmatch(r"(超时 )?\d+(h\d{2}m|m\d{2}s)", countdown.inner_text())

    page.click(f"#case-{ids[0]} a")  # type: ignore[attr-defined]
    page.wait_for_selector("ol.timeline li")  # type: ignore[attr-defined]
    timeline = page.locator("ol.timeline").inner_text()  # type: ignore[attr-defined]
    assert "评估答复" in timeline and "到期" in timeline
    events = page.locator("table.events").inner_text()  # type: ignore[attr-defined]
    assert "登记" in events
    assert "发信" in page.locator("table.mails").inner_text()  # type: ignore[attr-defined]

    hostile = ids[1]
    page.goto(f"{site.base}/cases/{hostile}")  # type: ignore[attr-defined]
    text = page.locator("table.record").inner_text()  # type: ignore[attr-defined]
    assert "<script>alert(1)</script>" in text and "{{ 7*7 }}" in text
    assert page.locator("table.record script, table.record img").count() == 0  # type: ignore[attr-defined]
    assert dialogs == []


def test_who_may_not_see_a_case_gets_404(site: Site, browser: object) -> None:
    """A marketing member asking for a network case gets the 404 page, not part of it."""
    network_case = case_ids(site)[0]
    page = log_in(site, browser, "feng.mkt@corp.example.com")
    response = page.goto(f"{site.base}/cases/{network_case}")  # type: ignore[attr-defined]
    assert response.status == 404
    assert "江城晚报" not in page.content()  # type: ignore[attr-defined]


def test_outsiders_get_no_mail_and_links_work_once(site: Site, browser: object) -> None:
    """An address outside the directory sees the same answer and is mailed nothing; a used
    link and an expired one are refused."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.base}/login")
    page.fill("#email", "stranger@evil.example")
    page.click("button[type=submit]")
    page.wait_for_selector("#sent")
    # A known address asked after it: once its mail is out, the outbox has passed the stranger's turn.
    used = log_in(site, browser, "zhao.ceo@corp.example.com")
    engine = open_current(f"sqlite:///{site.workdir}/var/complaintd.sqlite3")
    with Session(engine) as db:
        assert not db.exec(select(Outbox).where(Outbox.recipient == "stranger@evil.example")).all()
    assert site.link_for("stranger@evil.example") is None

    again = browser.new_context().new_page()  # type: ignore[attr-defined]
    again.goto(site.link_for("zhao.ceo@corp.example.com"))
    assert again.locator("#refused").is_visible()
    token, past = new_token(), datetime.now(UTC) - timedelta(minutes=20)
    with Session(engine) as db:
        db.add(LoginToken(token_hash=token_hash(token), email="zhao.ceo@corp.example.com", created_at=past,
                          expires_at=past + timedelta(minutes=15)))
        db.commit()
    engine.dispose()
    again.goto(f"{site.base}/login/{token}")
    assert again.locator("#refused").is_visible()
    assert "登记簿" in used.content()  # type: ignore[attr-defined]
