"""Import an external study from SDTM DM, AE, EX (and optionally SUPPAE) datasets.

`import_sdtm` is the one write path: everything happens in one write transaction
(all-or-nothing), rows go in with bulk Core inserts, and every created adverse event
gets a "create" audit entry carrying its field values. Rules, decided here:

- The study id is DM.STUDYID unless one is given. Importing into an existing study id is
  refused (StudyExistsError): an import never merges with or overwrites data.
- Arms come from DM.ARM (code ARMCD). Subjects with ARM "Screen Failure", "Not Assigned",
  "Not Treated" (or ARMCD SCRNFAIL / NOTASSGN / NOTTRT) or no ARM get no arm: they are
  kept as subjects but are outside the safety population, as are subjects with no EX
  record (never dosed). The comparator arm is the first arm whose label or code names a
  placebo, comparator, control, vehicle or standard of care; it is flagged is_control.
  Arms are ordered comparator first, then by increasing mean EXDOSE, then by label.
- Sites from DM.SITEID, study drugs from EX.EXTRT, one exposure row per EX record
  (EXDOSFRQ QD -> daily dose period, otherwise a single administration). A partial
  EXSTDTC is imputed to the first day of its period (reported as a warning); an EX
  record with no start date is skipped (warning).
- AE: coded term and SOC from AEDECOD / AEBODSYS; grade from AETOXGR, else the severity
  (AESEV) is kept in aesev; seriousness flags from AESER and AES*; AEREL kept per drug
  and mapped to `related` (related, possibly, probable, possible, definite, certain,
  Y); AEACN "DRUG WITHDRAWN" sets drug_withdrawn; dates kept as collected (partial
  allowed); SUPPAE QNAM AETRTEM (keyed by AESEQ) -> sponsor_te_flag. Status "submitted".
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from pv.audit.service import Actor, jsonable, record, record_many
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.inputs import text_problem
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.timeutil import utcnow

REQUIRED = {
    "DM": ("USUBJID", "ARM", "SITEID"),
    "AE": ("USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESTDTC"),
    "EX": ("USUBJID", "EXTRT", "EXSTDTC"),
    "SUPPAE": ("USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"),
}
NO_ARM = {"SCREEN FAILURE", "NOT ASSIGNED", "NOT TREATED", "SCRNFAIL", "NOTASSGN", "NOTTRT", ""}
CONTROL = re.compile(r"placebo|comparator|control|vehicle|standard of care|\bsoc\b", re.I)
RELATED = {"RELATED", "POSSIBLY RELATED", "PROBABLY RELATED", "DEFINITELY RELATED", "Y", "YES",
           "PROBABLE", "POSSIBLE", "DEFINITE", "CERTAIN", "LIKELY"}  # fmt: skip
CRITERIA = ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE")
ONGOING = ("NOT RECOVERED", "RECOVERING")
DAILY = {"QD", "ONCE DAILY", "DAILY", "Q24H"}
BATCH = 2000
Source: TypeAlias = pd.DataFrame | str | Path
Progress = Callable[[int, int], None]


class SDTMImportError(ValueError):
    """The datasets cannot be imported as given; the message says why."""


class MissingColumnsError(SDTMImportError):
    pass


class StudyExistsError(SDTMImportError):
    pass


@dataclass
class ImportResult:
    study_id: str
    subjects: int = 0
    safety: int = 0
    arms: list[str] = field(default_factory=list)
    control: str | None = None
    sites: int = 0
    drugs: int = 0
    exposures: int = 0
    events: int = 0
    warnings: list[str] = field(default_factory=list)


def read_dataset(source: Source) -> pd.DataFrame:
    """A dataset as all-text columns with upper-case names (.xpt or .csv, or a DataFrame)."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise SDTMImportError(f"{path}: no such file")
        if path.suffix.lower() == ".xpt":
            import pyreadstat

            frame, _ = pyreadstat.read_xport(str(path))
        elif path.suffix.lower() == ".csv":
            # utf-8-sig: the export's byte-order mark (and plain UTF-8 alike)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise SDTMImportError(f"{path}: expected a .xpt or .csv file")
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    return frame.apply(_text)


def _text(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col):
        return col.map(
            lambda v: "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v))
        )
    return col.map(
        lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
    )


def import_sdtm(
    *,
    engine: Engine,
    actor: Actor,
    dm: Source,
    ae: Source,
    ex: Source,
    suppae: Source | None = None,
    study_id: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    frames = {"DM": read_dataset(dm), "AE": read_dataset(ae), "EX": read_dataset(ex)}
    if suppae is not None:
        frames["SUPPAE"] = read_dataset(suppae)
    _check_columns(frames, need_studyid=study_id is None)
    _check_text(frames)
    dm_f, ae_f, ex_f = frames["DM"], frames["AE"], frames["EX"]
    study_id = study_id or _study_id(dm_f)
    _check_keys(dm_f, ae_f, ex_f)
    result = ImportResult(study_id=study_id)
    total, done = len(dm_f) + len(ex_f) + len(ae_f), 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    with write_session(engine) as session:
        if session.get(Study, study_id) is not None:
            raise StudyExistsError(
                f"study {study_id!r} already exists; an import never overwrites a study "
                "(give another id with --study-id)"
            )
        session.add(Study(id=study_id, title=f"{study_id} (imported from SDTM)", source="sdtm"))
        session.flush()
        arms = _arms(session, study_id, dm_f, ex_f, result)
        sites = _sites(session, study_id, dm_f)
        drugs = _drugs(session, study_id, ex_f)
        subjects = _subjects(session, study_id, dm_f, arms, sites, tick)
        _exposure(session, ex_f, subjects, drugs, arms, dm_f, result, tick)
        _events(session, actor, study_id, ae_f, frames.get("SUPPAE"), subjects, ex_f, drugs, tick)
        result.subjects, result.sites, result.drugs = len(subjects), len(sites), len(drugs)
        result.events = len(ae_f)
        dosed = set(ex_f["USUBJID"])
        result.safety = sum(1 for u, (_, arm, _) in subjects.items() if arm and u in dosed)
        record(
            session=session, actor=actor, action="import_sdtm", entity_type="study",
            entity_id=study_id, study_id=study_id,
            changes={k: [None, v] for k, v in vars(result).items() if k != "warnings"},
        )  # fmt: skip
        session.execute(
            sa.update(Study).where(col(Study.id) == study_id).values(enrollment=result.safety)
        )
    return result


def _check_columns(frames: dict[str, pd.DataFrame], need_studyid: bool) -> None:
    missing = []
    for name, frame in frames.items():
        need = REQUIRED[name] + (("STUDYID",) if need_studyid and name == "DM" else ())
        gone = [c for c in need if c not in frame.columns]
        if gone:
            missing.append(f"{name} lacks {', '.join(gone)}")
    if missing:
        raise MissingColumnsError("missing required columns: " + "; ".join(missing))


def _check_text(frames: dict[str, pd.DataFrame], limit: int = 5) -> None:
    """The shared text rule (`pv.inputs`) on every cell: NUL and other control characters,
    bidi overrides/isolates and unpaired surrogates refuse the import, naming the dataset,
    record and variable. Tab and line breaks are kept, and lengths are the sponsor's
    (SDTM has its own limits): a sponsor's datasets are otherwise loaded as delivered."""
    problems: list[str] = []
    for name, frame in frames.items():
        for column in frame.columns:
            values = frame[column]
            suspect = ~values.map(str.isprintable).to_numpy(dtype=bool)  # fast: C speed
            for pos in np.flatnonzero(suspect):
                problem = text_problem(values.iat[pos], max_length=sys.maxsize, multiline=True)
                if problem is not None:
                    problems.append(f"{name} record {pos + 1}, {column}: {problem}")
                if len(problems) >= limit:
                    break
    if problems:
        raise SDTMImportError("text that cannot be stored: " + "; ".join(problems[:limit]))


def _study_id(dm: pd.DataFrame) -> str:
    ids = sorted({s for s in dm["STUDYID"] if s})
    if len(ids) != 1:
        raise SDTMImportError(f"DM.STUDYID must hold exactly one study id, found {ids or 'none'}")
    return ids[0]


def _check_keys(dm: pd.DataFrame, ae: pd.DataFrame, ex: pd.DataFrame) -> None:
    problems = []
    dup = dm["USUBJID"][dm["USUBJID"].duplicated()].tolist()
    if dup:
        problems.append(f"DM has duplicate USUBJID {dup[:5]}")
    known = set(dm["USUBJID"])
    for name, frame in (("AE", ae), ("EX", ex)):
        unknown = sorted(set(frame["USUBJID"]) - known)
        if unknown:
            problems.append(f"{name} has subjects not in DM: {unknown[:5]}")
    bad_seq = ae[~ae["AESEQ"].str.fullmatch(r"[0-9]+")]["AESEQ"].tolist()
    if bad_seq:
        problems.append(f"AE.AESEQ must be a whole number, found {bad_seq[:5]}")
    if ae.duplicated(["USUBJID", "AESEQ"]).any():
        problems.append("AE has duplicate (USUBJID, AESEQ) keys")
    if problems:
        raise SDTMImportError("; ".join(problems))


def _has_arm(row: pd.Series | dict[str, str]) -> bool:
    return row["ARM"].upper() not in NO_ARM and row.get("ARMCD", "").upper() not in NO_ARM - {""}


def _arms(session, study_id, dm, ex, result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    assigned = dm[dm.apply(_has_arm, axis=1)]
    codes = assigned.groupby("ARM")["ARMCD"].first() if "ARMCD" in dm else None
    dose = pd.to_numeric(ex["EXDOSE"], errors="coerce") if "EXDOSE" in ex else None
    by_subject = ex.assign(d=dose).groupby("USUBJID")["d"].mean() if dose is not None else None
    labels = list(dict.fromkeys(assigned["ARM"]))
    controls = [
        lab for lab in labels if CONTROL.search(f"{lab} {codes[lab] if codes is not None else ''}")
    ]
    control = controls[0] if controls else None

    def key(label: str) -> tuple[int, float, str]:
        mean = np.nan
        if by_subject is not None:
            mean = by_subject.reindex(assigned.loc[assigned["ARM"] == label, "USUBJID"]).mean()
        return (label != control, 0.0 if np.isnan(mean) else float(mean), label)

    ids = {}
    for pos, label in enumerate(sorted(labels, key=key)):
        code = (codes[label] if codes is not None and codes[label] else label)[:40]
        kind = "Placebo Comparator" if re.search("placebo", label, re.I) else "Active Comparator"
        arm = Arm(
            study_id=study_id,
            label=label,
            code=code,
            position=pos,
            is_control=label == control,
            arm_type=kind if label == control else "Experimental",
        )
        session.add(arm)
        session.flush()
        ids[label] = int(arm.id or 0)
    result.arms, result.control = list(ids), control
    return ids


def _sites(session, study_id, dm) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids = {}
    for code in sorted(set(dm["SITEID"])):
        country = dm.loc[dm["SITEID"] == code, "COUNTRY"].iloc[0] if "COUNTRY" in dm else None
        site = Site(
            study_id=study_id, code=code[:40] or "?", name=f"Site {code}", country=country or None
        )
        session.add(site)
        session.flush()
        ids[code] = int(site.id or 0)
    return ids


def _drugs(session, study_id, ex) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids, keys = {}, set()
    for name in sorted(set(ex["EXTRT"])):
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:36] or "drug"
        while key in keys:
            key += "_"
        keys.add(key)
        drug = Drug(study_id=study_id, name=name, key=key, intervention_type="Drug")
        session.add(drug)
        session.flush()
        ids[name] = int(drug.id or 0)
    return ids


def _subjects(session, study_id, dm, arms, sites, tick) -> dict[str, tuple[int, int | None, int]]:  # type: ignore[no-untyped-def]
    rows = []
    for r in dm.to_dict("records"):
        sex = r.get("SEX", "")[:1].upper()
        rows.append({
            "study_id": study_id, "site_id": sites[r["SITEID"]], "usubjid": r["USUBJID"],
            "subjid": (r.get("SUBJID") or r["USUBJID"].rsplit("-", 1)[-1])[:40],
            "arm_id": arms.get(r["ARM"]) if _has_arm(r) else None,
            "sex": sex if sex in ("M", "F", "U") else None,
            "age": int(float(r["AGE"])) if r.get("AGE") else None,
            "consent_date": _date(r.get("RFICDTC", "")),
            "end_of_study_date": _date(r.get("RFPENDTC", "")), "created_at": utcnow(),
        })  # fmt: skip
    for i in range(0, len(rows), BATCH):
        session.execute(sa.insert(Subject), rows[i : i + BATCH])
        tick(len(rows[i : i + BATCH]))
    found = session.execute(
        sa.select(
            col(Subject.usubjid), col(Subject.id), col(Subject.arm_id), col(Subject.site_id)
        ).where(col(Subject.study_id) == study_id)
    )
    return {u: (sid, arm, site) for u, sid, arm, site in found}


def _exposure(session, ex, subjects, drugs, arms, dm, result, tick) -> None:  # type: ignore[no-untyped-def]
    rows, links = [], set()
    for r in ex.to_dict("records"):
        start, imputed = _moment(r["EXSTDTC"])
        if start is None:
            result.warnings.append(f"EX {r['USUBJID']} {r['EXTRT']}: no start date, record skipped")
            continue
        if imputed:
            result.warnings.append(
                f"EX {r['USUBJID']}: partial EXSTDTC {r['EXSTDTC']} imputed to {start:%Y-%m-%d}"
            )
        sid, arm_id, _ = subjects[r["USUBJID"]]
        dose = float(r["EXDOSE"]) if r.get("EXDOSE") not in (None, "") else 0.0
        unit = r.get("EXDOSU", "") or ""
        factor = {"MG": 1.0, "G": 1000.0, "UG": 0.001, "MCG": 0.001}.get(unit.upper(), 1.0)
        end, _ = _moment(r.get("EXENDTC", ""), partial=False)
        rows.append({
            "subject_id": sid, "drug_id": drugs[r["EXTRT"]], "dose": dose, "unit": unit[:20],
            "dose_mg": dose * factor, "route": (r.get("EXROUTE") or None),
            "frequency": "QD" if r.get("EXDOSFRQ", "").upper() in DAILY else "ONCE",
            "start": start, "end": end,
        })  # fmt: skip
        if arm_id:
            links.add((arm_id, drugs[r["EXTRT"]]))
    for i in range(0, len(rows), BATCH):
        session.execute(sa.insert(Exposure), rows[i : i + BATCH])
        tick(len(rows[i : i + BATCH]))
    if links:
        session.execute(sa.insert(ArmDrug), [{"arm_id": a, "drug_id": d} for a, d in sorted(links)])
    result.exposures = len(rows)


def _events(session, actor, study_id, ae, supp, subjects, ex, drugs, tick) -> None:  # type: ignore[no-untyped-def]
    te_flag = {}
    if supp is not None:
        s = supp[(supp["QNAM"] == "AETRTEM") & (supp["IDVAR"] == "AESEQ")]
        te_flag = {
            (u, str(int(float(k)))): v[:1]
            for u, k, v in zip(s["USUBJID"], s["IDVARVAL"], s["QVAL"], strict=True)
        }
    drug_keys = {d: re.sub(r"[^a-z0-9]+", "_", d.lower()).strip("_")[:36] for d in drugs}
    taken = ex.groupby("USUBJID")["EXTRT"].unique().to_dict()
    now = utcnow()
    for i in range(0, len(ae), BATCH):
        chunk = ae.iloc[i : i + BATCH]
        rows = [
            _event_row(r, study_id, subjects, taken, drug_keys, te_flag, now)
            for r in chunk.to_dict("records")
        ]
        session.execute(sa.insert(AdverseEvent), rows)
        keys = [(r["subject_id"], r["aeseq"]) for r in rows]
        ids = dict(
            ((s, q), eid)
            for eid, s, q in session.execute(
                sa.select(
                    col(AdverseEvent.id), col(AdverseEvent.subject_id), col(AdverseEvent.aeseq)
                ).where(
                    col(AdverseEvent.study_id) == study_id,
                    col(AdverseEvent.subject_id).in_({k[0] for k in keys}),
                )
            )
        )
        record_many(session=session, actor=actor, entries=[
            {"action": "create", "entity_type": "adverse_event", "entity_id": ids[k],
             "study_id": study_id, "site_id": r["site_id"],
             "changes": {f: [None, jsonable(v)] for f, v in r.items()}}
            for k, r in zip(keys, rows, strict=True)
        ])  # fmt: skip
        tick(len(rows))


def _event_row(r, study_id, subjects, taken, drug_keys, te_flag, now) -> dict:  # type: ignore[no-untyped-def]
    sid, _, site = subjects[r["USUBJID"]]
    keys = [drug_keys[d] for d in taken.get(r["USUBJID"], [])] or ["study_treatment"]
    rel, acn = r.get("AEREL", ""), r.get("AEACN", "")
    grade = r.get("AETOXGR", "")
    flags = {c.lower(): r.get(c, "").upper() == "Y" for c in CRITERIA}
    return {
        "study_id": study_id, "subject_id": sid, "site_id": site, "aeseq": int(r["AESEQ"]),
        "status": "submitted", "version": 1, "aeterm": r["AETERM"] or r["AEDECOD"],
        "aelltcd": r.get("AELLTCD") or None, "aedecod": r["AEDECOD"] or None,
        "aebodsys": r["AEBODSYS"] or None, "terminology": "MedDRA (as coded in SDTM)",
        "aetoxgr": int(float(grade)) if re.fullmatch(r"[1-5](\.0)?", grade) else None,
        "aesev": r.get("AESEV") or None, "aeser": r.get("AESER", "").upper() == "Y", **flags,
        "aerel": {k: rel for k in keys} if rel else {},
        "aeacn": {k: acn for k in keys} if acn else {},
        "related": rel.upper() in RELATED, "drug_withdrawn": acn.upper() == "DRUG WITHDRAWN",
        "aeout": r.get("AEOUT") or None, "aestdtc": r["AESTDTC"] or None,
        "aeendtc": r.get("AEENDTC") or None,
        "ongoing": not r.get("AEENDTC") and r.get("AEOUT", "").upper().startswith(ONGOING),
        "aecontrt": r.get("AECONTRT") or None, "aesi": "", "preexisting": False,
        "sponsor_te_flag": te_flag.get((r["USUBJID"], r["AESEQ"])),
        "created_at": now, "updated_at": now, "submitted_at": now,
    }  # fmt: skip


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def _moment(text: str, partial: bool = True) -> tuple[datetime | None, bool]:
    """A date-time from ISO 8601 text; partial dates go to the period's first day."""
    text = (text or "").strip()
    try:
        if len(text) >= 16 and text[10] == "T":
            return datetime.fromisoformat(text[:19]), False
        if len(text) >= 10:
            return datetime.fromisoformat(text[:10]), False
        if partial and len(text) == 7:
            return datetime.fromisoformat(text + "-01"), True
        if partial and len(text) == 4 and text.isdigit():
            return datetime(int(text), 1, 1), True
    except ValueError:
        pass
    return None, False
