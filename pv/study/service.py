"""The only write path for studies, arms, drugs, sites and subjects."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlmodel import Session, select

from pv.audit.service import Actor, diff, record
from pv.i18n import gettext as _
from pv.inputs import MAX_LENGTH, identifier_problem, text_problem
from pv.study.ctgov import StudySpec, blinded_from_masking
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.timeutil import today, utcnow

_STUDY_FIELDS = (
    "title",
    "official_title",
    "sponsor",
    "phase",
    "overall_status",
    "study_type",
    "allocation",
    "masking",
    "enrollment",
    "start_date",
    "completion_date",
    "brief_summary",
    "min_age_years",
    "max_age_years",
    "sex",
)


class StudyError(ValueError):
    """A request the study data cannot satisfy; the message says why.

    `problems` lists (field, message) pairs when the input itself was refused (every problem
    at once, each naming its field); it is empty for a conflict with stored data.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    @classmethod
    def invalid(cls, problems: list[tuple[str, str]]) -> StudyError:
        return cls("; ".join(f"{f}: {m}" for f, m in problems), problems)


def subject_problems(
    *,
    subjid: str,
    consent_date: date | None,
    randomization_date: date | None,
    today: date,
) -> list[tuple[str, str]]:
    """The input rules of a subject, every problem at once: SUBJID is an identifier
    (`pv.inputs`), no date lies in the future, and randomization is not before consent
    (the same day is allowed)."""
    problems = []
    if (p := identifier_problem(subjid, max_length=MAX_LENGTH["subjid"])) is not None:
        problems.append(("subjid", p))
    for name, value in (("consent_date", consent_date), ("randomization_date",
                                                          randomization_date)):  # fmt: skip
        if value is not None and value > today:
            problems.append((name, _("%(value)s is in the future", value=value)))
    if consent_date and randomization_date and randomization_date < consent_date:
        problems.append(("randomization_date",
                         _("randomization (%(randomization)s) precedes consent (%(consent)s)",
                           randomization=randomization_date, consent=consent_date)))  # fmt: skip
    return problems


def drug_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]


def _values(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


def import_ctgov(*, session: Session, actor: Actor, spec: StudySpec) -> tuple[Study, bool]:
    """Create the study from a parsed record, or update it when the NCT id exists.

    Returns (study, created). Arms, drugs and sites are matched by label/name; ones
    missing from a newer record are kept (subjects may point at them).
    """
    study = session.exec(select(Study).where(Study.nct_id == spec.nct_id)).first()
    created = study is None
    new_values = {f: getattr(spec, f) for f in _STUDY_FIELDS}
    # Blinded from the record's masking (pv.blinding); on a re-import only when the masking
    # itself changed, so an admin's correction (`pvtracker blinding set`) is kept.
    if study is None or (study.masking or None) != (spec.masking or None):
        new_values["blinded"] = blinded_from_masking(spec.masking)
    if study is None:
        study = Study(id=spec.nct_id, nct_id=spec.nct_id, source="ctgov", **new_values)
        session.add(study)
        changes = diff({}, new_values)
    else:
        changes = diff(_values(study, tuple(new_values)), new_values)
        for k, v in new_values.items():
            setattr(study, k, v)
        study.updated_at = utcnow()
    session.flush()

    drugs: dict[str, Drug] = {
        d.name: d for d in session.exec(select(Drug).where(Drug.study_id == study.id))
    }
    for d in spec.drugs:
        drug = drugs.get(d.name) or Drug(study_id=study.id, name=d.name, key=drug_key(d.name))
        drug.intervention_type = d.intervention_type
        drug.description = d.description
        drug.other_names = "; ".join(d.other_names) or None
        session.add(drug)
        drugs[d.name] = drug
    session.flush()

    arms = {a.label: a for a in session.exec(select(Arm).where(Arm.study_id == study.id))}
    for pos, a in enumerate(spec.arms):
        arm = arms.get(a.label) or Arm(study_id=study.id, label=a.label, code=a.code)
        arm.arm_type, arm.description = a.arm_type, a.description
        arm.is_control, arm.position, arm.code = a.is_control, pos, a.code
        session.add(arm)
        session.flush()
        wanted = {drugs[n].id for n in a.drug_names}
        links = session.exec(select(ArmDrug).where(ArmDrug.arm_id == arm.id)).all()
        for link in links:
            if link.drug_id not in wanted:
                session.delete(link)
        for drug_id in wanted - {link.drug_id for link in links}:
            session.add(ArmDrug(arm_id=arm.id, drug_id=drug_id))  # type: ignore[arg-type]

    sites = {s.name: s for s in session.exec(select(Site).where(Site.study_id == study.id))}
    next_code = len(sites) + 1
    for s in spec.sites:
        site = sites.get(s.name)
        if site is None:
            site = Site(study_id=study.id, code=f"{next_code:02d}", name=s.name)
            next_code += 1
            sites[s.name] = site
        site.city, site.country = s.city, s.country
        session.add(site)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="create" if created else "update",
        entity_type="study",
        entity_id=study.id,
        study_id=study.id,
        changes=changes,
        reason="imported from ClinicalTrials.gov record",
    )
    return study, created


def set_study_language(*, session: Session, actor: Actor, study_id: str, language: str) -> Study:
    """The study's default interface language for its sites' users (en, zh-Hans)."""
    from pv import i18n

    tag = i18n.normalize(language)
    if tag is None:
        raise StudyError(_("%(language)s is not a language of pv-tracker (choose one of: "
                           "%(choices)s)", language=repr(language),
                           choices=", ".join(i18n.LANGUAGES)))  # fmt: skip
    return set_study_setting(session=session, actor=actor, study_id=study_id,
                             field="language", value=tag)  # fmt: skip


# The study settings an admin changes one at a time (language, blinded, DSMB charter).
STUDY_SETTINGS = frozenset({"language", "blinded", "dsmb_open_listings"})


def set_study_setting(*, session: Session, actor: Actor, study_id: str, field: str,
                      value: Any, reason: str | None = None) -> Study:  # fmt: skip
    """Set one study setting; a change is audited (update of the study, with the reason).
    Raises StudyError for an unknown study."""
    if field not in STUDY_SETTINGS:
        raise ValueError(f"not a study setting: {field}")
    study = session.get(Study, study_id)
    if study is None:
        raise StudyError(_("no study %(study)s", study=repr(study_id)))
    if getattr(study, field) != value:
        changes = {field: [getattr(study, field), value]}
        setattr(study, field, value)
        session.add(study)
        session.flush()
        record(session=session, actor=actor, action="update", entity_type="study",
               entity_id=study.id, study_id=study.id, changes=changes,
               reason=reason)  # fmt: skip
    return study


def add_site(
    *,
    session: Session,
    actor: Actor,
    study_id: str,
    code: str,
    name: str,
    city: str | None = None,
    country: str | None = None,
) -> Site:
    if session.get(Study, study_id) is None:
        raise StudyError(_("no study '%(study)s'", study=study_id))
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise StudyError(_("a site needs an id and a name"))
    problems = [(f, p) for f, p in (
        ("site", identifier_problem(code, max_length=MAX_LENGTH["site"])),
        ("site_name", text_problem(name, max_length=MAX_LENGTH["site_name"])),
        ("city", text_problem(city or "", max_length=MAX_LENGTH["site_name"])),
        ("country", text_problem(country or "", max_length=MAX_LENGTH["site_name"])),
    ) if p is not None]  # fmt: skip
    if problems:
        raise StudyError.invalid(problems)
    if session.exec(select(Site).where(Site.study_id == study_id, Site.code == code)).first():
        raise StudyError(
            _("site '%(site)s' already exists in %(study)s", site=code, study=study_id)
        )
    site = Site(study_id=study_id, code=code, name=name, city=city, country=country)
    session.add(site)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="create",
        entity_type="site",
        entity_id=site.id,
        study_id=study_id,
        site_id=site.id,
        changes=diff({}, {"code": code, "name": site.name}),
    )
    return site


SUBJECT_FIELDS = (
    "usubjid",
    "subjid",
    "arm_id",
    "sex",
    "age",
    "weight_kg",
    "consent_date",
    "randomization_date",
    "end_of_study_date",
)


def add_subject(
    *,
    session: Session,
    actor: Actor,
    study_id: str,
    site: Site,
    subjid: str,
    arm: Arm | None = None,
    sex: str | None = None,
    age: int | None = None,
    weight_kg: float | None = None,
    consent_date: date | None = None,
    randomization_date: date | None = None,
    end_of_study_date: date | None = None,
) -> Subject:
    """Create a subject. USUBJID is STUDYID-SITE-SUBJID, as SDTM builds it.

    The one write path of a subject, so every caller (form, API, CLI, demo) gets the input
    rules of `subject_problems`: StudyError with `problems` lists every refusal.
    """
    subjid = subjid.strip()
    problems = subject_problems(subjid=subjid, consent_date=consent_date,
                                randomization_date=randomization_date, today=today())  # fmt: skip
    if problems:
        raise StudyError.invalid(problems)
    if site.study_id != study_id or (arm is not None and arm.study_id != study_id):
        raise StudyError(_("site and arm must belong to the study"))
    usubjid = f"{study_id}-{site.code}-{subjid}"
    if len(usubjid) > MAX_LENGTH["usubjid"]:
        too_long = _(
            "USUBJID %(usubjid)s would be longer than %(n)s characters",
            usubjid=usubjid,
            n=MAX_LENGTH["usubjid"],
        )
        raise StudyError.invalid([("subjid", too_long)])
    if session.exec(
        select(Subject).where(Subject.study_id == study_id, Subject.usubjid == usubjid)
    ).first():
        raise StudyError(_("subject %(usubjid)s already exists", usubjid=usubjid))
    subject = Subject(
        study_id=study_id,
        site_id=site.id,
        usubjid=usubjid,
        subjid=subjid,  # type: ignore[arg-type]
        arm_id=arm.id if arm else None,
        sex=sex,
        age=age,
        weight_kg=weight_kg,
        consent_date=consent_date,
        randomization_date=randomization_date,
        end_of_study_date=end_of_study_date,
    )
    session.add(subject)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="create",
        entity_type="subject",
        entity_id=subject.id,
        study_id=study_id,
        site_id=site.id,
        changes=diff({}, _values(subject, SUBJECT_FIELDS)),
    )
    return subject
