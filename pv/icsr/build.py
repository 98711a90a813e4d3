"""build_case(session, event_id) -> Case: one serious event as its expedited report says it.

Where the data comes from:
- the event (as reported and coded), its subject, site and arm, the study record;
- the SAE case data (pv.icsr.models.SaeCase, read from its table): the reporter's name,
  qualification, country and contact where given, else the user who reported the event
  (their full name), at the site's country, a physician (C.2.r.4 = 1: the site's
  investigator); hospital admission and discharge; medical history; concomitant
  medications; tests; death details (None when none are given); dechallenge and
  rechallenge per study drug;
- the suspect and concomitant drugs: the subject's study drugs with their doses up to the
  onset (exposure records); a drug is suspect when the sponsor's assessment lists it
  (WHO-UMC certain/probable/possible, or the investigator's RELATED / POSSIBLY RELATED:
  pv.review), else the study drug is reported as concomitant;
- the dates: first received is the awareness date of the sponsor's assessment (day 0 of the
  clocks), else the day the site submitted the event; most recent is the later of that and
  the event's last change;
- each study drug's indication: the study's condition (`study_indication`);
- the version: the caller's (`version`, default 1); report versions are numbered by
  pv.icsr.versions, which freezes this case. The sender's safety report id (C.1.1) is the
  worldwide case id (C.1.8.1) for every version: see pv.icsr.versions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, col, select

from pv.auth.models import User
from pv.events.models import SERIOUS_CRITERIA, AdverseEvent
from pv.events.service import subject_drugs
from pv.exposure.models import Exposure
from pv.icsr.case import (
    MEDDRA_VERSION,
    Case,
    ConMed,
    Death,
    Dose,
    HistoryItem,
    LabTest,
    Patient,
    Reaction,
    Reporter,
    SignatureLine,
    Study,
    SuspectDrug,
    language_of,
)
from pv.icsr.models import SaeCase
from pv.review.models import Assessment, ExpeditedReport, ReportKind
from pv.review.signing import event_signatures
from pv.study.models import Arm, Site, Subject
from pv.study.models import Study as StudyRow
from pv.timeutil import today

SENDER_CODE = "PVTRACKER"
# ISO 3166-1 alpha-2 of the countries a ClinicalTrials.gov record names (its location
# country is an English name); a name not listed is kept out of country fields (unknown).
COUNTRIES = {
    "china": "CN", "united states": "US", "japan": "JP", "korea, republic of": "KR",
    "taiwan": "TW", "hong kong": "HK", "singapore": "SG", "united kingdom": "GB",
    "germany": "DE", "france": "FR", "italy": "IT", "spain": "ES", "canada": "CA",
    "australia": "AU", "netherlands": "NL", "belgium": "BE", "switzerland": "CH",
    "sweden": "SE", "denmark": "DK", "norway": "NO", "poland": "PL", "brazil": "BR",
    "india": "IN", "mexico": "MX",
}  # fmt: skip


class CaseError(LookupError):
    """No case: the event does not exist or is not serious."""


def country_code(name: str | None) -> str | None:
    if not name:
        return None
    text = name.strip()
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return COUNTRIES.get(text.lower())


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else (
            value.isoformat(timespec="minutes"))  # fmt: skip
    return value.isoformat()


def study_indication(study: StudyRow) -> str | None:
    """The study's conditions (ClinicalTrials.gov conditionsModule, stored at import), the
    indication of its study drugs (G.k.7.r.1, CIOMS 17); None (unknown) without them."""
    return study.conditions or None


def _text(value: object) -> str | None:
    """A stored value as written (numbers of a test result keep their digits)."""
    if value is None or value == "":
        return None
    return str(value)


def _number(value: object) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _history(row: SaeCase | None) -> tuple[HistoryItem, ...]:
    items = (row.medical_history if row else None) or []
    return tuple(
        HistoryItem(term=str(x.get("term") or ""), start=_text(x.get("start")),
                    ongoing=x.get("ongoing") if isinstance(x.get("ongoing"), bool) else None)
        for x in items if isinstance(x, dict)
    )  # fmt: skip


def _conmeds(row: SaeCase | None) -> tuple[ConMed, ...]:
    items = (row.conmeds if row else None) or []
    return tuple(
        ConMed(name=str(x.get("name") or ""), dose=_number(x.get("dose")),
               unit=_text(x.get("unit")), route=_text(x.get("route")),
               start=_text(x.get("start")), stop=_text(x.get("stop")),
               indication=_text(x.get("indication")))
        for x in items if isinstance(x, dict)
    )  # fmt: skip


def _tests(row: SaeCase | None) -> tuple[LabTest, ...]:
    items = (row.tests if row else None) or []
    return tuple(
        LabTest(name=str(x.get("name") or ""), date=_text(x.get("date")),
                value=_text(x.get("value")), unit=_text(x.get("unit")),
                low=_text(x.get("low")), high=_text(x.get("high")))
        for x in items if isinstance(x, dict)
    )  # fmt: skip


def _death(row: SaeCase | None) -> Death | None:
    if row is None or not any((row.death_date, row.death_cause, row.autopsy, row.autopsy_cause)):
        return None
    return Death(date=row.death_date, cause=row.death_cause, autopsy=row.autopsy,
                 autopsy_cause=row.autopsy_cause)  # fmt: skip


def _clock(reports: list[ExpeditedReport], version: int) -> ExpeditedReport | None:
    """The SUSAR clock a version answers: an initial one for version 1, the follow-up
    clock after it (the 24-hour site clock is not the sponsor's report)."""
    wanted = ("initial_7", "initial_15") if version == 1 else (ReportKind.followup_8.value,)
    mine = [r for r in reports if r.kind in wanted]
    pending = [r for r in mine if r.submitted_date is None]
    chosen = pending or mine
    return chosen[0] if chosen else None


def _onset_key(text: str | None) -> str:
    """Doses count up to the onset: compare ISO text, a partial onset taking its whole
    period ("2021-03" keeps the doses of March)."""
    if not text:
        return "9999"
    return text + "\uffff" if len(text) < 10 else text[:16]


def build_case(session: Session, event_id: int, *, created: date | None = None,
               blinded: bool | None = None, version: int = 1) -> Case:  # fmt: skip
    """`blinded`: whether the report masks the treatment (arm, study drug names); None:
    as the study is (a blinded study's report is masked). Callers pass
    `not pv.blinding.policy.arms_visible(user, study, session=, subject_id=)`.
    `version`: the report version this case is (1 = initial; pv.icsr.versions)."""
    event = session.get(AdverseEvent, event_id)
    if event is None:
        raise CaseError(f"no event {event_id}")
    if not event.aeser:
        raise CaseError(f"event {event_id} is not serious: it has no expedited report")
    subject = session.get(Subject, event.subject_id)
    site = session.get(Site, event.site_id)
    study_row = session.get(StudyRow, event.study_id)
    assert subject is not None and site is not None and study_row is not None
    masked = bool(study_row.blinded) if blinded is None else blinded
    arm = session.get(Arm, subject.arm_id) if subject.arm_id is not None and not masked else None
    assessment = session.exec(select(Assessment).where(Assessment.event_id == event_id)).first()
    reporter_user = session.get(User, event.created_by) if event.created_by else None
    reports = list(session.exec(
        select(ExpeditedReport).where(ExpeditedReport.event_id == event_id,
                                      col(ExpeditedReport.cancelled_at).is_(None))
        .order_by(col(ExpeditedReport.start_date), col(ExpeditedReport.id))
    ))  # fmt: skip
    kind = _clock(reports, version)
    data = session.exec(select(SaeCase).where(SaeCase.event_id == event_id)).first()
    dechallenge = (data.dechallenge if data else None) or {}
    rechallenge = (data.rechallenge if data else None) or {}
    indication = study_indication(study_row)

    onset = _onset_key(event.aestdtc)
    suspects = set(assessment.suspect_drugs) if assessment else set()
    drugs = []
    for drug in subject_drugs(session, subject):
        given = session.exec(
            select(Exposure)
            .where(Exposure.subject_id == subject.id, Exposure.drug_id == drug.id)
            .order_by(col(Exposure.start), col(Exposure.id))
        ).all()
        before = [x for x in given if (_iso(x.start) or "") <= onset]
        rel = (event.aerel or {}).get(drug.key)
        suspect = drug.key in suspects or (
            assessment is None and rel in ("RELATED", "POSSIBLY RELATED"))  # fmt: skip
        drugs.append(SuspectDrug(
            key=drug.key, name=drug.name, role="suspect" if suspect else "concomitant",
            doses=tuple(Dose(dose=x.dose, unit=x.unit, route=x.route, frequency=x.frequency,
                             start=_iso(x.start) or "", end=_iso(x.end)) for x in before),
            first_dose=_iso(given[0].start) if given else None,
            last_dose=_iso(before[-1].start) if before else None,
            action=(event.aeacn or {}).get(drug.key) or None,
            investigator_causality=rel or None,
            sponsor_causality=(assessment.causality.get(drug.key) if assessment else None),
            expectedness=(assessment.expectedness.get(drug.key) if assessment else None),
            dechallenge=dechallenge.get(drug.key) or None,
            rechallenge=rechallenge.get(drug.key) or None,
            indication=indication,
        ))  # fmt: skip

    received = assessment.awareness_date if assessment else (
        event.submitted_at.date() if event.submitted_at else event.created_at.date())  # fmt: skip
    # C.1.5: the latest of day 0 and the last change of the event or of its case data
    changed = [t.date() for t in (event.updated_at, data.updated_at if data else None) if t]
    most_recent = max([received, *changed])
    country = country_code(site.country)
    case_id = f"{country or 'XX'}-{SENDER_CODE}-{study_row.id}-{event.id}"
    term_lang = language_of(event.aeterm)
    return Case(
        case_id=case_id,
        report_id=case_id,  # C.1.1 = C.1.8.1 for the first sender, in every version
        version=version,
        initial=version == 1,
        report_kind=kind.kind if kind else None,
        first_received=received,
        most_recent=most_recent,
        created=created or today(),
        study=Study(
            id=study_row.id,
            registration=study_row.nct_id,
            registration_country="US" if study_row.nct_id else None,
            title=study_row.official_title or study_row.title,
            sponsor=study_row.sponsor,
        ),  # fmt: skip
        sender=study_row.sponsor or SENDER_CODE,
        reporter=Reporter(
            name=(
                data.reporter_name
                if data and data.reporter_name
                else (
                    (reporter_user.full_name or reporter_user.username) if reporter_user else None
                )
            ),
            qualification=(data.reporter_qualification if data else None) or "1",
            organisation=site.name,
            country=(data.reporter_country if data else None) or country,
            contact=data.reporter_contact if data else None,
        ),  # fmt: skip
        patient=Patient(
            id=subject.usubjid,
            subjid=subject.subjid,
            age=subject.age,
            sex=subject.sex if subject.sex in ("M", "F") else None,
            weight_kg=subject.weight_kg,
            arm=arm.label if arm else None,
        ),  # fmt: skip
        reaction=Reaction(
            term=event.aeterm,
            lang=term_lang,
            term_en=event.aeterm_en or (event.aeterm if term_lang == "en" else None),
            llt_code=event.aelltcd,
            llt_name=event.aedecod,
            soc=event.aebodsys,
            meddra_version=MEDDRA_VERSION,
            grade=event.aetoxgr,
            start=event.aestdtc,
            end=event.aeendtc,
            ongoing=event.ongoing,
            outcome=event.aeout,
            criteria={c: bool(getattr(event, c)) for c in SERIOUS_CRITERIA},
        ),  # fmt: skip
        drugs=tuple(drugs),
        treatment=event.aecontrt,
        narrative=event.narrative,
        narrative_lang=language_of(event.narrative),
        susar=bool(assessment and assessment.is_susar),
        blinded=masked,
        fatal_or_life_threatening=bool(assessment and assessment.fatal_or_life_threatening),
        signatures=tuple(
            SignatureLine(
                meaning=x.signature.meaning,
                name=x.signature.signer_name,
                at=x.at,
                version=x.signature.record_version,
                valid=x.valid,
            )
            for x in event_signatures(session, event)
        ),
        hospital_admission=data.hosp_admit_date if data else None,
        hospital_discharge=data.hosp_discharge_date if data else None,
        history=_history(data),
        conmeds=_conmeds(data),
        tests=_tests(data),
        death=_death(data),
    )
