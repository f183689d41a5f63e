"""config.toml → validated, frozen settings (SPEC §7, §8).

The file is read once with tomllib; every problem is collected with its key, so that
`complaintd check` (and a refused start) names them all at once rather than one per try.
Passwords never live in the file: `password_env` names the environment variable. With
`auth = "xoauth2"` an access token replaces the password: `token_env` names its variable, or
`token_command` prints it (run at each login, see daemon/tokens.py). Those variables are read
only when the caller will log in to a mail server (`secrets=True`); a command that needs only
the database works without them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
import os
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.errors import ConfigError
from daemon.tokens import TokenSource
from models.directory import (
    DEFAULT_DEADLINES,
    GENERAL_DEPT_ID,
    Deadlines,
    Department,
    DepartmentKind,
    Directory,
    Leaders,
    MediaOutlet,
    Person,
    is_host_name,
    local_part,
)
from models.types import DeadlineKind



@dataclass(frozen=True)
class MailURL:
    """A parsed `url = "…"` of [inbound] or [outbound].

    scheme: "maildir", "imap", "imaps", "smtp" or "smtps".
    For maildir only `path` is set (absolute, resolved against the config file's folder).
    For the network schemes: host, port (left out → the scheme's default: 143/993/25/465),
    username (None → no login), folder (IMAP only, default "INBOX").
    """

    scheme: str
    path: str = ""
    host: str = ""
    port: int | None = None
    username: str | None = None
    folder: str = "INBOX"

    def __post_init__(self) -> None:
        if self.port is None and self.scheme in DEFAULT_PORTS:
            object.__setattr__(self, "port", DEFAULT_PORTS[self.scheme])


DEFAULT_PORTS = {"imap": 143, "imaps": 993, "smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class InboundSettings:
    url: MailURL
    password: str | None  # read from the environment variable named by password_env
    allow_plaintext: bool  # imap:// without STARTTLS only when true
    processed_folder: str
    quarantine_folder: str
    auth: str = "password"  # or "xoauth2": log in with an access token from `token`
    token: TokenSource | None = None  # set when auth is "xoauth2"


@dataclass(frozen=True)
class OutboundSettings:
    url: MailURL
    password: str | None
    allow_plaintext: bool  # smtp:// without STARTTLS only when true
    from_name: str
    from_email: str
    auth: str = "password"  # or "xoauth2", as in InboundSettings
    token: TokenSource | None = None
    # A mail its server keeps deferring (4xx) is given up after this and reported to 综合部;
    # an unreachable server never counts against a mail.
    give_up_after: timedelta = timedelta(hours=1)


# ----------------------------------------------------------------------------------------
# The loader.

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "COMPLAINTD_CONFIG"

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# The longest each kind of duration may be, in the file's own notation. Beyond these a value
# is a typo, not a policy; and a due time must stay a datetime (a 999999999d deadline passed
# `check`, then every complaint failed on it).
LONGEST_DEADLINE = "365d"
LONGEST_TICK = "5m"  # the deadline pass sends the escalations: a longer tick makes 15-min clocks late
LONGEST_POLL = "15m"  # a complaint waits up to this before its clocks can start (assess is 15m)
LONGEST_GIVE_UP = "7d"  # mail servers themselves stop retrying a deferred mail after about 5 days
_DEPT_ID = re.compile(r"^[a-z][a-z0-9_-]*$")
_PREFIX = re.compile(r"^[A-Z]{1,8}$")


@dataclass(frozen=True)
class DaemonSettings:
    database: str  # SQLAlchemy URL; a relative SQLite path is resolved against the config
    timezone: ZoneInfo
    case_prefix: str
    tick: timedelta
    poll_interval: timedelta


@dataclass(frozen=True)
class ReportSettings:
    digest_at: time | None  # local time of the daily digest to 综合部; None: no digest


@dataclass(frozen=True)
class Settings:
    path: Path
    daemon: DaemonSettings
    inbound: InboundSettings
    outbound: OutboundSettings
    deadlines: Deadlines
    directory: Directory
    reports: ReportSettings = ReportSettings(time(8, 30))

    @property
    def message_id_domain(self) -> str:
        """Our Message-IDs end in @complaintd.<the From address's domain>.

        The company's own mail server mints Message-IDs on the bare domain, so the marker
        must be ours alone: replies and our own mail are told apart by it.
        """
        return "complaintd." + self.outbound.from_email.rpartition("@")[2]


def config_path(given: str | None) -> Path:
    """-c/--config, else $COMPLAINTD_CONFIG, else ./config.toml (SPEC §6)."""
    return Path(given or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path, env: Mapping[str, str] | None = None, *, secrets: bool = True) -> Settings:
    """Read and validate the config file; ConfigError lists every problem found.

    secrets=False leaves the passwords and tokens of [inbound] and [outbound] unread (None), so
    that their variables need not be set: for commands that never log in to a mail server."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: the file is not UTF-8 text"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return _Reader(path.resolve().parent, os.environ if env is None else env, secrets).settings(raw, path)


class _Reader:
    """Walks the TOML tables, converting values and collecting `key: problem` lines."""

    def __init__(self, base: Path, env: Mapping[str, str], secrets: bool = True) -> None:
        self.base = base
        self.env = env
        self.secrets = secrets  # read password and token variables (see load_settings)
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    # -- the sections -------------------------------------------------------------------

    def settings(self, raw: dict[str, Any], path: Path) -> Settings:
        sections = ("daemon", "inbound", "outbound", "deadlines", "reports", "general_dept", "leaders",
                    "departments", "media_outlets")
        self.unknown_keys("", raw, sections)
        daemon = self.daemon(self.table(raw, "daemon"))
        inbound = self.inbound(self.table(raw, "inbound"))
        outbound = self.outbound(self.table(raw, "outbound"))
        deadlines = self.deadlines(self.table(raw, "deadlines"))
        reports = self.reports(self.table(raw, "reports"))
        directory = self.directory(raw)
        if self.problems:
            raise ConfigError(self.problems)
        assert daemon and inbound and outbound and directory  # no problems → all were built
        return Settings(path.resolve(), daemon, inbound, outbound, deadlines, directory, reports)

    def daemon(self, t: dict[str, Any]) -> DaemonSettings | None:
        self.unknown_keys("daemon", t, ("database", "timezone", "case_prefix", "tick",
                                        "poll_interval"))
        database = self.database_url(self.string(t, "daemon.database",
                                                 "sqlite:///var/complaintd.sqlite3"))
        zone = self.zone(self.string(t, "daemon.timezone", "Asia/Shanghai"))
        prefix = self.string(t, "daemon.case_prefix", "MT")
        if not _PREFIX.match(prefix):
            self.problem("daemon.case_prefix", f"{prefix!r} must be 1 to 8 capital letters (e.g. MT)")
        tick = self.duration(t, "daemon.tick", "1s", LONGEST_TICK)
        poll = self.duration(t, "daemon.poll_interval", "30s", LONGEST_POLL)
        if zone is None or tick is None or poll is None:
            return None
        return DaemonSettings(database, zone, prefix, tick, poll)

    def inbound(self, t: dict[str, Any]) -> InboundSettings | None:
        self.unknown_keys("inbound", t, ("url", "username", "auth", "password_env", "token_env",
                                         "token_command", "allow_plaintext", "processed_folder",
                                         "quarantine_folder"))
        url = self.mail_url(t, "inbound", "maildir:var/mail/complaints", ("maildir", "imap", "imaps"))
        auth, token = self.login(t, "inbound", url)
        password = self.password(t, "inbound", url) if auth == "password" else None
        plaintext = self.boolean(t, "inbound.allow_plaintext", False)
        processed = self.string(t, "inbound.processed_folder", "Processed")
        quarantine = self.string(t, "inbound.quarantine_folder", "Quarantine")
        if processed == quarantine:
            self.problem("inbound.quarantine_folder", "must differ from inbound.processed_folder")
        if url is None:
            return None
        return InboundSettings(url, password, plaintext, processed, quarantine, auth, token)

    def outbound(self, t: dict[str, Any]) -> OutboundSettings | None:
        self.unknown_keys("outbound", t, ("url", "username", "auth", "password_env", "token_env",
                                          "token_command", "allow_plaintext", "from",
                                          "give_up_after"))
        url = self.mail_url(t, "outbound", "maildir:var/mail/sent", ("maildir", "smtp", "smtps"))
        auth, token = self.login(t, "outbound", url)
        password = self.password(t, "outbound", url) if auth == "password" else None
        plaintext = self.boolean(t, "outbound.allow_plaintext", False)
        give_up_after = self.duration(t, "outbound.give_up_after", "1h", LONGEST_GIVE_UP)
        sender = self.string(t, "outbound.from", "")
        name, email = _split_mailbox(sender)
        if not sender:
            self.problem("outbound.from", "missing: the address complaintd sends from, "
                         "e.g. \"媒体投诉处理 <complaints@corp.example.com>\"")
        else:
            self.address("outbound.from", email)
        if url is None:
            return None
        return OutboundSettings(url, password, plaintext, name, email.lower(), auth, token,
                                give_up_after or timedelta(hours=1))

    def deadlines(self, t: dict[str, Any]) -> Deadlines:
        self.unknown_keys("deadlines", t, tuple(k.value for k in DeadlineKind))
        durations = dict(DEFAULT_DEADLINES)
        for kind in DeadlineKind:
            value = self.duration(t, f"deadlines.{kind.value}", None, LONGEST_DEADLINE)
            if value is not None:
                durations[kind] = value
        return Deadlines(durations)

    def reports(self, t: dict[str, Any]) -> ReportSettings:
        self.unknown_keys("reports", t, ("digest_at",))
        text = self.string(t, "reports.digest_at", "08:30")
        if text == "off":
            return ReportSettings(None)
        match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", text)
        if not match:
            self.problem("reports.digest_at", f"{text!r} is not a time of day (write e.g. \"08:30\", or \"off\")")
            return ReportSettings(time(8, 30))
        return ReportSettings(time(int(match.group(1)), int(match.group(2))))

    def directory(self, raw: dict[str, Any]) -> Directory | None:
        gd = self.general_dept(self.table(raw, "general_dept"))
        leaders = self.leaders(self.table(raw, "leaders"))
        tables = self.array(raw, "departments")
        depts = [self.department(t, f"departments[{i}]") for i, t in enumerate(tables)]
        outlets = [self.outlet(t, f"media_outlets[{i}]")
                   for i, t in enumerate(self.array(raw, "media_outlets"))]
        # Cross checks look at what was written, so a department with its own problems
        # still has its id and members checked against the others.
        self.check_unique_ids(tables)
        self.check_claims(self.table(raw, "general_dept"), tables)
        self.check_unique_outlets([o for o in outlets if o is not None])
        if gd is None or leaders is None or None in depts or None in outlets:
            return None
        return Directory(gd, leaders, tuple(d for d in depts if d is not None),
                         tuple(o for o in outlets if o is not None))

    def general_dept(self, t: dict[str, Any]) -> Department | None:
        key = "general_dept"
        self.unknown_keys(key, t, ("name", "members", "interface_a", "interface_b"))
        if not t:
            self.problem(key, "missing: the [general_dept] table (综合部) is required")
            return None
        members = self.members(t, f"{key}.members")
        a = self.person(t, f"{key}.interface_a", required=True)
        b = self.person(t, f"{key}.interface_b")
        if a is None:
            return None
        # 综合部's A contact is its staff and gets its mail even when `members` forgets them;
        # B is told only when A does not answer (a failover), so B is not added here.
        listed = tuple(dict.fromkeys((*members, a.email)))
        name = self.string(t, f"{key}.name", "综合部")
        return Department(GENERAL_DEPT_ID, name, DepartmentKind.GENERAL_DEPT, listed, a, b)

    def leaders(self, t: dict[str, Any]) -> Leaders | None:
        self.unknown_keys("leaders", t, ("company", "media", "higher_authority", "major_incident"))
        company = self.person(t, "leaders.company", required=True,
                              why="the company supervising leader (公司主管领导) is required")
        media = self.person(t, "leaders.media")
        higher = self.person(t, "leaders.higher_authority")
        major = [self.person({"x": p}, f"leaders.major_incident[{i}]", field="x", required=True)
                 for i, p in enumerate(self.list_of(t, "leaders.major_incident", dict))]
        if company is None or None in major:
            return None
        return Leaders(company, media, higher, tuple(p for p in major if p is not None))

    def department(self, t: dict[str, Any], key: str) -> Department | None:
        self.unknown_keys(key, t, ("id", "name", "kind", "in_company_group", "members", "leader",
                                   "interface_a", "interface_b"))
        dept_id = self.string(t, f"{key}.id", "")
        if not _DEPT_ID.match(dept_id):
            self.problem(f"{key}.id", f"{dept_id!r} must be a short lower-case name like \"network\""
                         if dept_id else "missing: every department needs an id")
        elif dept_id == GENERAL_DEPT_ID:
            self.problem(f"{key}.id", f"{dept_id!r} is reserved for [general_dept]")
        name = self.string(t, f"{key}.name", "")
        if not name:
            self.problem(f"{key}.name", "missing: every department needs a name")
        kind = self.string(t, f"{key}.kind", "department")
        if kind not in ("department", "branch"):
            self.problem(f"{key}.kind", f"{kind!r} must be \"department\" or \"branch\"")
        group = self.boolean(t, f"{key}.in_company_group", False)
        members = self.members(t, f"{key}.members")
        leader = self.person(t, f"{key}.leader")
        a = self.person(t, f"{key}.interface_a", required=True,
                        why="every department needs an interface person A (接口人A角)")
        b = self.person(t, f"{key}.interface_b")
        if a is None or not name or not _DEPT_ID.match(dept_id) or kind not in ("department", "branch"):
            return None
        return Department(dept_id, name, DepartmentKind(kind), members, a, b, leader, group)

    def outlet(self, t: dict[str, Any], key: str) -> MediaOutlet | None:
        self.unknown_keys(key, t, ("name", "aliases", "domains", "account_manager_a",
                                   "account_manager_b"))
        name = self.string(t, f"{key}.name", "")
        if not name:
            self.problem(f"{key}.name", "missing: every media outlet needs a name")
        aliases = tuple(self.list_of(t, f"{key}.aliases", str))
        domains = tuple(d.lower() for d in self.list_of(t, f"{key}.domains", str))
        for i, domain in enumerate(domains):
            problem = domain_problem(domain)
            if problem:
                self.problem(f"{key}.domains[{i}]", f"{domain!r}: {problem}")
        am_a = self.person(t, f"{key}.account_manager_a")
        am_b = self.person(t, f"{key}.account_manager_b")
        return MediaOutlet(name, aliases, domains, am_a, am_b) if name else None

    # -- cross checks -------------------------------------------------------------------

    def check_unique_ids(self, tables: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for i, t in enumerate(tables):
            dept_id = t.get("id")
            if isinstance(dept_id, str) and dept_id in seen:
                self.problem(f"departments[{i}].id", f"{dept_id!r} is used by another department")
            seen.add(str(dept_id))

    def check_claims(self, gd: dict[str, Any], tables: list[dict[str, Any]]) -> None:
        """An address (or *@domain) in two departments' members makes ownership ambiguous, and
        so does a *@domain of one department covering an address another one lists."""
        owner: dict[str, str] = {}  # member → the first department listing it
        claimants = [("general_dept", gd)] + [(f"departments[{i}]", t) for i, t in enumerate(tables)]
        for key, t in claimants:
            members = t.get("members", [])
            for member in members if isinstance(members, list) else []:
                member = str(member).strip().lower()
                if owner.get(member, key) != key:
                    self.problem(f"{key}.members", f"{member} is also claimed by {owner[member]}")
                for other in _overlapping(member, owner):
                    if owner[other] != key:
                        self.problem(f"{key}.members", f"{member} overlaps {other} of {owner[other]}")
                owner.setdefault(member, key)

    def check_unique_outlets(self, outlets: list[MediaOutlet]) -> None:
        seen: dict[str, str] = {}
        for i, outlet in enumerate(outlets):
            for domain in outlet.domains:
                if domain in seen and seen[domain] != outlet.name:
                    self.problem(f"media_outlets[{i}].domains", f"{domain} also belongs to {seen[domain]}")
                seen.setdefault(domain, outlet.name)

    # -- values -------------------------------------------------------------------------

    def person(self, t: dict[str, Any], key: str, *, field: str | None = None,
               required: bool = False, why: str = "") -> Person | None:
        value = t.get(field or key.rpartition(".")[2])
        if value is None:
            if required:
                self.problem(key, f"missing: {why}" if why else "missing")
            return None
        if not isinstance(value, dict):
            self.problem(key, "must be a table like { name = \"…\", email = \"…\" }")
            return None
        self.unknown_keys(key, value, ("name", "email", "phone"))
        email = str(value.get("email", "")).strip().lower()
        if not email:
            self.problem(f"{key}.email", "missing")
            return None
        if not self.address(f"{key}.email", email):
            return None
        return Person(str(value.get("name", "")), email, str(value.get("phone", "")))

    def members(self, t: dict[str, Any], key: str) -> tuple[str, ...]:
        found = []
        for i, member in enumerate(self.list_of(t, key, str)):
            member = member.strip().lower()
            problem = domain_problem(member[2:]) if member.startswith("*@") else address_problem(member)
            if problem:
                self.problem(f"{key}[{i}]", f"{member!r}: {problem} (write an address or *@domain)")
            else:
                found.append(member)
        return tuple(found)

    def address(self, key: str, email: str) -> bool:
        """Whether complaintd can send to `email`; if not, the problem is noted under `key`."""
        problem = address_problem(email)
        if problem:
            self.problem(key, f"{email!r}: {problem}")
        return problem is None

    def mail_url(self, t: dict[str, Any], section: str, default: str,
                 schemes: tuple[str, ...]) -> MailURL | None:
        text = self.string(t, f"{section}.url", default)
        key = f"{section}.url"
        if text.startswith("maildir:"):
            if "maildir" not in schemes:
                self.problem(key, f"{text!r}: maildir is not allowed here")
                return None
            path = text[len("maildir:"):]
            if not path:
                self.problem(key, "maildir: needs a folder, e.g. \"maildir:var/mail/complaints\"")
                return None
            return MailURL("maildir", path=str((self.base / path).resolve()))
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            self.problem(key, f"{text!r} must start with " + ", ".join(
                f"{s}:" if s == "maildir" else f"{s}://" for s in schemes))
            return None
        if parts.password:
            self.problem(key, f"holds a password: put it in the environment variable named by "
                         f"{section}.password_env instead")
        try:
            port = parts.port
        except ValueError:
            self.problem(key, f"{text!r} has a bad port")
            return None
        if not parts.hostname:
            self.problem(key, f"{text!r} names no server")
            return None
        username = self.string(t, f"{section}.username", "") or (unquote(parts.username or "") or None)
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return MailURL(parts.scheme, host=parts.hostname, port=port,
                       username=username, folder=folder)

    def password(self, t: dict[str, Any], section: str, url: MailURL | None) -> str | None:
        var = self.string(t, f"{section}.password_env", "")
        if url is None or url.scheme == "maildir" or not url.username:
            return None
        if not var:
            self.problem(f"{section}.password_env", "missing: name the environment variable "
                         f"that holds the password for {url.username}")
            return None
        if not self.secrets:
            return None
        if var not in self.env:
            self.problem(f"{section}.password_env", f"the environment variable {var} is not set")
            return None
        return self.env[var]

    def login(self, t: dict[str, Any], section: str, url: MailURL | None) -> tuple[str, TokenSource | None]:
        """`auth` and, for "xoauth2", where the token comes from. A maildir url logs in to
        nothing, so only the shape of the keys is checked there."""
        auth = self.string(t, f"{section}.auth", "password")
        env_var = self.string(t, f"{section}.token_env", "")
        command = self.string(t, f"{section}.token_command", "")
        if auth not in ("password", "xoauth2"):
            self.problem(f"{section}.auth", f"{auth!r} must be \"password\" or \"xoauth2\"")
            return auth, None
        if auth == "password":
            for key, value in (("token_env", env_var), ("token_command", command)):
                if value:
                    self.problem(f"{section}.{key}", "only used with auth = \"xoauth2\"")
            return auth, None
        return auth, self.token_source(section, url, env_var, command)

    def token_source(self, section: str, url: MailURL | None, env_var: str, command: str) -> TokenSource | None:
        """Exactly one of token_env / token_command; a user to log in as (network urls only)."""
        if env_var and command:
            self.problem(f"{section}.token_command", "give token_env or token_command, not both")
            return None
        if not env_var and not command:
            self.problem(f"{section}.token_env", "missing: with auth = \"xoauth2\" name the environment "
                         "variable that holds the access token, or give token_command instead")
            return None
        if url is None or url.scheme == "maildir":
            return None
        if not url.username:
            self.problem(f"{section}.username", "missing: XOAUTH2 logs in as a user; put it in the url "
                         f"(e.g. \"{url.scheme}://complaints%40corp.example.com@{url.host}\") or in username")
            return None
        if not self.secrets:
            return None
        if command:
            return TokenSource.from_command(command)  # run at each login, never here
        if not self.env.get(env_var, "").strip():
            self.problem(f"{section}.token_env", f"the environment variable {env_var} is "
                         + ("empty" if env_var in self.env else "not set"))
            return None
        return TokenSource.from_env(env_var, self.env[env_var])

    def database_url(self, text: str) -> str:
        if text.startswith("sqlite:///"):
            path = text[len("sqlite:///"):]
            if path and path != ":memory:" and not path.startswith("/"):
                return "sqlite:///" + str((self.base / path).resolve())
            return text
        if text.startswith(("postgresql+psycopg://", "postgresql://")):
            if urlsplit(text).password:
                self.problem("daemon.database", "holds a password: use PGPASSWORD or ~/.pgpass")
            return text.replace("postgresql://", "postgresql+psycopg://", 1)
        self.problem("daemon.database", f"{text!r} must be sqlite:///PATH or postgresql+psycopg://…")
        return text

    def zone(self, name: str) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem("daemon.timezone", f"{name!r} is not a time zone (e.g. Asia/Shanghai)")
            return None

    def duration(self, t: dict[str, Any], key: str, default: str | None, longest: str) -> timedelta | None:
        text = t.get(key.rpartition(".")[2], default)
        if text is None:
            return None
        seconds = _duration_seconds(text) if isinstance(text, str) else None
        if not seconds:
            self.problem(key, f"{text!r} is not a duration (write e.g. \"90s\", \"30m\", \"1h30m\")")
            return None
        if seconds > (_duration_seconds(longest) or 0):  # the LONGEST_… constants all parse
            self.problem(key, f"{text!r} is too long (at most {longest})")
            return None
        return timedelta(seconds=seconds)

    def string(self, t: dict[str, Any], key: str, default: str) -> str:
        value = t.get(key.rpartition(".")[2], default)
        if not isinstance(value, str):
            self.problem(key, f"must be text in quotes, not {value!r}")
            return default
        return value.strip()

    def boolean(self, t: dict[str, Any], key: str, default: bool) -> bool:
        value = t.get(key.rpartition(".")[2], default)
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false, not {value!r}")
            return default
        return value

    def list_of(self, t: dict[str, Any], key: str, kind: type) -> list[Any]:
        value = t.get(key.rpartition(".")[2], [])
        if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
            self.problem(key, "must be a list of " + ("text" if kind is str else "tables"))
            return []
        return value

    def table(self, raw: dict[str, Any], key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table, written [" + key + "]")
            return {}
        return value

    def array(self, raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(key, "must be written as [[" + key + "]] tables")
            return []
        return value

    def unknown_keys(self, where: str, t: dict[str, Any], known: tuple[str, ...]) -> None:
        for name in t:
            if name not in known:
                key = f"{where}.{name}" if where else name
                hint = _closest(name, known)
                self.problem(key, "unknown key" + (f" (did you mean {hint}?)" if hint else ""))


def parse_duration(text: str) -> timedelta | None:
    """"90s", "30m", "1h30m", "2d" → timedelta; anything else, zero, or more than a timedelta
    holds → None (never an exception)."""
    seconds = _duration_seconds(text)
    if not seconds:
        return None
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        return None


def _duration_seconds(text: str) -> int | None:
    """What a duration spells, in whole seconds; None when it is not one. Plain ints, so that
    999999999999d is a number to compare with a bound rather than an OverflowError."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def address_problem(email: str) -> str | None:
    """Why mail to `email` could not be sent, or None when it can. Checked at load (so also
    by `check` and on SIGHUP): an address let through here breaks every mail built to it."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "is not an address (it has no @)"
    if not local:
        return "has nothing before the @"
    if not local.isascii():
        return ("has non-ASCII characters before the @, which complaintd cannot send to; "
                "give the mailbox's ASCII address")
    if local_part(email) is None:
        return ("has characters that cannot stand unquoted before the @ (spaces, quotes, control "
                "characters, another @, or a dot at either end or twice in a row)")
    return domain_problem(domain)


def domain_problem(domain: str) -> str | None:
    """Why `domain` is not a host name complaintd can send to or match on, or None."""
    if not domain.isascii():
        return (f"the domain {domain!r} is not ASCII; write its punycode form "
                f"({_punycode(domain)}) instead")
    if not is_host_name(domain):
        return (f"the domain {domain!r} is not a host name like corp.example.com (letters, digits "
                "and hyphens, in at least two parts joined by single dots)")
    return None


def _punycode(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "xn--…"


def _overlapping(member: str, listed: Mapping[str, str]) -> list[str]:
    """The listed members that `member` would claim an address with: a *@domain and an
    address at exactly that domain, either way round."""
    domain = member.rpartition("@")[2]
    if member.startswith("*@"):
        return [m for m in listed if not m.startswith("*@") and m.rpartition("@")[2] == domain]
    return [m for m in listed if m == f"*@{domain}"]


def _split_mailbox(text: str) -> tuple[str, str]:
    """"名字 <a@b>" → ("名字", "a@b"); a bare address → ("", address)."""
    match = re.match(r"^\s*\"?([^\"<]*?)\"?\s*<([^>]+)>\s*$", text)
    if match:
        return match.group(1).strip(), match.group(2).strip()
    return "", text.strip()


def _closest(name: str, known: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return found[0] if found else None
