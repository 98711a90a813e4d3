"""The SAE case data of a serious event (issue 16): check, save and read `SaeCase`.

One payload shape for every path (JSON API, event form, spreadsheet upload):

    reporter_name, reporter_qualification, reporter_country, reporter_contact,
    hosp_admit_date, hosp_discharge_date, death_date, death_cause, autopsy, autopsy_cause,
    medical_history [{term, start, ongoing}],
    conmeds [{name, dose, unit, route, start, stop, indication}],
    tests [{name, date, value, unit, low, high}],
    dechallenge {drug_key: result}, rechallenge {drug_key: result}

`check_case_data` reports every problem at once, each naming its field (`conmeds[0].start`,
0-based as sent; `dechallenge.belimumab`), and returns the clean payload:

- text is stripped and "" is no value; text follows the shared rule of `pv.inputs` (no
  control, bidi-override or lone-surrogate characters; names and short text at most
  `NAME_MAX` characters on one line, free text (causes of death, a test's result) at most
  `TEXT_MAX`, line breaks allowed); unknown keys are refused, naming them;
- dates are ISO 8601 as clinical data collects them (partial allowed, `pv.events.dates`),
  not in the future; a discharge not before the admission, a medication's stop not before
  its start, a death not before the event's onset: a partial date is refused only when
  even its latest possible day is before the other's earliest;
- death details (date, cause, autopsy, autopsy cause) only for a fatal event (the
  criterion "results in death" or outcome FATAL); an autopsy cause only with autopsy "Y";
- codes: qualification in QUALIFICATIONS (E2B C.2.r.4), country an ISO 3166-1 alpha-2
  code (upper-cased; `COUNTRY_CODES`), autopsy in AUTOPSY (upper-cased), dechallenge and
  rechallenge keyed by the subject's study drugs with results in CHALLENGE_RESULTS
  (lower-cased; an empty result is no answer);
- lists: at most `MAX_ITEMS` items; an item wholly blank (a form's spare row) is dropped;
  each other needs its term (history) or name (medication, test); a medication's dose is a
  finite number from 0 to `DOSE_MAX` (text such as "12.5" accepted, ASCII digits) and needs
  its unit; a test's value, low and high are text as written (a number is kept as its text).

`save_case_data` stores it for a serious event that is not locked: investigators of the
event's site and safety officers (administrators too, as they write events); a draft is its
site's until submitted. Optimistic concurrency on the row's `version` (0 while nothing is
stored); every change is one audit entry, entity "sae_case", id = the event id, with the
old and new value of each changed field. Nothing is written when anything is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

from babel import Locale
from sqlmodel import Session, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import Role
from pv.events.models import Status
from pv.events.rules import FATAL, Findings, _dtc_or_problem
from pv.events.service import NotEditable, ValidationFailed, lock_for_update, subject_drugs
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.icsr.models import AUTOPSY, CHALLENGE_RESULTS, QUALIFICATIONS, SaeCase
from pv.inputs import text_problem
from pv.review.workflow import RoleRefused, at_site, require_role
from pv.study.models import Subject
from pv.timeutil import today as utc_today
from pv.timeutil import utcnow

CASE_SCALARS = (
    "reporter_name", "reporter_qualification", "reporter_country", "reporter_contact",
    "hosp_admit_date", "hosp_discharge_date", "death_date", "death_cause", "autopsy",
    "autopsy_cause",
)  # fmt: skip
# The fields of one item of each list, in the order they are stored.
CASE_LISTS: dict[str, tuple[str, ...]] = {
    "medical_history": ("term", "start", "ongoing"),
    "conmeds": ("name", "dose", "unit", "route", "start", "stop", "indication"),
    "tests": ("name", "date", "value", "unit", "low", "high"),
}
CASE_CHALLENGES = ("dechallenge", "rechallenge")
CASE_FIELDS = CASE_SCALARS + tuple(CASE_LISTS) + CASE_CHALLENGES
# The item field that names it (required).
ITEM_NAME = {"medical_history": "term", "conmeds": "name", "tests": "name"}
DEATH_FIELDS = ("death_date", "death_cause", "autopsy", "autopsy_cause")
MAX_ITEMS = 50  # per list
NAME_MAX = 200  # names, units, routes, contact: one line
TEXT_MAX = 2000  # free text: causes of death, a test's result (E2B F.r.3.4: 2000)
DATE_MAX = 20  # the columns' length
DOSE_MAX = 1_000_000_000
_SCALAR_DATES = ("hosp_admit_date", "hosp_discharge_date", "death_date")
_ITEM_DATES = frozenset({"start", "stop", "date"})
_FREE_TEXT = frozenset({"death_cause", "autopsy_cause", "value"})
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_YES = frozenset({"y", "yes", "true", "1", "on"})
_NO = frozenset({"n", "no", "false", "0"})

# ISO 3166-1 alpha-2: the officially assigned codes, from CLDR's territories (Babel, a
# dependency): its two-letter ids less its groupings and pseudo-regions (EU, EZ, UN, QO,
# XA, XB, ZZ) and the exceptionally reserved codes (AC, CP, CQ, DG, EA, IC, TA). XK
# (Kosovo, user-assigned) stays: the EU and EudraVigilance use it.
_NOT_ISO = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ",
                      "AC", "CP", "CQ", "DG", "EA", "IC", "TA"})  # fmt: skip
COUNTRY_CODES = frozenset(
    k
    for k in Locale("en").territories
    if isinstance(k, str) and len(k) == 2 and k.isalpha() and k not in _NOT_ISO
)


class EventLike(Protocol):
    """What the rules read of the event: a stored AdverseEvent or an EventInput being saved."""

    aeser: bool | None
    aesdth: bool
    aeout: str | None
    aestdtc: str | None


class CaseVersionConflict(Exception):
    """The case data changed since the caller read it; `current` is what is stored now."""

    def __init__(self, current: SaeCase | None, expected: int):
        self.current, self.expected = current, expected
        self.version = current.version if current is not None else 0
        self.message = _(
            "the case data changed: it is at version %(current)s, not %(expected)s; reload "
            "it and make your change again",
            current=self.version,
            expected=expected,
        )
        super().__init__(self.message)


# --- reading ----------------------------------------------------------------------------------


def get_case_data(session: Session, event_id: int) -> SaeCase | None:
    return session.exec(select(SaeCase).where(SaeCase.event_id == event_id)).first()


def case_data_dict(row: SaeCase | None) -> dict[str, Any]:
    """The payload of a stored row (empty: every scalar None, lists and maps empty)."""
    out: dict[str, Any] = {name: getattr(row, name) if row else None for name in CASE_SCALARS}
    for name, keys in CASE_LISTS.items():
        items = getattr(row, name) if row else []
        out[name] = [{k: item.get(k) for k in keys} for item in items or []]
    for name in CASE_CHALLENGES:
        out[name] = dict(getattr(row, name) or {}) if row else {}
    return out


# --- checking ---------------------------------------------------------------------------------


def _text(f: Findings, field: str, value: Any, *, max_length: int, multiline: bool = False
          ) -> str | None:  # fmt: skip
    """Stripped text ("" -> None) under the shared rule, or None after an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        f.error(field, _("must be text"))
        return None
    text = value.strip()
    if not text:
        return None
    problem = text_problem(text, max_length=max_length, multiline=multiline)
    if problem is not None:
        f.error(field, problem)
        return None
    return text


def _date_text(value: Any) -> Any:
    """A date or date-time object (a spreadsheet cell) as its ISO 8601 text."""
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _date(f: Findings, field: str, value: Any, today: date) -> tuple[str | None, Any]:
    """(the date's text, its PartialDate) or (None, None) when absent or refused."""
    text = _text(f, field, _date_text(value), max_length=DATE_MAX)
    if text is None:
        return None, None
    parsed, problem = _dtc_or_problem(text)  # the event's rule: text first, then ISO 8601
    if parsed is None:
        f.error(field, problem or "")
        return None, None
    if parsed.earliest.date() > today:
        f.error(field, _("%(value)s is in the future", value=text))
        return None, None
    return text, parsed


def _before(later: Any, earlier: Any) -> bool:
    """Certainly before: even `later`'s latest possible day precedes `earlier`'s earliest."""
    return bool(later and earlier and later.latest.date() < earlier.earliest.date())


def _flag(f: Findings, field: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return None
        if word in _YES:
            return True
        if word in _NO:
            return False
    f.error(field, _("must be Y or N (true or false)"))
    return None


def _dose(f: Findings, field: str, value: Any) -> int | float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | float
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        f.error(field, _("the dose must be a number"))
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            problem = text_problem(text, max_length=NAME_MAX)
            f.error(field, problem or _("'%(value)s' is not a number (digits 0-9 and a "
                                        "decimal point)", value=text))  # fmt: skip
            return None
        number = float(text)
        if math.isfinite(number) and number.is_integer() and abs(number) <= DOSE_MAX:
            number = int(number)
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        f.error(field, _("the dose must be a finite number"))
        return None
    if number < 0:
        f.error(field, _("the dose must be 0 or more"))
        return None
    if number > DOSE_MAX:
        f.error(field, _("the dose must be at most %(max)s", max=DOSE_MAX))
        return None
    return number


def _result_text(f: Findings, field: str, value: Any, *, max_length: int, multiline: bool
                 ) -> str | None:  # fmt: skip
    """A test's value or range limit: text as written; a number is kept as its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            f.error(field, _("must be a finite number or text"))
            return None
        value = str(value)
    return _text(f, field, value, max_length=max_length, multiline=multiline)


KEY_SHOWN = 80  # characters of a refused key repeated in a field name


def shown_key(key: Any) -> str:
    """A key as a field name may repeat it: at most `KEY_SHOWN` characters, and every
    character the text rule refuses (control, bidi, lone surrogate) written as \\uXXXX, so
    that the answer naming it can always be encoded and shown."""
    text = str(key)
    if len(text) > KEY_SHOWN:
        text = text[:KEY_SHOWN] + "..."
    if text_problem(text, max_length=KEY_SHOWN + 3) is None:
        return text
    return "".join(c if text_problem(c, max_length=1) is None else f"\\u{ord(c):04x}" for c in text)


def _unknown(f: Findings, prefix: str, keys: Any, known: tuple[str, ...]) -> None:
    for key in keys:
        if key not in known:
            f.error(f"{prefix}{shown_key(key)}", _("unknown field; the fields are: %(fields)s",
                                                   fields=", ".join(known)))  # fmt: skip


def _blank(item: Mapping[str, Any]) -> bool:
    return all(v is None or v is False or (isinstance(v, str) and not v.strip())
               for v in item.values())  # fmt: skip


def _item(f: Findings, name: str, index: int, item: Mapping[str, Any], today: date
          ) -> dict[str, Any]:  # fmt: skip
    at = f"{name}[{index}]."
    out: dict[str, Any] = {}
    dates: dict[str, Any] = {}
    for key in CASE_LISTS[name]:
        value, field = item.get(key), at + key
        if key in _ITEM_DATES:
            out[key], dates[key] = _date(f, field, value, today)
        elif key == "ongoing":
            out[key] = _flag(f, field, value)
        elif key == "dose":
            out[key] = _dose(f, field, value)
        elif name == "tests" and key in ("value", "low", "high"):
            free = key in _FREE_TEXT
            out[key] = _result_text(f, field, value, max_length=TEXT_MAX if free else NAME_MAX,
                                    multiline=free)  # fmt: skip
        else:
            out[key] = _text(f, field, value, max_length=NAME_MAX)
    label = ITEM_NAME[name]
    if out[label] is None and not any(e.field == at + label for e in f.errors):
        f.error(at + label, _("a term is required") if label == "term" else
                _("a name is required"))  # fmt: skip
    if name == "conmeds":
        if _before(dates.get("stop"), dates.get("start")):
            f.error(at + "stop", _("the stop (%(stop)s) is before the start (%(start)s)",
                                   stop=out["stop"], start=out["start"]))  # fmt: skip
        if (
            out["dose"] is not None
            and out["unit"] is None
            and not any(e.field == at + "unit" for e in f.errors)
        ):
            f.error(at + "unit", _("a dose needs its unit"))
    return out


def _list(f: Findings, name: str, value: Any, today: date) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        f.error(name, _("must be a list"))
        return []
    items = [(i, item) for i, item in enumerate(value)
             if not (isinstance(item, Mapping) and _blank(item))]  # fmt: skip
    if len(items) > MAX_ITEMS:
        f.error(name, ngettext("at most %(num)d item", "at most %(num)d items", MAX_ITEMS))
        return []
    out = []
    for index, item in items:
        if not isinstance(item, Mapping):
            f.error(f"{name}[{index}]", _("must be an object with named fields"))
            continue
        _unknown(f, f"{name}[{index}].", item.keys(), CASE_LISTS[name])
        out.append(_item(f, name, index, item, today))
    return out


def _challenge(f: Findings, name: str, value: Any, drug_keys: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        f.error(name, _("must be an object of study drug keys and results"))
        return {}
    allowed = ", ".join(CHALLENGE_RESULTS)
    out = {}
    for key, result in value.items():
        field = f"{name}.{shown_key(key)}"
        if result is None or (isinstance(result, str) and not result.strip()):
            continue  # no answer
        if key not in drug_keys:
            drugs = ", ".join(drug_keys) or _("none")
            f.error(field, _("'%(key)s' is not a study drug of this subject (%(drugs)s)",
                             key=shown_key(key), drugs=drugs))  # fmt: skip
            continue
        if not isinstance(result, str):
            f.error(field, _("must be one of: %(allowed)s", allowed=allowed))
            continue
        text = _text(f, field, result, max_length=NAME_MAX)
        if text is None:
            continue
        if text.lower() not in CHALLENGE_RESULTS:
            f.error(field, _("'%(value)s' is not one of: %(allowed)s", value=text,
                             allowed=allowed))  # fmt: skip
        else:
            out[key] = text.lower()
    return out


def _code(f: Findings, field: str, value: Any, allowed: tuple[str, ...] | frozenset[str],
          shown: str) -> str | None:  # fmt: skip
    text = _text(f, field, value, max_length=NAME_MAX)
    if text is None:
        return None
    if text not in allowed:
        f.error(field, _("'%(value)s' is not one of: %(allowed)s", value=text, allowed=shown))
        return None
    return text


def check_case_data(data: Mapping[str, Any], *, event: EventLike, drug_keys: list[str],
                    today: date) -> tuple[dict[str, Any], Findings]:  # fmt: skip
    """The clean payload and every problem of it (errors block a save).

    `event` is the event the data belongs to (stored, or as being saved with it): its
    seriousness, death criterion, outcome and onset; `drug_keys` the subject's study drugs.
    """
    f = Findings()
    _unknown(f, "", data.keys(), CASE_FIELDS)
    if not event.aeser:
        f.error("aeser", _("case data is only for a serious event"))
    out: dict[str, Any] = {}
    out["reporter_name"] = _text(f, "reporter_name", data.get("reporter_name"),
                                 max_length=NAME_MAX)  # fmt: skip
    qualification = data.get("reporter_qualification")
    if isinstance(qualification, int) and not isinstance(qualification, bool):
        qualification = str(qualification)
    out["reporter_qualification"] = _code(
        f, "reporter_qualification", qualification, tuple(QUALIFICATIONS),
        ", ".join(f"{k} ({v})" for k, v in QUALIFICATIONS.items()),
    )  # fmt: skip
    country = _text(f, "reporter_country", data.get("reporter_country"), max_length=NAME_MAX)
    if country is not None:
        country = country.upper()
        if not re.fullmatch("[A-Z]{2}", country) or country not in COUNTRY_CODES:
            f.error("reporter_country", _("'%(value)s' is not an ISO 3166-1 alpha-2 country "
                                          "code (two letters, such as CN or US)",
                                          value=country))  # fmt: skip
            country = None
    out["reporter_country"] = country
    out["reporter_contact"] = _text(f, "reporter_contact", data.get("reporter_contact"),
                                    max_length=NAME_MAX)  # fmt: skip
    dates = {}
    for name in _SCALAR_DATES:
        out[name], dates[name] = _date(f, name, data.get(name), today)
    for name in ("death_cause", "autopsy_cause"):
        out[name] = _text(f, name, data.get(name), max_length=TEXT_MAX, multiline=True)
    autopsy = data.get("autopsy")
    if isinstance(autopsy, str):
        autopsy = autopsy.upper()
    out["autopsy"] = _code(f, "autopsy", autopsy, AUTOPSY, ", ".join(AUTOPSY))
    for name in CASE_LISTS:
        out[name] = _list(f, name, data.get(name), today)
    for name in CASE_CHALLENGES:
        out[name] = _challenge(f, name, data.get(name), drug_keys)

    # Consistency.
    admit, discharge = dates["hosp_admit_date"], dates["hosp_discharge_date"]
    if _before(discharge, admit):
        f.error("hosp_discharge_date", _(
            "the discharge (%(discharge)s) is before the admission (%(admission)s)",
            discharge=out["hosp_discharge_date"], admission=out["hosp_admit_date"]))  # fmt: skip
    fatal = bool(event.aesdth) or event.aeout == FATAL
    if not fatal:
        for name in DEATH_FIELDS:
            if out[name] is not None:
                f.error(name, _("death details are only for a fatal event (outcome FATAL "
                                "or the criterion 'results in death')"))  # fmt: skip
    if out["autopsy_cause"] is not None and out["autopsy"] != "Y":
        f.error("autopsy_cause", _("an autopsy-determined cause of death needs autopsy "
                                   "'Y' (done)"))  # fmt: skip
    death = dates["death_date"]
    if death is not None and event.aestdtc:
        onset, _problem = _dtc_or_problem(event.aestdtc)
        if _before(death, onset):
            f.error("death_date", _(
                "the death (%(death)s) is before the onset of the event (%(onset)s)",
                death=out["death_date"], onset=event.aestdtc))  # fmt: skip
    return {name: out[name] for name in CASE_FIELDS}, f


# --- saving -----------------------------------------------------------------------------------


def _may_edit(session: Session, actor: Actor, event: Any) -> None:
    """Investigators of the event's site, officers and administrators; RoleRefused else."""
    require_role(actor, Role.investigator, Role.officer, Role.admin)
    if actor.role == Role.investigator and not at_site(session, actor, event.site_id):
        raise RoleRefused(_("you may change the case data of your own sites' events only"))
    if actor.role == Role.officer and event.status == Status.draft:
        raise RoleRefused(_("a draft belongs to its site until it is submitted"))


def save_case_data(session: Session, actor: Actor, event_id: int, data: Mapping[str, Any], *,
                   expected_version: int | None = None) -> SaeCase:  # fmt: skip
    """Check and store an event's case data (the whole payload); one audit entry.

    Raises LookupError (no such event), RoleRefused (pv.review.workflow), NotEditable (the
    event is locked), CaseVersionConflict (`expected_version` is not the stored version;
    0 = nothing stored yet) or ValidationFailed (every problem). When nothing changes,
    nothing is written: the stored row is returned, or, when there is none, an unsaved
    empty one of version 0.
    """
    event = lock_for_update(session, event_id)  # serializes saves of one event's case
    if event is None:
        raise LookupError(f"no event {event_id}")
    _may_edit(session, actor, event)
    if event.status == Status.locked:
        raise NotEditable(_("the event is locked; an administrator must unlock it first"))
    row = get_case_data(session, event_id)
    current = row.version if row is not None else 0
    if expected_version is not None and expected_version != current:
        raise CaseVersionConflict(row, expected_version)
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    drug_keys = [d.key for d in subject_drugs(session, subject)]
    clean, findings = check_case_data(data, event=event, drug_keys=drug_keys,
                                      today=utc_today())  # fmt: skip
    if not findings.ok:
        raise ValidationFailed(findings)
    changes = diff(case_data_dict(row), clean)
    if not changes:
        return row if row is not None else SaeCase(event_id=event_id, study_id=event.study_id,
                                                   version=0)  # fmt: skip
    if row is None:
        row = SaeCase(event_id=event_id, study_id=event.study_id, version=1)
        action = "create"
    else:
        row.version += 1
        action = "update"
    for name, value in clean.items():
        setattr(row, name, value)  # new lists and dicts: the JSON columns see the change
    row.updated_by, row.updated_by_name, row.updated_at = actor.user_id, actor.username, utcnow()
    session.add(row)
    session.flush()
    changes["version"] = [current or None, row.version]
    record(session=session, actor=actor, action=action, entity_type="sae_case",
           entity_id=event_id, study_id=event.study_id, site_id=event.site_id,
           changes=changes)  # fmt: skip
    return row
