"""From a parsed complaint to what the register should hold: pure, no session, no clock.

The shell (daemon/intake.py) passes `arrived_at` (when the mail reached the mailbox) and
`now`; this module decides who received it, which outlet it concerns, when the clocks started
and which clocks run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from models.directory import Deadlines, Department, DepartmentKind, Directory, MediaOutlet
from models.types import DeadlineKind
from parsers import complainant, names, phones
from parsers.message import Address, Category, FormFields, ParsedMail

# received_at trusts a forwarded original's send time only within this window before arrival:
# older dates are clock errors or re-forwards of old mail (SPEC §3).
RECEIVED_AT_WINDOW = timedelta(days=7)

# The clocks that start when the receiving department gets the complaint (SPEC §3). The group,
# higher-authority, progress, statement and ack clocks start later, from other events.
INTAKE_CLOCKS = (
    DeadlineKind.ASSESS,
    DeadlineKind.ACCOUNT_MANAGER,
    DeadlineKind.GENERAL_DEPT,
    DeadlineKind.SOLUTION,
    DeadlineKind.NORMAL_COMPLETION,
)


@dataclass(frozen=True)
class DeadlineDraft:
    kind: DeadlineKind
    due_at: datetime
    met_at: datetime | None  # already met at registration (e.g. 综合部 received it itself)
    late: bool  # already past when registered (迟报)


@dataclass(frozen=True)
class CaseDraft:
    """Everything a new case record holds except its id and bookkeeping times."""

    receiving_dept: Department
    receiver_email: str | None
    forwarder_email: str | None
    original_from: Address | None
    original_sent_at: datetime | None
    original_subject: str
    received_at: datetime
    media_outlet: str | None
    account_manager: str | None
    reporter_name: str | None
    phone: str | None
    customer_number: str | None
    category: int | None
    complaint_text: str
    attachments: tuple[dict[str, object], ...]
    deadlines: tuple[DeadlineDraft, ...]
    category_basis: str | None = None  # "stated" | "judged" | None (models/tables.py Case)
    category_reason: str | None = None
    forwarder_note: str | None = None  # 转发人附言
    original_key: str | None = None  # the forwarded original's identity (original_key())

    @property
    def late(self) -> bool:
        return any(d.late for d in self.deadlines)

    @property
    def direct(self) -> bool:
        """Mailed in by someone outside the directory (a journalist, a customer)."""
        return self.forwarder_email is None


def draft_case(
    mail: ParsedMail, directory: Directory, deadlines: Deadlines, arrived_at: datetime, now: datetime
) -> CaseDraft:
    """Decide the registration record for a new complaint."""
    forwarder = _staff_forwarder(mail, directory)
    dept = directory.department_of(forwarder.email) if forwarder else None
    receiving = dept or directory.general_dept
    original_from, sent_at, subject = _original(mail, staff=forwarder is not None)
    received_at = received_at_of(mail, arrived_at, now)
    stated_outlet = _stated_outlet(mail, forwarder)
    outlet = directory.outlet_by_name(stated_outlet) if stated_outlet else find_outlet(mail, original_from, directory)
    category = mail.category or (Category(mail.form.category, "stated", "登记表“类别”栏")
                                 if mail.form.category else None)
    form = _details(mail, original_from)
    return CaseDraft(
        receiving_dept=receiving,
        receiver_email=forwarder.email if forwarder else None,
        forwarder_email=forwarder.email if forwarder else None,
        original_from=original_from,
        original_sent_at=sent_at,
        original_subject=subject,
        received_at=received_at,
        media_outlet=outlet.name if outlet else stated_outlet or form.media_outlet,
        account_manager=_account_manager(outlet),
        reporter_name=form.reporter_name or _person(original_from),
        phone=_digits(form.phone),
        customer_number=_digits(form.customer_number) or form.customer_number,
        category=category.value if category else None,
        category_basis=category.basis if category else None,
        category_reason=category.reason or None if category else None,
        forwarder_note=mail.note.strip() or None if forwarder else None,
        original_key=original_key(mail),
        complaint_text=(mail.form.complaint_text or mail.text).strip(),
        attachments=tuple(
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in mail.attachments
        ),
        deadlines=intake_deadlines(received_at, receiving, deadlines, now),
    )


def original_key(mail: ParsedMail) -> str | None:
    """What two forwards of the same complaint share, however they were forwarded: the
    original's send time to the minute and its subject. An inline forward from Outlook shows
    the time to the minute and may name the sender without an address, so neither the
    seconds, the Message-ID (an inline forward rarely carries it) nor the sender can be in
    the key; same_sender() compares the senders of the cases that share it. None for a
    direct mail or a staff note, and when the time or the subject is missing."""
    original = mail.original
    if original is None or original.sent_at is None or not original.subject.strip():
        return None
    minute = original.sent_at.astimezone(UTC).replace(second=0, microsecond=0).isoformat()
    what = f"{minute}|{' '.join(original.subject.split())}"
    return "sha256:" + hashlib.sha256(what.encode("utf-8")).hexdigest()


def same_sender(a: Address | None, b: Address | None) -> bool:
    """Whether two renderings of an original's sender can be the same person: the same
    address, or — when one side shows no address — the same name."""
    if a is None or b is None:
        return a is None and b is None
    if a.email and b.email:
        return a.email.lower() == b.email.lower()
    return bool(a.name and b.name) and a.name.strip() == b.name.strip()


def received_at_of(mail: ParsedMail, arrived_at: datetime, now: datetime) -> datetime:
    """SPEC §3 for one mail: a forwarded original's send time, else the arrival.

    Only a forward (inline or attached) carries the complainant's own time. A direct mail's
    Date is its sender's clock (a journalist's PC still set to 2017 would start every clock
    years ago), and a staff note or `字段：值` form states no receive time, so both run from
    their arrival.
    """
    forwarded_sent_at = mail.original.sent_at if mail.original is not None else None
    return received_time(forwarded_sent_at, arrival(arrived_at, now))


def arrival(arrived_at: datetime, now: datetime) -> datetime:
    """When the mail reached the mailbox, but never after now: a mail server or disk whose
    clock runs ahead of ours must not start the clocks in the future (received after it was
    registered)."""
    return min(arrived_at, now)


def received_time(original_sent_at: datetime | None, arrived_at: datetime) -> datetime:
    """SPEC §3: the original's send time, never later than arrival nor a week before it."""
    if original_sent_at is None:
        return arrived_at
    return min(max(original_sent_at, arrived_at - RECEIVED_AT_WINDOW), arrived_at)


def intake_deadlines(
    received_at: datetime, receiving: Department, deadlines: Deadlines, now: datetime
) -> tuple[DeadlineDraft, ...]:
    """The clocks that run from receipt; those already past are marked late (迟报)."""
    drafts = []
    for kind in INTAKE_CLOCKS:
        due = received_at + deadlines[kind]
        # When 综合部 is the receiving department, "tell 综合部 within 1 h" is met on arrival.
        at_gd = receiving.kind is DepartmentKind.GENERAL_DEPT
        met = now if kind is DeadlineKind.GENERAL_DEPT and at_gd else None
        drafts.append(DeadlineDraft(kind, due, met, late=met is None and due <= now))
    return tuple(drafts)


def find_outlet(
    mail: ParsedMail, original_from: Address | None, directory: Directory
) -> MediaOutlet | None:
    """The media unit: by the writer's domain, then by a name or alias in the form or text."""
    if original_from is not None:
        by_domain = directory.outlet_by_domain(original_from.email)
        if by_domain is not None:
            return by_domain
    for text in (mail.form.media_outlet or "", mail.original.subject if mail.original else "",
                 mail.subject, mail.text):
        by_name = directory.outlet_by_name(text)
        if by_name is not None:
            return by_name
    return None


def _stated_outlet(mail: ParsedMail, forwarder: Address | None) -> str | None:
    """The outlet a forwarder typed in the note ("媒体单位：…"): it corrects what the domain says."""
    if forwarder is None or not mail.forwarded:
        return None
    return complainant.typed_fields(mail.note, forwarder.name).media_outlet


def _staff_forwarder(mail: ParsedMail, directory: Directory) -> Address | None:
    """The sender when the directory knows them; an outsider's mail is a direct complaint."""
    if mail.sender is not None and directory.is_known(mail.sender.email):
        return mail.sender
    return None


def _original(mail: ParsedMail, staff: bool) -> tuple[Address | None, datetime | None, str]:
    """Who wrote the complaint, when, and under what subject.

    A forward names its innermost original. A staff member writing directly (a typed form,
    a phone call noted down) is not the complainant, so there is no original sender. A
    direct mail from outside is its own original.
    """
    if mail.original is not None:
        return mail.original.sender, mail.original.sent_at, mail.original.subject
    if staff:
        return None, None, mail.subject
    return mail.sender, mail.sent_at, mail.subject


def _account_manager(outlet: MediaOutlet | None) -> str | None:
    if outlet is None or outlet.account_manager_a is None:
        return None
    return outlet.account_manager_a.mailbox


# parse() reads the complainant's details from the layers of the mail (parsers/complainant.py);
# these make its values registrable, also for a ParsedMail made by hand.

def _person(sender: Address | None) -> str | None:
    """The original sender's display name when it is a person's (李明, 李记者), not a unit's."""
    return sender.name if sender is not None and names.is_person_name(sender.name) else None


def _digits(number: str | None) -> str | None:
    """A phone number as the register stores it (digits, see parsers/phones.py), else None."""
    return phones.normalise(number) if number else None


def _details(mail: ParsedMail, original_from: Address | None) -> FormFields:
    """The complainant's details as parse() read them from the mail's layers. A ParsedMail
    whose form is empty was not read that way (or says nothing): its text is read by the same
    rules, not searched for the first number in it (which may be a relaying clerk's)."""
    if mail.form != FormFields():
        return mail.form
    return complainant.read_original(mail.text, original_from)
