"""The stored vocabulary: enum columns keep their text, ack targets their form, and the outbox
keys their numbers, so that databases and mails in flight written by earlier versions still
mean what they meant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import select

from daemon.outbox import outbox_key
from daemon.reports import round_of_address
from daemon.store import open_engine, session
from models.policy import Step, round_of_reply
from models.tables import Case, Deadline, Event, InboundMail, Outbox
from models.types import (
    AckTarget,
    CaseStatus,
    DeadlineKind,
    EventKind,
    InboundStatus,
    OutboxStatus,
)

T0 = datetime(2026, 11, 27, 2, 15, 30, 999999, tzinfo=UTC)
CASE_ID = "MT-20261127-0001"


def a_case(**fields: Any) -> Case:
    values: dict[str, Any] = dict(id=CASE_ID, status=CaseStatus.LOCAL, received_at=T0, registered_at=T0,
                                  receiving_dept="network", source_key="<a@x>", updated_at=T0)
    values.update(fields)
    return Case(**values)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path}/register.sqlite3")
    yield engine
    engine.dispose()


def test_an_enum_column_stores_the_values_text_and_reads_the_member(engine: Engine) -> None:
    """Each enum column holds exactly the text a plain string column held; reads give members."""
    with session(engine) as db:
        db.add(a_case())
        db.add(Deadline(case_id=CASE_ID, kind=DeadlineKind.ACK, due_at=T0, target="group/0/a@b.example"))
        db.add(Event(case_id=CASE_ID, at=T0, kind=EventKind.MAIL_OUT, actor="complaintd"))
        db.add(InboundMail(mailbox="INBOX", uidvalidity=1, uid="7", digest="d", kind="complaint",
                           status=InboundStatus.REGISTERED, raw=b"", seen_at=T0))
        db.add(Outbox(key="k", step=Step.CONFIRM, recipient="a@b.example", message_id="<m@x>", subject="s",
                      data=b"", created_at=T0, next_attempt_at=T0))
        db.commit()
        stored = [db.execute(sql(f"SELECT {column} FROM {table}")).scalar_one() for table, column in
                  (("cases", "status"), ("deadlines", "kind"), ("events", "kind"), ("inbound_mail", "status"),
                   ("outbox", "status"), ("outbox", "step"))]
        assert stored == ["local", "ack", "mail_out", "registered", "pending", "confirm"]
        assert all(type(value) is str for value in stored)
        db.expire_all()
        case = db.exec(select(Case)).one()
        assert case.status is CaseStatus.LOCAL
        assert db.exec(select(Deadline)).one().kind is DeadlineKind.ACK
        assert db.exec(select(Event)).one().kind is EventKind.MAIL_OUT
        assert db.exec(select(InboundMail)).one().status is InboundStatus.REGISTERED
        assert db.exec(select(Outbox)).one().status is OutboxStatus.PENDING


def test_a_query_compares_an_enum_column_with_a_member_or_its_text(engine: Engine) -> None:
    """`status == CaseStatus.LOCAL` and `status == "local"` find the same rows."""
    with session(engine) as db:
        db.add(a_case())
        db.commit()
        assert db.exec(select(Case.id).where(Case.status == CaseStatus.LOCAL)).all() == [CASE_ID]
        assert db.exec(select(Case.id).where(Case.status == "local")).all() == [CASE_ID]
        assert db.exec(select(Case.id).where(Case.status.in_([CaseStatus.RESOLVED]))).all() == []  # type: ignore[attr-defined]


def test_a_value_outside_the_enum_is_refused_on_write(engine: Engine) -> None:
    """A typo'd status never reaches the register: the write fails, naming the value."""
    with session(engine) as db:
        db.add(a_case(status="loacl"))
        with pytest.raises(StatementError, match="'loacl' is not a CaseStatus"):
            db.commit()


def test_a_value_a_newer_version_wrote_reads_as_its_text(engine: Engine) -> None:
    """A status this version does not know comes back as the stored text, to be shown as it is."""
    with session(engine) as db:
        db.add(a_case())
        db.commit()
        db.execute(sql("UPDATE cases SET status = 'escalated_abroad'"))
        db.commit()
        db.expire_all()
        assert db.exec(select(Case)).one().status == "escalated_abroad"


@pytest.mark.parametrize(("stored", "target"), [
    ("group/0/a@b.example", AckTarget("group", 0, "a@b.example")),
    ("failover/12/a@b.example", AckTarget("failover", 12, "a@b.example")),
    # A dot-atom may hold a slash: the address is all that follows the round.
    ("group/3/x/y@b.example", AckTarget("group", 3, "x/y@b.example")),
    # Shorter or damaged forms: the address after the last slash, round 0.
    ("group/a@b.example", AckTarget("group", 0, "a@b.example")),
    ("group/x/a@b.example", AckTarget("group", 0, "a@b.example")),
    ("group/²/a@b.example", AckTarget("group", 0, "a@b.example")),
    ("a@b.example", AckTarget("", 0, "a@b.example")),
])
def test_an_ack_target_reads_the_stored_forms(stored: str, target: AckTarget) -> None:
    """Deadline.target as earlier versions and damaged rows hold it names the address awaited."""
    assert AckTarget.parse(stored) == target


def test_an_ack_target_is_stored_as_step_round_address() -> None:
    """str() is the stored form, and reading it back gives the same target."""
    target = AckTarget(Step.ASSESS_OVERDUE, 2, "wang.net@corp.example.com")
    assert str(target) == "assess_overdue/2/wang.net@corp.example.com"
    assert AckTarget.parse(str(target)) == target


def test_the_outbox_keys_and_rounds_are_numbered_as_before() -> None:
    """The keys of mails already queued stay the keys the same decisions make now: a changed
    number would send such a mail a second time."""
    assert outbox_key(CASE_ID, Step.CONFIRM, 2, "a@b.example") == f"{CASE_ID}/confirm/2/a@b.example"
    assert outbox_key(None, "digest-20261127", 0, "a@b.example") == "-/digest-20261127/0/a@b.example"
    assert round_of_reply(T0) == 1795745730  # whole seconds since the epoch
    assert round_of_address("zhang.net@corp.example.com") == 510474299  # CRC-32, 31 bits
    assert round_of_address("zhang.net@corp.example.com", "refused") == 834465658
