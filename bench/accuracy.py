"""How often the registration record names the right details: accuracy per field.

    .venv/bin/python bench/accuracy.py [--count 400] [--seed 11] [--show 4] [--field NAME …]

Invents --count complaint mails with their ground truth (tests/support/invented_complaints.py:
many clients, charsets, people, outlets, signatures, wordings; category stated in words, in
digits or not at all), runs each through parsers.parse() and models.registration.draft_case()
with the shipped config.toml's directory — what the register would hold — and prints, per field,
the share of mails where the record is right, then up to --show wrong cases per field with
what was combined, what was expected and what was recorded.

Fields: reporter name, phone, customer number, category value, category basis, original
sender (address), original time, original subject, outlet, note (the forwarder's words kept,
none of the original's), text (the complaint text without header lines, end markers or the note).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.config import load_settings  # noqa: E402
from models.registration import CaseDraft, draft_case  # noqa: E402
from parsers import Kind, ParseContext, ParsedMail, parse  # noqa: E402
from tests.support.invented_complaints import InventedMail, Truth, invent  # noqa: E402

CTX = ParseContext(ZoneInfo("Asia/Shanghai"), "MT", frozenset({"complaints@corp.example.com"}),
                   "complaintd.corp.example.com")
SETTINGS = load_settings(ROOT / "config.toml", env={})
# Lines that belong to a forward's header block or its end, never to the complaint text.
LEAKS = ("Message-ID:", "MIME-Version:", "Content-Type:", "Content-Transfer-Encoding:", "User-Agent:",
         "Status: R", "End forwarded message", "Forwarded message", "原始邮件", "邮件原件", "发件人", "From:")

Check = Callable[[Truth, ParsedMail, CaseDraft], tuple[bool, object, object]]


def _same(expected: object, got: object) -> tuple[bool, object, object]:
    return expected == got, expected, got


def _note(truth: Truth, mail: ParsedMail, draft: CaseDraft) -> tuple[bool, object, object]:
    if not truth.note:  # a direct mail: no forwarder, no note
        return not mail.note, "", mail.note
    ok = truth.note in mail.note and truth.original_words not in mail.note
    return ok, f"holds {truth.note!r}, not {truth.original_words!r}", mail.note


def _text(truth: Truth, mail: ParsedMail, draft: CaseDraft) -> tuple[bool, object, object]:
    leaked = [leak for leak in LEAKS if leak in draft.complaint_text]
    in_text = truth.original_words[:12] in draft.complaint_text
    note_in_text = bool(truth.note) and truth.note in draft.complaint_text
    ok = in_text and not leaked and not note_in_text
    return ok, f"holds {truth.original_words[:12]!r}, no header lines or note", draft.complaint_text[:300]


FIELDS: dict[str, Check] = {
    "reporter name": lambda t, m, d: _same(t.reporter, d.reporter_name),
    "phone": lambda t, m, d: _same(t.phone, d.phone),
    "customer number": lambda t, m, d: _same(t.customer_number, d.customer_number),
    "category value": lambda t, m, d: _same(t.category, d.category),
    "category basis": lambda t, m, d: _same(t.basis, d.category_basis),
    "original sender": lambda t, m, d: _same(t.sender_email, d.original_from.email if d.original_from else None),
    "original time": lambda t, m, d: _same(t.sent_at, d.original_sent_at),
    "original subject": lambda t, m, d: _same(t.subject, d.original_subject),
    "outlet": lambda t, m, d: _same(t.outlet, d.media_outlet),
    "note": _note,
    "text": _text,
}


def record_of(invented: InventedMail) -> tuple[ParsedMail, CaseDraft | None]:
    """What the register would hold for one mail (None when it is no complaint)."""
    mail = parse(invented.raw, CTX)
    if mail.kind is not Kind.COMPLAINT:
        return mail, None
    now = invented.arrived_at + timedelta(minutes=1)
    return mail, draft_case(mail, SETTINGS.directory, SETTINGS.deadlines, invented.arrived_at, now)


def measure(mails: list[InventedMail]) -> dict[str, list[tuple[InventedMail, object, object]]]:
    """Per field, the wrong cases (the mail, expected, got); a mail that is no complaint is
    wrong on every field."""
    wrong: dict[str, list[tuple[InventedMail, object, object]]] = {name: [] for name in FIELDS}
    for invented in mails:
        mail, draft = record_of(invented)
        for name, check in FIELDS.items():
            if draft is None:
                wrong[name].append((invented, "a complaint", f"{mail.kind.value}: {mail.reason}"))
                continue
            ok, expected, got = check(invented.truth, mail, draft)
            if not ok:
                wrong[name].append((invented, expected, got))
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="invented mails (default 400)")
    parser.add_argument("--seed", type=int, default=11, help="the generator's seed (default 11)")
    parser.add_argument("--show", type=int, default=4, help="wrong cases shown per field (default 4)")
    parser.add_argument("--field", action="append", choices=sorted(FIELDS), help="only these fields' cases")
    args = parser.parse_args()
    mails = invent(args.count, args.seed)
    wrong = measure(mails)
    print(f"{len(mails)} invented mails, seed {args.seed}")
    for name in FIELDS:
        right = len(mails) - len(wrong[name])
        print(f"  {name:18} {right / len(mails):6.3f}  ({right}/{len(mails)})")
    worst = min(FIELDS, key=lambda name: len(mails) - len(wrong[name]))
    print(f"worst field: {worst}")
    for name in args.field or FIELDS:
        for invented, expected, got in wrong[name][: args.show]:
            print(f"\n[{name}] {invented.recipe}\n  expected: {expected!r}\n  recorded: {got!r}")


if __name__ == "__main__":
    main()
