"""Every version of an event side by side, rebuilt from its audit trail.

`pv.events.service.replay` over the entries up to the last one of each version gives that
version's fields; the grid shows one column per version and one row per field, and marks
the cells that differ from the version before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.events.models import SERIOUS_CRITERIA, AdverseEvent
from pv.events.service import replay, snapshot
from pv.i18n import gettext as _
from pv.labels import label, labels_of
from pv.study.models import Drug
from pv.web.history_view import lookup_names


@dataclass
class VersionColumn:
    version: int
    actions: list[str] = field(default_factory=list)
    actor: str = ""
    at: datetime | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class VersionGrid:
    columns: list[VersionColumn]
    rows: list[tuple[str, list[tuple[str, bool]]]]  # (label, [(shown value, changed)])
    states: dict[int, dict[str, Any]]  # version -> fields

    def changes_since(self, version: int) -> list[tuple[str, str, str]]:
        """(label, now, at `version`) for every field that changed after `version`."""
        versions = [c.version for c in self.columns]
        if version not in versions:
            return []
        at = versions.index(version)
        return [
            (label, cells[-1][0], cells[at][0])
            for label, cells in self.rows
            if cells[-1][0] != cells[at][0]
        ]


def _yes_no(value: Any) -> str:
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    return "—"


def _coded(kind: str, value: Any) -> str:
    """A stored code's label (pv.labels), "—" when empty."""
    return "—" if value in (None, "") else label(kind, value)


def _text(value: Any) -> str:
    return "—" if value in (None, "", {}, []) else str(value)


def _rows(drugs: Sequence[Drug]) -> list[tuple[str, Any]]:
    """(label, how to show it from a state) for each row of the grid."""
    rows: list[tuple[str, Any]] = [
        (_("Status"), lambda s: _coded("status", s.get("status"))),
        (_("Reported term"), lambda s: _text(s.get("aeterm"))),
        (
            _("CTCAE term"),
            lambda s: (
                f"{s['aedecod']} ({s.get('aelltcd')})"
                if s.get("aedecod")
                else _text(s.get("aelltcd"))
            ),
        ),
        (_("System organ class"), lambda s: _text(s.get("aebodsys"))),
        (_("CTCAE grade"), lambda s: _text(s.get("aetoxgr"))),
        (_("Serious"), lambda s: _yes_no(s.get("aeser"))),
        (
            _("Seriousness criteria"),
            lambda s: "; ".join(label("criterion", c) for c in SERIOUS_CRITERIA if s.get(c)) or "—",
        ),
        (_("Onset"), lambda s: _text(s.get("aestdtc"))),
        (_("End"), lambda s: _text(s.get("aeendtc"))),
        (_("Ongoing"), lambda s: _yes_no(bool(s.get("ongoing")))),
        (_("Outcome"), lambda s: _coded("outcome", s.get("aeout"))),
    ]
    for d in drugs:
        rows.append(
            (
                _("Relationship to %(drug)s", drug=d.name),
                lambda s, k=d.key: _coded("relationship", (s.get("aerel") or {}).get(k)),
            )
        )
        rows.append(
            (
                _("Action with %(drug)s", drug=d.name),
                lambda s, k=d.key: _coded("action", (s.get("aeacn") or {}).get(k)),
            )
        )
    rows += [
        (_("Treatment given"), lambda s: _text(s.get("aecontrt"))),
        (_("Narrative"), lambda s: _text(s.get("narrative"))),
        (
            _("Special interest"),
            lambda s: labels_of("aesi", _text(s.get("aesi"))),
        ),
    ]
    return rows


def event_entries(session: Session, event_id: int) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event_id))
            .order_by(col(AuditEntry.id))
        )
    )


def version_grid(session: Session, event: AdverseEvent, drugs: Sequence[Drug]) -> VersionGrid:
    entries = event_entries(session, event.id)  # type: ignore[arg-type]
    columns: list[VersionColumn] = []
    states: dict[int, dict[str, Any]] = {}
    names = lookup_names(session, entries)  # people by name, as the history shows them
    for i, entry in enumerate(entries):
        state = replay([e.changes for e in entries[: i + 1]])
        version = int(state.get("version") or 1)
        if not columns or columns[-1].version != version:
            columns.append(VersionColumn(version=version))
        column = columns[-1]
        # The history's labels (audit_action); English shows the code with spaces.
        column.actions.append(label("audit_action", entry.action).replace("_", " "))
        column.actor, column.at = names.user(entry.actor), entry.at
        if entry.reason:
            column.reasons.append(entry.reason)
        states[version] = state
    if not columns:  # created outside the audited write path: only today's state is known
        columns = [VersionColumn(version=event.version, actions=[_("(no audit trail)")])]
        states[event.version] = {**snapshot(event)}
    rows = []
    for row_label, show in _rows(drugs):
        values = [show(states[c.version]) for c in columns]
        rows.append((row_label, [(v, i > 0 and v != values[i - 1]) for i, v in enumerate(values)]))
    return VersionGrid(columns=columns, rows=rows, states=states)
