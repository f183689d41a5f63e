"""The board over HTTP (Starlette's TestClient) on a register filled through the real intake:
who sees what, escaping, the login form's CSRF token and rate limits, the security headers."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from daemon.config import Settings
from daemon.store import open_engine
from daemon.web.app import create_app
from models.tables import LoginToken, Outbox
from tests.support.mail import T0
from tests.support.web import SECRET, FakeClock, board_settings, fill_register, hostile_complaint, invented

pytestmark = pytest.mark.integration

@dataclasses.dataclass
class World:
    settings: Settings
    engine: Engine
    clock: FakeClock
    cases: list[str]

    def client(self) -> TestClient:
        app = create_app(self.settings, secret=SECRET, engine=self.engine, clock=self.clock)
        return TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False)

    def login_mails(self, address: str) -> list[Outbox]:
        with Session(self.engine) as db:
            return list(db.exec(select(Outbox).where(Outbox.step.like("login-%"))  # type: ignore[attr-defined]
                                .where(Outbox.recipient == address)).all())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = board_settings(tmp_path)
    engine = open_engine(settings.daemon.database)
    now = T0 + timedelta(minutes=10)
    cases = fill_register(settings, engine, [*invented(2, T0), hostile_complaint()], now)
    yield World(settings, engine, FakeClock(now + timedelta(minutes=1)), cases)
    engine.dispose()


def csrf_of(client: TestClient) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def sign_in(world: World, client: TestClient, address: str) -> None:
    assert client.post("/login", data={"csrf": csrf_of(client), "email": address}).status_code == 200
    mail = world.login_mails(address)[-1]
    text = email.message_from_bytes(mail.data, policy=email.policy.default).get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8080(/login/\S+)", text).group(1)  # type: ignore[union-attr]
    assert client.get(link).status_code == 303


def test_complaint_text_is_shown_as_text(world: World) -> None:
    """<script>, an onerror attribute and {{ 7*7 }} from a complaint reach the page escaped, never as markup."""
    client = world.client()
    sign_in(world, client, "liu.gd@corp.example.com")
    page = client.get(f"/cases/{world.cases[-1]}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    found = client.get("/register", params={"q": "<script>", "status": "all"}).text
    assert world.cases[-1] in found and world.cases[0] not in found


def test_another_departments_member_gets_404_and_no_row(world: World) -> None:
    """A marketing member is refused a network case as if it did not exist, and the register leaves it out."""
    client = world.client()
    sign_in(world, client, "feng.mkt@corp.example.com")
    refused = client.get(f"/cases/{world.cases[0]}")
    assert refused.status_code == 404 and "江城晚报" not in refused.text
    assert client.get(f"/cases/{world.cases[0]}/form.xlsx").status_code == 404
    assert world.cases[0] not in client.get("/register", params={"status": "all"}).text


def test_the_receiving_departments_leader_sees_it_but_not_the_original_mail(world: World) -> None:
    """A department leader sees the case and its form; the .eml is 综合部's alone."""
    client = world.client()
    sign_in(world, client, "wang.net@corp.example.com")
    assert client.get(f"/cases/{world.cases[0]}").status_code == 200
    assert client.get(f"/cases/{world.cases[0]}/form.xlsx").content[:2] == b"PK"
    assert client.get(f"/cases/{world.cases[0]}/original.eml").status_code == 404


def test_an_unknown_address_gets_the_same_answer_and_no_mail(world: World) -> None:
    """The page does not tell who is in the directory; only the known address is mailed."""
    client = world.client()
    known = client.post("/login", data={"csrf": csrf_of(client), "email": "liu.gd@corp.example.com"})
    unknown = client.post("/login", data={"csrf": csrf_of(client), "email": "stranger@evil.example"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("liu.gd@corp.example.com", "") == unknown.text.replace("stranger@evil.example", "")
    assert world.login_mails("liu.gd@corp.example.com") and not world.login_mails("stranger@evil.example")


def test_a_login_without_the_csrf_token_is_refused(world: World) -> None:
    """A form posted from elsewhere (no token, or another session's) mails nothing."""
    client = world.client()
    csrf_of(client)
    assert client.post("/login", data={"email": "liu.gd@corp.example.com"}).status_code == 403
    other = world.client()
    assert client.post("/login", data={"csrf": csrf_of(other), "email": "liu.gd@corp.example.com"}).status_code == 403
    assert not world.login_mails("liu.gd@corp.example.com")


def test_login_requests_are_rate_limited_per_address(world: World) -> None:
    """The fourth request for one address within 15 minutes is refused and mails nothing."""
    client = world.client()
    answers = [client.post("/login", data={"csrf": csrf_of(client), "email": "liu.gd@corp.example.com"}).status_code
               for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert len(world.login_mails("liu.gd@corp.example.com")) == 3
    world.clock.advance(timedelta(minutes=16))
    assert client.post("/login", data={"csrf": csrf_of(client), "email": "liu.gd@corp.example.com"}).status_code == 200


def test_a_used_or_expired_link_is_refused(world: World) -> None:
    """The link signs in once; a second click, or one after 15 minutes, is refused."""
    client = world.client()
    sign_in(world, client, "liu.gd@corp.example.com")
    used = re.search(r"(/login/\S+)", email.message_from_bytes(
        world.login_mails("liu.gd@corp.example.com")[-1].data, policy=email.policy.default
    ).get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    assert world.client().get(used).status_code == 400
    fresh = world.client()
    fresh.post("/login", data={"csrf": csrf_of(fresh), "email": "zhao.ceo@corp.example.com"})
    link = re.search(r"(/login/\S+)", email.message_from_bytes(
        world.login_mails("zhao.ceo@corp.example.com")[-1].data, policy=email.policy.default
    ).get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    world.clock.advance(timedelta(minutes=15))
    assert fresh.get(link).status_code == 400
    assert fresh.get("/register").status_code == 303


def test_pages_carry_the_security_headers_and_a_strict_cookie(world: World, tmp_path: Path) -> None:
    """CSP without inline script or style, nosniff, no framing; the cookie HttpOnly, SameSite=Lax,
    and Secure once the board is behind https."""
    client = world.client()
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = dataclasses.replace(world.settings, web=dataclasses.replace(world.settings.web,
                                                                        base_url="https://board.example"))
    secure = TestClient(create_app(https, secret=SECRET, engine=world.engine, clock=world.clock))
    assert "secure" in secure.get("/login").headers["set-cookie"].lower()
    assert 'style="' not in page.text and "<script>" not in page.text


def test_signed_out_readers_are_sent_to_the_login_page(world: World) -> None:
    """Every page but the login asks for a session first."""
    client = world.client()
    for path in ("/register", f"/cases/{world.cases[0]}", "/stats", "/register.csv"):
        assert client.get(path).headers["location"].startswith("/login")


def test_the_export_holds_only_what_the_reader_may_see(world: World) -> None:
    """The CSV of the current filter: a marketing member's has none of network's cases."""
    client = world.client()
    sign_in(world, client, "chen.am@corp.example.com")
    csv = client.get("/register.csv", params={"status": "all"}).content.decode("utf-8-sig")
    assert all(case_id in csv for case_id in world.cases)
    other = world.client()
    sign_in(world, other, "feng.mkt@corp.example.com")
    assert not any(case_id in other.get("/register.csv").content.decode("utf-8-sig") for case_id in world.cases)


def test_statistics_render_for_every_period(world: World) -> None:
    """30, 90 and 365 days: a chart and its figures."""
    client = world.client()
    sign_in(world, client, "zhao.ceo@corp.example.com")
    for days in (30, 90, 365):
        page = client.get("/stats", params={"days": days})
        assert page.status_code == 200 and "<svg" in page.text and "网络部" in page.text
    with Session(world.engine) as db:
        assert all(t.used_at is not None for t in db.exec(select(LoginToken)).all())
