"""Nothing the procedure can do is left without its words or its mail: every clock has a rule
and a name, every status a name, every step a name and its three templates, and each step's
mail renders under StrictUndefined with the context the daemon itself builds (an enum member
added without these fails here, not in front of a user)."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined

from daemon.escalation import case_mail
from daemon.outbox import outbox_rows
from daemon.rendering import TEMPLATES
from models.labels import CLOCK_LABELS, EVENT_LABELS, STATUS_LABELS, STEP_LABELS
from models.policy import RULES, Notify, Step
from models.tables import Event
from models.types import AckTarget, CaseStatus, DeadlineKind, EventKind
from tests.unit.test_template_escaping import NOW, PLAIN, SETTINGS, T0, Recorder, clocks, hostile_case

TEMPLATE_PARTS = ("subject.j2", "txt.j2", "html.j2")  # what Renderer.parts renders for a mail
# What the callers in daemon/replies.py add to case_mail's context for the mails replies cause.
REPLY_CONTEXT: dict[str, Any] = {"done": [PLAIN], "claimed": PLAIN, "their_subject": PLAIN, "understood": [PLAIN],
                                 "from_address": PLAIN, "their_text": PLAIN}


def test_every_clock_has_a_rule_and_a_label() -> None:
    """models/policy.py RULES and models/labels.py CLOCK_LABELS cover DeadlineKind exactly."""
    kinds = {k.value for k in DeadlineKind}
    assert kinds - set(RULES) == set(), "clocks no rule handles"
    assert set(RULES) - kinds == set(), "rules for no clock"
    assert set(DeadlineKind) - set(CLOCK_LABELS) == set(), "clocks without a label"
    assert all(CLOCK_LABELS.values())


def test_every_status_has_a_label() -> None:
    """A case in any status reads in words, and no two statuses read alike."""
    assert set(CaseStatus) - set(STATUS_LABELS) == set()
    assert len(set(STATUS_LABELS.values())) == len(CaseStatus)


def test_every_event_kind_has_a_label() -> None:
    """Each kind of line in a case's event log reads in words, no two alike."""
    assert set(EventKind) - set(EVENT_LABELS) == set(), "event kinds without a label"
    assert set(EVENT_LABELS) - set(EventKind) == set(), "labels for no event kind"
    assert len(set(EVENT_LABELS.values())) == len(EventKind)


def test_every_step_has_a_label() -> None:
    """Each mail a step sends has a name in the glossary, no two alike."""
    assert set(Step) - set(STEP_LABELS) == set()
    assert len(set(STEP_LABELS.values())) == len(Step)


@pytest.mark.parametrize("step", list(Step), ids=lambda s: s.value)
def test_every_step_has_its_templates(step: Step) -> None:
    """templates/<step>.subject.j2, .txt.j2 and .html.j2: the three parts of its mail."""
    missing = [f"{step.value}.{part}" for part in TEMPLATE_PARTS if not (TEMPLATES / f"{step.value}.{part}").is_file()]
    assert not missing


@pytest.mark.parametrize("step", list(Step), ids=lambda s: s.value)
def test_every_step_renders_strictly_from_the_daemons_context(step: Step) -> None:
    """daemon/escalation.py case_mail builds the context, the real Renderer (StrictUndefined)
    renders it: a variable a template names and the daemon does not give fails here."""
    renderer = Recorder()
    assert renderer.env.undefined is StrictUndefined
    directory = SETTINGS.directory
    people = directory.mailboxes(directory.general_dept)
    case = hostile_case(PLAIN)
    events = [Event(case_id=case.id, at=T0, kind=EventKind.MAIL_IN, actor=PLAIN, summary=PLAIN)]
    notify = Notify(step, 1, people, people, people, T0, True, False,
                    AckTarget(Step.FAILOVER, 0, directory.general_dept.interface_a.email))
    mail = case_mail(SETTINGS, case, clocks(case.id, PLAIN), events, notify, NOW, **REPLY_CONTEXT)
    outbox_rows(renderer, directory, mail, NOW, SETTINGS.message_id_domain)
    (parts,) = renderer.rendered[step.value]
    assert parts.subject and parts.text.strip() and parts.html.strip()
    assert case.id in parts.text
