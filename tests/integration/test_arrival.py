"""Arrival (SPEC §3): the clocks run from when a complaint reached the mailbox, never from the
moment complaintd got round to it, and a forwarded original's own send time counts within a
week before that. Run on a Maildir and on Dovecot, with the daemon's clock in the test's hand."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

import pytest

from daemon.__main__ import main
from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.queries import list_cases, load_case
from daemon.sources import open_source
from daemon.store import open_engine
from models.registration import INTAKE_CLOCKS
from models.types import DeadlineKind
from tests.integration.test_clocks_e2e import MovableClock, run_until
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward, server_config

pytestmark = pytest.mark.integration

ARRIVED = T0  # when the complaint reached the mailbox (10:15 in Shanghai)
PASSED_BY_TWO_HOURS = {DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT}


# -- mail ---------------------------------------------------------------------------------------


def staff_note(n: int, date: datetime) -> bytes:
    """孙明 (网络部) writes the complaint down himself: no forwarded original, so no send time
    but its arrival. Its own Date is his mail client's clock and counts for nothing."""
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = f"江城晚报记者来电投诉 {n}"
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<note-{n}@corp.example.com>"
    msg.set_content(f"江城晚报记者来电，第{n}号小区手机没有信号，联系电话13912345678。")
    return msg.as_bytes()


def direct_mail(date: datetime) -> bytes:
    """A journalist writes to the mailbox himself, from a computer whose clock says `date`."""
    msg = EmailMessage()
    msg["From"] = "李记者 <li.reporter@jcwb.example.cn>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = "小区三天没有手机信号"
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = "<direct-1@jcwb.example.cn>"
    msg.set_content("我是江城晚报记者，第9号小区已经三天没有手机信号，请说明原因。电话13912345678。")
    return msg.as_bytes()


# -- the two mailboxes ----------------------------------------------------------------------------


class Inbox(Protocol):
    url: str

    def deliver(self, raw: bytes, at: datetime) -> None: ...


class MaildirInbox:
    """Delivered as a delivery agent does: named `<seconds>.M<usec>P<pid>…` at `at`, written in
    tmp/, renamed into new/; the file's mtime is `at` as well."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"maildir:{root}"
        self._n = 0

    def deliver(self, raw: bytes, at: datetime) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._n += 1
        name = f"{int(at.timestamp())}.M{at.microsecond}P{os.getpid()}Q{self._n}.test"
        (self.root / "tmp" / name).write_bytes(raw)
        os.utime(self.root / "tmp" / name, (at.timestamp(), at.timestamp()))
        os.rename(self.root / "tmp" / name, self.root / "new" / name)


class DovecotInbox:
    """APPEND with the INTERNALDATE `at`."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server
        self.url = server.url()

    def deliver(self, raw: bytes, at: datetime) -> None:
        self.server.append(raw, internaldate=at)


@pytest.fixture(params=["maildir", "dovecot"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    if request.param == "maildir":
        return MaildirInbox(tmp_path / "inbox")
    server: Dovecot = request.getfixturevalue("imap")
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", server.password)
    return DovecotInbox(server)


@pytest.fixture
def daemon(tmp_path: Path, inbox: Inbox) -> Iterator[App]:
    """The daemon on that inbox, case mail to a Maildir; its clock is set by run_until."""
    config = server_config(tmp_path, inbound=inbox.url, outbound=f"maildir:{tmp_path}/sent")
    settings = load_settings(config)
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), MovableClock(ARRIVED))
    yield app
    app.close()


def only_case(app: App):  # type: ignore[no-untyped-def]
    ((case, _),) = list_cases(app.engine, "all", ARRIVED)
    record = load_case(app.engine, case.id)
    assert record is not None
    return record


def late_clocks(record) -> set[DeadlineKind]:  # type: ignore[no-untyped-def]
    return {DeadlineKind(d.kind) for d in record.deadlines if d.late}


# -- the tests ------------------------------------------------------------------------------------


def test_a_complaint_that_waited_two_hours_runs_from_its_arrival_and_is_late(inbox: Inbox, daemon: App) -> None:
    """The daemon was down for two hours: the case starts at the mailbox's arrival time, is 迟报,
    and the clocks already past are escalated in the very pass that registers it."""
    inbox.deliver(staff_note(1, date=ARRIVED), at=ARRIVED)
    now = ARRIVED + timedelta(hours=2)
    run_until(daemon, now)
    record = only_case(daemon)
    assert record.case.received_at == ARRIVED
    assert record.case.registered_at == now
    assert record.case.late
    assert late_clocks(record) == PASSED_BY_TWO_HOURS
    breached = {DeadlineKind(d.kind) for d in record.deadlines if d.breached_at == now}
    assert PASSED_BY_TWO_HOURS <= breached


def test_a_direct_mail_dated_2017_runs_from_its_arrival(inbox: Inbox, daemon: App) -> None:
    """A direct mail's Date is the sender's clock: a journalist's PC set to 2017 does not make the
    case seven days old and breached; it is received when it reached the mailbox."""
    inbox.deliver(direct_mail(date=datetime(2017, 3, 1, 9, 0, tzinfo=UTC)), at=ARRIVED)
    run_until(daemon, ARRIVED + timedelta(minutes=1))
    record = only_case(daemon)
    assert record.case.received_at == ARRIVED
    assert not record.case.late and late_clocks(record) == set()
    assert record.case.receiving_dept == "general_dept"


@pytest.mark.parametrize("sent, received, late", [
    # The journalist wrote three hours before the forward reached us: that is when it started.
    (ARRIVED - timedelta(hours=3), ARRIVED - timedelta(hours=3), PASSED_BY_TWO_HOURS),
    # A send time after arrival is a wrong clock: never later than arrival.
    (ARRIVED + timedelta(hours=5), ARRIVED, set()),
    # A month-old original (a re-forward, a wrong clock): never earlier than a week before arrival.
    (ARRIVED - timedelta(days=30), ARRIVED - timedelta(days=7), set(INTAKE_CLOCKS)),
], ids=["3h-before", "in-the-future", "30-days-before"])
def test_a_forwarded_originals_send_time_counts_within_a_week_before_arrival(
        inbox: Inbox, daemon: App, sent: datetime, received: datetime, late: set[DeadlineKind]) -> None:
    """SPEC §3: received_at is the original's send time, clamped to [arrival − 7 d, arrival]."""
    inbox.deliver(outlook_forward(1, sent=sent), at=ARRIVED)
    run_until(daemon, ARRIVED + timedelta(minutes=1))
    record = only_case(daemon)
    assert record.case.received_at == received
    assert late_clocks(record) == late
    assert record.case.late == bool(late)


def test_ingest_takes_the_files_modification_time_as_its_arrival(tmp_path: Path) -> None:
    """`complaintd ingest FILE` (real clock): a file saved two hours ago arrived two hours ago."""
    config = server_config(tmp_path, inbound=f"maildir:{tmp_path}/inbox", outbound=f"maildir:{tmp_path}/sent")
    saved = int(time.time()) - 2 * 3600
    path = tmp_path / "complaint.eml"
    path.write_bytes(staff_note(1, date=datetime.now(UTC)))
    os.utime(path, (saved, saved))
    assert main(["ingest", str(path), "-c", str(config)]) == 0
    engine = open_engine(load_settings(config).daemon.database)
    ((case, _),) = list_cases(engine, "all", datetime.now(UTC))
    assert case.received_at == datetime.fromtimestamp(saved, UTC)
    assert case.late
