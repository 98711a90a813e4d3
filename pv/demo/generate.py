"""The demo trial: NCT04660565 with 60 simulated subjects, their dosing and their AEs.

Everything is planned in memory first from one `random.Random(seed)` (same seed, same
data: subjects, doses, event texts and dates; the wall clock is never used for data),
then written through the services (`import_ctgov`, `add_subject`, `add_exposure`,
`create_event` with submit=True) in one write transaction, so the demo obeys exactly
the rules real data obeys.

Every act is a person's (issue 13, attributed commands): the demo seeds its admin first,
who loads CTCAE, imports the study, adds the two other sites and creates the other demo
users (DEMO_USERS); each site's investigator (DEMO_INVESTIGATOR_SITES: "investigator" at
site 01, the trial's own Peking Union Medical College Hospital; "investigator2" and
"investigator3" at the invented sites 02 and 03) enters that site's subjects, their dosing,
their events and their end of study; the demo safety officer does the review
(pv.review.demo). The audit trail names them.

Subjects are randomized at one of the sites open that day (SITES), each equally likely.
Baseline: Chinese adults (race ASIAN), about two men to one woman, age around 57 (SD 10),
height and weight by sex. Disposition (DS): most complete 12 months; 2-3 withdraw
consent and 1-2 are lost to follow-up (nothing collected after their last visit); 1-2
stop for a glucocorticoid toxicity that withdrew the study drugs; one dies (the fatal
SUSAR: DM's death date and cause are the fatal event's).

The investigator's causality follows a profile per drug and kind of event (_CAUSALITY):
prednisone mainly for glucocorticoid toxicity, belimumab mainly for infusion reactions,
hypersensitivity and some infections; infections on prednisone alone at most "possibly
related"; background events (falls, headache...) not related. Glucocorticoid toxicity
clusters in susceptible subjects (GC_FRAILTY). The two SUSARs of the
review demo (a fatal sepsis and a serious zoster on the combination) are planted on fixed
dates without a draw, so every seed has the same report clocks (pv.review.demo).

The simulated regimen follows the trial record: prednisone 0.6-0.8 mg/kg/day (a
multiple of 5 mg) for 2-4 weeks, then tapered by 5 mg every 1-2 weeks to 5 mg/day by
week 12, then 5 mg/day to the end of study. For heavier subjects a 5 mg step every week
cannot reach 5 mg/day by month 3 from their starting dose (75 mg needs 14 steps), so the
taper takes 10 mg steps while that is needed to keep the month-3 target. Belimumab
10 mg/kg IV at weeks 0, 2, 4, then every 4 weeks (last at week 48), combination arm only;
an infusion is skipped after a serious infection and stopped after anaphylaxis or death.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import case, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import actor_for, create_user, get_user
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.exposure.service import add_exposure
from pv.review.demo import (
    FATAL_DEATH,
    FATAL_ONSET,
    SHINGLES,
    SUSAR15_ONSET,
    SUSAR15_VERBATIM,
    seed_review,
)
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, ArmDrug, Drug, Site, Subject
from pv.study.service import add_site, add_subject, import_ctgov, update_subject
from pv.terminology.ctcae import load_ctcae

STUDY_RECORD = Path(__file__).with_name("NCT04660565.json")
SITE_CODE = "01"  # the trial's own site (the ClinicalTrials.gov record): the README's investigator
N_SUBJECTS = 60
ENROLMENT_START = date(2021, 1, 11)


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    city: str
    opens: date  # the site's first possible randomization


# Site 01 is the real trial's (from the record); 02 and 03 are invented for the demo. A
# subject is randomized at one of the sites open that day, each equally likely.
SITES = (
    DemoSite(SITE_CODE, "Peking Union Medical College Hospital", "Beijing", ENROLMENT_START),
    DemoSite("02", "Beijing Xicheng Hospital of Rheumatology and Immunology", "Beijing",
             date(2021, 2, 22)),
    DemoSite("03", "Tianjin Haihe University Hospital", "Tianjin", date(2021, 3, 22)),
)  # fmt: skip
ENROLMENT_DAYS = 180
PREDNISONE, BELIMUMAB = "prednisone", "belimumab"
# Belimumab: weeks 0, 2, 4, then every 4 weeks to week 48 (day offsets from the first dose).
INFUSION_DAYS = (0, 14, 28, *range(56, 337, 28))
TAPER_TARGET_DAY = 84  # 5 mg/day reached by week 12 at the latest
GC_FRAILTY = 1.0  # gamma shape of the subjects' susceptibility to GC toxicity (mean 1)

RECOVERED = "RECOVERED/RESOLVED"
RECOVERING = "RECOVERING/RESOLVING"
NOT_RECOVERED = "NOT RECOVERED/NOT RESOLVED"
SEQUELAE = "RECOVERED/RESOLVED WITH SEQUELAE"
FATAL = "FATAL"


@dataclass(frozen=True)
class DemoSummary:
    study_id: str
    subjects_per_arm: dict[str, int]
    events: int
    serious: int
    deaths: int
    events_per_arm: dict[str, int] = field(default_factory=dict)
    subjects_per_site: dict[str, int] = field(default_factory=dict)  # by site code
    created: bool = True  # False when the study already had subjects and nothing was added


# --- The AE catalogue -----------------------------------------------------------------


@dataclass(frozen=True)
class _AE:
    code: str  # CTCAE v5.0 (MedDRA LLT) code
    term: str  # CTCAE term, for reading only
    kind: str  # infection | gc | other | hypersensitivity
    verbatims: tuple[str, ...]
    rate: tuple[float, float]  # expected events per subject-year: (monotherapy, combination)
    grades: tuple[tuple[int, float], ...]  # (grade, weight); only grades CTCAE defines
    timing: str  # early (high-dose months) | infection | any | late
    days: tuple[int, int]  # duration range when it resolves
    chronic: float = 0.0  # probability it is still present at the end of study
    treatment: tuple[str, ...] = ()
    hospital: float = 0.0  # probability a grade >= 3 event is hospitalised (serious)
    cause: str = ""  # the investigator's causality profile (_CAUSALITY); "" = by kind


_CATALOGUE: tuple[_AE, ...] = (
    # Infections (CTCAE codes of the AESI infection grouping).
    _AE("10046300", "Upper respiratory infection", "infection",
        ("URTI", "upper respiratory tract infection", "common cold", "coryza and sore throat",
         "viral URI"),
        (0.4, 0.65), ((2, 0.97), (3, 0.03)), "infection", (5, 14),
        treatment=("symptomatic treatment", "paracetamol", "amoxicillin 500 mg tid 7 days"),
        hospital=1.0),
    _AE("10046571", "Urinary tract infection", "infection",
        ("UTI", "urinary tract infection", "E. coli urinary tract infection",
         "lower urinary tract infection"),
        (0.09, 0.25), ((2, 0.95), (3, 0.05)), "infection", (5, 10),
        treatment=("nitrofurantoin", "levofloxacin 500 mg qd", "fosfomycin"), hospital=1.0),
    _AE("10061229", "Lung infection", "infection",
        ("chest infection", "pneumonia", "community-acquired pneumonia",
         "right lower lobe pneumonia"),
        (0.05, 0.17), ((2, 0.7), (3, 0.3)), "infection", (10, 21),
        treatment=("moxifloxacin 400 mg qd", "amoxicillin-clavulanate",
                   "ceftriaxone and azithromycin IV"), hospital=1.0),
    _AE("10040555", "Shingles", "infection",
        ("herpes zoster", "shingles", "herpes zoster, T6 dermatome", "herpes zoster left flank"),
        (0.03, 0.12), ((1, 0.15), (2, 0.8), (3, 0.05)), "infection", (14, 30),
        treatment=("valaciclovir 1 g tid 7 days", "famciclovir"), hospital=1.0),
    _AE("10040753", "Sinusitis", "infection",
        ("sinusitis", "acute sinusitis", "maxillary sinusitis"),
        (0.04, 0.1), ((2, 1.0),), "infection", (7, 14),
        treatment=("amoxicillin", "nasal saline irrigation")),
    _AE("10034835", "Pharyngitis", "infection",
        ("pharyngitis", "sore throat, bacterial pharyngitis", "tonsillopharyngitis"),
        (0.04, 0.1), ((2, 1.0),), "infection", (4, 10),
        treatment=("amoxicillin", "cefuroxime axetil")),
    _AE("10055078", "Bronchial infection", "infection",
        ("acute bronchitis", "bronchitis", "infective bronchitis"),
        (0.05, 0.12), ((2, 1.0),), "infection", (7, 21),
        treatment=("azithromycin", "cough syrup")),
    _AE("10043649", "Thrush", "infection",
        ("oral thrush", "oral candidiasis"),
        (0.04, 0.08), ((1, 0.6), (2, 0.4)), "early", (5, 14),
        treatment=("nystatin suspension", "fluconazole 50 mg qd"), cause="infection_gc"),
    _AE("10080137", "Herpes simplex reactivation", "infection",
        ("cold sore", "herpes labialis", "HSV reactivation, lip"),
        (0.02, 0.06), ((1, 0.7), (2, 0.3)), "infection", (5, 10),
        treatment=("aciclovir cream", "valaciclovir")),
    _AE("10040872", "Skin infection", "infection",
        ("cellulitis left lower leg", "skin infection", "infected skin abrasion"),
        (0.01, 0.04), ((2, 1.0),), "infection", (7, 14),
        treatment=("cefalexin 500 mg qid",)),
    _AE("10058838", "Enterocolitis infectious", "infection",
        ("infectious gastroenteritis", "acute gastroenteritis"),
        (0.02, 0.05), ((2, 1.0),), "infection", (2, 6),
        treatment=("oral rehydration", "norfloxacin")),
    # Glucocorticoid toxicity (GTI domains), both arms, mostly in the high-dose months.
    _AE("10020639", "Hyperglycemia", "gc",
        ("steroid-induced hyperglycaemia", "raised fasting blood glucose", "hyperglycemia",
         "steroid induced diabetes mellitus"),
        (0.24, 0.22), ((1, 0.3), (2, 0.6), (3, 0.1)), "early", (30, 120), chronic=0.3,
        treatment=("diet", "metformin 500 mg bid", "gliclazide", "insulin glargine"),
        hospital=0.3),
    _AE("10020772", "Hypertension", "gc",
        ("hypertension", "elevated blood pressure", "worsening of hypertension",
         "high blood pressure"),
        (0.18, 0.16), ((1, 0.2), (2, 0.7), (3, 0.1)), "early", (30, 150), chronic=0.45,
        treatment=("amlodipine 5 mg qd", "nifedipine ER", "valsartan 80 mg qd"), cause="gc_mod"),
    _AE("10022437", "Insomnia", "gc",
        ("insomnia", "difficulty sleeping", "poor sleep on high-dose prednisone",
         "sleep disturbance"),
        (0.24, 0.22), ((1, 0.7), (2, 0.3)), "early", (14, 60),
        treatment=("sleep hygiene", "zolpidem 5 mg prn", "estazolam")),
    _AE("10047896", "Weight gain", "gc",
        ("weight gain", "weight increased (+6 kg)", "weight gain, increased appetite"),
        (0.16, 0.14), ((1, 0.8), (2, 0.2)), "early", (60, 180), chronic=0.5,
        treatment=("dietary advice",)),
    _AE("10011655", "Cushingoid", "gc",
        ("cushingoid features", "moon face", "Cushingoid appearance", "moon facies"),
        (0.22, 0.2), ((1, 0.7), (2, 0.3)), "early", (60, 200), chronic=0.35),
    _AE("10031282", "Osteoporosis", "gc",
        ("osteoporosis on DXA", "reduced bone mineral density (T-score -2.7)",
         "osteoporosis lumbar spine"),
        (0.06, 0.05), ((1, 0.6), (2, 0.4)), "late", (1, 1), chronic=1.0,
        treatment=("calcium and vitamin D", "alendronate 70 mg weekly")),
    _AE("10037847", "Rash acneiform", "gc",
        ("steroid acne", "acneiform rash on chest and back"),
        (0.06, 0.06), ((1, 0.8), (2, 0.2)), "early", (21, 60),
        treatment=("topical clindamycin",)),
    _AE("10022998", "Irritability", "gc",
        ("mood swings", "irritability"),
        (0.05, 0.04), ((1, 0.8), (2, 0.2)), "early", (14, 45), cause="gc_mod"),
    _AE("10006504", "Bruising", "gc",
        ("easy bruising", "bruising on forearms"),
        (0.05, 0.04), ((1, 1.0),), "any", (10, 30), cause="gc_mod"),
    _AE("10062572", "Generalized muscle weakness", "gc",
        ("proximal muscle weakness", "steroid myopathy", "weakness of thighs"),
        (0.03, 0.03), ((1, 0.5), (2, 0.5)), "early", (30, 90)),
    _AE("10007739", "Cataract", "gc",
        ("posterior subcapsular cataract", "cataract right eye"),
        (0.02, 0.02), ((1, 0.6), (2, 0.4)), "late", (1, 1), chronic=1.0),
    _AE("10041569", "Spinal fracture", "gc",
        ("vertebral compression fracture L1", "osteoporotic fracture T12"),
        (0.02, 0.02), ((2, 0.5), (3, 0.5)), "any", (42, 90),
        treatment=("analgesics, brace", "percutaneous vertebroplasty"), hospital=0.6,
        cause="gc_mod"),
    # Other common events.
    _AE("10013946", "Dyspepsia", "other",
        ("dyspepsia", "epigastric discomfort", "indigestion"),
        (0.08, 0.08), ((1, 0.7), (2, 0.3)), "early", (7, 30),
        treatment=("omeprazole 20 mg qd",), cause="gc_maybe"),
    _AE("10050068", "Edema limbs", "other",
        ("ankle swelling", "bilateral leg oedema"),
        (0.05, 0.05), ((1, 1.0),), "early", (14, 45), cause="gc_maybe"),
    _AE("10021018", "Hypokalemia", "other",
        ("low potassium", "hypokalaemia"),
        (0.03, 0.03), ((1, 0.7), (2, 0.3)), "early", (7, 21),
        treatment=("potassium chloride",), cause="gc_maybe"),
    _AE("10019211", "Headache", "other",
        ("headache", "tension headache"),
        (0.06, 0.1), ((1, 0.8), (2, 0.2)), "any", (1, 4), treatment=("paracetamol",)),
    _AE("10028813", "Nausea", "other",
        ("nausea",), (0.04, 0.06), ((1, 0.8), (2, 0.2)), "any", (1, 5)),
    _AE("10012727", "Diarrhea", "other",
        ("diarrhoea", "loose stools"), (0.03, 0.06), ((1, 0.8), (2, 0.2)), "any", (2, 5)),
    _AE("10016256", "Fatigue", "other",
        ("fatigue", "tiredness"), (0.04, 0.06), ((1, 0.8), (2, 0.2)), "any", (7, 30)),
    _AE("10003239", "Arthralgia", "other",
        ("joint pain", "arthralgia knees"), (0.04, 0.04), ((1, 0.7), (2, 0.3)), "any", (7, 30)),
    _AE("10003988", "Back pain", "other",
        ("low back pain",), (0.03, 0.03), ((1, 0.7), (2, 0.3)), "any", (5, 21),
        cause="unrelated"),
    _AE("10016173", "Fall", "other",
        ("fall at home", "slipped on icy pavement", "fall from a bicycle, bruised knee"),
        (0.03, 0.03), ((1, 0.7), (2, 0.3)), "any", (1, 10), cause="unrelated"),
    # Hypersensitivity not tied to an infusion (e.g. to a concomitant antibiotic).
    _AE("10046735", "Urticaria", "hypersensitivity",
        ("urticaria", "hives after taking amoxicillin"),
        (0.02, 0.02), ((1, 0.6), (2, 0.4)), "any", (2, 7),
        treatment=("loratadine 10 mg qd", "cetirizine")),
)  # fmt: skip

_INFUSION_REACTION = _AE("10051792", "Infusion related reaction", "infusion",
                         ("infusion reaction", "infusion-related reaction (chills, flushing)",
                          "mild infusion reaction, infusion slowed",
                          "infusion reaction with rigors and fever"),
                         (0, 0), ((1, 0.55), (2, 0.45)), "any", (0, 0),
                         treatment=("infusion slowed", "chlorphenamine IV",
                                    "paracetamol and antihistamine"))  # fmt: skip
_INFUSION_HYPERSENSITIVITY = (
    ("10001718", ("allergic reaction after belimumab infusion",
                  "pruritic rash on arms the evening after infusion",
                  "allergic reaction, facial flushing and itching")),
    ("10046735", ("urticaria after infusion", "hives on trunk after belimumab")),
)  # fmt: skip
_ANAPHYLAXIS = "10002218"
_SEPSIS = "10040047"

_COURSE = {
    "10061229": "Chest CT showed lobar consolidation; admitted for intravenous ceftriaxone "
                "and azithromycin, oxygen by nasal cannula.",
    "10046300": "Admitted with high fever and dehydration; treated with intravenous fluids "
                "and antibiotics.",
    "10046571": "Admitted with fever, flank pain and E. coli bacteriuria; intravenous "
                "ceftriaxone, switched to oral levofloxacin.",
    "10040555": "Extensive painful vesicular eruption; admitted for intravenous aciclovir "
                "and analgesia.",
    "10020639": "Admitted with fasting glucose above 20 mmol/L for initiation of insulin "
                "therapy and diabetes education.",
    "10041569": "Acute back pain after a minor fall; MRI showed an osteoporotic compression "
                "fracture; admitted for analgesia and vertebroplasty.",
}  # fmt: skip


# --- Planning -------------------------------------------------------------------------


@dataclass
class _Event:
    onset: datetime  # true onset, for ordering and derivations
    data: EventInput
    story: tuple[str, str, str] | None = None  # serious: (verbatim, course, ending)
    profile: str = ""  # the causality profile it was drawn from (_CAUSALITY)


@dataclass
class _SubjectPlan:
    subjid: str
    combination: bool
    sex: str
    age: int
    weight_kg: float
    consent: date
    randomized: date
    end_of_study: date
    prednisone: list[tuple[date, date, int]]  # (first day, last day, mg/day)
    site: str = SITE_CODE
    race: str = "ASIAN"
    height_cm: float | None = None
    infusions: list[tuple[datetime, datetime]] = field(default_factory=list)  # start, end
    events: list[_Event] = field(default_factory=list)
    death: date | None = None
    death_cause: str | None = None
    # Disposition (DS): DSDECOD and DSTERM; its date is the end of study.
    disposition: str = "COMPLETED"
    disposition_reason: str = "COMPLETED"
    last_dose: date | None = None  # the last day study drug may be given (discontinued)
    stop_day: int | None = None  # events start before this study day offset (discontinued)

    def dose_on(self, day: date) -> int:
        for first, last, mg in self.prednisone:
            if first <= day <= last:
                return mg
        return 0


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: random.Random, options: tuple[tuple[int, float], ...]) -> int:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _plus_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError(d)


def _iso_minute(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")


def _taper(rng: random.Random, weight: float, first: date, end: date
           ) -> list[tuple[date, date, int]]:  # fmt: skip
    """Daily-dose periods: induction, the taper to 5 mg/day by week 12, maintenance."""
    dose = rng.choice([d for d in range(5, 100, 5) if 0.6 * weight <= d <= 0.8 * weight])
    steps: list[tuple[int, int]] = [(0, dose)]  # (day offset the dose starts, mg/day)
    day = rng.choice((14, 21, 28))  # induction: 2-4 weeks

    def reached(mg: int, next_step: int, *, fast: bool) -> int:
        """The day 5 mg/day is reached stepping every week from `next_step`; `fast` allows
        10 mg steps above 30 mg/day."""
        while mg > 5:
            mg -= 10 if fast and mg > 30 else 5
            if mg > 5:
                next_step += 7
        return next_step

    while dose > 5:
        # 5 mg steps unless they cannot reach the target; then 10 mg while above 30 mg/day.
        slow = reached(dose - 5, day + 7, fast=False) <= TAPER_TARGET_DAY
        step = 5 if slow or dose <= 30 else 10
        nxt = max(dose - step, 5)
        interval = rng.choice((7, 14))
        if nxt > 5 and reached(nxt, day + interval, fast=True) > TAPER_TARGET_DAY:
            interval = 7
        steps.append((day, nxt))
        dose, day = nxt, day + interval
    total = (end - first).days
    out = []
    for i, (start, mg) in enumerate(steps):
        stop = steps[i + 1][0] - 1 if i + 1 < len(steps) else total
        if start <= total:
            out.append((first + timedelta(days=start), first + timedelta(days=min(stop, total)),
                        mg))  # fmt: skip
    return out


def _onset_day(rng: random.Random, timing: str, span: int) -> int:
    if timing == "early":
        d = rng.triangular(1, min(150, span), 25)
    elif timing == "infection":
        d = rng.triangular(2, span, 45)
    elif timing == "late":
        d = rng.choice((180, 365)) + rng.randint(-10, 0)
    else:
        d = rng.uniform(1, span)
    return int(d)


_R, _PR, _UR, _NR = "RELATED", "POSSIBLY RELATED", "UNLIKELY RELATED", "NOT RELATED"
# The investigator's causality per drug, by causality profile: (value, weight in %) pairs.
# Prednisone is related mainly to glucocorticoid toxicity; belimumab mainly to infusion
# reactions and hypersensitivity, and to some infections (it is given with prednisone);
# infections on prednisone alone are at most "possibly related"; background events
# (headache, falls...) are not related. "Related" in the tables = RELATED or POSSIBLY
# RELATED (pv.events.models.RELATED_VALUES).
_CAUSALITY: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {
    # GC toxicity, typical (hyperglycaemia, Cushingoid, weight gain, insomnia, acne,
    # myopathy, osteoporosis, cataract): 80% related to prednisone.
    ("gc", PREDNISONE): ((_R, 45), (_PR, 35), (_UR, 15), (_NR, 5)),
    ("gc", BELIMUMAB): ((_NR, 70), (_UR, 30)),
    # GC toxicity with common other causes (hypertension, mood, bruising, fracture): 55%.
    ("gc_mod", PREDNISONE): ((_R, 15), (_PR, 40), (_UR, 35), (_NR, 10)),
    ("gc_mod", BELIMUMAB): ((_NR, 70), (_UR, 30)),
    # Possibly GC-linked (dyspepsia, oedema, hypokalaemia): 50%.
    ("gc_maybe", PREDNISONE): ((_R, 5), (_PR, 45), (_UR, 35), (_NR, 15)),
    ("gc_maybe", BELIMUMAB): ((_NR, 60), (_UR, 35), (_PR, 5)),
    # Infections on prednisone alone: possibly related at best (35%).
    ("infection_mono", PREDNISONE): ((_PR, 35), (_UR, 45), (_NR, 20)),
    # Infections on the combination: belimumab 50% related, prednisone 30%.
    ("infection", PREDNISONE): ((_PR, 30), (_UR, 50), (_NR, 20)),
    ("infection", BELIMUMAB): ((_R, 10), (_PR, 40), (_UR, 35), (_NR, 15)),
    # Oral thrush: the glucocorticoid's infection (75% possibly related).
    ("infection_gc", PREDNISONE): ((_PR, 75), (_UR, 25)),
    ("infection_gc", BELIMUMAB): ((_PR, 20), (_UR, 50), (_NR, 30)),
    # Background events (headache, nausea, diarrhoea, fatigue, arthralgia): 5% / 10%.
    ("background", PREDNISONE): ((_PR, 5), (_UR, 25), (_NR, 70)),
    ("background", BELIMUMAB): ((_PR, 10), (_UR, 25), (_NR, 65)),
    # Unrelated (falls, back pain): never related.
    ("unrelated", PREDNISONE): ((_UR, 15), (_NR, 85)),
    ("unrelated", BELIMUMAB): ((_UR, 15), (_NR, 85)),
    # Hypersensitivity to something else (e.g. an antibiotic): 10% belimumab.
    ("hypersensitivity", PREDNISONE): ((_NR, 90), (_UR, 10)),
    ("hypersensitivity", BELIMUMAB): ((_PR, 10), (_UR, 30), (_NR, 60)),
    # At a belimumab infusion: infusion reactions always related to belimumab, allergic
    # reactions within 24 h 90%; prednisone not.
    ("infusion", PREDNISONE): ((_NR, 90), (_UR, 10)),
    ("infusion", BELIMUMAB): ((_R, 65), (_PR, 35)),
    ("infusion_hs", PREDNISONE): ((_NR, 90), (_UR, 10)),
    ("infusion_hs", BELIMUMAB): ((_R, 35), (_PR, 55), (_UR, 10)),
}
_PROFILE_BY_KIND = {"gc": "gc", "other": "background", "infection": "infection",
                    "hypersensitivity": "hypersensitivity"}  # fmt: skip


def _profile(ae: _AE, combination: bool) -> str:
    """The causality profile of a catalogue event for a subject of an arm."""
    profile = ae.cause or _PROFILE_BY_KIND[ae.kind]
    return "infection_mono" if profile == "infection" and not combination else profile


def _relationship(rng: random.Random, profile: str, drug: str) -> str:
    options = _CAUSALITY[(profile, drug)]
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _narrative(p: _SubjectPlan, verbatim: str, onset: date, course: str, ending: str) -> str:
    sex = "Male" if p.sex == "M" else "Female"
    arm = "combination (prednisone + belimumab)" if p.combination else "prednisone monotherapy"
    day = (onset - p.randomized).days + 1
    drugs = f"prednisone {p.dose_on(onset)} mg/day"
    before = [start for start, _ in p.infusions if start.date() <= onset]
    if p.combination and before:
        drugs += f", last belimumab infusion {before[-1].date().isoformat()}"
    return (f"{sex}, {p.age} years, {arm} arm. On study day {day} ({onset.isoformat()}; "
            f"{drugs}) the subject presented with {verbatim}. {course} {ending}")  # fmt: skip


def _plan_event(rng: random.Random, p: _SubjectPlan, ae: _AE, onset_day: int) -> _Event:
    span = (p.end_of_study - p.randomized).days
    onset = p.randomized + timedelta(days=onset_day)
    grade = _weighted(rng, ae.grades)
    verbatim = rng.choice(ae.verbatims)
    drugs = [PREDNISONE, BELIMUMAB] if p.combination else [PREDNISONE]
    profile = _profile(ae, p.combination)
    rel = {d: _relationship(rng, profile, d) for d in drugs}
    acn = {d: "DOSE NOT CHANGED" for d in drugs}
    serious = grade >= 3 and rng.random() < ae.hospital
    story = None
    data = EventInput(aeterm=verbatim, aelltcd=ae.code, aetoxgr=grade, aeser=serious,
                      aeshosp=serious, aerel=rel, aeacn=acn)  # fmt: skip
    if ae.treatment:
        data.aecontrt = rng.choice(ae.treatment)
    duration = rng.randint(*ae.days)
    end = onset + timedelta(days=duration)
    if rng.random() < ae.chronic or end > p.end_of_study or (p.death and end >= p.death):
        data.ongoing = True
        data.aeout = rng.choice((NOT_RECOVERED, NOT_RECOVERED, RECOVERING))
    else:
        data.aeendtc = end.isoformat()
        data.aeout = RECOVERED
        if ae.code in ("10040555", "10041569") and rng.random() < 0.3:
            data.aeout = SEQUELAE
    if serious:
        if ae.kind == "infection" and p.combination:
            data.aeacn[BELIMUMAB] = "DRUG INTERRUPTED"
        data.aecontrt = data.aecontrt or "hospital treatment"
        stay = rng.randint(4, 12)
        if data.ongoing:
            ending = f"Discharged after {stay} days; not resolved at the end of study."
        else:
            ending = f"Discharged after {stay} days; resolved on {data.aeendtc}."
        story = (verbatim, _COURSE.get(ae.code, ""), ending)
    # Some onset dates are collected to the month only; they are stored as collected.
    partial = 0.04 if ae.kind == "infection" else 0.09
    if not serious and ae.kind != "hypersensitivity" and rng.random() < partial:
        data.aestdtc = onset.strftime("%Y-%m")
    if data.aestdtc is None:
        data.aestdtc = onset.isoformat()
    assert 0 <= onset_day <= span
    return _Event(datetime.combine(onset, time(0)), data, story, profile)


def _infusion_event(rng: random.Random, p: _SubjectPlan, start: datetime, code: str,
                    verbatims: tuple[str, ...], kind: str, *, hours: tuple[float, float],
                    grades: tuple[tuple[int, float], ...]) -> _Event:  # fmt: skip
    onset = start + timedelta(minutes=5 * round(rng.uniform(*hours) * 12))
    grade = _weighted(rng, grades)
    profile = "infusion" if kind == "infusion" else "infusion_hs"
    rel = {PREDNISONE: _relationship(rng, profile, PREDNISONE),
           BELIMUMAB: _relationship(rng, profile, BELIMUMAB)}  # fmt: skip
    # A grade 2 infusion reaction interrupts the running infusion; later reactions do not.
    interrupted = kind == "infusion" and grade >= 2
    acn = {PREDNISONE: "DOSE NOT CHANGED",
           BELIMUMAB: "DRUG INTERRUPTED" if interrupted else "DOSE NOT CHANGED"}  # fmt: skip
    end = onset + timedelta(minutes=rng.randint(30, 360))
    data = EventInput(aeterm=rng.choice(verbatims), aelltcd=code, aetoxgr=grade, aeser=False,
                      aerel=rel, aeacn=acn, aeout=RECOVERED, aestdtc=_iso_minute(onset),
                      aeendtc=_iso_minute(end) if kind == "infusion" else end.date().isoformat(),
                      aecontrt=rng.choice(("loratadine 10 mg", "chlorphenamine 4 mg",
                                           "cetirizine 10 mg")))  # fmt: skip
    if kind == "infusion":
        data.aecontrt = rng.choice(_INFUSION_REACTION.treatment)
    return _Event(onset, data, profile=profile)


# Glucocorticoid toxicities that may make a subject stop the study: hyperglycaemia,
# hypertension, insomnia, irritability (mood), steroid myopathy, vertebral fracture.
_WITHDRAWS = frozenset({"10020639", "10020772", "10022437", "10022998", "10062572", "10041569"})
_WITHDRAWAL_REASONS = (
    "Withdrew consent: moved to another province",
    "Withdrew consent: unwilling to attend further study visits",
    "Withdrew consent: preferred treatment at a hospital near home",
)
_LOST_REASON = "Missed visits; no reply to three telephone calls and a letter"


def _susar_subjects(plans: list[_SubjectPlan]) -> tuple[_SubjectPlan, _SubjectPlan]:
    """The subjects of the two planted SUSARs, chosen from the plan without a draw: the
    oldest combination subject of site 01 (the death) and the first combination subject
    of site 02 (the 15-day SUSAR), each falling back to any combination subject."""
    combination = [p for p in plans if p.combination]
    at_01 = [p for p in combination if p.site == SITE_CODE] or combination
    dead = min(at_01, key=lambda p: (-p.age, p.subjid))
    others = [p for p in combination if p is not dead]
    second = min([p for p in others if p.site == SITES[1].code] or others,
                 key=lambda p: p.subjid)  # fmt: skip
    return dead, second


def _stop(p: _SubjectPlan, end: date, last_dose: date) -> None:
    """The subject leaves the study on `end`, the study drugs after `last_dose`: later
    events are not collected; events open then are followed to their outcome."""
    p.end_of_study, p.last_dose = end, last_dose
    p.stop_day = (end - p.randomized).days + 1
    p.events = [e for e in p.events if e.onset.date() <= end]
    p.prednisone = [(a, min(b, last_dose), mg) for a, b, mg in p.prednisone if a <= last_dose]


def _fifteen_day_susar(p: _SubjectPlan) -> _Event:
    """The planted 15-day SUSAR (no draw from the generator): a serious shingles on the
    combination, unexpected for belimumab (not in its RSI), possibly related to both."""
    onset = SUSAR15_ONSET
    end = onset + timedelta(days=24)
    data = EventInput(
        aeterm=SUSAR15_VERBATIM, aelltcd=SHINGLES, aetoxgr=3, aeser=True, aeshosp=True,
        aerel={PREDNISONE: "POSSIBLY RELATED", BELIMUMAB: "POSSIBLY RELATED"},
        aeacn={PREDNISONE: "DOSE NOT CHANGED", BELIMUMAB: "DRUG INTERRUPTED"},
        aeout=RECOVERED, aestdtc=onset.isoformat(), aeendtc=end.isoformat(),
        aecontrt="aciclovir 10 mg/kg IV q8h for 7 days, then valaciclovir; pregabalin",
    )  # fmt: skip
    story = (
        "painful vesicular eruption over the left T4-T6 dermatomes with scattered vesicles "
        "on the trunk and thighs",
        "Disseminated herpes zoster; admitted for intravenous aciclovir and analgesia; the "
        "next belimumab infusion was withheld.",
        f"Discharged after 9 days; resolved on {end.isoformat()}.",
    )
    return _Event(datetime.combine(onset, time(0)), data, story, "infection")


def plan_demo(seed: int = 42) -> list[_SubjectPlan]:
    """The whole demo trial, in memory; a pure function of the seed.

    The two SUSARs of the review demo (pv.review.demo) are planted on fixed dates in
    subjects chosen from the plan without a draw, so every seed has them with the same
    clocks and they change no other event of the seed."""
    rng = random.Random(seed)
    # Screening order = subject number; randomization in permuted blocks of 4 (30/30).
    arms: list[bool] = []
    for _ in range(N_SUBJECTS // 4):
        block = [False, False, True, True]
        rng.shuffle(block)
        arms += block
    offsets = sorted(rng.randint(0, ENROLMENT_DAYS) for _ in range(N_SUBJECTS))
    plans: list[_SubjectPlan] = []
    for i, (combination, off) in enumerate(zip(arms, offsets, strict=True)):
        randomized = ENROLMENT_START + timedelta(days=off)
        if randomized.weekday() >= 5:  # randomize on working days
            randomized += timedelta(days=7 - randomized.weekday())
        site = rng.choice([s.code for s in SITES if s.opens <= randomized])
        # IgG4-related disease: middle-aged, about two men to one woman; Chinese adults.
        sex = "M" if rng.random() < 0.65 else "F"
        age = max(28, min(75, round(rng.gauss(57, 10))))
        mean, sd = (70, 9) if sex == "M" else (60, 7)
        weight = max(50.0, min(95.0, round(rng.gauss(mean, sd) * 2) / 2))
        h_mean, h_sd = (169, 6) if sex == "M" else (158, 5)
        height = max(145.0, min(190.0, round(rng.gauss(h_mean, h_sd), 1)))
        eos = _plus_months(randomized, 12)
        plans.append(_SubjectPlan(
            subjid=f"{i + 1:03d}", combination=combination, sex=sex, age=age, weight_kg=weight,
            consent=randomized - timedelta(days=rng.randint(2, 7)), randomized=randomized,
            end_of_study=eos, prednisone=_taper(rng, weight, randomized, eos), site=site,
            height_cm=height,
        ))  # fmt: skip

    # The two SUSARs: planted, the same dates for every seed.
    dead, susar = _susar_subjects(plans)
    sepsis_day = (FATAL_ONSET - dead.randomized).days
    dead.death = FATAL_DEATH
    _stop(dead, FATAL_DEATH, FATAL_DEATH)
    dead.stop_day = sepsis_day  # nothing else starts from the day of the sepsis
    dead.disposition = "DEATH"
    dead.disposition_reason = "Death due to septic shock secondary to pneumonia"
    dead.death_cause = "Septic shock secondary to Klebsiella pneumoniae pneumonia"

    # Discontinued: some withdraw, some are lost to follow-up (their date drawn now, so
    # nothing is collected after it); adverse-event discontinuations come from the events.
    others = [p for p in plans if p is not dead and p is not susar]
    withdrawn = rng.sample(others, rng.choice((2, 3)))
    left = [p for p in others if p not in withdrawn]
    lost = rng.sample(left, rng.choice((1, 2)))
    for p in (*withdrawn, *lost):
        end = p.randomized + timedelta(days=rng.randint(45, 330))
        _stop(p, end, end - timedelta(days=1))
        if p in withdrawn:
            p.disposition, p.disposition_reason = (
                "WITHDRAWAL BY SUBJECT",
                rng.choice(_WITHDRAWAL_REASONS),
            )
        else:
            p.disposition, p.disposition_reason = "LOST TO FOLLOW-UP", _LOST_REASON

    hypersensitive = set(rng.sample([p.subjid for p in plans if p.combination], 3))
    # Half of the seeds also get one anaphylaxis at an infusion (belimumab then withdrawn).
    candidate = rng.choice([p.subjid for p in plans if p.combination and p not in (dead, susar)
                            and p.disposition == "COMPLETED"])  # fmt: skip
    anaphylaxis = candidate if rng.random() < 0.5 else None

    for p in plans:
        span = (_plus_months(p.randomized, 12) - p.randomized).days
        limit = p.stop_day if p.stop_day is not None else span
        # Susceptibility to glucocorticoid toxicity differs between people: a subject's
        # GC-toxicity rates are scaled by a gamma frailty of mean 1 (shape GC_FRAILTY), so
        # these events cluster in some subjects while their expected number is unchanged.
        frailty = rng.gammavariate(GC_FRAILTY, 1 / GC_FRAILTY)
        for ae in _CATALOGUE:
            rate = ae.rate[1] if p.combination else ae.rate[0]
            if ae.code == "10046571" and p.sex == "F":
                rate *= 2.5
            if ae.kind == "gc":
                rate *= frailty
            for _ in range(_poisson(rng, rate)):
                day = _onset_day(rng, ae.timing, span)
                if 0 <= day < limit:
                    p.events.append(_plan_event(rng, p, ae, day))
    susar.events.append(_fifteen_day_susar(susar))

    # Discontinued for an adverse event: a glucocorticoid toxicity of grade 2 or more that
    # the investigator relates to prednisone and that can end a subject's participation
    # (_WITHDRAWS); the study drugs are withdrawn that day and the subject leaves the study
    # at a follow-up visit 2-4 weeks later.
    def trigger(p: _SubjectPlan) -> _Event | None:
        for ev in sorted(p.events, key=lambda e: e.onset):
            day = (ev.onset.date() - p.randomized).days
            if (ev.data.aelltcd in _WITHDRAWS and (ev.data.aetoxgr or 0) >= 2
                    and not ev.data.aeser and 28 <= day <= 270
                    and len(ev.data.aestdtc or "") == 10
                    and ev.data.aerel[PREDNISONE] in (_R, _PR)):  # fmt: skip
                return ev
        return None

    eligible = [p for p in plans if p.disposition == "COMPLETED" and p is not susar
                and p.subjid != anaphylaxis and trigger(p) is not None]  # fmt: skip
    for p in rng.sample(eligible, min(len(eligible), rng.choice((1, 2)))):
        ev = trigger(p)
        assert ev is not None
        ev.data.aeacn = {d: "DRUG WITHDRAWN" for d in ev.data.aeacn}
        withdrawn_on = ev.onset.date()
        _stop(p, withdrawn_on + timedelta(days=rng.randint(14, 28)), withdrawn_on)
        p.disposition = "ADVERSE EVENT"
        p.disposition_reason = f"Adverse event: {ev.data.aeterm}; study drugs withdrawn"

    # Belimumab's infusions and the events at them, from a generator of the subject's own
    # (seeded by the seed and the subject): what happens to one subject's infusions (an
    # infusion skipped after the planted SUSAR) changes no other subject's data.
    for p in plans:
        if not p.combination:
            continue
        srng = random.Random(f"{seed}:{p.subjid}")
        span = (p.end_of_study - p.randomized).days
        # Belimumab: skip the next infusion (from week 8) after a serious infection.
        skipped: set[int] = set()
        for ev in p.events:
            if ev.data.aeser and ev.data.aeacn.get(BELIMUMAB) == "DRUG INTERRUPTED":
                day = (ev.onset.date() - p.randomized).days
                nxt = [d for d in INFUSION_DAYS if d >= max(day, 56)]
                if nxt and nxt[0] - day <= 28:
                    skipped.add(nxt[0])
        if p is dead:
            last_day = sepsis_day - 1
        elif p.last_dose is not None:
            last_day = (p.last_dose - p.randomized).days
        else:
            last_day = span
        for d in INFUSION_DAYS:
            if d in skipped or d > last_day:
                continue
            start = datetime.combine(
                p.randomized + timedelta(days=d), time(srng.randint(9, 10), 5 * srng.randint(0, 11))
            )
            p.infusions.append((start, start + timedelta(minutes=srng.randint(60, 75))))
        if p.subjid == anaphylaxis:
            k = srng.randint(3, min(6, len(p.infusions) - 1))
            start = p.infusions[k][0]
            ev = _infusion_event(srng, p, start, _ANAPHYLAXIS, (
                "anaphylaxis during belimumab infusion", "anaphylactic reaction"), "infusion",
                hours=(0.25, 1.0), grades=((3, 1.0),))  # fmt: skip
            ev.data.aeser, ev.data.aesmie = True, True
            ev.data.aeacn = {PREDNISONE: "DOSE NOT CHANGED", BELIMUMAB: "DRUG WITHDRAWN"}
            ev.data.aerel = {PREDNISONE: "NOT RELATED", BELIMUMAB: "RELATED"}
            ev.data.aeendtc = (ev.onset.date() + timedelta(days=1)).isoformat()
            ev.data.aecontrt = "adrenaline 0.5 mg IM, hydrocortisone IV, chlorphenamine IV"
            ev.data.narrative = _narrative(
                p, "generalized urticaria, wheeze and hypotension (BP 82/50) 30 minutes into "
                "the belimumab infusion", start.date(),
                "The infusion was stopped; treated with intramuscular adrenaline, intravenous "
                "hydrocortisone and chlorphenamine, observed overnight.",
                "Recovered the next day; belimumab permanently discontinued.")  # fmt: skip
            p.events.append(ev)
            p.infusions = p.infusions[: k + 1]
        # Infusion-related reactions on infusion days, mostly at the first infusions.
        if srng.random() < 0.35:
            first = min(int(srng.expovariate(0.7)), len(p.infusions) - 1)
            n, second = len(p.infusions), srng.random() < 0.25
            again = srng.randint(first + 1, n - 1) if second and first + 1 < n else None
            for idx in (first, again):
                if idx is None:
                    continue
                p.events.append(_infusion_event(
                    srng, p, p.infusions[idx][0], _INFUSION_REACTION.code,
                    _INFUSION_REACTION.verbatims, "infusion", hours=(0.3, 3.0),
                    grades=_INFUSION_REACTION.grades))  # fmt: skip
        # Hypersensitivity-type events within 24 h of an infusion (possible infusion reaction).
        if p.subjid in hypersensitive:
            code, verbatims = srng.choice(_INFUSION_HYPERSENSITIVITY)
            start = srng.choice(p.infusions[:4])[0]
            p.events.append(
                _infusion_event(
                    srng,
                    p,
                    start,
                    code,
                    verbatims,
                    "hypersensitivity",
                    hours=(2.0, 20.0),
                    grades=((1, 0.5), (2, 0.5)),
                )
            )

    # The death (planted: the same dates for every seed).
    onset = FATAL_ONSET
    data = EventInput(
        aeterm="septic shock secondary to pneumonia", aelltcd=_SEPSIS, aetoxgr=5, aeser=True,
        aesdth=True, aeshosp=True, aeslife=True,
        aerel={PREDNISONE: "POSSIBLY RELATED", BELIMUMAB: "POSSIBLY RELATED"},
        aeacn={PREDNISONE: "DRUG WITHDRAWN", BELIMUMAB: "DRUG WITHDRAWN"}, aeout=FATAL,
        aestdtc=onset.isoformat(), aeendtc=FATAL_DEATH.isoformat(),
        aecontrt="meropenem, vancomycin, noradrenaline, mechanical ventilation",
        narrative=_narrative(
            dead, "fever 39.6 C, productive cough, dyspnoea and hypotension", onset,
            "Chest CT showed bilateral lower lobe consolidation; blood cultures grew Klebsiella "
            "pneumoniae. Admitted to the ICU with septic shock and treated with meropenem, "
            "vasopressors and mechanical ventilation; multi-organ failure developed.",
            f"The subject died on {FATAL_DEATH.isoformat()} (study day "
            f"{(FATAL_DEATH - dead.randomized).days + 1}); no autopsy. Study drugs withdrawn."),
    )  # fmt: skip
    dead.events.append(_Event(datetime.combine(onset, time(0)), data, profile="infection"))
    for p in plans:
        p.events.sort(key=lambda e: e.onset)
        for ev in p.events:
            if ev.story is not None:
                verbatim, course, ending = ev.story
                ev.data.narrative = _narrative(p, verbatim, ev.onset.date(), course, ending)
            if ev.data.aeser:
                ev.data.aeawaredtc = _site_awareness(ev.onset.date())
    return plans


def _site_awareness(onset: date) -> str:
    """When the site learned of a serious event: the onset day or the day after (no draw
    from the generator, so the events of a seed do not change, nor depend on the day the
    demo is generated): the 24 h clock of every demo SAE exists from its submission."""
    return (onset + timedelta(days=onset.toordinal() % 2)).isoformat()


# --- Writing --------------------------------------------------------------------------


def _summary(session: Session, study_id: str, created: bool) -> DemoSummary:
    arms = session.exec(
        select(Arm).where(Arm.study_id == study_id).order_by(col(Arm.position))
    ).all()
    subjects = dict(
        session.exec(
            select(Subject.arm_id, func.count())
            .where(Subject.study_id == study_id)
            .group_by(col(Subject.arm_id))
        ).all()
    )
    per_site = dict(
        session.exec(
            select(Site.code, func.count())
            .join(Subject, col(Subject.site_id) == col(Site.id))
            .where(Subject.study_id == study_id)
            .group_by(col(Site.code))
        ).all()
    )
    ae = AdverseEvent
    events = dict(
        session.exec(
            select(Subject.arm_id, func.count())
            .join(ae, col(ae.subject_id) == col(Subject.id))
            .where(Subject.study_id == study_id)
            .group_by(col(Subject.arm_id))
        ).all()
    )
    total, serious, deaths = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(case((col(ae.aeser), 1), else_=0)), 0),
            func.coalesce(func.sum(case((col(ae.aesdth), 1), else_=0)), 0),
        ).where(ae.study_id == study_id)
    ).one()
    return DemoSummary(
        study_id=study_id,
        subjects_per_arm={a.label: int(subjects.get(a.id, 0)) for a in arms},
        events=int(total),
        serious=int(serious),
        deaths=int(deaths),
        events_per_arm={a.label: int(events.get(a.id, 0)) for a in arms},
        subjects_per_site={code: int(n) for code, n in sorted(per_site.items())},
        created=created,
    )


class DemoError(Exception):
    """The demo cannot act as its users (an account of that name is someone else's)."""


def _active(user: User, role: str) -> User:
    from pv.i18n import gettext as _

    if user.role != role or user.disabled or user.locked_at is not None:
        raise DemoError(
            _(
                "the user '%(username)s' exists and is not an active %(role)s: the demo "
                "cannot act as them",
                username=user.username,
                role=role,
            )
        )
    return user


def seed_admin(session: Session) -> Actor:
    """The demo's admin (DEMO_USERS), created first when missing. Nobody exists yet to
    create the first account: it is recorded as its own creator (reason "bootstrap", as
    `pvtracker user add NAME --role admin` on a database without an admin); everything
    after it is done by an existing user."""
    from pv.demo.cli import DEMO_USERS

    name, role, password = next(u for u in DEMO_USERS if u[1] == "admin")
    user = get_user(session, name)
    if user is None:
        user = create_user(session=session, actor=None, username=name, role=role,
                           password=password, reason="bootstrap")  # fmt: skip
    return actor_for(_active(user, role))


def seed_users(session: Session, *, admin: Actor, sites: dict[str, Site]) -> dict[str, Actor]:
    """The demo's users by username, created by its admin when missing; each investigator
    is bound to their site (DEMO_INVESTIGATOR_SITES). An investigator whose site the study
    does not have (a demo database made before the demo had three sites) is not created."""
    from pv.demo.cli import DEMO_INVESTIGATOR_SITES, DEMO_USERS

    users: dict[str, Actor] = {}
    for name, role, password in DEMO_USERS:
        site = sites.get(DEMO_INVESTIGATOR_SITES.get(name, ""))
        user = get_user(session, name)
        if user is None:
            if role == "investigator" and site is None:
                continue
            user = create_user(session=session, actor=admin, username=name, role=role,
                               password=password,
                               sites=[site] if role == "investigator" else None)  # type: ignore[list-item]  # fmt: skip
        users[name] = actor_for(_active(user, role))
    return users


def _sites(session: Session, study_id: str) -> dict[str, Site]:
    return {s.code: s for s in session.exec(select(Site).where(Site.study_id == study_id))}


def seed_sites(session: Session, *, admin: Actor, study_id: str) -> dict[str, Site]:
    """The demo's sites by code: 01 comes with the study record; the admin adds the
    others (SITES) when missing."""
    sites = _sites(session, study_id)
    for s in SITES:
        if s.code not in sites:
            sites[s.code] = add_site(session=session, actor=admin, study_id=study_id,
                                     code=s.code, name=s.name, city=s.city,
                                     country="China")  # fmt: skip
    return sites


def _load_ctcae(engine: Engine, admin: Actor) -> None:
    """CTCAE v5.0, loaded (and audited) by the demo's admin unless it is there already."""
    from pv.terminology.cli import record_load, release_ids

    before = release_ids(engine)
    record_load(engine, admin, load_ctcae(engine), before)


def build_demo(engine: Engine, *, seed: int = 42) -> DemoSummary:
    """Create the demo trial (idempotent-safe: a study that has subjects is left as it is).

    Raises DemoError when a user of a demo user's name exists with another role, or is
    disabled or locked: the demo acts only as its own users."""
    from pv.demo.cli import DEMO_INVESTIGATOR_SITES

    spec = parse_ctgov(json.loads(STUDY_RECORD.read_text(encoding="utf-8")))
    with write_session(engine) as session:
        admin = seed_admin(session)
    _load_ctcae(engine, admin)
    with write_session(engine) as session:
        has_subjects = session.exec(
            select(func.count()).select_from(Subject).where(Subject.study_id == spec.nct_id)
        ).one()
        if has_subjects:
            seed_users(session, admin=admin, sites=_sites(session, spec.nct_id))
            return _summary(session, spec.nct_id, created=False)
        study, _created = import_ctgov(session=session, actor=admin, spec=spec)
        sites = seed_sites(session, admin=admin, study_id=study.id)
        # Each site's investigator enters its subjects, their dosing and their events.
        users = seed_users(session, admin=admin, sites=sites)
        investigators = {code: users[name] for name, code in DEMO_INVESTIGATOR_SITES.items()}
        drugs = {d.key: d for d in session.exec(select(Drug).where(Drug.study_id == study.id))}
        arms = session.exec(select(Arm).where(Arm.study_id == study.id)).all()
        with_belimumab = {
            link.arm_id
            for link in session.exec(select(ArmDrug).where(ArmDrug.drug_id == drugs[BELIMUMAB].id))
        }
        combination = next(a for a in arms if a.id in with_belimumab)
        monotherapy = next(a for a in arms if a.id not in with_belimumab)
        for p in plan_demo(seed):
            actor = investigators[p.site]
            subject = add_subject(
                session=session, actor=actor, study_id=study.id, site=sites[p.site],
                subjid=p.subjid, arm=combination if p.combination else monotherapy, sex=p.sex,
                age=p.age, weight_kg=p.weight_kg, consent_date=p.consent,
                randomization_date=p.randomized, end_of_study_date=p.end_of_study,
                race=p.race, height_cm=p.height_cm,
            )  # fmt: skip
            for first, last, mg in p.prednisone:
                add_exposure(session=session, actor=actor, subject=subject,
                             drug=drugs[PREDNISONE], dose=mg, unit="mg", route="ORAL",
                             frequency="QD", start=datetime.combine(first, time(0)),
                             end=datetime.combine(last, time(0)))  # fmt: skip
            for start, end in p.infusions:
                add_exposure(session=session, actor=actor, subject=subject,
                             drug=drugs[BELIMUMAB], dose=10, unit="mg/kg", route="INTRAVENOUS",
                             frequency="ONCE", start=start, end=end)  # fmt: skip
            for ev in p.events:
                # Planned events are distinct by construction: two of one term on one
                # day are confirmed, as an investigator would confirm them.
                create_event(session=session, actor=actor, subject=subject, data=ev.data,
                             submit=True, confirm_duplicate=True)  # fmt: skip
            # The end of study: disposition (DS) and, for the death, DM's death fields.
            died = p.death is not None
            update_subject(
                session=session, actor=actor, subject=subject, disposition=p.disposition,
                disposition_date=p.end_of_study.isoformat(),
                disposition_reason=p.disposition_reason, died=died,
                death_date=p.death.isoformat() if p.death else None,
                death_cause=p.death_cause,
            )  # fmt: skip
        seed_review(session, study_id=study.id)  # RSI lists and two assessed SUSARs
        session.flush()
        return _summary(session, study.id, created=True)
