"""Nothing is forgotten when a reply command is added (docs/design.md, "Adding a reply command"):
every Verb has words the parser reads as it, one entry in the rule table (models/replies.py)
with a word, roles and an action, and every mail a reply can cause has its templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.config import load_settings
from models.permissions import Role
from models.policy import TRANSITIONS, CaseState, Step
from models.replies import REPLY_STEPS, RULES, Answer, Rule, decide_reply
from models.types import CLOSED_STATUSES, CaseStatus
from parsers import commands
from parsers.commands import Command, Verb, read_commands

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TEMPLATE_PARTS = ("subject", "txt", "html")  # <step>.subject.j2, <step>.txt.j2, <step>.html.j2
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


def verb_gaps(rules: Mapping[Verb, Rule], words: Mapping[Verb, tuple[str, ...]],
              value_words: Mapping[Verb | None, tuple[str, ...]]) -> list[str]:
    """What a Verb lacks: parser words, its rule-table entry, or that entry's word, roles, action."""
    gaps = []
    for verb in Verb:
        if not (words.get(verb) or value_words.get(verb)):
            gaps.append(f"{verb.value}: no words in parsers/commands.py (_WORDS or _VALUE_WORDS)")
        rule = rules.get(verb)
        if rule is None:
            gaps.append(f"{verb.value}: no entry in models/replies.py RULES")
            continue
        if not rule.word:
            gaps.append(f"{verb.value}: no word to name it by")
        if not rule.roles or not rule.roles <= set(Role):
            gaps.append(f"{verb.value}: nobody may give it")
        if not callable(rule.action):
            gaps.append(f"{verb.value}: no action")
    return gaps


def missing_templates(steps: tuple[Step, ...], folder: Path) -> list[str]:
    return [f"{step.value}.{part}.j2" for step in steps for part in TEMPLATE_PARTS
            if not (folder / f"{step.value}.{part}.j2").is_file()]


def test_every_verb_has_parser_words_and_one_complete_rule() -> None:
    """Each command can be written in a reply, and the rule table knows what it does and who may."""
    assert verb_gaps(RULES, commands._WORDS, commands._VALUE_WORDS) == []


def test_every_verb_word_is_read_as_that_verb() -> None:
    """Each listed word, alone on a line (or with a value after its colon), is that command."""
    misread = []
    for verb, words in commands._WORDS.items():
        misread += [(word, verb) for word in words if [c.verb for c in read_commands(word, SHANGHAI, NOW)] != [verb]]
    for value_verb, words in commands._VALUE_WORDS.items():
        if value_verb is None:  # 预计完成 belongs to a 方案
            continue
        misread += [(word, value_verb) for word in words
                    if [c.verb for c in read_commands(f"{word}：2 江城晚报", SHANGHAI, NOW)] != [value_verb]]
    assert misread == []


def test_every_verb_mail_has_its_templates() -> None:
    """Every mail a reply can cause (the commands' reports, the confirmation, the shell's own)."""
    assert set(REPLY_STEPS) >= {step for rule in RULES.values() for step in rule.reports} | {Step.CONFIRM}
    assert missing_templates(REPLY_STEPS, TEMPLATES) == []


def test_every_verb_has_at_most_one_status_row() -> None:
    """One row per cause in the status table (a Step and a Verb of the same name are two causes)."""
    causes = [(type(row.cause), row.cause) for row in TRANSITIONS]
    assert len(causes) == len(set(causes))
    assert all(row.cause in RULES for row in TRANSITIONS if isinstance(row.cause, Verb))


SETTINGS = load_settings(ROOT / "config.toml", env={})
NETWORK = SETTINGS.directory.department("network")
SAMPLES = {Verb.SOLUTION: Command(Verb.SOLUTION, "方案", expected_at=NOW),
           Verb.GROUP: Command(Verb.GROUP, "市场部", departments=("市场部",)),
           Verb.CATEGORY: Command(Verb.CATEGORY, "2", category=2)}


@pytest.mark.parametrize("verb", list(Verb), ids=lambda v: v.value)
@pytest.mark.parametrize("status", [s for s in CaseStatus if s not in CLOSED_STATUSES], ids=lambda s: s.value)
def test_every_verb_sends_only_the_reports_its_entry_names(verb: Verb, status: CaseStatus) -> None:
    """The rule table's `reports` is the truth the template check above relies on."""
    assert NETWORK is not None
    state = CaseState("MT-20261127-0001", status, NETWORK, "sun@corp.example.com", None, NOW, (), statement="口径")
    answer = Answer("wang.net@corp.example.com", "", RULES[verb].roles, (SAMPLES.get(verb, Command(verb, "x")),))
    d = decide_reply(state, answer, SETTINGS.directory, SETTINGS.deadlines, SHANGHAI, NOW)
    assert [e.kind for e in d.events] == ["command"]
    assert {n.step for n in d.mails} <= {*RULES[verb].reports, Step.CONFIRM}


# -- the checks above can fail -------------------------------------------------------------------

def test_every_verb_check_names_a_missing_entry_or_word() -> None:
    """A table copy without 记者's entry, without 非媒体投诉's words, or with 批准 given to nobody."""
    rules: dict[Verb, Rule] = {verb: rule for verb, rule in RULES.items() if verb is not Verb.REPORTER}
    rules[Verb.APPROVE] = replace(RULES[Verb.APPROVE], roles=frozenset())
    words: dict[Verb, tuple[str, ...]] = {v: w for v, w in commands._WORDS.items() if v is not Verb.DISMISS}
    value_words: dict[Verb | None, tuple[str, ...]] = {v: w for v, w in commands._VALUE_WORDS.items()
                                                       if v is not Verb.DISMISS}
    assert verb_gaps(rules, words, value_words) == [
        "reporter: no entry in models/replies.py RULES",
        "approve: nobody may give it",
        "dismiss: no words in parsers/commands.py (_WORDS or _VALUE_WORDS)",
    ]


def test_every_verb_template_check_names_a_missing_template(tmp_path: Path) -> None:
    """A templates folder holding only the confirmation's subject lacks everything else."""
    (tmp_path / "confirm.subject.j2").write_text("已处理", encoding="utf-8")
    assert missing_templates((Step.CONFIRM, Step.MAJOR), tmp_path) == [
        "confirm.txt.j2", "confirm.html.j2", "major.subject.j2", "major.txt.j2", "major.html.j2"]
