"""Screenshots of the board for the documentation: docs/screenshots/*.png.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--seed-mails 24] [--spread 400]

A small register on SQLite in a temporary folder: `--seed-mails` invented complaints
(tests/support/invented_complaints.py) go through the real intake and serve as templates
(bench/web.py's Filler): as many copies received in the last ten hours, so that the register
shows clocks running, and `--spread` copies over the year before now with states drawn at
random, so that the statistics have weeks to show. The board (daemon.web.app, the clock frozen at the fill's
`now`) runs on a loopback port in this process; Debian's chromium (Playwright, no browser
download) signs in as 综合部 the way a person does, through the login form and the link the
login mail carries (read from the outbox), and writes:

- register.png: the register, desktop width (1280 px);
- register-phone.png: the register on a phone (390 px wide);
- case.png: the newest case: its record, clocks, mails and log;
- stats.png: the statistics of the last 90 days.

The images are documentation, not test assertions: look at them after a change to the pages.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.web import Filler, Templates, serving, table  # noqa: E402
from daemon.store import open_engine  # noqa: E402
from models.tables import Case, Deadline, Event, InboundMail, Outbox  # noqa: E402
from tests.support.invented_complaints import invent  # noqa: E402
from tests.support.web import board_settings, fill_register  # noqa: E402

CHROMIUM = "/usr/bin/chromium"  # Debian's; .ci/run installs it
READER = "liu.gd@corp.example.com"  # 综合部: sees every case
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def fill(engine: Engine, workdir: Path, seed_mails: int, spread: int, now: datetime) -> list[str]:
    """The register of the module docstring; the ids of the cases received today, newest first."""
    ids = fill_register(board_settings(workdir), engine, [m.raw for m in invent(seed_mails, seed=7)], now)
    with engine.begin() as conn:
        templates = Templates(conn, ids)
        # The intake's own cases were received a week ago (the invented mails' dates): they are
        # the templates only, and leave their ids to the copies.
        for model in (Event, Deadline, InboundMail, Outbox):
            conn.execute(delete(table(model)).where(table(model).c.case_id.in_(ids)))
        conn.execute(delete(table(Case)).where(table(Case).c.id.in_(ids)))
        filler = Filler(templates, now, seed=7)
        filler.per_day.clear()
        for n in range(seed_mails):  # today's: their clocks running, due soon, or just overdue
            filler.copy(n, received=now - timedelta(minutes=filler.rng.uniform(5, 600)))
        recent = [c["id"] for c in sorted(filler.rows[Case], key=lambda c: c["received_at"], reverse=True)]
        for n in range(seed_mails, seed_mails + spread):
            filler.copy(n)
        filler.flush(conn)
    return recent


def login_link(engine: Engine, address: str) -> str:
    """The link in the newest login mail queued for `address` (the daemon would send it)."""
    with engine.connect() as conn:
        data = conn.execute(select(Outbox.data).where(Outbox.step.like("login-%"),  # type: ignore[attr-defined]
                                                      Outbox.recipient == address)
                            .order_by(Outbox.id.desc())).scalars().first()  # type: ignore[union-attr]
    assert data is not None, f"no login mail to {address}"
    text = email.message_from_bytes(data, policy=email.policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"http://\S+/login/\S+", text)
    assert found, text
    return found.group(0)


def sign_in(browser: Any, base: str, engine: Engine, viewport: dict[str, int], scale: float) -> Any:
    """A page in a fresh context, signed in as READER through the form and the mailed link."""
    page = browser.new_context(viewport=viewport, device_scale_factor=scale, locale="zh-CN").new_page()
    page.goto(f"{base}/login")
    page.fill("#email", READER)
    page.click("button[type=submit]")
    page.wait_for_selector("#sent")
    page.goto(login_link(engine, READER))
    page.wait_for_selector("table.register")
    return page


def shoot(out: Path, base: str, engine: Engine, case_id: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--lang=zh-CN"])
        try:
            desktop = sign_in(browser, base, engine, DESKTOP, 1)
            for name, path, full in (("register", "/register", False), ("case", f"/cases/{case_id}", True),
                                     ("stats", "/stats?days=90", True)):
                desktop.goto(base + path)
                desktop.screenshot(path=str(out / f"{name}.png"), full_page=full)
                written.append(out / f"{name}.png")
            phone = sign_in(browser, base, engine, PHONE, 2)
            phone.screenshot(path=str(out / "register-phone.png"))
            written.append(out / "register-phone.png")
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--seed-mails", type=int, default=24, help="complaints through the intake (default 24)")
    parser.add_argument("--spread", type=int, default=400, help="copies over the past year (default 400)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        engine = open_engine(f"sqlite:///{workdir}/var/complaintd.sqlite3")
        ids = fill(engine, workdir, args.seed_mails, args.spread, now)
        with serving(engine, workdir, now) as port:
            written = shoot(args.out, f"http://127.0.0.1:{port}", engine, ids[0])
        engine.dispose()
    for path in written:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
