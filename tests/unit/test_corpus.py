"""Every message of the shared real-mail corpus goes through parse() and comes out sensibly.

The corpus is ../shared/corpus next to the repository, or $COMPLAINTD_CORPUS. INDEX.tsv's
categories are heuristic guesses (see its README); where a guess is wrong, the message is listed
in CATEGORY_CORRECTIONS below with the reason, after a person looked at it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import SAFETY_NET_PREFIX, Kind, ParseContext, ParsedMail, parse

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("COMPLAINTD_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")
NOT_MAIL = {"README.md", "INDEX.tsv", "make_index.py"}
CTX = ParseContext(
    timezone=ZoneInfo("Asia/Shanghai"),
    own_addresses=frozenset({"complaints@corp.example.com"}),
    own_message_id_domain="complaintd.corp.example.com",
)

# INDEX.tsv category → what parse() must say about such a message.
EXPECTED_BY_CATEGORY = {
    "forwarded": "forwarded",
    "auto-reply": Kind.AUTOREPLY,
    "bounce": Kind.BOUNCE,
}
# Messages whose INDEX category is a wrong guess: path → (what parse() must say instead, why).
CATEGORY_CORRECTIONS: dict[str, tuple[Kind | str, str]] = {
    "sisimai-set-of-emails/maildir/bsd/lhost-mailru-01.eml": (
        Kind.BOUNCE,
        ("INDEX says auto-reply because of 'Auto-Submitted: auto-replied', but it is a Mail.ru "
        "non-delivery report: From mailer-daemon@corp.mail.ru, X-Failed-Recipients, subject "
        "'Ваше сообщение не доставлено. Mail failure.' and the returned message below"),
    ),
}
_MISSING = "(corpus folder missing)"


def _index_rows() -> dict[str, str]:
    index = CORPUS / "INDEX.tsv"
    if not index.is_file():
        return {}
    lines = index.read_text(encoding="utf-8").splitlines()[1:]
    return {fields[0]: fields[5] for fields in (line.split("\t") for line in lines) if len(fields) > 5}


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return [_MISSING]
    return sorted(
        str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*") if path.is_file() and path.name not in NOT_MAIL
    )


CATEGORIES = _index_rows()
FILES = _corpus_files()


def _require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.fail(
            f"mail corpus not found at {CORPUS}; put it at <repo>/../shared/corpus "
            "or set COMPLAINTD_CORPUS to its folder"
        )


@functools.cache
def _parsed(relative: str) -> ParsedMail:
    return parse((CORPUS / relative).read_bytes(), CTX)


def test_corpus_is_present_and_indexed() -> None:
    """The corpus folder exists, and INDEX.tsv lists exactly the mail files in it."""
    _require_corpus()
    assert FILES, "the corpus folder holds no mail files"
    assert set(FILES) == set(CATEGORIES), "INDEX.tsv and the folder disagree"


@pytest.mark.parametrize("relative", FILES)
def test_corpus_message_parses_without_the_safety_net(relative: str) -> None:
    """parse() returns a value for every corpus message and never needs the last-resort handler."""
    _require_corpus()
    result = _parsed(relative)
    assert isinstance(result, ParsedMail)
    assert not result.reason.startswith(SAFETY_NET_PREFIX), result.reason
    assert result.reason, "every result says why"


@pytest.mark.parametrize("relative", FILES)
def test_corpus_message_matches_its_index_category(relative: str) -> None:
    """Forwards, auto-replies and bounces that INDEX.tsv names come out as such (or as corrected)."""
    _require_corpus()
    category = CATEGORIES.get(relative, "")
    expected = CATEGORY_CORRECTIONS.get(relative, (EXPECTED_BY_CATEGORY.get(category), ""))[0]
    result = _parsed(relative)
    if expected == "forwarded":
        assert result.forwarded, f"{relative}: {result.reason}"
        assert result.original is not None
    elif expected is not None:
        assert result.kind is expected, f"{relative}: {result.kind} ({result.reason})"


def test_corpus_corrections_are_still_needed() -> None:
    """Each correction names a corpus file whose INDEX category really disagrees with the correction."""
    _require_corpus()
    for relative, (expected, why) in CATEGORY_CORRECTIONS.items():
        assert relative in CATEGORIES, relative
        assert EXPECTED_BY_CATEGORY.get(CATEGORIES[relative]) != expected, relative
        assert why


def _outside_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return True
    return False


def test_corpus_gb2312_label_with_gbk_bytes_keeps_its_body() -> None:
    """spamscope mail_test_9 (GBK-only bytes under a gb2312 label) keeps its body, GBK characters included."""
    _require_corpus()
    result = _parsed("spamscope-mail-parser/mail_test_9")
    assert "13:33:39" in result.text
    assert "\ufffd" not in result.text
    assert any(ord(c) > 0x7F and _outside_gb2312(c) and c.isalpha() for c in result.text)


def test_corpus_bogus_charset_label_is_reported_not_fatal() -> None:
    """The erofs mail labelled charset=y is read, and the guess is recorded as a problem."""
    _require_corpus()
    result = _parsed("linux-erofs-archive/1d009348ff64e325aafba310e22dd98897168964.eml")
    assert result.kind is not Kind.UNUSABLE
    assert result.text
    assert any("'y'" in problem for problem in result.problems), result.problems


def test_corpus_outlook_msg_file_is_unusable_with_a_clear_reason() -> None:
    """The binary Outlook .msg in the corpus is UNUSABLE and the reason says what it is."""
    _require_corpus()
    result = _parsed("spamscope-mail-parser/mail_outlook_1")
    assert result.kind is Kind.UNUSABLE
    assert "Outlook .msg" in result.reason
