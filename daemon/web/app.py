"""The read-only board: a Starlette app over the register (`complaintd web`).

It reads cases through the store's sessions and writes only login tokens and the outbox rows
of login mails; every action on a case stays a reply by mail (SPEC §4). A case a reader may
not see is a 404, the same as a case that does not exist, and is logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from daemon.clock import SystemClock, TimeSource
from daemon.config import Settings
from daemon.export import (
    FORMATS,
    STATUS_FILTER_LABELS,
    Register,
    case_facts,
    register_csv,
    register_table,
    register_xlsx,
)
from daemon.forms import registration_form
from daemon.rendering import TEMPLATES, Renderer
from daemon.store import open_current
from daemon.views import FORM_FIELDS, clock_name, directory_name, record_values, time_left
from daemon.web import queries
from daemon.web.auth import PER_ADDRESS, PER_CLIENT, RATE_WINDOW, RateLimiter, redeem, request_link, session_valid
from daemon.web.queries import Filters
from models.directory import Person
from models.labels import (
    CATEGORY_LABELS,
    CLOCK_TABLE,
    FIELD_LABELS,
    LATE,
    MAIL_STATE_LABELS,
    clock_label,
    event_label,
    status_label,
)
from models.statistics import register_statistics
from models.visibility import Scope, scope_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # a login link in the address bar goes nowhere else
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


class Board:
    """The board's state: settings, engine, clock, templates and the login rate limits."""

    def __init__(self, settings: Settings, engine: Engine, clock: TimeSource) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.tz = settings.daemon.timezone
        self.directory = settings.directory
        self.renderer = Renderer(self.tz, Person(settings.outbound.from_name, settings.outbound.from_email))
        self.per_address = RateLimiter(PER_ADDRESS, RATE_WINDOW)
        self.per_client = RateLimiter(PER_CLIENT, RATE_WINDOW)
        self.env = Environment(loader=FileSystemLoader(str(TEMPLATES / "web")), autoescape=True,
                               undefined=StrictUndefined)
        self.env.filters["local"] = self.local
        self.env.globals.update(
            label=FIELD_LABELS, status_label=status_label, clock_label=clock_label, event_label=event_label,
            category_labels=CATEGORY_LABELS, mail_state=MAIL_STATE_LABELS, filter_labels=STATUS_FILTER_LABELS,
            clock_table=CLOCK_TABLE, late_label=LATE, dept_name=self.dept_name,
            person=lambda email: directory_name(email, self.directory), time_left=time_left,
            departments=(self.directory.general_dept, *self.directory.departments),
            outlets=self.directory.outlets)

    def local(self, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(self.tz).strftime(fmt) if value is not None else "—"

    def local_seconds(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""

    def dept_name(self, dept_id: str) -> str:
        dept = self.directory.department(dept_id)
        return dept.name if dept else dept_id

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            reader=getattr(request.state, "reader", None), csrf=csrf_token(request), now=self.clock.now(),
            **context)
        return HTMLResponse(html, status_code=status)

    def not_found(self, request: Request) -> HTMLResponse:
        return self.page(request, "not_found.html.j2", status=404)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); forms send it back as `csrf`."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"


Handler = Callable[[Board, Request], Awaitable[Response]]


def signed_in(handler: Handler) -> Handler:
    """Run `handler` for a reader with a valid session and something to see; else to /login."""
    async def guarded(board: Board, request: Request) -> Response:
        email = request.session.get("email")
        at = request.session.get("at")
        now = board.clock.now()
        if isinstance(email, str) and isinstance(at, int | float) and session_valid(
                at, now, board.settings.web.session_hours):
            scope = scope_of(email, board.directory)
            if not scope.empty:
                request.state.reader = scope
                return await handler(board, request)
        request.session.pop("email", None)
        return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)
    return guarded


# -- login ----------------------------------------------------------------------------------------

async def login_form(board: Board, request: Request) -> Response:
    return board.page(request, "login.html.j2", sent=False, limited=False)


async def login_post(board: Board, request: Request) -> Response:
    form = await request.form()
    sent_csrf = str(form.get("csrf", ""))
    if not secrets.compare_digest(sent_csrf, str(request.session.get("csrf", ""))) or not sent_csrf:
        log.warning("login refused: bad CSRF token client=%s", client_of(request))
        return board.page(request, "login.html.j2", status=403, sent=False, limited=False)
    email = str(form.get("email", "")).strip().lower()[:254]
    now, client = board.clock.now(), client_of(request)
    if not board.per_client.allow(client, now) or not board.per_address.allow(email, now):
        log.warning("login refused: rate limited email=%s client=%s", email, client)
        return board.page(request, "login.html.j2", status=429, sent=False, limited=True)
    s = board.settings
    if request_link(board.engine, board.renderer, board.directory, email, s.web.base_url,
                    s.message_id_domain, now):
        log.info("login link queued email=%s client=%s", email, client)
    else:
        log.warning("login refused: not in the directory, or nothing to see email=%s client=%s", email, client)
    return board.page(request, "login.html.j2", sent=True, limited=False)


async def login_link(board: Board, request: Request) -> Response:
    now = board.clock.now()
    email = redeem(board.engine, request.path_params["token"], now)
    if email is None:
        log.warning("login refused: link used, expired or unknown client=%s", client_of(request))
        return board.page(request, "link_refused.html.j2", status=400)
    request.session.clear()
    request.session.update(email=email, at=int(now.timestamp()))
    log.info("signed in email=%s client=%s", email, client_of(request))
    return RedirectResponse("/", status_code=303)


async def logout(board: Board, request: Request) -> Response:
    form = await request.form()
    if secrets.compare_digest(str(form.get("csrf", "")), str(request.session.get("csrf", ""))):
        log.info("signed out email=%s", request.session.get("email"))
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- the register -----------------------------------------------------------------------------------

def filters_of(request: Request) -> Filters:
    """The query string's filters; a value that does not parse is left out, not an error."""
    q = request.query_params

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(q.get(name, ""))
        except ValueError:
            return None

    status = q.get("status", "open")
    category = q.get("category", "")
    page = q.get("page", "1")
    return Filters(status=status if status in queries.STATUSES else "open", dept=q.get("dept", "")[:64],
                   outlet=q.get("outlet", "")[:200],
                   category=int(category) if category in ("1", "2", "3", "4", "5") else None,
                   since=day("since"), until=day("until"), q=q.get("q", "")[:200],
                   page=int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1)


def query_of(f: Filters, **changes: Any) -> str:
    values = {"status": f.status, "dept": f.dept, "outlet": f.outlet, "category": f.category or "",
              "since": f.since.isoformat() if f.since else "", "until": f.until.isoformat() if f.until else "",
              "q": f.q, "page": f.page}
    values.update(changes)
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@signed_in
async def register(board: Board, request: Request) -> Response:
    f = filters_of(request)
    page = queries.register_page(board.engine, request.state.reader, f, board.clock.now(), board.tz)
    return board.page(request, "register.html.j2", filters=f, result=page, query=lambda **c: query_of(f, **c))


@signed_in
async def export(board: Board, request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        return board.not_found(request)
    f = filters_of(request)
    now = board.clock.now()
    rows = queries.matching_register(board.engine, request.state.reader, f, now, board.tz)
    table = register_table(rows, board.tz, board.directory)
    log.info("export email=%s format=%s cases=%s", request.state.reader.email, fmt, len(rows))
    name = f"登记簿-{now.astimezone(board.tz):%Y%m%d}.{fmt}"
    if fmt == "csv":
        data, media = register_csv(table), "text/csv; charset=utf-8"
    else:
        stats = register_statistics([case_facts(c, d) for c, d in rows], None, now)
        data = register_xlsx(table, Register(tuple(rows), stats, f.status), board.tz, board.directory)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, media_type=media, headers=attachment(name))


def attachment(filename: str) -> dict[str, str]:
    return {"content-disposition": f"attachment; filename=\"download\"; filename*=UTF-8''{quote(filename)}"}


# -- one case ---------------------------------------------------------------------------------------

def _case_or_none(board: Board, request: Request) -> Any:
    reader: Scope = request.state.reader
    case_id = request.path_params["case_id"]
    record = queries.visible_case(board.engine, reader, case_id)
    if record is None:
        log.warning("access refused: case=%s email=%s (none, or not theirs)", case_id[:40], reader.email)
    return record


@signed_in
async def case_page(board: Board, request: Request) -> Response:
    record = _case_or_none(board, request)
    if record is None:
        return board.not_found(request)
    values = record_values(record.case, board.directory, board.local_seconds)
    fields = [(FIELD_LABELS[name], values[name]) for name in FORM_FIELDS]
    clocks = [(clock_name(d, board.directory), d) for d in record.deadlines]
    return board.page(request, "case.html.j2", record=record, case=record.case, fields=fields, clocks=clocks,
                      mails=queries.case_mails(board.engine, record.case.id))


@signed_in
async def case_form(board: Board, request: Request) -> Response:
    record = _case_or_none(board, request)
    if record is None:
        return board.not_found(request)
    data = registration_form(record.case, record.deadlines, record.events, board.directory, board.tz)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers=attachment(f"媒体投诉登记表-{record.case.id}.xlsx"))


@signed_in
async def case_original(board: Board, request: Request) -> Response:
    record = _case_or_none(board, request)
    reader: Scope = request.state.reader
    raw = queries.original_mail(board.engine, record.case.id) if record is not None else None
    if record is None or raw is None or not reader.general_dept:
        if record is not None:
            log.warning("access refused: original mail case=%s email=%s", record.case.id, reader.email)
        return board.not_found(request)
    log.info("original mail downloaded case=%s email=%s", record.case.id, reader.email)
    return Response(raw, media_type="message/rfc822", headers=attachment(f"{record.case.id}.eml"))


# -- statistics ---------------------------------------------------------------------------------------

@signed_in
async def statistics(board: Board, request: Request) -> Response:
    days_text = request.query_params.get("days", "30")
    days = int(days_text) if days_text in {str(d) for d in queries.PERIODS} else 30
    figures = queries.board_statistics(board.engine, request.state.reader, days, board.clock.now(), board.tz)
    return board.page(request, "stats.html.j2", figures=figures, periods=queries.PERIODS)


@signed_in
async def home(board: Board, request: Request) -> Response:
    return RedirectResponse("/register", status_code=303)


def create_app(settings: Settings, *, secret: str, engine: Engine | None = None,
               clock: TimeSource | None = None) -> Starlette:
    """The board's ASGI app. `engine` defaults to the configured database as it stands (the
    daemon migrates it; the board never does); `secret` signs the session cookies."""
    board = Board(settings, engine or open_current(settings.daemon.database), clock or SystemClock())

    def bound(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(board, request)
        return endpoint

    routes = [
        Route("/", bound(home)),
        Route("/login", bound(login_form), methods=["GET"]),
        Route("/login", bound(login_post), methods=["POST"]),
        Route("/login/{token}", bound(login_link)),
        Route("/logout", bound(logout), methods=["POST"]),
        Route("/register", bound(register)),
        Route("/register.{fmt:str}", bound(export)),
        Route("/cases/{case_id}", bound(case_page)),
        Route("/cases/{case_id}/form.xlsx", bound(case_form)),
        Route("/cases/{case_id}/original.eml", bound(case_original)),
        Route("/stats", bound(statistics)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="complaintd_board",
                   max_age=settings.web.session_hours * 3600, same_site="lax", https_only=settings.web.https),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.board = board
    return app
