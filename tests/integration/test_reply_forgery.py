"""Property: no reply without its sender's own proof changes a case (issue 10, design change).

Hypothesis writes the mail an attacker or a careless client would: any From (directory
addresses, outsiders, display names that look like addresses, encoded words), any subject
(no tag, a bare tag, a made-up token, another recipient's token, full-width brackets), any
threading (none, unknown ids, another recipient's Message-ID, the case's thread root), and a
command that would change the case. The mail goes through the real parser and intake on
SQLite; the case — status, fields, every clock — must be exactly as before, and no mail may
go to anyone outside the directory.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from daemon.config import load_settings
from daemon.escalation import deadline_pass
from daemon.intake import Intake
from daemon.ports import Fetched, SourceKey
from daemon.rendering import Renderer, token_of
from daemon.store import open_engine, session
from models.directory import Person
from models.tables import Case, Deadline, Outbox
from tests.support.mail import outlook_forward

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(ROOT / "config.toml", env={})
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
NOW = T0 + timedelta(hours=1, minutes=5)
RENDERER = Renderer(ZoneInfo("Asia/Shanghai"), Person("媒体投诉处理", "complaints@corp.example.com"))
UIDS = itertools.count(100)

DIRECTORY_SENDERS = ["sun@corp.example.com", "zonghe@corp.example.com", "liu.gd@corp.example.com",
                     "zhou.gd@corp.example.com", "zhao.ceo@corp.example.com", "qian.media@corp.example.com",
                     "wang.net@corp.example.com", "chen.am@corp.example.com", "nobody@net.corp.example.com"]
OUTSIDERS = ["attacker@evil.example", "li.reporter@jcwb.example.cn"]
COMMANDS = ["办结：已解决", "非媒体投诉", "批准", "无法处理", "可处理", "上报综合部", "收到", "类别：3", "重大",
            "成立小组：网络部", "口径：不予置评", "方案：上门检修\n预计完成：明天18:00", "媒体单位：别的报社",
            "记者：张三", "确认", "resolved", "dismiss", "approve"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Intake, str, list[tuple[str, str]]]]:
    """One case two steps in (ack and 综合部 mails sent), with every Message-ID minted for it."""
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('forgery')}/p.sqlite3")
    intake = Intake(SETTINGS, engine, RENDERER)
    outcome = intake.settle([Fetched(SourceKey("mem", 1, "1"), outlook_forward(1, forwarder="sun@corp.example.com"))],
                            T0 + timedelta(minutes=5))[0]
    assert outcome.case_id
    deadline_pass(engine, SETTINGS, RENDERER, T0 + timedelta(hours=1))
    with session(engine) as db:
        minted = [(r.recipient, r.message_id) for r in db.exec(select(Outbox).where(Outbox.case_id == outcome.case_id))]
    assert len({r for r, _ in minted}) >= 5
    yield engine, intake, outcome.case_id, minted
    engine.dispose()


def snapshot(engine: Engine, case_id: str) -> tuple[Any, ...]:
    with session(engine) as db:
        case = db.get(Case, case_id)
        assert case is not None
        clocks = sorted((d.kind, d.round, d.target, d.due_at, d.met_at, d.breached_at)
                        for d in db.exec(select(Deadline).where(Deadline.case_id == case_id)))
        return (case.model_dump(exclude={"updated_at"}), clocks)


@st.composite
def forged_reply(draw: st.DrawFn, case_id: str, minted: list[tuple[str, str]]) -> tuple[str, bytes]:
    """(the real sender's address, the raw mail), never carrying that address's own proof."""
    sender = draw(st.sampled_from(DIRECTORY_SENDERS + OUTSIDERS))
    name = draw(st.sampled_from(["", "刘洋", "赵总", *DIRECTORY_SENDERS, "综合部 <zonghe@corp.example.com>"]))
    # Proof is drawn only from people the From header does not name at all: a malformed
    # "综合部 <zonghe@…> <wang@…>" may be read as either mailbox, and holding the token of
    # the one it is read as is real proof.
    named = {sender, *(a for a in DIRECTORY_SENDERS if a in name)}
    others = [(r, mid) for r, mid in minted if r not in named]
    form = draw(st.sampled_from(["plain", "quoted", "encoded"]))
    if not name:
        from_header = sender
    elif form == "quoted":
        from_header = '"' + name.replace('"', "").replace("\\", "") + f'" <{sender}>'
    elif form == "encoded":
        from_header = f"=?utf-8?b?{base64.b64encode(name.encode()).decode()}?= <{sender}>"
    else:
        from_header = f"{name} <{sender}>"
    token = draw(st.one_of(
        st.none(),
        st.just(""),
        st.text("0123456789abcdef", min_size=4, max_size=8),
        st.sampled_from([token_of(mid) for _, mid in others]),
    ))
    tag = "" if token is None else f"[{case_id}]" if token == "" else f"[{case_id}·{token}]"
    if tag and draw(st.booleans()):
        tag = tag.replace("[", "【").replace("]", "】")
    prefix = draw(st.sampled_from(["", "Re: ", "回复：", "答复: ", "关于"]))
    threads = draw(st.lists(st.one_of(
        st.sampled_from([mid for _, mid in others]),
        st.just(f"<{case_id}@{SETTINGS.message_id_domain}>"),
        st.just("<unknown@corp.example.com>"),
    ), max_size=3))
    command = draw(st.sampled_from(COMMANDS))
    subject = base64.b64encode(f"{prefix}{tag} 媒体投诉".encode()).decode()
    head = (f"From: {from_header}\r\nTo: complaints@corp.example.com\r\n"
            f"Subject: =?utf-8?b?{subject}?=\r\nMessage-ID: <f{next(UIDS)}@forger.example>\r\n"
            + (f"In-Reply-To: {threads[-1]}\r\nReferences: {' '.join(threads)}\r\n" if threads else "")
            + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    return sender, head.encode() + f"{command}\r\n".encode()


def test_no_reply_without_its_senders_own_proof_changes_a_case(world: tuple[Engine, Intake, str, list[tuple[str, str]]]) -> None:
    engine, intake, case_id, minted = world
    directory = SETTINGS.directory

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(forged_reply(case_id, minted))
    def check(attempt: tuple[str, bytes]) -> None:
        sender, raw = attempt
        before = snapshot(engine, case_id)
        with session(engine) as db:
            last = max(db.exec(select(Outbox.id)).all())
        uid = str(next(UIDS))
        intake.settle([Fetched(SourceKey("mem", 1, uid), raw)], NOW)
        assert snapshot(engine, case_id) == before
        with session(engine) as db:
            sent_to = set(db.exec(select(Outbox.recipient).where(Outbox.id > last)))
        assert all(directory.is_known(r) for r in sent_to)
        assert sender not in sent_to or directory.is_known(sender)

    check()


def test_the_senders_own_token_does_change_the_case(world: tuple[Engine, Intake, str, list[tuple[str, str]]]) -> None:
    """The control: the generator's mail with the receiver's own token acts (the property is not vacuous)."""
    engine, intake, case_id, minted = world
    own = next(mid for r, mid in minted if r == "sun@corp.example.com")
    subject = base64.b64encode(f"回复：[{case_id}·{token_of(own)}] 媒体投诉".encode()).decode()
    raw = (f"From: 孙明 <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
           f"Subject: =?utf-8?b?{subject}?=\r\nMessage-ID: <own{next(UIDS)}@corp.example.com>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n类别：3\r\n").encode()
    before = snapshot(engine, case_id)
    intake.settle([Fetched(SourceKey("mem", 1, str(next(UIDS))), raw)], NOW)
    after = snapshot(engine, case_id)
    assert after != before and after[0]["category"] == 3
