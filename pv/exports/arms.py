"""What a DSMB session may see of the arms: real names, coded names, or nothing.

- Closed session: by arm, with the real arm labels, or with `mask_arms` coded "Arm A",
  "Arm B", ... (codes "A", "B"). The letters are assigned by sorting the arms on a hash
  of (study id, arm label), not by position: the comparator arm is usually first in
  position and would always be "Arm A". The assignment is stable, so "Arm A" is the same
  arm in every report of the study (the DSMB can compare meetings); it is not a secret
  from anyone who can read the database, who can see the arms anyway.
- Open session: pooled. No arm label, code or by-arm number appears after the cover;
  text from the analysis layer that names an arm is dropped.

Study drugs given in only some arms reveal the arm of every subject who received them
(an open-label trial with an add-on drug: whoever has a belimumab relationship is in the
combination arm). Unless the session is closed and unmasked, listings show per-drug
columns only for drugs given in every arm, plus "related to any study drug" and "any
study drug withdrawn", which pool the others.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col

from pv.analysis.table import ArmInfo
from pv.i18n import gettext as _
from pv.study.models import ArmDrug, Drug

OPEN, CLOSED = "open", "closed"
SESSIONS = (OPEN, CLOSED)


@dataclass(frozen=True)
class StudyDrug:
    id: int
    key: str
    name: str
    in_every_arm: bool


@dataclass
class ArmView:
    session: str
    masked: bool
    arms: list[ArmInfo]
    shown: dict[str, str] = field(default_factory=dict)  # real label -> label shown
    shown_code: dict[str, str] = field(default_factory=dict)  # real code -> code shown
    _pattern: re.Pattern[str] | None = None

    @classmethod
    def build(cls, study_id: str, arms: list[ArmInfo], *, session: str, mask: bool) -> ArmView:
        if session not in SESSIONS:
            raise ValueError(f"session must be 'open' or 'closed', not {session!r}")
        view = cls(session=session, masked=mask and session == CLOSED, arms=list(arms))
        order = sorted(
            arms, key=lambda a: hashlib.sha256(f"{study_id}\x1f{a.label}".encode()).hexdigest()
        )
        letters = {a.label: _letters(i) for i, a in enumerate(order)}
        for a in arms:
            coded = _("Arm %(code)s", code=letters[a.label])
            view.shown[a.label] = coded if view.masked else a.label
            view.shown_code[a.code] = letters[a.label] if view.masked else a.code
        # Short codes ("A", "T") would match ordinary words; labels always count.
        names = [a.label for a in arms] + [a.code for a in arms if len(a.code) >= 3]
        names = sorted({n for n in names if n.strip()}, key=len, reverse=True)
        if names:
            alternatives = "|".join(re.escape(n) for n in names)
            view._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        return view

    @property
    def by_arm(self) -> bool:
        return self.session == CLOSED

    def label(self, real: str | None) -> str | None:
        """The arm label to show for a real label (None in the open session or no arm)."""
        if not self.by_arm or real is None:
            return None
        return self.shown.get(real, real)

    def code(self, real: str) -> str:
        return self.shown_code.get(real, real)

    def mentions_arm(self, text: str) -> bool:
        return bool(self._pattern and self._pattern.search(text))

    def text(self, text: str) -> str | None:
        """Text from the analysis layer as this session may show it (None: drop it)."""
        if self._pattern is None:
            return text
        if not self.by_arm:
            return None if self._pattern.search(text) else text
        if not self.masked:
            return text
        return self._pattern.sub(lambda m: self._replacement(m.group(0)), text)

    def _replacement(self, found: str) -> str:
        return self.shown.get(found) or self.shown_code.get(found) or found

    def drugs_shown(self, drugs: Iterable[StudyDrug]) -> list[StudyDrug]:
        """Drugs with their own columns: all when closed and unmasked, else the common ones."""
        if self.by_arm and not self.masked:
            return list(drugs)
        return [d for d in drugs if d.in_every_arm]


def study_drugs(conn: Connection, study_id: str, arm_ids: Iterable[int | None]) -> list[StudyDrug]:
    """The study's drugs by name, each flagged when every arm receives it."""
    wanted = {a for a in arm_ids if a is not None}
    drugs = conn.execute(
        sa.select(col(Drug.id), col(Drug.key), col(Drug.name))
        .where(col(Drug.study_id) == study_id)
        .order_by(col(Drug.name))
    ).all()
    links: dict[int, set[int]] = {}
    if drugs:
        rows = conn.execute(
            sa.select(col(ArmDrug.drug_id), col(ArmDrug.arm_id)).where(
                col(ArmDrug.drug_id).in_([d.id for d in drugs])
            )
        )
        for drug_id, arm_id in rows:
            links.setdefault(drug_id, set()).add(arm_id)
    return [
        StudyDrug(
            id=d.id,
            key=d.key,
            name=d.name,
            in_every_arm=bool(wanted) and wanted <= links.get(d.id, set()),
        )
        for d in drugs
    ]


def _letters(i: int) -> str:
    """A, B, ..., Z, AA, AB, ..."""
    out = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        out = string.ascii_uppercase[rem] + out
    return out
