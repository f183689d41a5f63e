"""config.toml → validated, frozen settings (SPEC §7, §8).

The file is read once with tomllib; every problem is collected with its key, so that
`complaintd check` (and a refused start) names them all at once rather than one per try.
Passwords never live in the file: `password_env` names the environment variable. With
`auth = "xoauth2"` an access token replaces the password: `token_env` names its variable, or
`token_command` prints it (run at each login, see daemon/tokens.py). Those variables are read
only when the caller will log in to a mail server (`secrets=True`); a command that needs only
the database works without them.

Two layers check the file. The pydantic models (`_File` and the tables in it) declare its
shape: which tables and keys exist, the TOML type of each value, what each single value may
be; their errors are said as the same `key: problem` lines as the rest. `_Builder` does what
needs more than one value: the checks between keys of a table (auth and its token, the two
folders) and between tables (one department per address), and the ones that need the
environment or the config file's folder; then it builds the settings below.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

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

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


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


# [outbound] connections: a burst leaves over several connections at once; more than a few buy
# little against one server, and servers limit how many one client may hold open.
DEFAULT_CONNECTIONS = 4
MOST_CONNECTIONS = 16


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
    # SMTP connections sending at once, each several mails in turn (daemon/outbox.py flush).
    connections: int = DEFAULT_CONNECTIONS


# ----------------------------------------------------------------------------------------
# The loader.

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "COMPLAINTD_CONFIG"

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# The longest each kind of duration may be, in the file's own notation. Beyond these a value
# is a typo, not a policy; and a due time must stay a datetime (a 999999999d deadline would
# overflow the due time of every complaint).
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
class WebSettings:
    """[web]: the read-only board (`complaintd web`). The session secret is not here: the
    board reads the variable named by session_secret_env when it starts."""

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://127.0.0.1:8080"  # where the links in login mails point
    session_secret_env: str = "COMPLAINTD_WEB_SECRET"
    session_hours: int = 10  # a sign-in lasts a working day
    configured: bool = False  # a [web] table is written in the file

    @property
    def https(self) -> bool:
        """Behind an https reverse proxy: the session cookie is then sent over https only."""
        return self.base_url.startswith("https://")


@dataclass(frozen=True)
class Settings:
    path: Path
    daemon: DaemonSettings
    inbound: InboundSettings
    outbound: OutboundSettings
    deadlines: Deadlines
    directory: Directory
    reports: ReportSettings = ReportSettings(time(8, 30))
    web: WebSettings = WebSettings()

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
    return _Builder(path.resolve().parent, os.environ if env is None else env, secrets).settings(raw, path)


# ----------------------------------------------------------------------------------------
# The file's shape, as pydantic models. A check that refuses a value raises _refuse(problem):
# the problem is the line's text after the key.

def _refuse(problem: str) -> PydanticCustomError:
    return PydanticCustomError("config", "{problem}", {"problem": problem})


def _not_text(value: Any) -> str:
    return f"must be text in quotes, not {value!r}"


def _shape(expected: str) -> WrapValidator:
    """pydantic's type errors on this value, or on one of its items, become one problem saying
    what was expected ("must be a list of text"); problems further in (a bad address in a
    listed table, a key a table does not take) stay as they are."""
    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if any(e["type"] in _TYPE_ERRORS and _at_value_or_item(e["loc"]) for e in exc.errors()):
                raise _refuse(expected) from None
            raise
    return WrapValidator(check)


_TYPE_ERRORS = frozenset({"string_type", "bool_type", "list_type", "dict_type", "model_type"})


def _at_value_or_item(loc: tuple[int | str, ...]) -> bool:
    return loc == () or (len(loc) == 1 and isinstance(loc[0], int))


def _needed(why: str = "") -> BeforeValidator:
    """A required table: left out (its default is None), it is "missing", and `why` says
    what it is for."""
    def check(value: Any) -> Any:
        if value is None:
            raise _refuse(f"missing: {why}" if why else "missing")
        return value
    return BeforeValidator(check)


def _filled(why: str) -> AfterValidator:
    """Required text: left out (its default is "") or blank, it is "missing: why"."""
    def check(text: str) -> str:
        if not text:
            raise _refuse(f"missing: {why}")
        return text
    return AfterValidator(check)


def _none_if_empty(value: Any) -> Any:
    """An empty table, as good as none."""
    return None if value == {} else value


def _required(default: Any = None) -> Any:
    """The default of a key that must be written (or whose table holds keys that must be):
    validated like a written value, so that leaving it out is refused by the same check."""
    return Field(default, validate_default=True)


def _from_text(convert: Callable[[str], T]) -> PlainValidator:
    """Text, stripped, converted by `convert` (which refuses what it cannot convert)."""
    def check(value: Any) -> T:
        if not isinstance(value, str):
            raise _refuse(_not_text(value))
        return convert(value.strip())
    return PlainValidator(check)


def _duration(longest: str) -> PlainValidator:
    """A duration as written in the file ("90s", "1h30m"), at most `longest`."""
    def check(value: Any) -> timedelta:
        seconds = _duration_seconds(value) if isinstance(value, str) else None
        if not seconds:
            raise _refuse(f"{value!r} is not a duration (write e.g. \"90s\", \"30m\", \"1h30m\")")
        if seconds > (_duration_seconds(longest) or 0):  # the LONGEST_… constants all parse
            raise _refuse(f"{value!r} is too long (at most {longest})")
        return timedelta(seconds=seconds)
    return PlainValidator(check)


def _whole_number(least: int, most: int) -> PlainValidator:
    """An integer written bare, from `least` to `most`."""
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
            quoted = " (written without quotes)" if isinstance(value, str) else ""
            raise _refuse(f"{value!r} must be a whole number from {least} to {most}{quoted}")
        return value
    return PlainValidator(check)


def _stripped(text: str) -> str:
    return text.strip()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse(f"{name!r} is not a time zone (e.g. Asia/Shanghai)") from None


def _case_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise _refuse(f"{prefix!r} must be 1 to 8 capital letters (e.g. MT)")
    return prefix


def _database(url: str) -> str:
    if not url.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
        raise _refuse(f"{url!r} must be sqlite:///PATH or postgresql+psycopg://…")
    return url


def _mail_url(*schemes: str) -> AfterValidator:
    """A url of one of `schemes` that names what it must: a folder for maildir:, a server and a
    valid port for the others. (A password in it is the builder's problem: it is refused, yet
    the url still counts for the login checks.)"""
    def check(text: str) -> str:
        if text.startswith("maildir:"):
            if "maildir" not in schemes:
                raise _refuse(f"{text!r}: maildir is not allowed here")
            if not text[len("maildir:"):]:
                raise _refuse("maildir: needs a folder, e.g. \"maildir:var/mail/complaints\"")
            return text
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            raise _refuse(f"{text!r} must start with " + ", ".join(
                f"{s}:" if s == "maildir" else f"{s}://" for s in schemes))
        try:
            _ = parts.port  # urlsplit reads the port only when asked, and refuses a bad one then
        except ValueError:
            raise _refuse(f"{text!r} has a bad port") from None
        if not parts.hostname:
            raise _refuse(f"{text!r} names no server")
        return text
    return AfterValidator(check)


def _sender(text: str) -> str:
    """The From mailbox, `名字 <address>` or a bare address; empty is the builder's "missing"."""
    if text:
        email = _split_mailbox(text)[1]
        problem = address_problem(email)
        if problem:
            raise _refuse(f"{email!r}: {problem}")
    return text


def _digest_time(text: str) -> time | None:
    if text == "off":
        return None
    match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", text)
    if not match:
        raise _refuse(f"{text!r} is not a time of day (write e.g. \"08:30\", or \"off\")")
    return time(int(match.group(1)), int(match.group(2)))


def _email(value: Any) -> str:
    """A person's address, lower-case; a value of another type is read as its text."""
    email = str(value).strip().lower()
    if not email:
        raise _refuse("missing")
    problem = address_problem(email)
    if problem:
        raise _refuse(f"{email!r}: {problem}")
    return email


def _member(text: str) -> str:
    member = text.strip().lower()
    problem = domain_problem(member[2:]) if member.startswith("*@") else address_problem(member)
    if problem:
        raise _refuse(f"{member!r}: {problem} (write an address or *@domain)")
    return member


def _outlet_domain(text: str) -> str:
    domain = text.lower()
    problem = domain_problem(domain)
    if problem:
        raise _refuse(f"{domain!r}: {problem}")
    return domain


def _dept_id(dept_id: str) -> str:
    if not dept_id:
        raise _refuse("missing: every department needs an id")
    if not _DEPT_ID.match(dept_id):
        raise _refuse(f"{dept_id!r} must be a short lower-case name like \"network\"")
    if dept_id == GENERAL_DEPT_ID:
        raise _refuse(f"{dept_id!r} is reserved for [general_dept]")
    return dept_id


def _dept_kind(kind: str) -> str:
    if kind not in ("department", "branch"):
        raise _refuse(f"{kind!r} must be \"department\" or \"branch\"")
    return kind


_Text = Annotated[str, AfterValidator(_stripped)]
_Lenient = Annotated[str, PlainValidator(str)]  # a name or phone: a number written bare is read as its text
_Members = Annotated[list[Annotated[str, AfterValidator(_member)]], _shape("must be a list of text")]
_PERSON = "must be a table like { name = \"…\", email = \"…\" }"


class _Table(BaseModel):
    """A TOML table: only the keys declared, each holding the TOML type declared (strict: no
    value is converted from another type unless its field says so)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Person(_Table):
    name: _Lenient = ""
    email: Annotated[str, PlainValidator(_email)] = _required("")
    phone: _Lenient = ""

    def person(self) -> Person:
        return Person(self.name, self.email, self.phone)


_Contact = Annotated[_Person | None, _shape(_PERSON)]


class _Daemon(_Table):
    database: Annotated[_Text, AfterValidator(_database)] = "sqlite:///var/complaintd.sqlite3"
    timezone: Annotated[ZoneInfo, _from_text(_zone)] = ZoneInfo("Asia/Shanghai")
    case_prefix: Annotated[_Text, AfterValidator(_case_prefix)] = "MT"
    tick: Annotated[timedelta, _duration(LONGEST_TICK)] = timedelta(seconds=1)
    poll_interval: Annotated[timedelta, _duration(LONGEST_POLL)] = timedelta(seconds=30)


class _Mailbox(_Table):
    """What [inbound] and [outbound] share: the server's url and how to log in."""

    url: _Text
    username: _Text = ""
    auth: _Text = "password"  # checked by the builder, with the keys it calls for
    password_env: _Text = ""
    token_env: _Text = ""
    token_command: _Text = ""
    allow_plaintext: bool = False


class _Inbound(_Mailbox):
    url: Annotated[_Text, _mail_url("maildir", "imap", "imaps")] = "maildir:var/mail/complaints"
    processed_folder: _Text = "Processed"
    quarantine_folder: _Text = "Quarantine"


class _Outbound(_Mailbox):
    url: Annotated[_Text, _mail_url("maildir", "smtp", "smtps")] = "maildir:var/mail/sent"
    sender: Annotated[_Text, AfterValidator(_sender)] = Field(default="", alias="from")
    give_up_after: Annotated[timedelta, _duration(LONGEST_GIVE_UP)] = timedelta(hours=1)
    connections: Annotated[int, _whole_number(1, MOST_CONNECTIONS)] = DEFAULT_CONNECTIONS


_Length = Annotated[timedelta | None, _duration(LONGEST_DEADLINE)]


class _Deadlines(_Table):
    """One key per DeadlineKind; a clock left out keeps its DEFAULT_DEADLINES length."""

    assess: _Length = None
    account_manager: _Length = None
    general_dept: _Length = None
    solution: _Length = None
    group: _Length = None
    higher_authority: _Length = None
    progress: _Length = None
    statement: _Length = None
    ack: _Length = None
    normal_completion: _Length = None


class _Reports(_Table):
    digest_at: Annotated[time | None, _from_text(_digest_time)] = time(8, 30)


def _listen(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise _refuse(f"{text!r} must be host:port, e.g. \"127.0.0.1:8080\"")
    return text


def _base_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise _refuse(f"{text!r} must be the board's address as people open it, e.g. "
                      "\"https://board.corp.example.com\"")
    return text.rstrip("/")


class _Web(_Table):
    listen: Annotated[_Text, AfterValidator(_listen)] = "127.0.0.1:8080"
    base_url: Annotated[_Text, AfterValidator(_base_url)] = ""
    session_secret_env: _Text = "COMPLAINTD_WEB_SECRET"
    session_hours: Annotated[int, Field(ge=1, le=24)] = 10


class _GeneralDept(_Table):
    name: _Text = "综合部"
    members: _Members = []
    interface_a: Annotated[_Person, _needed(), _shape(_PERSON)] = _required()
    interface_b: _Contact = None


class _Leaders(_Table):
    company: Annotated[_Person, _needed("the company supervising leader (公司主管领导) is required"),
                       _shape(_PERSON)] = _required()
    media: _Contact = None
    higher_authority: _Contact = None
    major_incident: Annotated[list[_Person], _shape("must be a list of tables")] = []


class _Department(_Table):
    id: Annotated[_Text, AfterValidator(_dept_id)] = _required("")
    name: Annotated[_Text, _filled("every department needs a name")] = _required("")
    kind: Annotated[_Text, AfterValidator(_dept_kind)] = "department"
    in_company_group: bool = False
    members: _Members = []
    leader: _Contact = None
    interface_a: Annotated[_Person, _needed("every department needs an interface person A (接口人A角)"),
                           _shape(_PERSON)] = _required()
    interface_b: _Contact = None


class _Outlet(_Table):
    name: Annotated[_Text, _filled("every media outlet needs a name")] = _required("")
    aliases: Annotated[list[str], _shape("must be a list of text")] = []
    domains: Annotated[list[Annotated[str, AfterValidator(_outlet_domain)]], _shape("must be a list of text")] = []
    account_manager_a: _Contact = None
    account_manager_b: _Contact = None


class _File(_Table):
    """The whole file: its tables, each a model above."""

    daemon: Annotated[_Daemon, _shape("must be a table, written [daemon]")] = _Daemon()
    inbound: Annotated[_Inbound, _shape("must be a table, written [inbound]")] = _Inbound()
    outbound: Annotated[_Outbound, _shape("must be a table, written [outbound]")] = _Outbound()
    deadlines: Annotated[_Deadlines, _shape("must be a table, written [deadlines]")] = _Deadlines()
    reports: Annotated[_Reports, _shape("must be a table, written [reports]")] = _Reports()
    web: Annotated[_Web, _shape("must be a table, written [web]")] = _Web()
    general_dept: Annotated[_GeneralDept, _needed("the [general_dept] table (综合部) is required"),
                            BeforeValidator(_none_if_empty), _shape("must be a table, written [general_dept]")
                            ] = _required()
    leaders: Annotated[_Leaders, _shape("must be a table, written [leaders]")] = _required({})
    departments: Annotated[list[_Department], _shape("must be written as [[departments]] tables")] = []
    media_outlets: Annotated[list[_Outlet], _shape("must be written as [[media_outlets]] tables")] = []


def _said(error: ErrorDetails) -> str:
    """One pydantic error as the `key: problem` line users read."""
    loc, kind = error["loc"], error["type"]
    key = _key(loc)
    if kind == "extra_forbidden":
        hint = _closest(str(loc[-1]), _keys_at(loc[:-1]))
        return f"{key}: unknown key" + (f" (did you mean {hint}?)" if hint else "")
    if kind == "string_type":
        return f"{key}: {_not_text(error['input'])}"
    if kind == "bool_type":
        return f"{key}: must be true or false, not {error['input']!r}"
    return f"{key}: {error['msg']}"  # ours (_refuse) say it already


def _key(loc: tuple[int | str, ...]) -> str:
    """("departments", 0, "interface_a") → "departments[0].interface_a"."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else part
    return key


def _keys_at(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The keys the table at `loc` takes, read from its model (list indexes stepped over)."""
    model: type[BaseModel] | None = _File
    for part in loc:
        if isinstance(part, str) and model is not None:
            model = _model_in(_fields(model)[part].annotation)
    assert model is not None, loc  # pydantic reports an unknown key inside a table
    return tuple(_fields(model))


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the keys written in the file."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation such as `list[_Person]` or `_Person | None` holds, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _section(raw: dict[str, Any], name: str, model: type[M], errors: list[ErrorDetails]) -> M:
    """The table `name` of the file, validated again without the keys that failed (their
    defaults stand in): the checks between its keys still run, and report in the same pass.
    The tables read this way have a default for every key, so this always validates."""
    table = raw.get(name)
    bad = {e["loc"][1] for e in errors if len(e["loc"]) > 1 and e["loc"][0] == name}
    kept = {k: v for k, v in table.items() if k not in bad} if isinstance(table, dict) else {}
    return model.model_validate(kept)


# ----------------------------------------------------------------------------------------
# The checks across keys and tables, and the settings built.

class _Builder:
    """Runs the models over the file, adds the checks they cannot make, and collects every
    problem as a `key: problem` line; builds the settings when there is none."""

    def __init__(self, base: Path, env: Mapping[str, str], secrets: bool = True) -> None:
        self.base = base  # the config file's folder: relative paths are resolved against it
        self.env = env
        self.secrets = secrets  # read password and token variables (see load_settings)
        self.problems: list[str] = []
        self.refused: set[str] = set()  # the keys the models refused: their defaults stand in

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def settings(self, raw: dict[str, Any], path: Path) -> Settings:
        try:
            file: _File | None = _File.model_validate(raw)
            errors: list[ErrorDetails] = []
        except ValidationError as exc:
            file, errors = None, exc.errors()
            self.problems.extend(_said(e) for e in errors)
            self.refused.update(_key(e["loc"]) for e in errors)
        daemon = self.daemon(_section(raw, "daemon", _Daemon, errors))
        inbound = self.inbound(_section(raw, "inbound", _Inbound, errors))
        outbound = self.outbound(_section(raw, "outbound", _Outbound, errors))
        web = self.web(_section(raw, "web", _Web, errors), configured="web" in raw)
        self.check_directory(raw)
        if self.problems:
            raise ConfigError(self.problems)
        assert file is not None  # no problems → the file validated
        return Settings(path.resolve(), daemon, inbound, outbound, _deadlines(file.deadlines),
                        _directory(file), ReportSettings(file.reports.digest_at), web)

    # -- the sections -------------------------------------------------------------------

    def daemon(self, t: _Daemon) -> DaemonSettings:
        return DaemonSettings(self.database_url(t.database), t.timezone, t.case_prefix, t.tick, t.poll_interval)

    def web(self, t: _Web, configured: bool) -> WebSettings:
        """[web]; with `secrets` (check) a board that is configured needs its session secret set."""
        host, _, port = t.listen.rpartition(":")
        host = host.strip("[]")
        if configured and self.secrets and not self.env.get(t.session_secret_env, "").strip():
            self.problem("web.session_secret_env", f"the environment variable {t.session_secret_env} is not set "
                         "(the board signs its session cookies with it; e.g. openssl rand -hex 32)")
        base_url = t.base_url or f"http://{t.listen}"
        return WebSettings(host, int(port), base_url, t.session_secret_env, t.session_hours, configured)

    def inbound(self, t: _Inbound) -> InboundSettings:
        url = self.mail_url(t, "inbound")
        auth, token = self.login(t, "inbound", url)
        password = self.password(t, "inbound", url) if auth == "password" else None
        if t.processed_folder == t.quarantine_folder:
            self.problem("inbound.quarantine_folder", "must differ from inbound.processed_folder")
        return InboundSettings(url, password, t.allow_plaintext, t.processed_folder, t.quarantine_folder,
                               auth, token)

    def outbound(self, t: _Outbound) -> OutboundSettings:
        url = self.mail_url(t, "outbound")
        auth, token = self.login(t, "outbound", url)
        password = self.password(t, "outbound", url) if auth == "password" else None
        if not t.sender and "outbound.from" not in self.refused:  # a refused from stands empty here
            self.problem("outbound.from", "missing: the address complaintd sends from, "
                         "e.g. \"媒体投诉处理 <complaints@corp.example.com>\"")
        name, email = _split_mailbox(t.sender)
        return OutboundSettings(url, password, t.allow_plaintext, name, email.lower(), auth, token,
                                t.give_up_after, t.connections)

    def check_directory(self, raw: dict[str, Any]) -> None:
        """The checks between tables look at what was written, so a department with its own
        problems still has its id and members checked against the others."""
        general = raw.get("general_dept")
        departments, outlets = (_tables(raw.get(name)) for name in ("departments", "media_outlets"))
        self.check_unique_ids(departments)
        self.check_claims(general if isinstance(general, dict) else {}, departments)
        self.check_unique_outlets(outlets)

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

    def check_unique_outlets(self, tables: list[dict[str, Any]]) -> None:
        """A domain names one media outlet."""
        seen: dict[str, str] = {}
        for i, t in enumerate(tables):
            name, domains = t.get("name"), t.get("domains")
            if not isinstance(name, str) or not name.strip() or not isinstance(domains, list):
                continue
            for domain in (str(d).lower() for d in domains):
                if domain in seen and seen[domain] != name.strip():
                    self.problem(f"media_outlets[{i}].domains", f"{domain} also belongs to {seen[domain]}")
                seen.setdefault(domain, name.strip())

    # -- values that need the file's folder, the environment, or another key -------------

    def mail_url(self, t: _Inbound | _Outbound, section: str) -> MailURL:
        """The url (checked by the model) with its folder resolved and its user: `username`,
        else the url's own."""
        if t.url.startswith("maildir:"):
            return MailURL("maildir", path=str((self.base / t.url[len("maildir:"):]).resolve()))
        parts = urlsplit(t.url)
        if parts.password:
            self.problem(f"{section}.url", f"holds a password: put it in the environment variable named by "
                         f"{section}.password_env instead")
        username = t.username or unquote(parts.username or "") or None
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return MailURL(parts.scheme, host=parts.hostname or "", port=parts.port, username=username, folder=folder)

    def password(self, t: _Inbound | _Outbound, section: str, url: MailURL) -> str | None:
        var = t.password_env
        if url.scheme == "maildir" or not url.username:
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

    def login(self, t: _Inbound | _Outbound, section: str, url: MailURL) -> tuple[str, TokenSource | None]:
        """`auth` and, for "xoauth2", where the token comes from. A maildir url logs in to
        nothing, so only the shape of the keys is checked there."""
        if t.auth not in ("password", "xoauth2"):
            self.problem(f"{section}.auth", f"{t.auth!r} must be \"password\" or \"xoauth2\"")
            return t.auth, None
        if t.auth == "password":
            for key, value in (("token_env", t.token_env), ("token_command", t.token_command)):
                if value:
                    self.problem(f"{section}.{key}", "only used with auth = \"xoauth2\"")
            return t.auth, None
        return t.auth, self.token_source(section, url, t.token_env, t.token_command)

    def token_source(self, section: str, url: MailURL, env_var: str, command: str) -> TokenSource | None:
        """Exactly one of token_env / token_command; a user to log in as (network urls only)."""
        if env_var and command:
            self.problem(f"{section}.token_command", "give token_env or token_command, not both")
            return None
        if not env_var and not command:
            self.problem(f"{section}.token_env", "missing: with auth = \"xoauth2\" name the environment "
                         "variable that holds the access token, or give token_command instead")
            return None
        if url.scheme == "maildir":
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
        """The url (its scheme checked by the model), a relative SQLite path resolved."""
        if text.startswith("sqlite:///"):
            path = text[len("sqlite:///"):]
            if path and path != ":memory:" and not path.startswith("/"):
                return "sqlite:///" + str((self.base / path).resolve())
            return text
        if urlsplit(text).password:
            self.problem("daemon.database", "holds a password: use PGPASSWORD or ~/.pgpass")
        return text.replace("postgresql://", "postgresql+psycopg://", 1)


def _tables(value: Any) -> list[dict[str, Any]]:
    """An array of tables as written; anything else (refused by the model) as none."""
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    return []


def _deadlines(t: _Deadlines) -> Deadlines:
    durations = dict(DEFAULT_DEADLINES)
    for kind in DeadlineKind:
        written = getattr(t, kind.value)
        if written is not None:
            durations[kind] = written
    return Deadlines(durations)


def _directory(file: _File) -> Directory:
    gd, leaders = file.general_dept, file.leaders
    # 综合部's A contact is its staff and gets its mail even when `members` forgets them;
    # B is told only when A does not answer (a failover), so B is not added here.
    listed = tuple(dict.fromkeys((*gd.members, gd.interface_a.email)))
    general = Department(GENERAL_DEPT_ID, gd.name, DepartmentKind.GENERAL_DEPT, listed, gd.interface_a.person(),
                         _person(gd.interface_b))
    chain = Leaders(leaders.company.person(), _person(leaders.media), _person(leaders.higher_authority),
                    tuple(p.person() for p in leaders.major_incident))
    departments = tuple(
        Department(d.id, d.name, DepartmentKind(d.kind), tuple(d.members), d.interface_a.person(),
                   _person(d.interface_b), _person(d.leader), d.in_company_group)
        for d in file.departments)
    outlets = tuple(
        MediaOutlet(o.name, tuple(o.aliases), tuple(o.domains), _person(o.account_manager_a),
                    _person(o.account_manager_b))
        for o in file.media_outlets)
    return Directory(general, chain, departments, outlets)


def _person(p: _Person | None) -> Person | None:
    return p.person() if p is not None else None


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
    """"名字 <a@b>" → ("名字", "a@b"); a bare address → ("", address). Text that parseaddr
    does not read whole as one of those (two addresses, a stray word) comes back whole as the
    address, so that the problem named is what was written."""
    text = text.strip()
    name, email = parseaddr(text)
    if email and (text == email or text.endswith(f"<{email}>")):
        return name, email
    return "", text


def _closest(name: str, known: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return found[0] if found else None
