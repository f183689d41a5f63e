"""Where each field of a registration record came from, for a dry run to show beside it.

`draft_case` (models/registration.py) decides the record; this module looks back at the
parsed mail and says, field by field, which part of it holds the value: the mail's own
headers, the forwarded original's header block, the forwarder's note, the original's text,
the directory, or the arrival time. It decides nothing: a value is attributed to the first
layer that holds it, in the order the parser lets layers win (the note over the text).
"""

from __future__ import annotations

import re
from datetime import datetime

from models.directory import Directory
from models.registration import CaseDraft
from parsers.message import ParsedMail

_NOT_DIGITS = re.compile(r"\D+")
_OUTLET_FIELD = "媒体单位"  # the label of the line a forwarder types (parsers/complainant.py)


def sources(mail: ParsedMail, draft: CaseDraft, directory: Directory, arrived: datetime) -> dict[str, str]:
    """Field name → source (a key of models/labels.py SOURCE_LABELS), for the fields that
    hold a value at registration. `arrived` is the arrival the clocks would otherwise run from."""
    original = mail.original
    header = "forwarded_header" if original is not None else "header"
    found = {"status": "registration", "registered_at": "registration", "late": "registration",
             "receiving_dept": "directory", "complaint_text": "original_text"}
    forwarded_time = original is not None and original.sent_at is not None and draft.received_at != arrived
    found["received_at"] = "forwarded_header" if forwarded_time else "arrival"
    if draft.forwarder_email:
        found.update(receiver_email="header", forwarder_email="header")
    if draft.forwarder_note:
        found["forwarder_note"] = "note"
    if draft.original_from is not None:
        found.update(original_from_email=header)
        if draft.original_from.name:
            found["original_from_name"] = header
    if draft.original_sent_at is not None:
        found["original_sent_at"] = header
    if draft.original_subject:
        found["original_subject"] = header if draft.original_from is not None else "header"
    if draft.media_outlet:
        found["media_outlet"] = _outlet_source(mail, draft, directory)
    if draft.account_manager:
        found["account_manager"] = "directory"
    if draft.reporter_name:
        found["reporter_name"] = _layer(draft.reporter_name, mail) or header
    for name in ("phone", "customer_number"):
        value = getattr(draft, name)
        if value:
            found[name] = _digits_layer(value, mail) or "original_text"
    if draft.category is not None:
        stated = draft.category_basis == "stated" and "类别" in mail.note
        for name in ("category", "category_basis", "category_reason"):
            found[name] = "note" if stated else "original_text"
    if draft.attachments:
        found["attachments"] = "attachments"
    return found


def _outlet_source(mail: ParsedMail, draft: CaseDraft, directory: Directory) -> str:
    """A 媒体单位：… line the forwarder typed wins; then the writer's address on an outlet's
    domain; then the outlet's name (or an alias) where the mail mentions it."""
    outlet = directory.outlet(draft.media_outlet)
    names = (outlet.name, *outlet.aliases) if outlet else (draft.media_outlet or "",)
    typed = [line for line in mail.note.splitlines() if _OUTLET_FIELD in line]
    if any(n and n in line for n in names for line in typed):
        return "note"
    writer = draft.original_from
    if outlet is not None and writer is not None and directory.outlet_by_domain(writer.email) is outlet:
        return "directory"
    return next((layer for n in names if n for layer in [_layer(n, mail)] if layer), "original_text")


def _layer(value: str, mail: ParsedMail) -> str | None:
    """The first layer of the mail whose text holds `value`."""
    if value in mail.note:
        return "note"
    if value in mail.text:
        return "original_text"
    if mail.original is not None and value in mail.original.subject:
        return "forwarded_header"
    if value in mail.subject:
        return "header"
    return None


def _digits_layer(digits: str, mail: ParsedMail) -> str | None:
    """As `_layer`, for a number stored as digits and written with spaces or dashes."""
    if digits in _NOT_DIGITS.sub("", mail.note):
        return "note"
    if digits in _NOT_DIGITS.sub("", mail.text):
        return "original_text"
    return None
