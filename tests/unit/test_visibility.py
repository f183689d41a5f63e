"""Who sees which case on the board (models/visibility.py), on the shipped directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import load_settings
from models.visibility import may_see, scope_of

DIRECTORY = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={}).directory

NETWORK_JCWB = ("network", "江城晚报")
MARKETING_NONE = ("marketing", None)
CS_JCTV = ("customer_service", "江城电视台")
DIRECT = ("general_dept", None)
CASES = (NETWORK_JCWB, MARKETING_NONE, CS_JCTV, DIRECT)

# address → which of CASES it sees
TABLE = [
    ("liu.gd@corp.example.com", CASES),  # 综合部 interface A
    ("zonghe@corp.example.com", CASES),  # 综合部's shared mailbox
    ("zhou.gd@corp.example.com", CASES),  # 综合部 interface B, not in members
    ("zhao.ceo@corp.example.com", CASES),  # company leader
    ("qian.media@corp.example.com", CASES),  # media leader
    ("wang.net@corp.example.com", (NETWORK_JCWB,)),  # network's leader
    ("zhang.net@corp.example.com", (NETWORK_JCWB,)),  # network's interface A
    ("anyone@net.corp.example.com", (NETWORK_JCWB,)),  # network staff by *@domain
    ("SUN@corp.example.com", (NETWORK_JCWB,)),  # listed member, any case of letters
    ("feng.mkt@corp.example.com", (MARKETING_NONE,)),
    ("chen.am@corp.example.com", (NETWORK_JCWB, CS_JCTV)),  # account manager of both outlets
    ("gd@prov.example.com", ()),  # the higher authority: outside the company
    ("emergency@corp.example.com", ()),  # major-incident contact only
    ("stranger@evil.example", ()),
    ("x@evil.example@net.corp.example.com", ()),  # not a plain local part: nobody's staff
]


@pytest.mark.parametrize(("email", "visible"), TABLE, ids=[row[0] for row in TABLE])
def test_each_person_sees_exactly_their_cases(email: str, visible: tuple[tuple[str, str | None], ...]) -> None:
    """The rule of issue 16, person by person: everything, their department's, their outlets', or nothing."""
    scope = scope_of(email, DIRECTORY)
    assert {c for c in CASES if may_see(scope, *c)} == set(visible)
    assert scope.empty == (not visible)


def test_only_general_dept_gets_the_original_mail() -> None:
    """The .eml of a case is 综合部's alone; leaders see every case but not the raw mail."""
    assert scope_of("liu.gd@corp.example.com", DIRECTORY).general_dept
    assert not scope_of("zhao.ceo@corp.example.com", DIRECTORY).general_dept
    assert not scope_of("wang.net@corp.example.com", DIRECTORY).general_dept
