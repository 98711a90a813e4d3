"""SDTM export: DM, AE, EX, SUPPAE, DS, VS and DD as CSV and as SAS transport (XPT
version 5, pyreadstat).

    export_sdtm(engine, study_id="NCT04660565", out_dir=Path("sdtm/"))

writes dm.csv, ae.csv, ex.csv, dm.xpt, ae.xpt, ex.xpt with SDTM variable names and labels
(domain.md §8), one row per subject, per non-draft adverse event and per dosing record,
and suppae, ds, vs and dd (.csv and .xpt) when they have records (an empty one is not
written, and a stale one from an earlier export into the same folder is removed).
`pv.imports.sdtm.import_sdtm` reads them back into the same tables (tests/exports): the
mapping below is the importer's, read the other way.

- DM: RACE; DTHFL "Y" for a subject who died (empty otherwise, as SDTM's flag), DTHDTC
  the date of death as recorded (partial allowed; empty when unknown); RFPENDTC the end of
  study (the importer reads it back as the end of study).
- AE: AEGRPID and AESPID as entered (episode ids of "log" collection; empty when none).
- SUPPAE (IDVAR AESEQ, QORIG "CRF"), one record per value set on a non-draft event:
  AEPREEX "Y" on a pre-existing condition, AEITOXGR its CTCAE grade at the first dose,
  AEWRSDTC the date it worsened. An event that is not pre-existing gets no record (the
  importer then reads it as not pre-existing; the form keeps neither grade nor date
  without the flag). An imported study's own treatment-emergent flag goes back as AETRTEM
  (QORIG "DERIVED", QEVAL "CLINICAL STUDY SPONSOR", as in the CDISC pilot's SUPPAE).
- DS, per subject, in date order: the protocol milestones (DSCAT "PROTOCOL MILESTONE")
  INFORMED CONSENT OBTAINED (the consent date) and RANDOMIZED (the randomization date)
  where the date is known, then the disposition event (DSCAT "DISPOSITION EVENT") where
  one is recorded: DSDECOD the disposition, DSSTDTC its date, DSTERM the reason given, else
  the DSDECOD itself (DSTERM is required in SDTM; "some terms in DSTERM will match
  DSDECOD", SDTMIG DS assumptions).
- VS: the baseline HEIGHT (cm) and WEIGHT (kg) the subject form records, VSBLFL "Y",
  original and standard results alike. The tracker keeps no measurement date, so VSDTC is
  not written.
- DD: PRCDTH (Primary Cause of Death) where a cause is recorded, DDORRES = DDSTRESC.

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
    CORE_DOMAINS,
    CRITERIA,
    DOMAINS,
    FILE_LABELS,
    LABELS,
    NUMERIC,
    SUPP_QUALIFIERS,
    VARS,
)
from pv.exposure.derive import study_day
from pv.exposure.models import Exposure
from pv.imports.sdtm import RELATED as IMPORT_RELATED
from pv.study.models import Arm, Drug, Site, Study, Subject

MAX_XPT_BYTES = 200
CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark
AE_FIELDS = (
    "id aeseq aeterm aeterm_en terminology aedecod aelltcd aebodsys aesev aetoxgr aeser aerel "
    "aeacn aeout aecontrt aestdtc aeendtc aegrpid aespid preexisting initial_grade worsened_dtc "
    "sponsor_te_flag"
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
    """The DM, AE, EX, SUPPAE, DS, VS and DD datasets of a study (some may have no rows).
    `mask_arms` (a blinded study exported for a user who may not see arms, pv.blinding):
    ARM/ACTARM "Blinded", ARMCD/ACTARMCD BLINDED, and EXTRT "Blinded" for a study drug not
    given in every arm (it would reveal the arm)."""
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
            col(Subject.randomization_date),
            col(Subject.end_of_study_date),
            col(Subject.race),
            col(Subject.height_cm),
            col(Subject.weight_kg),
            col(Subject.died),
            col(Subject.death_date),
            col(Subject.death_cause),
            col(Subject.disposition),
            col(Subject.disposition_date),
            col(Subject.disposition_reason),
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
                "DTHDTC": s.death_date or "",
                "DTHFL": "Y" if s.died else "",
                "SITEID": s.siteid,
                "AGE": s.age,
                "AGEU": "YEARS" if s.age is not None else "",
                "SEX": s.sex or "",
                "RACE": s.race or "",
                "ARMCD": code,
                "ARM": arm,
                "ACTARMCD": code if dosed else "NOTTRT",
                "ACTARM": arm if dosed else "Not Treated",
                "COUNTRY": s.country or "",
            }
        )
    ae_rows, supp_rows = _ae(conn, study_id, first)
    return {
        "DM": _frame(dm_rows, "DM"),
        "AE": _frame(ae_rows, "AE"),
        "EX": _frame(ex_rows, "EX"),
        "SUPPAE": _frame(supp_rows, "SUPPAE"),
        "DS": _frame(_ds(study_id, subjects), "DS"),
        "VS": _frame(_vs(study_id, subjects), "VS"),
        "DD": _frame(_dd(study_id, subjects), "DD"),
    }


def _ds(study_id: str, subjects: Sequence[Any]) -> list[dict[str, Any]]:
    """Milestones where their dates are known, then the disposition event (docstring)."""
    rows = []
    for s in subjects:
        found = []
        if s.consent_date is not None:
            found.append(("INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED",
                          "PROTOCOL MILESTONE", dtc(s.consent_date)))  # fmt: skip
        if s.randomization_date is not None:
            found.append(("RANDOMIZED", "RANDOMIZED", "PROTOCOL MILESTONE",
                          dtc(s.randomization_date)))  # fmt: skip
        if s.disposition:
            found.append((s.disposition_reason or s.disposition, s.disposition,
                          "DISPOSITION EVENT", s.disposition_date or ""))  # fmt: skip
        for seq, (term, decod, cat, when) in enumerate(found, start=1):
            rows.append({"STUDYID": study_id, "DOMAIN": "DS", "USUBJID": s.usubjid,
                         "DSSEQ": seq, "DSTERM": term, "DSDECOD": decod, "DSCAT": cat,
                         "DSSTDTC": when})  # fmt: skip
    return rows


VS_TESTS = (("HEIGHT", "Height", "height_cm", "cm"), ("WEIGHT", "Weight", "weight_kg", "kg"))


def _vs(study_id: str, subjects: Sequence[Any]) -> list[dict[str, Any]]:
    """Baseline height and weight (VSBLFL "Y"), where recorded."""
    rows = []
    for s in subjects:
        seq = 0
        for code, test, attr, unit in VS_TESTS:
            value = getattr(s, attr)
            if value is None:
                continue
            seq += 1
            text = format(float(value), ".15g")
            rows.append({"STUDYID": study_id, "DOMAIN": "VS", "USUBJID": s.usubjid,
                         "VSSEQ": seq, "VSTESTCD": code, "VSTEST": test, "VSORRES": text,
                         "VSORRESU": unit, "VSSTRESC": text, "VSSTRESN": float(value),
                         "VSSTRESU": unit, "VSBLFL": "Y"})  # fmt: skip
    return rows


def _dd(study_id: str, subjects: Sequence[Any]) -> list[dict[str, Any]]:
    """The primary cause of death (DDTESTCD PRCDTH), where recorded."""
    return [
        {
            "STUDYID": study_id,
            "DOMAIN": "DD",
            "USUBJID": s.usubjid,
            "DDSEQ": 1,
            "DDTESTCD": "PRCDTH",
            "DDTEST": "Primary Cause of Death",
            "DDORRES": s.death_cause,
            "DDSTRESC": s.death_cause,
        }  # fmt: skip
        for s in subjects
        if s.death_cause
    ]


def _supp(study_id: str, usubjid: str, event: Any) -> list[dict[str, Any]]:
    """The SUPPAE records of one event (module docstring)."""
    values = {
        "AEITOXGR": str(event.initial_grade) if event.initial_grade is not None else "",
        "AEPREEX": "Y" if event.preexisting else "",
        "AEWRSDTC": event.worsened_dtc or "",
        "AETRTEM": event.sponsor_te_flag or "",
    }
    return [
        {
            "STUDYID": study_id,
            "RDOMAIN": "AE",
            "USUBJID": usubjid,
            "IDVAR": "AESEQ",
            "IDVARVAL": str(event.aeseq),
            "QNAM": qnam,
            "QLABEL": label,
            "QVAL": values[qnam],
            "QORIG": origin,
            "QEVAL": evaluator,
        }
        for qnam, (label, origin, evaluator) in SUPP_QUALIFIERS.items()
        if values[qnam]
    ]


def _ae(
    conn: Connection, study_id: str, first: dict[str, datetime]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ae = AdverseEvent
    fields = [*AE_FIELDS.split(), *(c.lower() for c in CRITERIA)]
    rows = conn.execute(
        sa.select(*(getattr(ae, f) for f in fields), col(Subject.usubjid))
        .join(Subject, col(Subject.id) == col(ae.subject_id))
        .where(col(ae.study_id) == study_id, col(ae.status) != "draft")
        .order_by(text_order(conn, col(Subject.usubjid)), col(ae.aeseq))
    ).all()
    out: list[dict[str, Any]] = []
    supp: list[dict[str, Any]] = []
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
                "AEGRPID": event.aegrpid or "",
                "AESPID": event.aespid or "",
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
        supp += _supp(study_id, usubjid, event)
    return out, supp


def _frame(rows: list[dict[str, Any]], domain: str) -> pd.DataFrame:
    columns = VARS[domain]
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
    seq_of = f"{name}SEQ" if f"{name}SEQ" in xpt.columns else None
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
    domains_wanted: Iterable[str] = DOMAINS,
    mask_arms: bool = False,
) -> dict[str, int]:
    """Write the datasets; returns the number of records of each written (`mask_arms`: see
    `domains`). DM, AE and EX are always written; SUPPAE, DS, VS and DD only when they have
    records, and their files from an earlier export into `out_dir` are removed otherwise."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        found = domains(conn, study_id, mask_arms=mask_arms)
    wanted = [n for n in DOMAINS if n in set(domains_wanted)]
    empty = [n for n in wanted if n not in CORE_DOMAINS and found[n].empty]
    for name in empty:
        for suffix in (".csv", ".xpt"):
            (out / f"{name.lower()}{suffix}").unlink(missing_ok=True)
    domains_wanted = [n for n in wanted if n not in empty]
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
