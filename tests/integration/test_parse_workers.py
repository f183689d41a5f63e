"""Intake's parse workers (daemon/parsing.py): the real intake on a real Dovecot, with a mail
that kills the worker parsing it, and the pool's results against the in-process parse."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import col, select

from daemon.app import App
from daemon.config import load_settings
from daemon.intake import Intake, parse_context
from daemon.mailer import open_mailer
from daemon.parsing import HERE_FROM, POOL_FROM, Parser
from daemon.ports import Fetched, SourceKey
from daemon.queries import list_cases
from daemon.sources import open_source
from daemon.store import open_engine, session
from models.tables import Case, Outbox
from models.types import InboundStatus
from parsers import ParseContext, parse
from tests.integration.test_clocks_e2e import MovableClock
from tests.support.dovecot import Dovecot
from tests.support.mail import ROOT, T0, outlook_forward, server_config
from tests.support.parse_hooks import KILL, RAISE, dying_parse, telling_parse
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ARRIVED = T0 + timedelta(minutes=5)
GROUP = POOL_FROM + 4  # parsed in the workers
CORPUS = Path(os.environ.get("COMPLAINTD_CORPUS") or ROOT.parent / "shared" / "corpus")


@pytest.fixture
def app(tmp_path: Path, imap: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The daemon on the test Dovecot, its intake parsing with dying_parse."""
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    settings = load_settings(server_config(tmp_path, inbound=imap.url(), outbound=f"maildir:{tmp_path}/sent"))
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), MovableClock(ARRIVED))
    app.intake = Intake(settings, app.engine, app.renderer, parse=dying_parse)
    yield app
    app.close()


def deliver(imap: Dovecot, numbers: range, marked: dict[int, bytes]) -> None:
    for n in numbers:
        imap.append(marked.get(n, b"") + outlook_forward(n), internaldate=ARRIVED)


def registered_subjects(app: App) -> Counter[str]:
    with session(app.engine) as db:
        return Counter(db.exec(select(Case.original_subject)))


def test_a_mail_that_kills_its_parse_worker_is_quarantined_alone(app: App, imap: Dovecot) -> None:
    """The others of its group are registered once each; it goes to Quarantine, 综合部 told."""
    deliver(imap, range(GROUP), {5: KILL})
    outcomes = app.intake_pass(app.clock.now())

    assert Counter(o.status for o in outcomes) == {InboundStatus.REGISTERED: GROUP - 1, InboundStatus.QUARANTINED: 1}
    (killer,) = [o for o in outcomes if o.status is InboundStatus.QUARANTINED]
    assert "worker process died" in killer.reason
    assert registered_subjects(app) == Counter(f"第{n}号小区手机没有信号" for n in range(GROUP) if n != 5)
    assert (imap.count("INBOX"), imap.count("Processed"), imap.count("Quarantine")) == (0, GROUP - 1, 1)
    assert KILL in imap.messages("Quarantine")[0]
    with session(app.engine) as db:
        told = db.exec(select(Outbox.recipient).where(col(Outbox.step).startswith("quarantine"))).all()
    assert "zonghe@corp.example.com" in told


def test_after_a_killed_worker_the_next_pass_parses_in_a_new_pool(app: App, imap: Dovecot) -> None:
    """A second group after the crash: all registered but the one whose parse raised."""
    deliver(imap, range(GROUP), {3: KILL})
    app.intake_pass(app.clock.now())
    deliver(imap, range(GROUP, 2 * GROUP), {GROUP + 1: RAISE})
    outcomes = app.intake_pass(app.clock.now())

    assert Counter(o.status for o in outcomes) == {InboundStatus.REGISTERED: GROUP - 1, InboundStatus.QUARANTINED: 1}
    (raiser,) = [o for o in outcomes if o.status is InboundStatus.QUARANTINED]
    assert "MemoryError" in raiser.reason
    assert sum(registered_subjects(app).values()) == 2 * GROUP - 2 == len(list_cases(app.engine, "all", ARRIVED))
    assert (imap.count("INBOX"), imap.count("Quarantine")) == (0, 2)


# -- the pool itself --------------------------------------------------------------------------------

def fetched(raws: list[bytes]) -> list[Fetched]:
    return [Fetched(SourceKey("test", 1, str(i)), raw) for i, raw in enumerate(raws)]


def corpus() -> list[bytes]:
    skip = {".md", ".tsv", ".py"}
    return [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix not in skip]


@pytest.fixture
def context() -> ParseContext:
    return parse_context(load_settings(ROOT / "config.toml"))


def test_the_workers_parse_the_corpus_exactly_as_this_process_does(context: ParseContext) -> None:
    """Every corpus mail, through the workers and back, equals parse() here."""
    raws = corpus()
    assert len(raws) > POOL_FROM
    parser = Parser(context)
    try:
        assert parser.start(fetched(raws)).results() == [parse(raw, context) for raw in raws]
    finally:
        parser.close()


def test_small_groups_and_big_mails_are_parsed_in_this_process(context: ParseContext) -> None:
    """A group under POOL_FROM mails is parsed here; of a larger one, all in the workers but a
    mail of HERE_FROM bytes or more."""
    here = str(os.getpid())
    big = EmailMessage()
    big["From"], big["Subject"] = "sun@corp.example.com", "照片"
    big.set_content("附件是现场照片。")
    big.add_attachment(bytes(HERE_FROM), maintype="image", subtype="png", filename="photo.png")
    parser = Parser(context, telling_parse)
    try:
        small = parser.start(fetched([outlook_forward(n) for n in range(POOL_FROM - 1)])).results()
        mixed = parser.start(fetched([outlook_forward(n) for n in range(POOL_FROM)] + [big.as_bytes()])).results()
    finally:
        parser.close()
    assert {m.reason for m in small} == {here}
    assert here not in {m.reason for m in mixed[:-1]} and mixed[-1].reason == here


def test_without_workers_a_group_is_parsed_here(context: ParseContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """No process can be started (out of memory, or of processes): parsed here, not stuck."""
    def cannot_start(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor.submit", cannot_start)
    raws = [outlook_forward(n) for n in range(GROUP)]
    parser = Parser(context)
    assert parser.start(fetched(raws)).results() == [parse(raw, context) for raw in raws]
    parser.close()


WORKERS_THEN_WAIT = """
import multiprocessing, sys
from pathlib import Path
from daemon.intake import parse_context
from daemon.config import load_settings
from daemon.parsing import POOL_FROM, Parser
from daemon.ports import Fetched, SourceKey
from tests.support.mail import outlook_forward
parser = Parser(parse_context(load_settings(Path("config.toml"))))
parser.start([Fetched(SourceKey("t", 1, str(n)), outlook_forward(n)) for n in range(POOL_FROM)]).results()
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
sys.stdin.read()
"""


def test_the_workers_end_when_the_daemon_is_killed() -> None:
    """SIGKILL leaves nobody to shut the pool down: the workers notice and exit."""
    with subprocess.Popen([sys.executable, "-c", WORKERS_THEN_WAIT], cwd=ROOT, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as daemon:
        assert daemon.stdout is not None
        workers = [int(pid) for pid in daemon.stdout.readline().split()]
        assert workers and all(alive(pid) for pid in workers)
        daemon.send_signal(signal.SIGKILL)
    assert wait_until(lambda: not any(alive(pid) for pid in workers))


def alive(pid: int) -> bool:
    """Running, not a zombie (a worker's parent, the fork server, may not have reaped it yet)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_a_pool_is_started_only_for_a_group_that_needs_it(context: ParseContext) -> None:
    """Parsing a few mails starts no process."""
    before = len(multiprocessing.active_children())
    parser = Parser(context)
    parser.start(fetched([outlook_forward(n) for n in range(3)])).results()
    assert len(multiprocessing.active_children()) == before
    parser.close()


def test_a_reload_stops_the_parse_workers_of_the_intake_it_replaces(app: App, imap: Dovecot) -> None:
    """SIGHUP builds a new intake from the new settings; the old one's workers are stopped
    after the pass in hand, not left running for every reload."""
    deliver(imap, range(GROUP), {})
    app.tick()
    workers = [p.pid for p in multiprocessing.active_children()]
    assert workers and len(list_cases(app.engine, "all", ARRIVED)) == GROUP
    app.use(app.settings)  # what reload() does with a valid config
    app.tick()
    assert wait_until(lambda: not any(alive(pid) for pid in workers))
