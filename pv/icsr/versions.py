"""Report versions of an event's expedited report: the case frozen as sent.

- `prepare_version` (safety officers): freezes `pv.icsr.build.build_case` of a serious
  event with `case_to_json` into a `ReportVersion`. Number 1 is the initial report, later
  numbers follow-ups, each with `changes` (dotted-path differences from the version before,
  `diff_cases`) and the officer's optional `note`. While the latest version has no
  submission that stands (none, or every one rejected) "prepare" RE-FREEZES that version
  (its number kept, `refreshed_at` set); once one stands it is the report as sent and the
  next prepare makes the next number. Every freeze is an audit entry (entity
  "report_version", id = the version's id). The snapshot holds the UNMASKED case; outputs
  mask it (`masked`) for a reader who may not see the treatment.
- `thaw(version)`: the frozen case with the version's number, initial flag, creation date
  (`refreshed_at` when refreshed, else `created_at`), changes and note.
- `version_file`: the CIOMS I PDF or the E2B(R3) XML of a version, deterministic (the same
  bytes for the same version): both are built from the thawed case with the version's
  creation moment (the PDF's creation date, the XML's N.1.5 / N.2.r.4 / C.1.2 time stamps
  and batch number), so a download and a stored submission file are byte-identical.

Identifiers (ICH E2B(R3) implementation guide, decided here):
- C.1.8.1, the worldwide unique case id, is the case id
  (country-sender-study-event) and never changes across versions.
- C.1.1, the sender's safety report unique id, is the SAME for every version of the case:
  the IG asks that it stay constant for the case in all later transmissions by that sender
  (follow-ups and amendments reuse C.1.1 and C.1.8.1; only a nullified case that is sent
  again gets new ones), and that a first sender's C.1.8.1 equal its C.1.1. So
  `report_id == case_id`; receivers tell versions apart by C.1.5 (most recent information)
  and C.1.2 (creation). The version number shows on the CIOMS form ("version N", initial
  or follow-up) and in the file names ("...-V2-E2B.xml").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from pv.audit.service import Actor, record
from pv.auth.models import Role
from pv.events.models import Status
from pv.events.rules import Findings
from pv.events.service import ValidationFailed, lock_for_update
from pv.i18n import gettext as _
from pv.icsr.build import CaseError, build_case
from pv.icsr.case import Case, Change, case_from_json, case_to_json
from pv.icsr.models import AckOutcome, ReportFormat, ReportVersion, Submission
from pv.review.workflow import TransitionRefused, require_role
from pv.timeutil import utcnow

__all__ = [
    "NOTE_MAX",
    "diff_cases",
    "get_version",
    "masked",
    "prepare_version",
    "standing",
    "version_submissions",
    "thaw",
    "version_file",
    "versions_of",
]

NOTE_MAX = 2000  # characters of the officer's note
# Case fields that say which report this is, not what the case is: no "change".
METADATA = frozenset({
    "case_id", "report_id", "version", "initial", "report_kind", "created", "most_recent",
    "signatures", "changes", "note", "blinded",
})  # fmt: skip


# --------------------------------------------------------------------------- reading
def standing(submission: Submission) -> bool:
    """A submission stands unless its acknowledgement rejected it."""
    return submission.ack_outcome != AckOutcome.rejected.value


def versions_of(session: Session, event_id: int) -> list[ReportVersion]:
    """The event's report versions, number 1 first."""
    return list(
        session.exec(
            select(ReportVersion)
            .where(ReportVersion.event_id == event_id)
            .order_by(col(ReportVersion.number))
        )
    )


def version_submissions(session: Session, version_id: int) -> list[Submission]:
    return list(
        session.exec(
            select(Submission)
            .where(Submission.report_version_id == version_id)
            .order_by(col(Submission.id))
        )
    )


def get_version(session: Session, event_id: int, number: int | None = None) -> ReportVersion:
    """The event's report version `number` (None: the latest); LookupError when none."""
    query = select(ReportVersion).where(ReportVersion.event_id == event_id)
    if number is not None:
        query = query.where(ReportVersion.number == number)
    row = session.exec(query.order_by(col(ReportVersion.number).desc())).first()
    if row is None:
        if number is None:
            raise LookupError(
                _(
                    "event %(event)s has no report version yet: prepare the initial report first",
                    event=event_id,
                )  # fmt: skip
            )
        raise LookupError(
            _("event %(event)s has no report version %(number)s", event=event_id, number=number)
        )
    return row


def _moment(version: ReportVersion) -> datetime:
    """When the version was frozen (last refreshed), aware UTC, to the second."""
    value = version.refreshed_at or version.created_at
    if value.tzinfo is None:  # SQLite gives naive UTC back
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def thaw(version: ReportVersion) -> Case:
    """The case frozen in `version`, with the version's number, initial flag, ids, creation
    date, changes and note (equal to what was frozen)."""
    case = case_from_json(version.snapshot)
    return replace(
        case,
        version=version.number,
        initial=version.number == 1,
        report_id=case.case_id,  # C.1.1 = C.1.8.1 in every version (module docstring)
        created=_moment(version).date(),
        changes=tuple(
            Change(field=c["field"], old=c.get("old"), new=c.get("new"))
            for c in version.changes or ()
        ),  # fmt: skip
        note=version.note,
    )


def masked(case: Case) -> Case:
    """The case as a reader who may not see the treatment gets it: no arm, and blinded
    (the outputs mask the study drug names), as build_case(blinded=True) builds it."""
    return replace(case, blinded=True, patient=replace(case.patient, arm=None))


# --------------------------------------------------------------------------- changes
def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
        if not value:
            out[path] = []
    else:
        out[path] = value


def _content(case: Case) -> dict[str, Any]:
    data = case_to_json(case)
    return {k: v for k, v in data.items() if k not in METADATA}


def diff_cases(old: Case, new: Case) -> list[Change]:
    """What changed from `old` to `new`: one Change per leaf value that differs, named by
    its dotted path ("reaction.end", "drugs[0].dechallenge", "conmeds[1].stop"); list
    items are compared by position (an added item shows its values against None, a
    removed one None against its values). Which report it is (ids, version, dates of
    creation and most recent information, signatures, changes, note) is not a change."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(_content(old), "", before)
    _flatten(_content(new), "", after)
    paths = list(before) + [p for p in after if p not in before]
    changes = []
    for path in sorted(paths, key=_path_key):
        was, now = before.get(path), after.get(path)
        if was == [] and path not in after or now == [] and path not in before:
            continue  # an empty list that now holds items (or the reverse): the items say it
        if was != now:
            changes.append(Change(field=path, old=was, new=now))
    return changes


def _path_key(path: str) -> tuple[Any, ...]:
    """Sort paths as the case reads: by field, list items by number."""
    parts: list[Any] = []
    for piece in path.replace("[", ".[").split("."):
        if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
            parts.append((1, int(piece[1:-1]), ""))
        else:
            parts.append((0, 0, piece))
    return tuple(parts)


# --------------------------------------------------------------------------- writing
def _clean_note(note: str | None, findings: Findings) -> str | None:
    text = (note or "").strip() or None
    if text is not None and len(text) > NOTE_MAX:
        findings.error("note", _("at most %(n)s characters", n=NOTE_MAX))
    return text


def prepare_version(
    session: Session, actor: Actor, event_id: int, *, note: str | None = None
) -> ReportVersion:
    """Freeze the event's case as its next report version, or re-freeze the latest one
    while no submission of it stands (module docstring). Safety officers only
    (RoleRefused); the event must be serious and reported by its site (CaseError for no
    event or a non-serious one, TransitionRefused for a draft); a note over NOTE_MAX
    characters is a finding (ValidationFailed, field "note"). A refresh without a note
    keeps the version's note."""
    require_role(actor, Role.officer)
    findings = Findings()
    text = _clean_note(note, findings)
    event = lock_for_update(session, event_id)  # one preparer at a time per event
    if event is None:
        raise CaseError(_("no event %(id)s", id=event_id))
    if not event.aeser:
        raise CaseError(_("event %(id)s is not serious: it has no expedited report", id=event_id))
    if event.status == Status.draft:
        raise TransitionRefused(_("a draft is still the site's: it has no report yet"))
    if not findings.ok:
        raise ValidationFailed(findings)
    versions = versions_of(session, event_id)
    latest = versions[-1] if versions else None
    refresh = latest is not None and not any(
        standing(s)
        for s in version_submissions(session, latest.id)  # type: ignore[arg-type]
    )
    number = latest.number if refresh and latest else (latest.number + 1 if latest else 1)
    previous = next((v for v in versions if v.number == number - 1), None)
    now = utcnow().replace(microsecond=0)
    case = build_case(session, event_id, created=now.date(), blinded=False, version=number)
    changes = diff_cases(thaw(previous), case) if previous is not None else []
    if refresh and latest is not None:
        old_case = thaw(latest)
        kept_note = text if text is not None else latest.note
        case = replace(case, changes=tuple(changes), note=kept_note)
        content = [c.field for c in diff_cases(old_case, case)]
        old_refreshed = latest.refreshed_at
        latest.snapshot = case_to_json(case)
        latest.changes = [_change_json(c) for c in changes]
        latest.refreshed_at = now
        audit: dict[str, Any] = {
            "refreshed_at": [old_refreshed, now],
            "content": [None, content],
        }
        if kept_note != latest.note:
            audit["note"] = [latest.note, kept_note]
        latest.note = kept_note
        session.add(latest)
        session.flush()
        row = latest
        action = "refresh"
    else:
        case = replace(case, changes=tuple(changes), note=text)
        row = ReportVersion(
            event_id=event_id,
            study_id=event.study_id,
            number=number,
            snapshot=case_to_json(case),
            changes=[_change_json(c) for c in changes],
            note=text,
            created_by=actor.user_id,
            created_by_name=actor.username,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit = {
            "number": [None, number],
            "note": [None, text],
            "changes": [None, [c.field for c in changes]],
        }
        action = "create"
    record(session=session, actor=actor, action=action, entity_type="report_version",
           entity_id=row.id or 0, changes=audit, study_id=event.study_id,
           site_id=event.site_id)  # fmt: skip
    return row


def _change_json(change: Change) -> dict[str, Any]:
    return {"field": change.field, "old": change.old, "new": change.new}


# --------------------------------------------------------------------------- files
def version_file(
    version: ReportVersion, fmt: ReportFormat | str, *, masked: bool
) -> tuple[str, bytes]:
    """(file name, bytes) of the version in `fmt`: the CIOMS I form (English or Chinese
    labels) or the E2B(R3) XML; `masked` for a reader who may not see the treatment. The
    same version gives the same bytes."""
    kind = ReportFormat(fmt)
    case = thaw(version)
    if masked:
        case = _mask(case)
    stem = f"{case.report_id}-V{version.number}"
    if kind == ReportFormat.e2b:
        from pv.icsr.e2b import build_e2b

        return f"{stem}-E2B.xml", build_e2b(case, created=_moment(version))
    from pv.icsr.cioms import build_cioms

    language = "zh-Hans" if kind == ReportFormat.cioms_zh else "en"
    return f"{stem}-CIOMS-{language}.pdf", build_cioms(case, language=language)


_mask = masked  # version_file's keyword shadows the function's name
