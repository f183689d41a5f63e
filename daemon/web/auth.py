"""Signing in to the board by mail: one-time links, their rate limits, and the session's checks.

A person types their directory address; if the board may show them anything, a random token
is stored as its sha256 with an outbox row carrying the link (the daemon's outbox loop sends
it, like every other mail). The link is good once, for LINK_LIFETIME: accepting it marks it
used in the same UPDATE that checks it, so two clicks racing each other sign in once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from daemon.outbox import Mail, enqueue, outbox_rows
from daemon.rendering import Renderer
from daemon.store import session
from models.directory import Directory, Person
from models.tables import LoginToken
from models.visibility import scope_of

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
RATE_WINDOW = timedelta(minutes=15)
PER_ADDRESS = 3  # login mails per address per window: a typo retried, not a mailbox flooded
PER_CLIENT = 10  # login requests per client address per window


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def request_link(engine: Engine, renderer: Renderer, directory: Directory, email: str, base_url: str,
                 message_id_domain: str, now: datetime) -> bool:
    """Store a login token for `email` and queue the mail with its link, in one transaction;
    False (nothing stored, nothing sent) when the board would show this address nothing."""
    email = email.strip().lower()
    if scope_of(email, directory).empty:
        return False
    token = new_token()
    digest = token_hash(token)
    person = directory.person(email) or Person("", email)
    mail = login_mail(person, f"{base_url}/login/{token}", digest)
    rows = outbox_rows(renderer, directory, mail, now, message_id_domain)
    if not rows:
        return False
    with session(engine) as db:
        db.add(LoginToken(token_hash=digest, email=email, created_at=now, expires_at=now + LINK_LIFETIME))
        enqueue(db, rows)
        db.commit()
    return True


def login_mail(person: Person, link: str, digest: str) -> Mail:
    """The mail carrying a login link; its outbox step is unique per token."""
    return Mail(case_id=None, step=f"login-{digest[:16]}", template="login",
                context={"link": link, "minutes": int(LINK_LIFETIME.total_seconds() // 60),
                         "name": person.name or person.email},
                to=[person])


def redeem(engine: Engine, token: str, now: datetime) -> str | None:
    """The address a valid, unused, unexpired token was issued to, marking it used; None otherwise."""
    digest = token_hash(token)
    with session(engine) as db:
        taken = db.execute(
            update(LoginToken)
            .where(LoginToken.token_hash == digest)  # type: ignore[arg-type]
            .where(LoginToken.used_at.is_(None))  # type: ignore[union-attr]
            .where(LoginToken.expires_at > now)  # type: ignore[arg-type]
            .values(used_at=now))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            db.rollback()
            return None
        email = db.exec(select(LoginToken.email).where(LoginToken.token_hash == digest)).one()
        db.commit()
    return email


class RateLimiter:
    """At most `limit` events per key within `window`, counted in memory (one board process)."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, key: str, now: datetime) -> bool:
        """Count one event for `key`; False when it is over the limit (then it is not counted)."""
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget idle keys so that the map cannot grow without end
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.window}
        return True


def session_valid(signed_in_at: float | None, now: datetime, hours: int) -> bool:
    """Whether a session signed in at `signed_in_at` (a POSIX timestamp) still holds."""
    if signed_in_at is None:
        return False
    age = now.timestamp() - signed_in_at
    return 0 <= age < hours * 3600
