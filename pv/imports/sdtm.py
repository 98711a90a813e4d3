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
  AEGRPID -> aegrpid and AESPID -> aespid (optional; the records of one episode collected
  as a log, which the analysis reads as admiral's `group_var`).

Pre-existing events (SUPPAE; every other QNAM is ignored). SDTM has no standard variable
for "present before the first dose, and at what grade"; the analysis (pv.analysis.teae)
follows admiral's `derive_var_trtemfl`, whose `initial_intensity` is ADaM's AEITOXGR
(initial toxicity grade). Sponsors carry it as a supplemental qualifier, so:

- QNAM AEITOXGR (integer grade 1-5) -> initial_grade, and the event is pre-existing when
  its onset (AESTDTC) is known to be before the subject's first dose (the latest day the
  possibly partial date allows is before the day of the earliest EXSTDTC). admiral (issue
  2455, the derive_var_trtemfl diagram): "non-missing AEITOXGR: AE exist before TRTSDT";
  its worsening branch applies only to events that started before treatment, and its test
  data carry AEITOXGR on events that started on treatment too (those stay new events). On
  an event not known to have started before the first dose AEITOXGR is not kept (one
  warning gives the count): the subject form keeps a grade at the first dose only with
  the pre-existing flag, and the import stores what the form could have stored.
- QNAM AEPREEX "Y"/"N" -> preexisting, explicitly (it wins over the AEITOXGR rule).
- QNAM AEWRSDTC (ISO 8601, partial allowed) -> worsened_dtc, the date a pre-existing
  event worsened; it marks the event pre-existing (AEPREEX "N" with it is refused).
These QNAMs may be keyed by IDVAR AESEQ (one record), AEGRPID or AESPID (every record of
the subject with that value). A bad value, or a key that matches no AE record, refuses
the import, naming the SUPPAE record, USUBJID and QNAM; so do the form's consistency
rules (pv.events.rules): a grade at the first dose above the event's AETOXGR, a
worsening date before the onset or after the end.

Subjects (DM, and the optional DS, VS and DD datasets):

- DM: RACE -> race; DTHFL "Y" or a DTHDTC -> died; DTHDTC (ISO 8601, partial allowed)
  -> death_date; RFICDTC -> consent_date. The subject's end of study (end_of_study_date,
  a complete date) is RFPENDTC (end of participation, follow-up included), else RFENDTC:
  SDTM's RFENDTC is sponsor-defined and often the last exposure (in the CDISC pilot it is
  within a day of RFXENDTC while RFPENDTC runs months later), and the end of study bounds
  the observation period, which must not stop at the last dose. pv's own SDTM export
  writes end_of_study_date as RFPENDTC, so an export re-imports unchanged.
- DS (optional): the disposition event is the record with DSCAT "DISPOSITION EVENT" (every
  record when DSCAT is absent), protocol milestones "INFORMED CONSENT OBTAINED" and
  "RANDOMIZED" excepted; when a subject has several, the latest by DSSTDTC. DSDECOD ->
  disposition, DSSTDTC -> disposition_date, DSTERM -> disposition_reason. DSDECOD "DEATH"
  -> died, and death_date from its DSSTDTC when DM has none. The milestones give
  randomization_date (RANDOMIZED) and, when DM has no RFICDTC, consent_date (complete
  dates only). A subject with no disposition event is still in the study (None).
- VS (optional): HEIGHT -> height_cm and WEIGHT -> weight_kg at baseline: the record
  flagged VSBLFL "Y", else the last one dated on or before the first dose day (admiral's
  baseline: the last value at or before TRTSDT); a subject never dosed gets the last value
  recorded. Results from VSSTRESN/VSSTRESU, else VSORRES/VSORRESU; units cm, m, in and kg,
  g, lb are converted (an unknown unit, or a value outside the subject form's ranges, 30 to
  250 cm and 1 to 500 kg, refuses the import: most likely a unit error).
- DD (optional): DDTESTCD "PRCDTH" (primary cause of death) -> death_cause (DDSTRESC,
  else DDORRES) and died.
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
from pv.events.dates import parse_dtc
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.inputs import WEIGHT_KG_RANGE, text_problem
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.timeutil import utcnow

REQUIRED = {
    "DM": ("USUBJID", "ARM", "SITEID"),
    "AE": ("USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESTDTC"),
    "EX": ("USUBJID", "EXTRT", "EXSTDTC"),
    "SUPPAE": ("USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"),
    "DS": ("USUBJID", "DSDECOD", "DSSTDTC"),
    "VS": ("USUBJID", "VSTESTCD"),
    "DD": ("USUBJID", "DDTESTCD"),
}
OPTIONAL = ("SUPPAE", "DS", "VS", "DD")
# SUPPAE qualifiers read for pre-existing events (module docstring); keys they may use
PRE_QNAMS = ("AEITOXGR", "AEPREEX", "AEWRSDTC")
SUPP_KEYS = ("AESEQ", "AEGRPID", "AESPID")
MILESTONES = ("INFORMED CONSENT OBTAINED", "RANDOMIZED")
# VS baseline tests: target field and the factor from each unit to the stored unit
VS_TESTS = {
    "HEIGHT": ("height_cm", {"CM": 1.0, "M": 100.0, "IN": 2.54, "INCH": 2.54, "INCHES": 2.54}),
    "WEIGHT": ("weight_kg", {"KG": 1.0, "G": 0.001, "LB": 0.45359237, "LBS": 0.45359237}),
}
# plausible ranges after conversion, as the subject form's (pv.study.service): a value
# outside is most likely a unit error and refuses the import
VS_RANGES = {"height_cm": (30.0, 250.0), "weight_kg": tuple(map(float, WEIGHT_KG_RANGE))}
MAX_PROBLEMS = 10
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
    preexisting: int = 0
    deaths: int = 0
    dispositions: int = 0
    warnings: list[str] = field(default_factory=list)


def read_dataset(source: Source) -> pd.DataFrame:
    """A dataset as all-text columns with upper-case names (.xpt or .csv, or a DataFrame)."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise SDTMImportError(_("%(path)s: no such file", path=path))
        if path.suffix.lower() == ".xpt":
            import pyreadstat

            frame, _meta = pyreadstat.read_xport(str(path))
        elif path.suffix.lower() == ".csv":
            # utf-8-sig: the export's byte-order mark (and plain UTF-8 alike)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise SDTMImportError(_("%(path)s: expected a .xpt or .csv file", path=path))
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
    ds: Source | None = None,
    vs: Source | None = None,
    dd: Source | None = None,
    study_id: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one study; SUPPAE, DS, VS and DD are optional (module docstring)."""
    frames = {"DM": read_dataset(dm), "AE": read_dataset(ae), "EX": read_dataset(ex)}
    for name, source in zip(OPTIONAL, (suppae, ds, vs, dd), strict=True):
        if source is not None:
            frames[name] = read_dataset(source)
    _check_columns(frames, need_studyid=study_id is None)
    _check_text(frames)
    dm_f, ae_f, ex_f = frames["DM"], frames["AE"], frames["EX"]
    study_id = study_id or _study_id(dm_f)
    _check_keys(dm_f, ae_f, ex_f, {k: v for k, v in frames.items() if k in OPTIONAL[1:]})
    first_dose = _first_doses(ex_f)
    people = _subject_fields(frames, first_dose)
    result = ImportResult(study_id=study_id)
    pre = _preexisting(ae_f, frames.get("SUPPAE"), first_dose, result.warnings)
    result.preexisting = sum(1 for v in pre.values() if v.get("preexisting"))
    result.deaths = sum(1 for v in people.values() if v["died"])
    result.dispositions = sum(1 for v in people.values() if v["disposition"])
    total, done = len(dm_f) + len(ex_f) + len(ae_f), 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    with write_session(engine) as session:
        if session.get(Study, study_id) is not None:
            raise StudyExistsError(
                _(
                    "study '%(study)s' already exists; an import never overwrites a study "
                    "(give another id with --study-id)",
                    study=study_id,
                )
            )
        session.add(Study(id=study_id, title=f"{study_id} (imported from SDTM)", source="sdtm"))
        session.flush()
        arms = _arms(session, study_id, dm_f, ex_f, result)
        sites = _sites(session, study_id, dm_f)
        drugs = _drugs(session, study_id, ex_f)
        subjects = _subjects(session, study_id, dm_f, arms, sites, people, tick)
        _exposure(session, ex_f, subjects, drugs, arms, dm_f, result, tick)
        _events(
            session, actor, study_id, ae_f, frames.get("SUPPAE"), pre, subjects, ex_f, drugs, tick
        )
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
            missing.append(
                _("%(dataset)s lacks %(columns)s", dataset=name, columns=", ".join(gone))
            )
    if missing:
        raise MissingColumnsError(_("missing required columns: %(list)s", list="; ".join(missing)))


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
                    problems.append(
                        _(
                            "%(dataset)s record %(row)s, %(column)s: %(problem)s",
                            dataset=name, row=pos + 1, column=column, problem=problem,
                        )
                    )  # fmt: skip
                if len(problems) >= limit:
                    break
    if problems:
        raise SDTMImportError(
            _("text that cannot be stored: %(list)s", list="; ".join(problems[:limit]))
        )


def _study_id(dm: pd.DataFrame) -> str:
    ids = sorted({s for s in dm["STUDYID"] if s})
    if len(ids) != 1:
        raise SDTMImportError(
            _(
                "DM.STUDYID must hold exactly one study id, found %(ids)s",
                ids=ids or _("none"),
            )
        )
    return ids[0]


def _check_keys(
    dm: pd.DataFrame,
    ae: pd.DataFrame,
    ex: pd.DataFrame,
    others: dict[str, pd.DataFrame] | None = None,
) -> None:
    problems = []
    dup = dm["USUBJID"][dm["USUBJID"].duplicated()].tolist()
    if dup:
        problems.append(_("DM has duplicate USUBJID %(ids)s", ids=dup[:5]))
    known = set(dm["USUBJID"])
    for name, frame in (("AE", ae), ("EX", ex), *(others or {}).items()):
        unknown = sorted(set(frame["USUBJID"]) - known)
        if unknown:
            problems.append(
                _("%(dataset)s has subjects not in DM: %(ids)s", dataset=name, ids=unknown[:5])
            )
    bad_seq = ae[~ae["AESEQ"].str.fullmatch(r"[0-9]+")]["AESEQ"].tolist()
    if bad_seq:
        problems.append(_("AE.AESEQ must be a whole number, found %(values)s", values=bad_seq[:5]))
    if ae.duplicated(["USUBJID", "AESEQ"]).any():
        problems.append(_("AE has duplicate (USUBJID, AESEQ) keys"))
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


def _subjects(
    session, study_id, dm, arms, sites, people, tick
) -> dict[str, tuple[int, int | None, int]]:  # type: ignore[no-untyped-def]
    rows = []
    for r in dm.to_dict("records"):
        sex = r.get("SEX", "")[:1].upper()
        rows.append({
            "study_id": study_id, "site_id": sites[r["SITEID"]], "usubjid": r["USUBJID"],
            "subjid": (r.get("SUBJID") or r["USUBJID"].rsplit("-", 1)[-1])[:40],
            "arm_id": arms.get(r["ARM"]) if _has_arm(r) else None,
            "sex": sex if sex in ("M", "F", "U") else None,
            "age": int(float(r["AGE"])) if r.get("AGE") else None,
            **people[r["USUBJID"]], "created_at": utcnow(),
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
            result.warnings.append(
                _(
                    "EX %(usubjid)s %(drug)s: no start date, record skipped",
                    usubjid=r["USUBJID"], drug=r["EXTRT"],
                )
            )  # fmt: skip
            continue
        if imputed:
            result.warnings.append(
                _(
                    "EX %(usubjid)s: partial EXSTDTC %(value)s imputed to %(date)s",
                    usubjid=r["USUBJID"],
                    value=r["EXSTDTC"],
                    date=start.date().isoformat(),
                )  # fmt: skip
            )
        sid, arm_id, _site = subjects[r["USUBJID"]]
        dose = float(r["EXDOSE"]) if r.get("EXDOSE") not in (None, "") else 0.0
        unit = r.get("EXDOSU", "") or ""
        factor = {"MG": 1.0, "G": 1000.0, "UG": 0.001, "MCG": 0.001}.get(unit.upper(), 1.0)
        end, _partial = _moment(r.get("EXENDTC", ""), partial=False)
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


def _events(session, actor, study_id, ae, supp, pre, subjects, ex, drugs, tick) -> None:  # type: ignore[no-untyped-def]
    te_flag = {}
    if supp is not None:
        s = supp[(supp["QNAM"] == "AETRTEM") & (supp["IDVAR"] == "AESEQ")]
        te_flag = {
            (u, _seq(k)): v[:1]
            for u, k, v in zip(s["USUBJID"], s["IDVARVAL"], s["QVAL"], strict=True)
        }
    drug_keys = {d: re.sub(r"[^a-z0-9]+", "_", d.lower()).strip("_")[:36] for d in drugs}
    taken = ex.groupby("USUBJID")["EXTRT"].unique().to_dict()
    now = utcnow()
    for i in range(0, len(ae), BATCH):
        chunk = ae.iloc[i : i + BATCH]
        rows = [
            _event_row(r, study_id, subjects, taken, drug_keys, te_flag, pre, now)
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


def _event_row(r, study_id, subjects, taken, drug_keys, te_flag, pre, now) -> dict:  # type: ignore[no-untyped-def]
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
        "aecontrt": r.get("AECONTRT") or None, "aesi": "",
        "aegrpid": r.get("AEGRPID") or None, "aespid": r.get("AESPID") or None,
        "preexisting": False, "initial_grade": None, "worsened_dtc": None,
        **pre.get((r["USUBJID"], r["AESEQ"]), {}),
        "sponsor_te_flag": te_flag.get((r["USUBJID"], r["AESEQ"])),
        "created_at": now, "updated_at": now, "submitted_at": now,
    }  # fmt: skip


class _Problems(list[str]):
    """Bad values found while reading the datasets: all are listed (up to MAX_PROBLEMS) and
    the import is refused before anything is written."""

    def add(self, dataset: str, pos: int, usubjid: str, column: str, problem: str) -> None:
        self.append(
            _(
                "%(dataset)s record %(row)s (USUBJID %(usubjid)s), %(column)s: %(problem)s",
                dataset=dataset, row=pos + 1, usubjid=usubjid, column=column, problem=problem,
            )
        )  # fmt: skip

    def raise_any(self) -> None:
        if self:
            shown = "; ".join(self[:MAX_PROBLEMS])
            more = len(self) - MAX_PROBLEMS
            if more > 0:
                shown += " " + _("(and %(n)s more)", n=more)
            raise SDTMImportError(_("values that cannot be imported: %(list)s", list=shown))


def _seq(text: str) -> str:
    """An AESEQ / IDVARVAL as the AE dataset's whole-number text ("3.0" -> "3")."""
    try:
        return str(int(float(text)))
    except ValueError:
        return text


def _dtc(text: str) -> tuple[str | None, str | None]:
    """(the ISO 8601 text, None) or (None, the problem); partial dates allowed."""
    try:
        return parse_dtc(text).text, None
    except ValueError as exc:
        return None, str(exc)


def _first_doses(ex: pd.DataFrame) -> dict[str, date]:
    """Each subject's first dose day: the earliest EXSTDTC (partial dates as stored, at the
    first day of their period), as the analysis reads the exposure rows."""
    first: dict[str, date] = {}
    for u, text in zip(ex["USUBJID"], ex["EXSTDTC"], strict=True):
        start, _imputed = _moment(text)
        if start is not None and (u not in first or start.date() < first[u]):
            first[u] = start.date()
    return first


def _subject_fields(
    frames: dict[str, pd.DataFrame], first_dose: dict[str, date]
) -> dict[str, dict]:  # type: ignore[type-arg]
    """Per USUBJID the Subject columns read from DM, DS, VS and DD (module docstring)."""
    problems = _Problems()
    dm = frames["DM"]
    people: dict[str, dict] = {}  # type: ignore[type-arg]
    for pos, r in enumerate(dm.to_dict("records")):
        u = r["USUBJID"]
        race = r.get("RACE", "")
        if len(race) > 60:
            problems.add("DM", pos, u, "RACE", _("longer than 60 characters"))
        flag = r.get("DTHFL", "").upper()
        if flag not in ("", "Y", "N"):
            problems.add("DM", pos, u, "DTHFL", _("'%(value)s' is not Y or empty", value=flag))
        death, problem = _dtc(r["DTHDTC"]) if r.get("DTHDTC") else (None, None)
        if problem:
            problems.add("DM", pos, u, "DTHDTC", problem)
        people[u] = {
            "race": race or None, "height_cm": None, "weight_kg": None,
            "died": flag == "Y" or death is not None, "death_date": death, "death_cause": None,
            "disposition": None, "disposition_date": None, "disposition_reason": None,
            "consent_date": _date(r.get("RFICDTC", "")), "randomization_date": None,
            "end_of_study_date": _date(r.get("RFPENDTC", "")) or _date(r.get("RFENDTC", "")),
        }  # fmt: skip
    if "DS" in frames:
        _disposition(frames["DS"], people, problems)
    if "VS" in frames:
        _vital_signs(frames["VS"], people, first_dose, problems)
    if "DD" in frames:
        _death_details(frames["DD"], people, problems)
    problems.raise_any()
    return people


def _disposition(ds: pd.DataFrame, people: dict[str, dict], problems: _Problems) -> None:  # type: ignore[type-arg]
    has_cat = "DSCAT" in ds.columns
    chosen: dict[str, tuple[float, int, dict[str, str]]] = {}
    for pos, r in enumerate(ds.to_dict("records")):
        u, decod = r["USUBJID"], r["DSDECOD"].strip()
        when, problem = _dtc(r["DSSTDTC"]) if r["DSSTDTC"] else (None, None)
        if problem:
            problems.add("DS", pos, u, "DSSTDTC", problem)
            continue
        if decod.upper() in MILESTONES:
            day = _date(when or "")
            if decod.upper() == "RANDOMIZED" and day:
                people[u]["randomization_date"] = day
            elif day and people[u]["consent_date"] is None:
                people[u]["consent_date"] = day
            continue
        if has_cat and r["DSCAT"].upper() != "DISPOSITION EVENT":
            continue
        if not decod:
            problems.add("DS", pos, u, "DSDECOD", _("empty on a disposition event"))
            continue
        if len(decod) > 60:
            problems.add("DS", pos, u, "DSDECOD", _("longer than 60 characters"))
            continue
        # latest by DSSTDTC (its earliest possible instant; undated records first), then
        # by position: the last of equal dates wins
        order = parse_dtc(when).earliest.timestamp() if when else float("-inf")
        if u not in chosen or (order, pos) >= chosen[u][:2]:
            chosen[u] = (order, pos, {"decod": decod, "date": when or "",
                                      "term": r.get("DSTERM", "")})  # fmt: skip
    for u, (_order, _pos, rec) in chosen.items():
        person = people[u]
        person["disposition"] = rec["decod"]
        person["disposition_date"] = rec["date"] or None
        person["disposition_reason"] = rec["term"] or None
        if rec["decod"].upper() == "DEATH":
            person["died"] = True
            if person["death_date"] is None and rec["date"]:
                person["death_date"] = rec["date"]


def _vital_signs(vs: pd.DataFrame, people: dict[str, dict], first_dose: dict[str, date],  # type: ignore[type-arg]
                 problems: _Problems) -> None:  # fmt: skip
    std = "VSSTRESN" in vs.columns
    value_col, unit_col = ("VSSTRESN", "VSSTRESU") if std else ("VSORRES", "VSORRESU")
    if value_col not in vs.columns:
        lacks = _("%(dataset)s lacks %(a)s or %(b)s", dataset="VS", a="VSSTRESN", b="VSORRES")
        raise MissingColumnsError(_("missing required columns: %(list)s", list=lacks))
    # per (subject, test): (is baseline flag, day or None, position, value in target unit)
    found: dict[tuple[str, str], list[tuple[bool, date | None, int, float]]] = {}
    for pos, r in enumerate(vs.to_dict("records")):
        u, test = r["USUBJID"], r["VSTESTCD"].upper()
        if test not in VS_TESTS or not r.get(value_col, ""):
            continue
        target, factors = VS_TESTS[test]
        unit = r.get(unit_col, "").strip()
        try:
            value = float(r[value_col])
        except ValueError:
            problems.add("VS", pos, u, value_col,
                         _("'%(value)s' is not a number", value=r[value_col]))  # fmt: skip
            continue
        if not np.isfinite(value) or value <= 0:
            problems.add("VS", pos, u, value_col,
                         _("'%(value)s' is not a positive number", value=r[value_col]))  # fmt: skip
            continue
        if unit.upper() not in factors:
            problems.add("VS", pos, u, unit_col or "VSORRESU", _(
                "unit '%(unit)s' is not one of %(units)s", unit=unit,
                units=", ".join(u.lower() for u in factors)))  # fmt: skip
            continue
        converted = round(value * factors[unit.upper()], 3)
        lo, hi = VS_RANGES[target]
        if not lo <= converted <= hi:
            problems.add("VS", pos, u, value_col, _(
                "%(value)s %(unit)s is outside %(lo)s to %(hi)s %(target_unit)s",
                value=r[value_col], unit=unit, lo=format(lo, "g"), hi=format(hi, "g"),
                target_unit=target.rsplit("_", 1)[1]))  # fmt: skip
            continue
        when, problem = _dtc(r["VSDTC"]) if r.get("VSDTC") else (None, None)
        if problem:
            problems.add("VS", pos, u, "VSDTC", problem)
            continue
        day = parse_dtc(when).earliest_date if when else None
        flagged = r.get("VSBLFL", "").upper() == "Y"
        found.setdefault((u, target), []).append((flagged, day, pos, converted))
    for (u, target), rows in found.items():
        flagged = [x for x in rows if x[0]]
        dose = first_dose.get(u)
        if flagged:
            pick = flagged
        elif dose is not None:
            pick = [x for x in rows if x[1] is not None and x[1] <= dose]
        else:
            pick = rows
        if pick:
            best = max(pick, key=lambda x: (x[1] or date.min, x[2]))
            people[u][target] = best[3]


def _death_details(dd: pd.DataFrame, people: dict[str, dict], problems: _Problems) -> None:  # type: ignore[type-arg]
    column = "DDSTRESC" if "DDSTRESC" in dd.columns else "DDORRES"
    if column not in dd.columns:
        lacks = _("%(dataset)s lacks %(a)s or %(b)s", dataset="DD", a="DDSTRESC", b="DDORRES")
        raise MissingColumnsError(_("missing required columns: %(list)s", list=lacks))
    for pos, r in enumerate(dd.to_dict("records")):
        if r["DDTESTCD"].upper() != "PRCDTH":
            continue
        cause = r.get(column, "") or r.get("DDORRES", "")
        if not cause:
            problems.add("DD", pos, r["USUBJID"], column, _("empty primary cause of death"))
            continue
        people[r["USUBJID"]]["death_cause"] = cause
        people[r["USUBJID"]]["died"] = True


def _preexisting(
    ae: pd.DataFrame, supp: pd.DataFrame | None, first_dose: dict[str, date], warnings: list[str]
) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    """Per AE (USUBJID, AESEQ): preexisting, initial_grade and worsened_dtc from the SUPPAE
    qualifiers AEITOXGR, AEPREEX and AEWRSDTC (module docstring)."""
    out: dict[tuple[str, str], dict] = {}  # type: ignore[type-arg]
    if supp is None:
        return out
    rows = supp[supp["QNAM"].str.upper().isin(PRE_QNAMS)]
    if rows.empty:
        return out
    problems = _Problems()
    index: dict[tuple[str, str, str], list[str]] = {}
    for r in ae.to_dict("records"):
        for key in SUPP_KEYS:
            if r.get(key):
                value = _seq(r[key]) if key == "AESEQ" else r[key]
                index.setdefault((r["USUBJID"], key, value), []).append(r["AESEQ"])
    onset = dict(zip(zip(ae["USUBJID"], ae["AESEQ"], strict=True), ae["AESTDTC"], strict=True))
    explicit: dict[tuple[str, str], bool] = {}
    for pos, r in zip(rows.index, rows.to_dict("records"), strict=True):
        pos = supp.index.get_loc(pos)
        u, qnam, qval, idvar = r["USUBJID"], r["QNAM"].upper(), r["QVAL"].strip(), r["IDVAR"]
        idvar = idvar.upper()
        if idvar not in SUPP_KEYS:
            problems.add("SUPPAE", pos, u, "IDVAR", _(
                "%(qnam)s must be keyed by %(keys)s, not '%(idvar)s'",
                qnam=qnam, keys=", ".join(SUPP_KEYS), idvar=r["IDVAR"]))  # fmt: skip
            continue
        key = _seq(r["IDVARVAL"]) if idvar == "AESEQ" else r["IDVARVAL"]
        targets = index.get((u, idvar, key))
        if not targets:
            problems.add("SUPPAE", pos, u, "IDVARVAL", _(
                "%(qnam)s: no AE record of this subject has %(idvar)s %(value)s",
                qnam=qnam, idvar=idvar, value=r["IDVARVAL"]))  # fmt: skip
            continue
        if qnam == "AEITOXGR":
            if not re.fullmatch(r"[1-5](\.0)?", qval):
                problems.add("SUPPAE", pos, u, f"QVAL ({qnam})", _(
                    "AEITOXGR '%(value)s' is not a grade 1 to 5", value=qval))  # fmt: skip
                continue
            for seq in targets:
                out.setdefault((u, seq), {})["initial_grade"] = int(float(qval))
        elif qnam == "AEPREEX":
            if qval.upper() not in ("Y", "N"):
                problems.add("SUPPAE", pos, u, f"QVAL ({qnam})", _(
                    "AEPREEX '%(value)s' is not Y or N", value=qval))  # fmt: skip
                continue
            for seq in targets:
                explicit[(u, seq)] = qval.upper() == "Y"
        else:  # AEWRSDTC
            when, problem = _dtc(qval)
            if problem:
                problems.add("SUPPAE", pos, u, f"QVAL ({qnam})", problem)
                continue
            for seq in targets:
                out.setdefault((u, seq), {})["worsened_dtc"] = when
    problems.raise_any()
    records = {(r["USUBJID"], r["AESEQ"]): (pos, r) for pos, r in enumerate(ae.to_dict("records"))}
    dropped = 0
    for k in sorted(set(out) | set(explicit)):
        values = out.setdefault(k, {})
        pre = explicit.get(k)
        if pre is None:
            before = _before(onset.get(k, ""), first_dose.get(k[0]))
            pre = "worsened_dtc" in values or ("initial_grade" in values and before)
        values["preexisting"] = pre
        if not pre and values.pop("initial_grade", None) is not None:
            dropped += 1
        _consistent(k, values, *records[k], problems)
    problems.raise_any()
    if dropped:
        warnings.append(
            ngettext(
                "SUPPAE AEITOXGR of %(num)d event not kept: it is not known to have started "
                "before the first dose (a grade at the first dose is only for a condition "
                "present before it)",
                "SUPPAE AEITOXGR of %(num)d events not kept: they are not known to have "
                "started before the first dose (a grade at the first dose is only for a "
                "condition present before it)",
                dropped,
            )
        )
    return out


def _consistent(key: tuple[str, str], values: dict, pos: int, r: dict[str, str],  # type: ignore[type-arg]
                problems: _Problems) -> None:  # fmt: skip
    """The subject form's rules of a pre-existing condition (pv.events.rules), so that an
    imported event can be edited there: no worsening date without the flag, the grade at
    the first dose not above the event's grade, the worsening within the event's dates."""
    u = key[0]
    worse = values.get("worsened_dtc")
    if worse and not values["preexisting"]:
        problems.add("AE", pos, u, "AESEQ " + key[1], _(
            "a worsening date (AEWRSDTC %(worse)s) on an event whose AEPREEX is N",
            worse=worse))  # fmt: skip
    initial, grade = values.get("initial_grade"), r.get("AETOXGR", "")
    if initial is not None and re.fullmatch(r"[1-5](\.0)?", grade) and initial > float(grade):
        problems.add("AE", pos, u, "AETOXGR", _(
            "the grade at the first dose (AEITOXGR %(initial)s) is above the event's grade "
            "(AETOXGR %(grade)s)", initial=initial, grade=int(float(grade))))  # fmt: skip
    if not worse:
        return
    w = parse_dtc(worse)
    for column, text in (("AESTDTC", r.get("AESTDTC", "")), ("AEENDTC", r.get("AEENDTC", ""))):
        try:
            bound = parse_dtc(text) if text else None
        except ValueError:
            continue
        if bound is None:
            continue
        if column == "AESTDTC" and w.latest < bound.earliest:
            problems.add("AE", pos, u, column, _(
                "the worsening (AEWRSDTC %(worse)s) is before the onset (%(onset)s)",
                worse=worse, onset=text))  # fmt: skip
        if column == "AEENDTC" and w.earliest > bound.latest:
            problems.add("AE", pos, u, column, _(
                "the worsening (AEWRSDTC %(worse)s) is after the end (%(end)s)",
                worse=worse, end=text))  # fmt: skip


def _before(onset: str, first: date | None) -> bool:
    """Whether an onset (possibly partial) is surely before the first dose day."""
    if not onset or first is None:
        return False
    try:
        return parse_dtc(onset).latest_date < first
    except ValueError:
        return False


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
