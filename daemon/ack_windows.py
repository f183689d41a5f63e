"""The escalation's write for a person who cannot be reached: their ack windows fall due now."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models.tables import Deadline
from models.types import AckTarget, DeadlineKind


def expire_ack_windows(db: Session, case_id: str, address: str, now: datetime) -> int:
    """The hook for "this person cannot be reached" (a 5xx refusal, a bounce, an auto-reply):
    their open ack windows on the case fall due now, so the next deadline pass tells B or the
    next leader up instead of waiting out the window."""
    address = address.lower()
    candidates = db.exec(select(Deadline).where(
        Deadline.case_id == case_id, Deadline.kind == DeadlineKind.ACK,
        col(Deadline.met_at).is_(None), col(Deadline.breached_at).is_(None),
        col(Deadline.target).endswith("/" + address),  # narrows in SQL; AckTarget decides
    )).all()
    windows = [w for w in candidates if AckTarget.parse(w.target).address == address]
    for window in windows:
        window.due_at = min(window.due_at, now)
        db.add(window)
    return len(windows)
