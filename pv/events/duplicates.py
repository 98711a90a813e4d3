"""Likely duplicates: the one rule the web form, the JSON API and uploads share.

A new event is a **likely duplicate** of a stored event of the same subject with the same
coded term (AELLTCD) and the same onset day:

- the onset is compared as the text of AESTDTC up to the day, i.e. the part before "T"
  (a time of day is ignored: "2021-03-15T08:00" and "2021-03-15" are the same day);
- a partial date matches only the same partial date ("2021-03" matches "2021-03", not
  "2021-03-15": which day a partial date means is unknown, and is not guessed);
- an event without a coded term or without an onset is never a likely duplicate (there is
  nothing to compare it on);
- every stored event counts, drafts included (a draft already holding the event is the
  usual way to enter it twice: the notice points to it so it can be completed instead).
  Events are never deleted, so there is no deleted event to leave out.

A likely duplicate is refused unless the caller confirms it (`confirm_duplicate`): the
form shows the existing events and asks, the API answers 409 with `duplicate_of`, an
upload reports the row unless its CONFIRM_DUPLICATE cell says Y.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from pv.events.models import AdverseEvent
from pv.i18n import gettext as _

# (subject id, AELLTCD, onset day)
DuplicateKey = tuple[int, str, str]
CHUNK = 500  # subject ids per IN list


def onset_day(aestdtc: str | None) -> str | None:
    """The onset as compared: AESTDTC up to the day (without a time); None when blank."""
    if not aestdtc:
        return None
    day = aestdtc.strip().partition("T")[0]
    return day or None


def duplicate_key(subject_id: int, aelltcd: str | None, aestdtc: str | None
                  ) -> DuplicateKey | None:  # fmt: skip
    """What two events must share to be likely duplicates; None: never one."""
    code = (aelltcd or "").strip()
    day = onset_day(aestdtc)
    if not code or day is None:
        return None
    return (subject_id, code, day)


@dataclass(frozen=True)
class StoredEvent:
    """A stored event as a duplicate notice names it."""

    id: int
    subject_id: int
    aeseq: int
    aeterm: str
    aedecod: str | None
    aelltcd: str | None
    aestdtc: str | None
    aetoxgr: int | None
    status: str

    @classmethod
    def of(cls, event: AdverseEvent) -> StoredEvent:
        return cls(id=event.id, subject_id=event.subject_id, aeseq=event.aeseq,  # type: ignore[arg-type]
                   aeterm=event.aeterm, aedecod=event.aedecod, aelltcd=event.aelltcd,
                   aestdtc=event.aestdtc, aetoxgr=event.aetoxgr,
                   status=str(event.status))  # fmt: skip


class DuplicateEvent(Exception):
    """The new event is a likely duplicate of `existing` (oldest first); not stored."""

    def __init__(self, existing: list[StoredEvent]):
        self.existing = existing
        self.existing_ids = [e.id for e in existing]
        names = ", ".join(_("AESEQ %(aeseq)s (event %(id)s)", aeseq=e.aeseq, id=e.id)
                          for e in existing)  # fmt: skip
        super().__init__(_("likely duplicate of %(events)s: same subject, coded term and onset day",
                           events=names))  # fmt: skip


def find_duplicates(session: Session, *, subject_id: int, aelltcd: str | None,
                    aestdtc: str | None) -> list[StoredEvent]:  # fmt: skip
    """The subject's stored events that a new event with this term and onset duplicates."""
    key = duplicate_key(subject_id, aelltcd, aestdtc)
    if key is None:
        return []
    q = (select(AdverseEvent)
         .where(AdverseEvent.subject_id == subject_id, AdverseEvent.aelltcd == key[1])
         .order_by(col(AdverseEvent.aeseq)))  # fmt: skip
    return [StoredEvent.of(e) for e in session.exec(q)
            if duplicate_key(e.subject_id, e.aelltcd, e.aestdtc) == key]  # fmt: skip


def confirmed(confirm: bool | Iterable[int], found: list[StoredEvent]) -> bool:
    """Whether `confirm` covers the duplicates `found`: True confirms any; a collection of
    event ids confirms only when every event found is in it (a form confirms the events it
    showed, not others that a changed onset would match)."""
    if isinstance(confirm, bool):
        return confirm
    shown = set(confirm)
    return all(e.id in shown for e in found)


class Seen(dict[DuplicateKey, tuple[int, int]]):
    """Stored events by duplicate key: key -> (event id, AESEQ) of the first one; and
    `last_seq`, each subject's largest AESEQ when read (AESEQ only grows, under the
    subject's lock: a later read with a larger one means events were added since)."""

    def __init__(self) -> None:
        super().__init__()
        self.last_seq: dict[int, int] = {}


def stored_keys(session: Session, subject_ids: Iterable[int], *,
                above: dict[int, int] | None = None) -> Seen:  # fmt: skip
    """The duplicate keys of the stored events of these subjects, one query per 500 subjects
    (set-wise, never per row). With `above`, only events with AESEQ above `above[subject]`
    are read (those added since an earlier read)."""
    out = Seen()
    ids = sorted(set(subject_ids))
    e = AdverseEvent
    columns: Any = (e.subject_id, e.id, e.aeseq, e.aelltcd, e.aestdtc)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        q = select(*columns).where(col(e.subject_id).in_(chunk))
        rows = session.exec(q).all()  # type: ignore[call-overload]
        for subject_id, event_id, seq, code, onset in rows:
            if above is not None and seq <= above.get(subject_id, 0):
                continue
            if seq > out.last_seq.get(subject_id, 0):
                out.last_seq[subject_id] = seq
            key = duplicate_key(subject_id, code, onset)
            if key is not None:
                first = out.get(key)
                if first is None or seq < first[1]:
                    out[key] = (event_id, seq)
    return out


__all__ = [
    "DuplicateEvent",
    "DuplicateKey",
    "Seen",
    "StoredEvent",
    "confirmed",
    "duplicate_key",
    "find_duplicates",
    "onset_day",
    "stored_keys",
]
