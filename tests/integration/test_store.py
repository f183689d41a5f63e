"""The store's contract, run on SQLite and on the real PostgreSQL server alike."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from daemon.config import load_settings
from daemon.file_source import FileSource
from daemon.intake import Intake
from daemon.queries import list_cases, load_case
from daemon.rendering import Renderer
from daemon.store import BLOB_APART_FROM, CHECKPOINT_EVERY, Checkpoints, insert, open_engine, session
from models.directory import Person
from models.tables import Case, Event, InboundMail, Outbox
from models.types import DeadlineKind, InboundStatus

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(ROOT / "config.toml", env={})
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.sqlite3"
    else:
        url = request.getfixturevalue("pg_url")
    engine = open_engine(url)
    yield engine
    if request.param == "postgresql":
        from sqlmodel import SQLModel
        SQLModel.metadata.drop_all(engine)
    engine.dispose()


def complaint(tmp_path: Path, n: int, message_id: str | None = None, saved: datetime = T0) -> Path:
    """A staff note saved as a file at `saved` (its mtime: its arrival, for `ingest`)."""
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = f"转发：江城晚报记者投诉 {n}"
    msg["Date"] = "Fri, 27 Nov 2026 10:20:00 +0800"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(f"江城晚报记者来电，第{n}号小区手机没有信号，联系电话13912345678。")
    path = tmp_path / f"c{n}.eml"
    path.write_bytes(msg.as_bytes())
    os.utime(path, (saved.timestamp(), saved.timestamp()))
    return path


def intake(engine: Engine) -> Intake:
    return Intake(SETTINGS, engine, Renderer(ZoneInfo("Asia/Shanghai"), Person("媒体投诉处理", "complaints@corp.example.com")))


def test_times_come_back_aware_utc(engine: Engine, tmp_path: Path) -> None:
    """What goes in as 10:15 Shanghai comes out as the same instant, aware, in UTC."""
    saved = T0 - timedelta(minutes=20)
    source = FileSource([complaint(tmp_path, 1, "<a1@corp.example.com>", saved=saved)])
    item = next(source.fetch_new())
    outcome = intake(engine).handle(source, item, T0)
    assert outcome is not None and outcome.case_id
    record = load_case(engine, outcome.case_id)
    assert record is not None
    assert record.case.registered_at == T0 and record.case.registered_at.tzinfo == UTC
    # A staff note, not a forward: its arrival, the file's mtime, not the time it was ingested;
    # 20 minutes later the 15-minute assessment is already late (迟报).
    assert record.case.received_at == saved
    assert record.case.received_at.tzinfo == UTC
    assert all(d.due_at.tzinfo == UTC for d in record.deadlines)
    assert record.case.late and {d.kind for d in record.deadlines if d.late} == {DeadlineKind.ASSESS.value}


def test_case_ids_count_per_local_day(engine: Engine, tmp_path: Path) -> None:
    """MT-YYYYMMDD-NNNN numbers restart with each day in Asia/Shanghai, not UTC."""
    job = intake(engine)
    ids = []
    for n, now in enumerate([T0, T0 + timedelta(minutes=1), datetime(2026, 11, 27, 16, 5, tzinfo=UTC)]):
        source = FileSource([complaint(tmp_path, n, f"<d{n}@corp.example.com>")])
        outcome = job.handle(source, next(source.fetch_new()), now)
        assert outcome is not None
        ids.append(outcome.case_id)
    assert ids == ["MT-20261127-0001", "MT-20261127-0002", "MT-20261128-0001"]


def test_one_message_id_is_one_case_and_a_second_sighting_is_an_event(engine: Engine, tmp_path: Path) -> None:
    """The same Message-ID seen at two places makes one case and a `duplicate` event."""
    job = intake(engine)
    first = FileSource([complaint(tmp_path, 1, "<same@corp.example.com>")])
    second = FileSource([complaint(tmp_path, 2, "<same@corp.example.com>")])
    a = job.handle(first, next(first.fetch_new()), T0)
    b = job.handle(second, next(second.fetch_new()), T0)
    assert a is not None and b is not None
    assert b.status is InboundStatus.DUPLICATE and b.case_id == a.case_id
    with session(engine) as db:
        assert len(db.exec(select(Case)).all()) == 1
        kinds = [e.kind for e in db.exec(select(Event).where(Event.case_id == a.case_id))]
    assert "duplicate" in kinds


def test_unique_keys_hold_in_the_database_itself(engine: Engine, tmp_path: Path) -> None:
    """Even code that skips the checks cannot record a place or an outbox key twice."""
    source = FileSource([complaint(tmp_path, 1, "<u1@corp.example.com>")])
    intake(engine).handle(source, next(source.fetch_new()), T0)
    with session(engine) as db:
        inbound = db.exec(select(InboundMail)).one()
        twin = InboundMail(**{k: v for k, v in inbound.model_dump().items() if k != "id"})
        db.add(twin)
        with pytest.raises(IntegrityError):
            db.commit()
    with session(engine) as db:
        row = db.exec(select(Outbox)).first()
        assert row is not None
        copy = Outbox(**{k: v for k, v in row.model_dump().items() if k not in ("id", "message_id")},
                      message_id="<other@x>")
        db.add(copy)
        with pytest.raises(IntegrityError):
            db.commit()


def test_small_and_big_mails_written_together_keep_their_bytes_and_order(engine: Engine) -> None:
    """One transaction with mails of a few bytes and of a few MB (on SQLite the big ones are
    written into their blobs a piece at a time): each row holds its own mail, exactly, and the
    ids follow the order they came in."""
    sizes = [10, (3 << 20) + 7, 200, BLOB_APART_FROM, 5]
    raws = [os.urandom(size) for size in sizes]
    rows = [dict(mailbox="INBOX", uidvalidity=1, uid=str(n), message_id=None, digest=f"d{n}", kind="complaint",
                 status=InboundStatus.IGNORED, case_id=None, sender=None, subject="", reason="", size=len(raw),
                 raw=raw, seen_at=T0) for n, raw in enumerate(raws)]
    with session(engine) as db:
        insert(db, InboundMail.__table__, rows, blob="raw")  # type: ignore[attr-defined]
        db.commit()
    with session(engine) as db:
        kept = db.exec(select(InboundMail).order_by(InboundMail.id)).all()  # type: ignore[arg-type]
    assert [(m.uid, m.raw) for m in kept] == [(str(n), raw) for n, raw in enumerate(raws)]


def test_the_clock_loop_copies_the_log_back_into_the_database_after_a_burst(tmp_path: Path) -> None:
    """SQLite: an intake commit leaves its pages in the write-ahead log (copying them back is
    the clock loop's, off the intake's path); the clock loop copies them once the intake has
    written CHECKPOINT_AFTER bytes of mail, or CHECKPOINT_EVERY seconds have passed."""
    path = tmp_path / "store.sqlite3"
    engine = open_engine(f"sqlite:///{path}")
    seconds = [0.0]
    checkpoints = Checkpoints(engine, clock=lambda: seconds[0])

    def burst(n: int) -> None:
        raws = [os.urandom(100_000) for _ in range(n)]
        rows = [dict(mailbox="INBOX", uidvalidity=1, uid=f"{n}-{i}", message_id=None, digest="d", kind="complaint",
                     status=InboundStatus.IGNORED, case_id=None, sender=None, subject="", reason="", size=len(raw),
                     raw=raw, seen_at=T0) for i, raw in enumerate(raws)]
        with session(engine) as db:
            insert(db, InboundMail.__table__, rows, blob="raw")  # type: ignore[attr-defined]
            db.commit()
        checkpoints.wrote(sum(map(len, raws)))

    start = path.stat().st_size
    burst(20)  # 2 MB: not yet
    checkpoints.run()
    assert path.stat().st_size == start
    burst(30)  # 5 MB in all
    assert path.stat().st_size == start  # the commit left it to the clock loop
    checkpoints.run()
    assert path.stat().st_size > start + 4_500_000  # the 5 MB of mail
    copied = path.stat().st_size
    burst(1)  # a little, then a quiet minute
    checkpoints.run()
    assert path.stat().st_size == copied
    seconds[0] += CHECKPOINT_EVERY
    checkpoints.run()
    assert path.stat().st_size > copied
    engine.dispose()


def test_register_filters_open_and_overdue(engine: Engine, tmp_path: Path) -> None:
    """`cases --status overdue` lists a case whose next clock has passed; `open` lists all open."""
    source = FileSource([complaint(tmp_path, 1, "<o1@corp.example.com>")])
    intake(engine).handle(source, next(source.fetch_new()), T0)
    assert len(list_cases(engine, "open", T0)) == 1
    assert list_cases(engine, "overdue", T0) == []
    assert len(list_cases(engine, "overdue", T0 + timedelta(minutes=16))) == 1
    assert list_cases(engine, "closed", T0) == []
