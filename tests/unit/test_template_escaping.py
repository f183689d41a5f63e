"""Markup from mail is never live in the HTML part, and never escaped in the plain text.

Every template under templates/ is rendered (found by listing the folder, so a new one is
covered, or this test fails until it is given a context) with contexts built by the daemon's
own code — a case whose every text field is hostile, events, a quarantined mail, the digest
from a real SQLite register, refused config, changed contacts, bounced addresses — and a
directory whose every name is hostile. Each is rendered twice, once with the hostile value and
once with plain words: the HTML parts must have the very same elements and attributes (none
came from data), and must show the hostile value as typed, as must the subject and the text.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import nodes
from sqlalchemy import text as sql
from sqlmodel import Session

from daemon.config import ReportSettings, Settings, load_settings
from daemon.escalation import case_mail
from daemon.intake import Intake, Rows
from daemon.outbox import outbox_rows
from daemon.ports import Fetched, SourceKey
from daemon.rendering import TEMPLATES, Parts, Renderer
from daemon.reports import bad_address_rows, config_refused, digest_pass, directory_changed
from daemon.store import open_engine, session
from daemon.web.auth import login_mail
from models.directory import Person
from models.policy import Notify, Step
from models.tables import Case, Deadline, Event, InboundMail, Outbox
from models.types import AckTarget, CaseStatus, DeadlineKind, EventKind, InboundStatus
from parsers.message import Address, Kind, ParsedMail

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: past digest_at
T0 = NOW - timedelta(hours=3)

HOSTILE = " ".join((
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<a href="javascript:alert(1)">x</a>',
    "\"'><svg onload=alert(1)>", "陈静 <chen.am@corp.example.com>", "{{ 7*7 }}", "{% raw %}", "&amp;",
))
PLAIN = "数据"  # the same contexts with harmless words: the template's own markup
CASE_ID = "MT-20261127-0001"

NAMES = sorted(p.name.removesuffix(".html.j2") for p in TEMPLATES.glob("*.html.j2") if not p.name.startswith("_"))


class Recorder(Renderer):
    """The real renderer, keeping every mail it renders by template."""

    def __init__(self) -> None:
        super().__init__(SETTINGS.daemon.timezone, Person("媒体投诉处理", "complaints@corp.example.com"))
        self.rendered: dict[str, list[Parts]] = defaultdict(list)

    def parts(self, template: str, context: dict[str, Any], case_id: str | None = None) -> Parts:
        parts = super().parts(template, context, case_id)
        self.rendered[template].append(parts)
        return parts


def renamed(value: Any, text: str) -> Any:
    """The directory with every person, department and outlet called `text`."""
    if isinstance(value, tuple):
        return tuple(renamed(v, text) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: renamed(getattr(value, f.name), text) for f in dataclasses.fields(value)}
        if "name" in changes:
            changes["name"] = text
        return dataclasses.replace(value, **changes)
    return value


def hostile_case(text: str, **fields: Any) -> Case:
    """A case whose every text field reads `text`, its status included (as a newer version's
    status would read), but its id: the daemon mints that, and a header carries it as it is."""
    values: dict[str, Any] = {name: text for name, info in Case.model_fields.items()
                              if info.annotation in (str, str | None, CaseStatus)}
    values.update(id=CASE_ID, category=2, received_at=T0, registered_at=T0, original_sent_at=T0, updated_at=T0,
                  expected_completion_at=NOW, late=True,
                  attachments=[{"filename": text, "content_type": "image/jpeg", "size": 1}])
    values.update(fields)
    return Case(**values)


def clocks(case_id: str, text: str) -> list[Deadline]:
    """Every kind of clock, met, breached and open, and one of a kind the code does not know."""
    out = [Deadline(case_id=case_id, kind=kind.value, round=0, due_at=T0 + timedelta(minutes=15 * i),
                    met_at=T0 if i % 3 == 0 else None, breached_at=T0 if i % 3 == 1 else None, late=i % 2 == 0,
                    target=f"ack/0/{text}" if kind is DeadlineKind.ACK else "")
           for i, kind in enumerate(DeadlineKind)]
    return [*out, Deadline(case_id=case_id, kind=text, round=1, due_at=NOW + timedelta(hours=1))]


def render_all(text: str, db_dir: Path) -> dict[str, list[Parts]]:
    """Every mail the daemon writes, with `text` wherever data goes."""
    settings: Settings = dataclasses.replace(
        SETTINGS, path=Path(text), directory=renamed(SETTINGS.directory, text),
        inbound=dataclasses.replace(SETTINGS.inbound, quarantine_folder=text), reports=ReportSettings(time(8, 30)))
    directory = settings.directory
    renderer = Recorder()
    engine = open_engine(f"sqlite:///{db_dir}/register.sqlite3")
    case = hostile_case(text)
    deadlines = clocks(case.id, text)
    events = [Event(case_id=case.id, at=T0, kind=kind, actor=text, message_id=text, subject=text, summary=text)
              for kind in ("mail_in", "breached", "rejected", "unreachable", "send_failed", text)]

    # The registration mail (daemon/intake.py), forwarded and written directly.
    intake = Intake(settings, engine, renderer)
    mail = ParsedMail(Kind.COMPLAINT, text, message_id="<fwd@corp.example.com>", subject=text,
                      sender=Address(text, text))
    intake._acknowledgment(case, deadlines, mail, NOW)
    intake._acknowledgment(hostile_case(text, forwarder_email=None), deadlines, mail, NOW)
    # A quarantined mail (daemon/intake.py).
    intake._quarantine(Rows(), Fetched(SourceKey(text, 0, text), text.encode()),
                       dataclasses.replace(mail, kind=Kind.UNUSABLE), text, NOW)

    # Every step's mail (daemon/escalation.py case_mail), with what its callers add: confirm's
    # `done`, and the words of the mail that prompted verify and followup.
    people = directory.mailboxes(directory.general_dept)
    about = AckTarget(Step.FAILOVER, 0, directory.general_dept.interface_a.email)
    extra = {"done": [text, text], "claimed": text, "their_subject": text, "understood": [text, text],
             "from_address": text, "their_text": text}
    for step in Step:
        notify = Notify(step, 1, people, people, people, T0, True, False, about)
        outbox_rows(renderer, directory, case_mail(settings, case, deadlines, events, notify, NOW, **extra),
                    NOW, settings.message_id_domain)

    # 综合部's reports (daemon/reports.py): the digest reads the register.
    # An enum column refuses text that is none of its values, so the unknown status, clock
    # kind and event kind go in as a newer complaintd would have written them.
    with session(engine) as db:
        db.add(hostile_case(text, status=CaseStatus.REGISTERED))
        *known, unknown = clocks(case.id, text)
        unknown.kind = DeadlineKind.ASSESS  # round 1; its kind becomes `text` below
        for event in events:
            event.kind = event.kind if event.kind in set(EventKind) else EventKind.MAIL_IN
        db.add_all([*known, unknown, *events])
        db.add(InboundMail(mailbox=text, uidvalidity=0, uid=text, message_id=text, digest=text, kind=text,
                           status=InboundStatus.QUARANTINED, sender=text, subject=text, reason=text, raw=b"",
                           seen_at=NOW))
        db.add(Outbox(key=text, case_id=case.id, step=text, recipient=text, message_id=text, subject=text,
                      data=b"", created_at=T0, next_attempt_at=NOW, attempts=3, last_error=text))
        db.commit()
        written_by_a_newer_version(db, text)
    assert digest_pass(engine, settings, renderer, NOW)
    config_refused(engine, settings, renderer, [text, text], NOW)
    directory_changed(engine, SETTINGS, settings, renderer, NOW)
    known = directory.general_dept.interface_a.email  # a directory name, not just an address
    for why in ("bounce", "refused", "deferred"):
        for address, case_id in ((text, CASE_ID), (known, None)):
            bad_address_rows(settings, renderer, case_id, address, why=why, reason=text, subject=text,
                             step=why, now=NOW)
    # The board's login link (daemon/web/auth.py), to a person the directory names.
    outbox_rows(renderer, directory, login_mail(people[0], text, text), NOW, settings.message_id_domain)
    engine.dispose()
    return renderer.rendered


def written_by_a_newer_version(db: Session, text: str) -> None:
    """`text` stored as it is, past the enum columns' check, as a newer complaintd's own rows
    would read: the case's status, its round-1 clock's kind, the last event's kind."""
    db.execute(sql("UPDATE cases SET status = :text"), {"text": text})
    db.execute(sql("UPDATE deadlines SET kind = :text WHERE round = 1"), {"text": text})
    db.execute(sql("UPDATE events SET kind = :text WHERE id = (SELECT max(id) FROM events)"), {"text": text})
    db.commit()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Parts, Parts]]]:
    """template → (hostile, plain) pairs of the same mails."""
    hostile = render_all(HOSTILE, tmp_path_factory.mktemp("hostile"))
    plain = render_all(PLAIN, tmp_path_factory.mktemp("plain"))
    assert hostile.keys() == plain.keys()
    return {name: list(zip(hostile[name], plain[name], strict=True)) for name in hostile}


class Page(HTMLParser):
    """An HTML part as a mail client reads it: its elements, and the text it shows."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.shown: list[str] = []  # text in <body>
        self.pre: list[str] = []  # text of the <div> that _plain.html.j2 fills with the text part
        self._body = self._div = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, tuple(attrs)))
        self._body |= tag == "body"
        self._div |= tag == "div"

    def handle_endtag(self, tag: str) -> None:
        self.elements.append(("/" + tag, ()))
        self._div &= tag != "div"

    def handle_data(self, data: str) -> None:
        if self._body:
            self.shown.append(data)
        if self._div:
            self.pre.append(data)


def test_every_mail_has_a_subject_and_a_text_part() -> None:
    """Renderer.parts renders all three; a mail missing one would fail only when sent."""
    missing = [name for name in NAMES if not (TEMPLATES / f"{name}.subject.j2").exists()
               or not (TEMPLATES / f"{name}.txt.j2").exists()]
    assert not missing, f"no subject or text template: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_no_markup_in_html_comes_from_data(name: str, rendered: dict[str, list[tuple[Parts, Parts]]]) -> None:
    """Hostile data and plain words give the same elements and attributes: all the template's."""
    assert rendered.get(name), f"render_all renders no {name} mail: give it a context"
    for hostile, plain in rendered[name]:
        page = Page(hostile.html)
        assert page.elements == Page(plain.html).elements
        tags = {tag for tag, _ in page.elements}
        assert not tags & {"script", "img", "svg", "a", "chen.am@corp.example.com"}
        assert not [a for _, attrs in page.elements for a, _ in attrs if a.startswith("on")]


@pytest.mark.parametrize("name", NAMES)
def test_html_shows_data_as_typed_and_escaped_once(name: str,
                                                   rendered: dict[str, list[tuple[Parts, Parts]]]) -> None:
    """陈静 <chen.am@…> is seen, {{ 7*7 }} is not 49, &amp; is not &amp;amp;; a mail that
    extends _plain.html.j2 shows exactly its text part, any other shows the data at least
    wherever its text part does (a case mail's tables show the record the text part sums up)."""
    plain_layout = '{% extends "_plain.html.j2" %}' in (TEMPLATES / f"{name}.html.j2").read_text("utf-8")
    for hostile, _ in rendered[name]:
        page = Page(hostile.html)
        shown = "".join(page.shown)
        assert HOSTILE in shown
        if plain_layout:
            assert "".join(page.pre) == hostile.text
        else:
            assert shown.count(HOSTILE) >= hostile.text.count(HOSTILE)


@pytest.mark.parametrize("name", NAMES)
def test_subject_and_text_show_data_unescaped(name: str, rendered: dict[str, list[tuple[Parts, Parts]]]) -> None:
    """Plain text is not HTML: the data reads exactly as it came."""
    for hostile, plain in rendered[name]:
        assert HOSTILE in hostile.text
        assert (HOSTILE in hostile.subject) == (PLAIN in plain.subject)  # some show only counts
        for part in (hostile.subject, hostile.text):
            assert "&lt;" not in part and "&#34;" not in part and "&#39;" not in part and "&amp;amp;" not in part


def test_no_template_turns_escaping_off() -> None:
    """No `|safe`, no `{% autoescape false %}`: a field this file's contexts miss stays escaped."""
    env = Recorder().env
    offenders = []
    for path in sorted(TEMPLATES.glob("*.html.j2")):
        tree = env.parse(path.read_text("utf-8"))
        if any(f.name == "safe" for f in tree.find_all(nodes.Filter)) or any(
                isinstance(o.value, nodes.Const) and o.value.value is False
                for m in tree.find_all(nodes.ScopedEvalContextModifier) for o in m.options):
            offenders.append(path.name)
    assert not offenders
