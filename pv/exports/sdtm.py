"""SDTM export: DM, AE and EX as CSV and as SAS transport (XPT version 5, pyreadstat).

    export_sdtm(engine, study_id="NCT04660565", out_dir=Path("sdtm/"))

writes dm.csv, ae.csv, ex.csv, dm.xpt, ae.xpt, ex.xpt with SDTM variable names and labels
(domain.md §8), one row per subject, per non-draft adverse event and per dosing record.
`pv.imports.sdtm.import_sdtm` reads them back into the same tables (tests/exports).

Decisions:
- Dates are ISO 8601 as collected (partial dates stay partial); a dosing time other than
  midnight is kept (YYYY-MM-DDThh:mm:ss). Study days (AESTDY, AEENDY) count from RFXSTDTC,
  the first dose, with no day 0; they are empty for partial dates.
- Causality and action are recorded per study drug; SDTM AE has one AEREL and one AEACN.
  AEREL is the drugs' common value, else the first related one (related, possibly,
  probable, ...), else the first given; AEACN is DRUG WITHDRAWN when any drug was
  withdrawn, else the most drastic action. The per-drug values stay in the tracker.
- Subjects without an arm get ARM "Not Assigned" (ARMCD NOTASSGN); the actual arm of a
  subject never dosed is "Not Treated" (NOTTRT). AETOXGR is text, as SDTM defines it.
- XPT version 5 limits names to 8 characters, labels to 40 and text values to 200 bytes:
  longer text (a long verbatim term) is cut at 200 bytes in the .xpt only; the CSV keeps
  the full text. CSV files are UTF-8 data files for SAS/R written by pv.csvsafe: a text
  value that a spreadsheet would evaluate ("=1+1", "@SUM(A1)", "-2+3") is written with a
  single quote in front ("'=1+1"); numbers and other text are written as stored. The
  .xpt files keep the text as stored.
- Languages: the CSV files are UTF-8 with a byte-order mark (Excel then reads Chinese
  text correctly; pandas and R read it with encoding "utf-8-sig" / "UTF-8-BOM", and the
  importer does) and keep every value as written, Chinese included. SAS transport v5 is
  ASCII only (FDA study data technical conformance guide): in the .xpt, AETERM is the
  verbatim term when it is ASCII, else its English translation (AETERM_EN); a record with
  any other non-ASCII text, or a non-ASCII term without a translation, refuses the .xpt
  files (none is written) with every such record named; the CSV files are still written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from pv import csvsafe
from pv.blinding.policy import MASKED_CODE, MASKED_EXPORT_LABEL
from pv.events.models import ACTIONS, RELATED_VALUES, AdverseEvent
from pv.exports.checksum import text_order
from pv.exports.sdtm_spec import (
    AE_VARS,
    CRITERIA,
    DM_VARS,
    EX_VARS,
    FILE_LABELS,
    LABELS,
    NUMERIC,
)
from pv.exposure.derive import study_day
from pv.exposure.models import Exposure
from pv.imports.sdtm import RELATED as IMPORT_RELATED
from pv.study.models import Arm, Drug, Site, Study, Subject

MAX_XPT_BYTES = 200
CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark
AE_FIELDS = (
    "id aeseq aeterm aeterm_en terminology aedecod aelltcd aebodsys aesev aetoxgr aeser aerel "
    "aeacn aeout aecontrt aestdtc aeendtc"
)
EX_FIELDS = ("dose", "unit", "frequency", "route", "start", "end")
RELATED_TEXT = {v.upper() for v in RELATED_VALUES} | {v.upper() for v in IMPORT_RELATED}
ACTION_ORDER = (
    "DRUG WITHDRAWN",
    "DRUG INTERRUPTED",
    "DOSE REDUCED",
    "DOSE INCREASED",
    *[
        a
        for a in ACTIONS
        if a not in ("DRUG WITHDRAWN", "DRUG INTERRUPTED", "DOSE REDUCED", "DOSE INCREASED")
    ],
)


def dtc(value: date | datetime | None) -> str:
    """ISO 8601: a date, or a date-time when the time of day is not midnight."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()[:19]
    return value.isoformat()


def _yn(value: bool | None) -> str:
    return "" if value is None else ("Y" if value else "N")


def one_relationship(per_drug: dict[str, Any]) -> str:
    values = [str(v) for v in per_drug.values() if v]
    if not values:
        return ""
    if len(set(values)) == 1:
        return values[0]
    return next((v for v in values if v.upper() in RELATED_TEXT), values[0])


def one_action(per_drug: dict[str, Any]) -> str:
    values = [str(v) for v in per_drug.values() if v]
    ranked = sorted(values, key=lambda v: ACTION_ORDER.index(v) if v in ACTION_ORDER else 99)
    return ranked[0] if ranked else ""


def _complete(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text and len(text) >= 10 else None
    except ValueError:
        return None


def domains(conn: Connection, study_id: str, *, mask_arms: bool = False) -> dict[str, pd.DataFrame]:
    """The DM, AE and EX datasets of a study. `mask_arms` (a blinded study exported for a
    user who may not see arms, pv.blinding): ARM/ACTARM "Blinded", ARMCD/ACTARMCD BLINDED,
    and EXTRT "Blinded" for a study drug not given in every arm (it would reveal the arm)."""
    if conn.execute(sa.select(col(Study.id)).where(col(Study.id) == study_id)).first() is None:
        raise LookupError(f"no study {study_id!r}")
    blind_drugs: set[str] = set()
    if mask_arms:
        from pv.exports.arms import study_drugs

        arm_ids = conn.execute(sa.select(col(Arm.id)).where(col(Arm.study_id) == study_id))
        drugs = study_drugs(conn, study_id, [a for (a,) in arm_ids])
        blind_drugs = {d.name for d in drugs if not d.in_every_arm}
    ex = conn.execute(
        sa.select(col(Subject.usubjid), col(Drug.name), *(getattr(Exposure, c) for c in EX_FIELDS))
        .join(Subject, col(Subject.id) == col(Exposure.subject_id))
        .join(Drug, col(Drug.id) == col(Exposure.drug_id))
        .where(col(Subject.study_id) == study_id)
        .order_by(
            text_order(conn, col(Subject.usubjid)),
            col(Exposure.start),
            text_order(conn, col(Drug.name)),
            col(Exposure.id),
        )
    ).all()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    ex_rows, seq = [], 0
    for i, r in enumerate(ex):
        seq = 1 if i == 0 or ex[i - 1].usubjid != r.usubjid else seq + 1
        first[r.usubjid] = min(first.get(r.usubjid, r.start), r.start)
        last[r.usubjid] = max(last.get(r.usubjid, r.start), r.end or r.start)
        ex_rows.append(
            {
                "STUDYID": study_id,
                "DOMAIN": "EX",
                "USUBJID": r.usubjid,
                "EXSEQ": seq,
                "EXTRT": MASKED_EXPORT_LABEL if r.name in blind_drugs else r.name,
                "EXDOSE": r.dose,
                "EXDOSU": r.unit,
                "EXDOSFRQ": r.frequency,
                "EXROUTE": r.route or "",
                "EXSTDTC": dtc(r.start),
                "EXENDTC": dtc(r.end),
            }
        )
    subjects: Sequence[Any] = conn.execute(
        sa.select(
            col(Subject.usubjid),
            col(Subject.subjid),
            col(Subject.age),
            col(Subject.sex),
            col(Subject.consent_date),
            col(Subject.end_of_study_date),
            col(Site.code).label("siteid"),
            col(Site.country),
            col(Arm.label).label("arm"),
            col(Arm.code).label("armcd"),
        )
        .join(Site, col(Site.id) == col(Subject.site_id))
        .outerjoin(Arm, col(Arm.id) == col(Subject.arm_id))
        .where(col(Subject.study_id) == study_id)
        .order_by(text_order(conn, col(Subject.usubjid)))
    ).all()
    dm_rows = []
    for s in subjects:
        arm, code = (s.arm, s.armcd) if s.arm else ("Not Assigned", "NOTASSGN")
        if mask_arms and s.arm:
            arm, code = MASKED_EXPORT_LABEL, MASKED_CODE
        dosed = s.usubjid in first
        dm_rows.append(
            {
                "STUDYID": study_id,
                "DOMAIN": "DM",
                "USUBJID": s.usubjid,
                "SUBJID": s.subjid,
                "RFXSTDTC": dtc(first.get(s.usubjid)),
                "RFXENDTC": dtc(last.get(s.usubjid)),
                "RFICDTC": dtc(s.consent_date),
                "RFPENDTC": dtc(s.end_of_study_date),
                "SITEID": s.siteid,
                "AGE": s.age,
                "AGEU": "YEARS" if s.age is not None else "",
                "SEX": s.sex or "",
                "ARMCD": code,
                "ARM": arm,
                "ACTARMCD": code if dosed else "NOTTRT",
                "ACTARM": arm if dosed else "Not Treated",
                "COUNTRY": s.country or "",
            }
        )
    return {
        "DM": _frame(dm_rows, "DM"),
        "AE": _frame(_ae(conn, study_id, first), "AE"),
        "EX": _frame(ex_rows, "EX"),
    }


def _ae(conn: Connection, study_id: str, first: dict[str, datetime]) -> list[dict[str, Any]]:
    ae = AdverseEvent
    fields = [*AE_FIELDS.split(), *(c.lower() for c in CRITERIA)]
    rows = conn.execute(
        sa.select(*(getattr(ae, f) for f in fields), col(Subject.usubjid))
        .join(Subject, col(Subject.id) == col(ae.subject_id))
        .where(col(ae.study_id) == study_id, col(ae.status) != "draft")
        .order_by(text_order(conn, col(Subject.usubjid)), col(ae.aeseq))
    ).all()
    out = []
    for event in rows:
        usubjid = event.usubjid
        start = first.get(usubjid)
        on, off = _complete(event.aestdtc), _complete(event.aeendtc)
        ctcae = (event.terminology or "").upper().startswith("CTCAE")
        out.append(
            {
                "STUDYID": study_id,
                "DOMAIN": "AE",
                "USUBJID": usubjid,
                "AESEQ": event.aeseq,
                "AESPID": str(event.id),
                "AETERM": event.aeterm,
                # Not an SDTM variable: dropped from the files, used for the .xpt's AETERM.
                "AETERM_EN": event.aeterm_en or "",
                "AELLT": (event.aedecod or "") if ctcae else "",
                "AELLTCD": event.aelltcd or "",
                "AEDECOD": event.aedecod or "",
                "AEBODSYS": event.aebodsys or "",
                "AESOC": event.aebodsys or "",
                "AESEV": event.aesev or "",
                "AETOXGR": str(event.aetoxgr) if event.aetoxgr is not None else "",
                "AESER": _yn(event.aeser),
                **{
                    c: _yn(getattr(event, c.lower())) if event.aeser is not None else ""
                    for c in CRITERIA
                },
                "AEREL": one_relationship(event.aerel or {}),
                "AEACN": one_action(event.aeacn or {}),
                "AEOUT": event.aeout or "",
                "AECONTRT": event.aecontrt or "",
                "AESTDTC": event.aestdtc or "",
                "AEENDTC": event.aeendtc or "",
                "AESTDY": study_day(start.date(), on) if start and on else None,
                "AEENDY": study_day(start.date(), off) if start and off else None,
            }
        )
    return out


def _frame(rows: list[dict[str, Any]], domain: str) -> pd.DataFrame:
    columns = {"DM": DM_VARS, "AE": AE_VARS, "EX": EX_VARS}[domain]
    frame = pd.DataFrame(rows, columns=list(columns))
    if domain == "AE":
        english = [r["AETERM_EN"] for r in rows]
        frame.attrs["aeterm_en"] = pd.Series(english, index=frame.index, dtype=object)
    for name in columns:
        if name in NUMERIC:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        else:
            frame[name] = frame[name].fillna("").astype(str)
    return frame


def _cut(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_XPT_BYTES:
        return text
    return data[:MAX_XPT_BYTES].decode("utf-8", "ignore")


class NotAscii(ValueError):
    """Records whose text SAS transport v5 cannot hold: (dataset, USUBJID, sequence or
    row, variable, what to do) each."""

    def __init__(self, problems: list[tuple[str, str, str, str, str]]):
        self.problems = problems
        shown = "; ".join(f"{d} {u} {s} {v}: {why}" for d, u, s, v, why in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            "SAS transport files are ASCII only; not written because of "
            f"{len(problems)} value(s): {shown}{more}"
        )


def _ascii(text: str) -> bool:
    return text.isascii()


def xpt_frame(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """The frame as it goes into the .xpt (ASCII, values cut at 200 bytes), and the
    problems that forbid writing it."""
    xpt = frame.copy()
    problems: list[tuple[str, ...]] = []
    english = frame.attrs.get("aeterm_en")
    seq_of = "AESEQ" if name == "AE" else ("EXSEQ" if name == "EX" else None)
    for i in range(len(xpt)):
        row = xpt.iloc[i]
        where = (name, str(row["USUBJID"]),
                 f"{seq_of}={int(row[seq_of])}" if seq_of else f"row {i + 1}")  # fmt: skip
        for var in xpt.columns:
            if var in NUMERIC:
                continue
            value = row[var]
            if _ascii(value):
                continue
            if var == "AETERM" and english is not None:
                en = str(english.iloc[i] or "")
                if en and _ascii(en):
                    xpt.iat[i, xpt.columns.get_loc(var)] = en
                    continue
                why = (
                    "the English translation is not ASCII"
                    if en
                    else "written in another language and has no English translation (AETERM_EN)"
                )
                problems.append((*where, var, why))
                continue
            problems.append((*where, var, "not ASCII text"))
    for var in xpt.columns:
        if var not in NUMERIC:
            xpt[var] = xpt[var].map(_cut)
    return xpt, problems


def write_csv(frame: pd.DataFrame, name: str, out_dir: Path) -> None:
    csvsafe.write_frame(
        frame,
        out_dir / f"{name.lower()}.csv",
        encoding=CSV_ENCODING,
        float_format="%.15g",
    )


def write_domain(frame: pd.DataFrame, name: str, out_dir: Path) -> None:
    write_csv(frame, name, out_dir)
    xpt, problems = xpt_frame(frame, name)
    if problems:
        raise NotAscii(problems)  # type: ignore[arg-type]
    write_xpt(xpt, name, out_dir)


def write_xpt(xpt: pd.DataFrame, name: str, out_dir: Path) -> None:
    pyreadstat.write_xport(
        xpt,
        str(out_dir / f"{name.lower()}.xpt"),
        file_format_version=5,
        table_name=name,
        file_label=FILE_LABELS[name],
        column_labels=[LABELS[c][:40] for c in xpt.columns],
    )


def export_sdtm(
    engine: Engine,
    *,
    study_id: str,
    out_dir: Path | str,
    domains_wanted: Iterable[str] = ("DM", "AE", "EX"),
    mask_arms: bool = False,
) -> dict[str, int]:
    """Write the datasets; returns the number of records of each (`mask_arms`: see
    `domains`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        found = domains(conn, study_id, mask_arms=mask_arms)
    # Every CSV first; then the .xpt files all or none (NotAscii names every record).
    xpts, problems = {}, []
    for name in domains_wanted:
        write_csv(found[name], name, out)
        xpts[name], found_problems = xpt_frame(found[name], name)
        problems += found_problems
    if problems:
        for name in domains_wanted:
            (out / f"{name.lower()}.xpt").unlink(missing_ok=True)  # no stale set beside
        raise NotAscii(problems)  # type: ignore[arg-type]
    for name in domains_wanted:
        write_xpt(xpts[name], name, out)
    return {name: len(found[name]) for name in domains_wanted}
