"""The board's sign-in: one-time links stored hashed, good once for 15 minutes; rate limits."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from daemon.rendering import Renderer
from daemon.store import open_engine
from daemon.web.auth import LINK_LIFETIME, RateLimiter, redeem, request_link, session_valid, token_hash
from models.directory import Person
from models.tables import LoginToken, Outbox
from tests.support.web import board_settings

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_engine(f"sqlite:///{tmp_path}/board.sqlite3")


def issue(engine: Engine, tmp_path: Path, address: str) -> str | None:
    """Ask for a link for `address`; the token in the queued mail, None when none was queued."""
    settings = board_settings(tmp_path)
    renderer = Renderer(settings.daemon.timezone, Person("媒体投诉处理", "complaints@corp.example.com"))
    request_link(engine, renderer, settings.directory, address, "http://board.example", settings.message_id_domain,
                 NOW)
    with Session(engine) as db:
        rows = db.exec(select(Outbox).where(Outbox.recipient == address.lower())).all()
    if not rows:
        return None
    body = email.message_from_bytes(rows[-1].data, policy=email.policy.default).get_body(("plain",))
    return re.search(r"http://board\.example/login/(\S+)", body.get_content()).group(1)  # type: ignore[union-attr]


def test_a_link_is_mailed_and_only_its_hash_is_stored(engine: Engine, tmp_path: Path) -> None:
    """The token reaches the person by mail through the outbox; the database holds its sha256 only."""
    token = issue(engine, tmp_path, "Wang.Net@corp.example.com")
    assert token and len(token) >= 43
    with Session(engine) as db:
        stored = db.exec(select(LoginToken)).one()
    assert stored.token_hash == token_hash(token) and token not in stored.token_hash
    assert stored.email == "wang.net@corp.example.com"


@pytest.mark.parametrize("address", ["stranger@evil.example", "gd@prov.example.com"])
def test_nobody_outside_the_board_is_sent_a_link(engine: Engine, tmp_path: Path, address: str) -> None:
    """An address not in the directory, or one the board shows nothing to: no token, no mail."""
    assert issue(engine, tmp_path, address) is None
    with Session(engine) as db:
        assert db.exec(select(LoginToken)).all() == []


def test_a_link_signs_in_once(engine: Engine, tmp_path: Path) -> None:
    """The first use gives the address; the second, nothing."""
    token = issue(engine, tmp_path, "liu.gd@corp.example.com")
    assert token
    assert redeem(engine, token, NOW + timedelta(minutes=1)) == "liu.gd@corp.example.com"
    assert redeem(engine, token, NOW + timedelta(minutes=2)) is None


def test_a_link_expires_after_fifteen_minutes(engine: Engine, tmp_path: Path) -> None:
    """At 15 minutes it is refused; a forged token is refused too."""
    token = issue(engine, tmp_path, "liu.gd@corp.example.com")
    assert token
    assert redeem(engine, token, NOW + LINK_LIFETIME) is None
    assert redeem(engine, token + "x", NOW) is None


def test_the_rate_limit_counts_per_key_within_the_window() -> None:
    """Three per window for one key, others unaffected; the window passing frees it again."""
    limiter = RateLimiter(3, timedelta(minutes=15))
    assert [limiter.allow("a", NOW + timedelta(seconds=i)) for i in range(4)] == [True, True, True, False]
    assert limiter.allow("b", NOW)
    assert limiter.allow("a", NOW + timedelta(minutes=15, seconds=1))


def test_a_session_lasts_a_working_day() -> None:
    """Signed in at 09:00 with 10 hours: valid at 18:59, not at 19:00, nor from the future."""
    at = NOW.timestamp()
    assert session_valid(at, NOW + timedelta(hours=9, minutes=59), 10)
    assert not session_valid(at, NOW + timedelta(hours=10), 10)
    assert not session_valid(at + 60, NOW, 10)
    assert not session_valid(None, NOW, 10)
