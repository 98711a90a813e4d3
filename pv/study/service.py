"""The only write path for studies, arms, drugs, sites and subjects."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlmodel import Session, select

from pv.audit.service import Actor, diff, record
from pv.events.dates import PartialDate, parse_dtc
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.inputs import AGE_RANGE, MAX_LENGTH, WEIGHT_KG_RANGE, identifier_problem, text_problem
from pv.labels import register
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
    "conditions",
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
    "race",
    "height_cm",
    "died",
    "death_date",
    "death_cause",
    "disposition",
    "disposition_date",
    "disposition_reason",
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
    race: str | None = None,
    height_cm: float | None = None,
) -> Subject:
    """Create a subject. USUBJID is STUDYID-SITE-SUBJID, as SDTM builds it.

    The one write path of a subject, so every caller (form, API, CLI, demo) gets the input
    rules of `subject_problems` (and the baseline rules of `baseline_problems`): StudyError
    with `problems` lists every refusal. The end of study, death and disposition are set
    later, with `update_subject`.
    """
    subjid = subjid.strip()
    problems = subject_problems(subjid=subjid, consent_date=consent_date,
                                randomization_date=randomization_date, today=today())  # fmt: skip
    problems += baseline_problems({"race": race, "height_cm": height_cm})
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
        race=race,
        height_cm=height_cm,
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


# --- baseline, end of study, death and disposition (issue 14) -------------------------------

# SDTM controlled terminology C74457 (DM RACE); MULTIPLE as the SDTM IG allows.
RACES = (
    "AMERICAN INDIAN OR ALASKA NATIVE", "ASIAN", "BLACK OR AFRICAN AMERICAN",
    "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", "WHITE", "MULTIPLE", "OTHER", "NOT REPORTED",
    "UNKNOWN",
)  # fmt: skip
# SDTM controlled terminology C66727 (DS DSDECOD, completion / reason for non-completion).
DISPOSITIONS = (
    "COMPLETED", "ADVERSE EVENT", "DEATH", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP",
    "PHYSICIAN DECISION", "LACK OF EFFICACY", "PROTOCOL DEVIATION", "OTHER",
)  # fmt: skip
register("race", {
    "AMERICAN INDIAN OR ALASKA NATIVE": N_("American Indian or Alaska Native"),
    "ASIAN": N_("Asian"),
    "BLACK OR AFRICAN AMERICAN": N_("Black or African American"),
    "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER": N_("Native Hawaiian or other Pacific Islander"),
    "WHITE": N_("White"),
    "MULTIPLE": N_("Multiple"),
    "OTHER": N_("Other"),
    "NOT REPORTED": N_("Not reported"),
    "UNKNOWN": N_("Unknown"),
})  # fmt: skip
register("disposition", {
    "COMPLETED": N_("Completed"),
    "ADVERSE EVENT": N_("Adverse event"),
    "DEATH": N_("Death"),
    "WITHDRAWAL BY SUBJECT": N_("Withdrawal by subject"),
    "LOST TO FOLLOW-UP": N_("Lost to follow-up"),
    "PHYSICIAN DECISION": N_("Physician decision"),
    "LACK OF EFFICACY": N_("Lack of efficacy"),
    "PROTOCOL DEVIATION": N_("Protocol deviation"),
    "OTHER": N_("Other"),
})  # fmt: skip
HEIGHT_CM_RANGE = (30, 250)
CAUSE_MAX = 200  # death_cause, disposition_reason: one line of text
DATE_MAX = 20  # the ISO 8601 text columns (death_date, disposition_date)
# What `update_subject` may change (USUBJID, site, arm, consent and randomization may not).
UPDATABLE = (
    "sex", "age", "weight_kg", "race", "height_cm", "end_of_study_date", "died", "death_date",
    "death_cause", "disposition", "disposition_date", "disposition_reason",
)  # fmt: skip
_TEXT = ("race", "death_date", "death_cause", "disposition", "disposition_date",
         "disposition_reason")  # fmt: skip


def baseline_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules of the baseline fields present in `values` (sex, age, weight, race,
    height): ranges and controlled terms, every problem at once."""
    problems: list[tuple[str, str]] = []
    sex = values.get("sex")
    if sex is not None and sex not in ("M", "F", "U"):
        problems.append(("sex", _("M, F or U")))
    for name, (lo, hi), kind in (("age", AGE_RANGE, int), ("weight_kg", WEIGHT_KG_RANGE, float),
                                 ("height_cm", HEIGHT_CM_RANGE, float)):  # fmt: skip
        v = values.get(name)
        if v is None:
            continue
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if ok and kind is int and not isinstance(v, int):
            ok = False
        if not ok or not lo <= v <= hi:
            problems.append((name, _("a number from %(lo)s to %(hi)s", lo=lo, hi=hi)))
    race = values.get("race")
    if race is not None and race not in RACES:
        allowed = ", ".join(RACES)
        problems.append(("race", _("'%(value)s' is not one of: %(allowed)s", value=race,
                                   allowed=allowed)))  # fmt: skip
    return problems


def _partial(problems: list[tuple[str, str]], name: str, value: str | None, today: date
             ) -> PartialDate | None:  # fmt: skip
    """An ISO 8601 date, partial allowed (DTHDTC, DSSTDTC), not in the future."""
    if value is None:
        return None
    try:
        d = parse_dtc(value)
    except ValueError as exc:
        problems.append((name, str(exc)))
        return None
    if d.earliest.date() > today:
        problems.append((name, _("%(value)s is in the future", value=value)))
        return None
    return d


def end_of_study_problems(state: dict[str, Any], *, consent_date: date | None,
                          randomization_date: date | None, today: date,
                          death_date_unknown: bool = False) -> list[tuple[str, str]]:  # fmt: skip
    """The rules of a subject's end of study, death and disposition, on the values it would
    hold (`state`: UPDATABLE fields), every problem at once, each naming its field:

    - the disposition (DSDECOD) is one of DISPOSITIONS; its date (DSSTDTC, ISO 8601, partial
      allowed) is required with it, its reason (DSTERM) when it is OTHER; neither without it;
    - the end of study (RFENDTC, a day) needs a disposition; it is not before the disposition
      date;
    - death (DTHFL): its date (DTHDTC, partial allowed) is required unless declared unknown
      (`death_date_unknown`); a date or primary cause of death needs 'died'; a disposition
      DEATH means the subject died; neither the end of study nor the disposition is after
      the death;
    - no date is in the future or before informed consent; the end of study is not before
      randomization.
    """
    problems: list[tuple[str, str]] = []
    for name in ("death_cause", "disposition_reason"):
        v = state.get(name)
        if v is not None and (p := text_problem(v, max_length=CAUSE_MAX)) is not None:
            problems.append((name, p))
    refused = {n for n, _p in problems}
    for name in ("death_date", "disposition_date", "disposition"):
        v = state.get(name)
        if v is not None and (p := text_problem(v, max_length=DATE_MAX if name != "disposition"
                                                else 60)) is not None:  # fmt: skip
            problems.append((name, p))
            refused.add(name)
    disposition = state.get("disposition")
    if disposition is not None and "disposition" not in refused and disposition not in DISPOSITIONS:
        problems.append(
            (
                "disposition",
                _(
                    "'%(value)s' is not one of: %(allowed)s",
                    value=disposition,
                    allowed=", ".join(DISPOSITIONS),
                ),
            )
        )
    dispo_text = state.get("disposition_date")
    dispo = _partial(
        problems, "disposition_date", None if "disposition_date" in refused else dispo_text, today
    )
    death_text = state.get("death_date")
    death = _partial(problems, "death_date", None if "death_date" in refused else death_text,
                     today)  # fmt: skip
    end = state.get("end_of_study_date")
    if end is not None and end > today:
        problems.append(("end_of_study_date", _("%(value)s is in the future", value=end)))
        end = None
    if disposition is None:
        if dispo_text is not None:
            problems.append(("disposition_date", _("a disposition date needs a disposition")))
        if state.get("disposition_reason") is not None:
            problems.append(("disposition_reason", _("a reason needs a disposition")))
        if end is not None:
            problems.append(("end_of_study_date",
                             _("the end of study needs a disposition (how the subject ended "
                               "the study)")))  # fmt: skip
    else:
        if dispo_text is None:
            problems.append(("disposition_date", _("the date of the disposition is required")))
        if disposition == "OTHER" and state.get("disposition_reason") is None:
            problems.append(("disposition_reason",
                             _("say what the other reason is")))  # fmt: skip
    # Death.
    died = bool(state.get("died"))
    if died:
        if death_text is None and not death_date_unknown:
            problems.append(("death_date", _("the date of death is required; tick 'date "
                                             "unknown' if it is not known")))  # fmt: skip
    else:
        if death_text is not None:
            problems.append(("death_date", _("a date of death needs 'died'")))
        if state.get("death_cause") is not None:
            problems.append(("death_cause", _("a cause of death needs 'died'")))
        if disposition == "DEATH":
            problems.append(("died", _("the disposition DEATH means the subject died: tick "
                                       "'died'")))  # fmt: skip
    # Order of the dates.
    starts = [(consent_date, "consent"), (randomization_date, "randomization")]
    for name, earliest in (("disposition_date", dispo), ("death_date", death)):
        if earliest is not None and consent_date is not None \
                and earliest.latest.date() < consent_date:  # fmt: skip
            problems.append((name, _("%(value)s is before informed consent (%(consent)s)",
                                     value=earliest.text, consent=consent_date)))  # fmt: skip
    if end is not None:
        for start, what in starts:
            if start is not None and end < start:
                message = (_("the end of study (%(end)s) is before informed consent "
                             "(%(start)s)", end=end, start=start) if what == "consent" else
                           _("the end of study (%(end)s) is before randomization (%(start)s)",
                             end=end, start=start))  # fmt: skip
                problems.append(("end_of_study_date", message))
                break
        else:
            if dispo is not None and dispo.earliest.date() > end:
                problems.append(("disposition_date",
                                 _("the disposition (%(disposition)s) is after the end of study "
                                   "(%(end)s)", disposition=dispo.text, end=end)))  # fmt: skip
    if death is not None and died:
        if end is not None and end > death.latest.date():
            problems.append(("end_of_study_date",
                             _("the end of study (%(end)s) is after the death (%(death)s)",
                               end=end, death=death.text)))  # fmt: skip
        if dispo is not None and dispo.earliest > death.latest:
            problems.append(
                (
                    "disposition_date",
                    _(
                        "the disposition (%(disposition)s) is after the death (%(death)s)",
                        disposition=dispo.text,
                        death=death.text,
                    ),
                )
            )
    return problems


def update_subject(*, session: Session, actor: Actor, subject: Subject,
                   reason: str | None = None, death_date_unknown: bool = False,
                   **changes: Any) -> Subject:  # fmt: skip
    """Change a subject's baseline, end of study, death or disposition (UPDATABLE fields,
    Python values: `end_of_study_date` a date, `died` a bool, `height_cm` a number, the DTC
    dates ISO 8601 text); fields not given keep their values, None clears one.

    The one write path of these fields (form, API, demo). Every rule of `baseline_problems`
    and `end_of_study_problems` is checked on the values the subject would hold; StudyError
    with `problems` lists every refusal and nothing is changed. A change is audited (action
    "update" of the subject, old and new value of each field, with `reason`). Who may change
    the subject is the caller's check, as for `add_subject` (investigators: their sites).
    `death_date_unknown`: the subject died on a date no one knows (DTHDTC left empty).
    """
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"update_subject: not updatable: {', '.join(sorted(unknown))}")
    values = dict(changes)
    for name in _TEXT:
        v = values.get(name)
        if isinstance(v, str):
            values[name] = v.strip() or None
    before = _values(subject, UPDATABLE)
    state = {**before, **values}
    state["died"] = bool(state.get("died"))
    problems = baseline_problems(
        {k: state[k] for k in ("sex", "age", "weight_kg", "race", "height_cm") if k in values}
    )
    # A death already stored without a date stays accepted until 'died' or its date changes.
    unknown_ok = death_date_unknown or not ({"died", "death_date"} & set(values))
    problems += end_of_study_problems(state, consent_date=subject.consent_date,
                                      randomization_date=subject.randomization_date,
                                      today=today(), death_date_unknown=unknown_ok)  # fmt: skip
    if death_date_unknown and state["died"] and state.get("death_date") is not None:
        problems.append(("death_date", _("either a date of death or 'date unknown', not both")))
    reason = (reason or "").strip() or None
    if reason is not None and (p := text_problem(reason, max_length=MAX_LENGTH["reason"],
                                                 multiline=True)) is not None:  # fmt: skip
        problems.append(("reason", p))
    if problems:
        raise StudyError.invalid(problems)
    changed = diff(before, state)
    if not changed:
        return subject
    for name in changed:
        setattr(subject, name, state[name])
    session.add(subject)
    session.flush()
    record(session=session, actor=actor, action="update", entity_type="subject",
           entity_id=subject.id, study_id=subject.study_id, site_id=subject.site_id,
           changes=changed, reason=reason)  # fmt: skip
    return subject
