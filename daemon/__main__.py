"""`complaintd` / `python -m daemon`: the command line of SPEC §6.

This is the only module that configures logging, installs signal handlers or exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError

from daemon.app import App
from daemon.clock import SystemClock
from daemon.config import Settings, config_path, load_settings
from daemon.errors import ComplaintdError, ConfigError, DatabaseMissing, StoreError
from daemon.file_source import FileSource
from daemon.health import health, stuck_reasons
from daemon.locks import DaemonLock
from daemon.mailer import open_mailer
from daemon.migrate import SchemaChange, migrate
from daemon.preview import dry_run, plan_json, plan_text
from daemon.queries import STATUS_FILTERS, list_cases, load_case
from daemon.sources import open_source
from daemon.store import engine_for, open_current, open_engine, reason_of
from daemon.views import (
    case_json,
    case_summary_json,
    case_text,
    cases_table,
    clock_label,
    json_text,
    terminal_safe,
    time_left,
)
from models.audit import audit
from models.plan import ANSWERERS, PlanError, Start, branch, department, parse_answers, simulate

log = logging.getLogger("daemon")

# The commands that log in to the mail servers (run; ingest, which sends the acknowledgments),
# and check, which vouches for what run will need: only these read the password and token
# variables. The others need only the database.
MAIL_COMMANDS = frozenset({"run", "ingest", "check"})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _logging(args.command, args.verbose, args.log_format)
    try:
        # A dry run logs in nowhere, so it needs no password either.
        secrets = args.command in MAIL_COMMANDS and not getattr(args, "dry_run", False)
        settings = load_settings(config_path(args.config), secrets=secrets)
        code = int(COMMANDS[args.command](settings, args) or 0)
        sys.stdout.flush()  # a reader that has gone shows here, where it is handled, not at exit
        return code
    except ConfigError as exc:
        print(f"complaintd: {config_path(args.config)} is not valid ({len(exc.problems)} "
              f"problem{'s' if len(exc.problems) != 1 else ''}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except ComplaintdError as exc:
        print(f"complaintd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `complaintd plan … | head`: the reader has gone. Nothing more to say, and nothing said
        # at exit either (the interpreter would flush stdout again and print a traceback).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """-c, -v and --log-format, accepted before the command word and after it (SPEC §6).

    The main parser holds the defaults. A subparser's copies default to SUPPRESS, because
    argparse lets a subparser's default overwrite what the main parser already read: with a
    real default there, `complaintd -c X check` would drop X."""
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=default(None),
                        help="config file (default: $COMPLAINTD_CONFIG or ./config.toml)")
    common.add_argument("-v", "--verbose", action="store_true", default=default(False), help="log more")
    common.add_argument("--log-format", choices=("text", "json"), default=default("text"),
                        help="json: one JSON object per line, for log collectors")
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaintd", parents=[_common_options(defaults=True)],
                                     description="Media complaint (媒体投诉) intake and escalation daemon.")
    common = _common_options(defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument("--once", action="store_true", help="one poll and one outbox flush, then exit")
    check = sub.add_parser("check", parents=[common], help="validate the config; exit 1 listing every problem; "
                           "warn about holes in the directory")
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings too (for a pre-deploy hook)")
    ingest = sub.add_parser("ingest", parents=[common], help="register .eml files through the intake pipeline")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE.eml")
    ingest.add_argument("--dry-run", action="store_true",
                        help="print the record each file would make and its plan; write and send nothing")
    _plan_parser(sub.add_parser("plan", parents=[common], help="every mail a complaint would cause, as a "
                                "timeline; nothing is sent"))
    cases = sub.add_parser("cases", parents=[common], help="list the register")
    cases.add_argument("--status", choices=STATUS_FILTERS, default="open")
    cases.add_argument("--json", action="store_true")
    sub.add_parser("status", parents=[common], help="is the daemon healthy? exit 1 when it looks stuck")
    show = sub.add_parser("show", parents=[common], help="one case's registration record")
    show.add_argument("case_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.add_argument("--form", type=Path, metavar="FILE.xlsx", help="also write the registration form (媒体投诉登记表)")
    export = sub.add_parser("export", parents=[common], help="the register as XLSX (with statistics) or CSV")
    export.add_argument("--format", choices=("xlsx", "csv"),
                        help="xlsx or csv (default: from -o's suffix; csv for -o -; else xlsx)")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="where to write (default: 登记簿-YYYYMMDD.xlsx here; - for stdout)")
    export.add_argument("--since", metavar="YYYY-MM-DD", help="cases received on or after this local date")
    export.add_argument("--status", choices=STATUS_FILTERS, default="all")
    sub.add_parser("migrate", parents=[common],
                   help="bring the database's schema up to this version (run also does it on start)")
    sub.add_parser("web", parents=[common], help="serve the read-only board on [web] listen (login by mail)")
    return parser


def _plan_parser(plan: argparse.ArgumentParser) -> None:
    receiving = plan.add_mutually_exclusive_group(required=True)
    receiving.add_argument("--dept", metavar="ID", help="the receiving department, by id or name (network, 网络部)")
    receiving.add_argument("--branch", nargs="?", const="", metavar="ID",
                           help="a suburban branch (郊市分公司) receives it: this one, or the first in the config")
    plan.add_argument("--outlet", metavar="NAME", help="the media outlet, by name or alias (default: none known)")
    plan.add_argument("--receiver", metavar="EMAIL",
                      help="who received it (default: the department's interface person A)")
    plan.add_argument("--answers", action="append", default=[], metavar="WHO=WHAT@H:MM",
                      help="scripted answers, ';'-separated, e.g. \"assess=可处理@0:05\" or \"am=退信@0:35\"; "
                           f"WHO: {', '.join(ANSWERERS)} or an address")
    plan.add_argument("--at", metavar="'YYYY-MM-DD HH:MM'", help="when it was received, local time (default: now)")
    plan.add_argument("--json", action="store_true")


def _logging(command: str, verbose: bool, fmt: str = "text") -> None:
    level = logging.DEBUG if verbose else logging.INFO if command in ("run", "web") else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class JsonFormatter(logging.Formatter):
    """One line per event: time, level, logger, message (case= and message_id= are in it),
    and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _check(settings: Settings, args: argparse.Namespace) -> int:
    d = settings.directory
    print(f"{settings.path}: OK — {len(d.departments)} departments, {len(d.outlets)} media outlets, "
          f"inbound {settings.inbound.url.scheme}, outbound {settings.outbound.url.scheme}")
    warnings = audit(d, settings.outbound.from_email.rpartition("@")[2])
    for warning in warnings:
        print(terminal_safe(f"warning: {warning}"))
    if warnings:
        print(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
              + (" (--strict: failing)" if args.strict else ""))
    return 1 if warnings and args.strict else 0


def _app(settings: Settings) -> App:
    return App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
               open_mailer(settings.outbound), SystemClock())


def _run(settings: Settings, args: argparse.Namespace) -> int:
    # SIGTERM may come while we are still starting (migrations, the first connection): it is
    # honoured then too, once the app exists, instead of killing the process half-way.
    stopping = threading.Event()
    started: list[App] = []

    def stop(*_: object) -> None:
        stopping.set()
        for app in started:
            app.stop()

    if not args.once:  # one tick ends by itself; Ctrl-C interrupts it as usual
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
    lock = DaemonLock(settings.daemon.database)
    if not lock.acquire(patience=3.0):
        raise ComplaintdError(
            f"another complaintd (pid {lock.holder() or '?'}) is already running on {settings.daemon.database}; "
            "SQLite takes one daemon at a time (several replicas need PostgreSQL)")
    try:
        app = _app(settings)
        if args.once:
            try:
                app.tick()
            finally:
                app.close()
            return 0
        started.append(app)
        signal.signal(signal.SIGHUP, lambda *_: app.request_reload())
        if stopping.is_set():
            app.close()
            return 0
        app.run()
        return 0
    finally:
        lock.release()


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise ComplaintdError("no such file: " + ", ".join(missing))
    if args.dry_run:  # no database, no mailbox, no mail server: only the parser and the policy
        now = SystemClock().now()
        print("\n\n".join(dry_run(settings, path, now) for path in args.files))
        return 0
    app = _app(settings)
    now = app.clock.now()
    source = FileSource(args.files)
    for item, path in zip(source.fetch_new(), args.files, strict=False):
        outcome = app.intake.handle(source, item, now)
        if outcome is None:
            print(f"{path}: not recorded (database unavailable; see the log)")
            continue
        said = outcome.status.value + (f" {outcome.case_id}" if outcome.case_id else "")
        if outcome.earlier:
            said = f"already recorded ({said})"
        elif outcome.reason and not outcome.case_id:
            said += f" — {outcome.reason}"
        print(f"{path}: {said}")
    lock = DaemonLock(settings.daemon.database)
    if lock.acquire():  # no daemon running: send the acknowledgments now
        app.guarded("outbox", lambda: app.flush_pass(app.clock.now()))
        lock.release()
    else:
        print("complaintd is running: it sends the acknowledgments on its next pass", file=sys.stderr)
    app.close()
    return 0


def _cases(settings: Settings, args: argparse.Namespace) -> int:
    engine = open_current(settings.daemon.database)
    now = SystemClock().now()
    rows = list_cases(engine, args.status, now)
    tz = settings.daemon.timezone
    if args.json:
        _print_json([case_summary_json(case, tz) for case, _ in rows])
    else:
        print(cases_table(rows, tz, now, settings.directory, color=sys.stdout.isatty()))
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    record = load_case(open_current(settings.daemon.database), args.case_id)
    if record is None:
        print(f"complaintd: no case {args.case_id}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(case_json(record, settings.daemon.timezone))
    else:
        print(case_text(record, settings.daemon.timezone, settings.directory))
    if args.form:
        from daemon.forms import registration_form

        data = registration_form(record.case, record.deadlines, record.events, settings.directory,
                                 settings.daemon.timezone)
        try:
            args.form.write_bytes(data)
        except OSError as exc:
            raise ComplaintdError(f"cannot write {args.form}: {exc.strerror or exc}") from None
        print(f"登记表已写入 {args.form.resolve()}", file=sys.stderr)
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    """Last poll, last pass, outbox backlog, open cases, next deadline; exit 1 if stuck."""
    try:
        engine = open_current(settings.daemon.database)
    except DatabaseMissing as exc:
        # Never run on this config: unhealthy to a monitor (exit 1), not a broken command.
        print(f"daemon：未运行（{settings.daemon.database}）")
        print("异常：没有 complaintd 进程在运行", file=sys.stderr)
        print(f"异常：数据库 {exc.path} 不存在（complaintd run 或 complaintd migrate 会创建它）", file=sys.stderr)
        return 1
    now, tz = SystemClock().now(), settings.daemon.timezone
    h = health(engine)
    probe = DaemonLock(settings.daemon.database)
    running = not probe.acquire()
    probe.release()  # at once: a daemon starting now must not find it taken

    def ago(at: datetime | None) -> str:
        return f"{at.astimezone(tz):%Y-%m-%d %H:%M:%S}（{time_left(now - at)}前）" if at else "从未"

    nxt = h.next_deadline
    print(f"daemon：{'运行中' if running else '未运行'}（{settings.daemon.database}）")
    print(f"最近一次收信：{ago(h.last_poll)}")
    print(f"最近一次时限检查：{ago(h.last_pass)}")
    print(f"待发邮件：{h.backlog} 封" + (f"，最早 {ago(h.oldest_unsent)}" if h.oldest_unsent else ""))
    print(f"被拒收邮件：{h.failed} 封")
    print(f"在办案件：{h.open_cases} 件")
    print("下一时限：" + (f"{nxt.case_id} {clock_label(nxt.kind)} {nxt.due_at.astimezone(tz):%m-%d %H:%M}" if nxt else "无"))
    problems = stuck_reasons(settings.daemon, h, running, now)
    for problem in problems:
        print(f"异常：{problem}", file=sys.stderr)
    return 1 if problems else 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    since = None
    if args.since is not None:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise ComplaintdError(f"--since {args.since!r} is not a date; write it as YYYY-MM-DD "
                                  "(e.g. 2026-11-01)") from None
    fmt = args.format
    if fmt is None:
        fmt = "csv" if args.output == "-" or (args.output or "").lower().endswith(".csv") else "xlsx"
    if args.output == "-" and fmt == "xlsx" and sys.stdout.isatty():
        raise ComplaintdError("an XLSX file is not for a terminal; use --format csv or -o FILE")
    from daemon.export import default_filename, export_register  # openpyxl: only when exporting

    tz = settings.daemon.timezone
    now = SystemClock().now()
    data = export_register(open_current(settings.daemon.database), tz, settings.directory, fmt, since,
                           args.status, now)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    path = Path(args.output or default_filename(fmt, now, tz))
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a file
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ComplaintdError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(path.resolve())
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Upgrade the schema (what `run` does on start anyway) and tell from which revision to which."""
    url = settings.daemon.database
    lock = DaemonLock(url)
    if not lock.acquire():
        raise ComplaintdError(f"complaintd (pid {lock.holder() or '?'}) is running on {url}; "
                              "stop it first (systemctl stop complaintd), then migrate")
    engine = engine_for(url)
    try:
        change = migrate(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot migrate {url}: {reason_of(exc)}") from None
    finally:
        engine.dispose()
        lock.release()
    print(f"database: {url}")
    print(f"schema before: {_revision_said(change)}")
    print(f"schema after: {change.after}" + (" (upgraded)" if change.changed else " (already current)"))
    return 0


def _revision_said(change: SchemaChange) -> str:
    if change.before is None:
        return "none (an empty database)"
    if change.unversioned:
        return f"{change.before} (no version recorded: made by a complaintd from before migrations)"
    return change.before


def _web(settings: Settings, args: argparse.Namespace) -> int:
    """The board, in its own process: it reads the register the daemon keeps (and never
    migrates it), so either runs without the other."""
    import uvicorn

    from daemon.web.app import create_app

    web = settings.web
    secret = os.environ.get(web.session_secret_env, "").strip()
    if not secret:
        raise ComplaintdError(f"the environment variable {web.session_secret_env} is not set: the board signs "
                              "its session cookies with it (e.g. export "
                              f"{web.session_secret_env}=$(openssl rand -hex 32))")
    app = create_app(settings, secret=secret, clock=SystemClock())
    log.info("board on http://%s:%s (links point to %s)", web.host, web.port, web.base_url)
    uvicorn.run(app, host=web.host, port=web.port, log_config=None, access_log=False, server_header=False)
    return 0


def _plan(settings: Settings, args: argparse.Namespace) -> int:
    """The timeline of one complaint received now (or --at) by --dept/--branch about --outlet."""
    directory, tz = settings.directory, settings.daemon.timezone
    if args.branch is not None:
        dept = branch(directory, args.branch)
        if dept is None:
            raise ComplaintdError(f"no branch {args.branch!r} (kind = \"branch\") in the config")
    else:
        dept = department(directory, args.dept)
        if dept is None:
            known = ", ".join(d.id for d in (directory.general_dept, *directory.departments))
            raise ComplaintdError(f"no department {args.dept!r}; the config has: {known}")
    outlet = directory.outlet_by_name(args.outlet) if args.outlet else None
    if args.outlet and outlet is None:
        raise ComplaintdError(f"no media outlet {args.outlet!r}; the config has: "
                              + ", ".join(o.name for o in directory.outlets))
    try:
        answers = tuple(a for text in args.answers for a in parse_answers(text))
        received = _local_time(args.at, tz) if args.at else SystemClock().now().replace(microsecond=0)
        plan = simulate(Start(dept, outlet, received, received, args.receiver.lower() if args.receiver else None),
                        directory, settings.deadlines, tz, answers)
    except PlanError as exc:
        raise ComplaintdError(str(exc)) from None
    if args.json:
        _print_json(plan_json(plan, tz, settings.deadlines, answers))
    else:
        print(plan_text(plan, tz, directory, settings.deadlines, answers))
    return 0


def _local_time(text: str, tz: ZoneInfo) -> datetime:
    """--at: ISO 8601 ('2026-12-01 23:50', with or without an offset); local time when naive."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PlanError(f"--at {text!r} is not a time; write it as YYYY-MM-DD HH:MM") from None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def _print_json(value: Any) -> None:
    sys.stdout.write(json_text(value) + "\n")


COMMANDS = {"status": _status, "run": _run, "check": _check, "ingest": _ingest, "cases": _cases, "show": _show,
            "export": _export, "migrate": _migrate, "plan": _plan, "web": _web}

if __name__ == "__main__":
    sys.exit(main())
