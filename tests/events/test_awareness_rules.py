"""Issue 15, points 2 and 6: the site's awareness date (AEAWAREDTC), the confirmation of an
onset before informed consent, and the narrative required at submission only (pure rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pv.events.rules import CONSENT_FIELD, EventInput, check_event
from pv.review.clocks import sae_due, site_awareness
from pv.terminology.models import Term

TODAY = date(2024, 6, 30)
LUNG = Term(release_id=1, code="10061229", term="Lung infection", soc="Infections",
            grade_2="g2", grade_3="g3", grade_4="g4", grade_5="Death")  # fmt: skip
DRUGS = ["belimumab", "prednisone"]
SERIOUS = EventInput(
    aeterm="pneumonia",
    aelltcd="10061229",
    aetoxgr=3,
    aeser=True,
    aeshosp=True,
    aestdtc="2024-03-01",
    aeendtc="2024-03-20",
    aeout="RECOVERED/RESOLVED",
    aerel={"belimumab": "RELATED", "prednisone": "NOT RELATED"},
    narrative="Admitted for antibiotics.",
    aeawaredtc="2024-03-02",
)


def findings(data: EventInput, *, submit: bool = True, consent: date | None = date(2024, 1, 1),
             confirmed: bool | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    return check_event(data, term=LUNG, drug_keys=DRUGS, consent_date=consent, today=TODAY,
                       submit=submit, consent_confirmed=confirmed)  # fmt: skip


def errors(data: EventInput, **kw: object) -> dict[str, str]:
    return {e.field: e.message for e in findings(data, **kw).errors}  # type: ignore[arg-type]


def test_a_serious_event_with_its_awareness_date_passes():
    assert errors(SERIOUS) == {}
    assert errors(replace(SERIOUS, aeawaredtc="2024-03-01T14:30")) == {}  # the onset's day


def test_the_awareness_date_is_required_when_a_serious_event_is_submitted():
    got = errors(replace(SERIOUS, aeawaredtc=None))
    assert list(got) == ["aeawaredtc"]
    assert "the date the site became aware of a serious event is required" in got["aeawaredtc"]
    assert errors(replace(SERIOUS, aeawaredtc=None), submit=False) == {}  # a draft waits
    not_serious = replace(SERIOUS, aeser=False, aeshosp=False, aeawaredtc=None)
    assert errors(not_serious) == {}


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("2024-02-29", "before the onset"),
        ("2024-07-01", "in the future"),
        ("2024-03", "needs the day"),
        ("2024", "needs the day"),
        ("02/03/2024", "not an ISO 8601 date"),
        ("٢٠٢٤-٠٣-٠٢", "not an ISO 8601 date"),  # Arabic-Indic digits: ASCII only
        ("２０２４-03-02", "not an ISO 8601 date"),  # full-width digits
        ("2024-03-32", "day 32 does not exist"),
        ("2024-03-02T25:00", "not a time of day"),
        ("2024-03-02\u202e", "U+202E"),  # a bidi control: the shared text rule
    ],
)
def test_a_bad_awareness_date_is_named_with_a_clear_message(value, needle):
    got = errors(replace(SERIOUS, aeawaredtc=value))
    assert list(got) == ["aeawaredtc"], got
    assert needle in got["aeawaredtc"], got
    assert "aware" in got["aeawaredtc"], got  # the message names the field


def test_awareness_before_a_partial_onset_compares_with_its_earliest_day():
    assert errors(replace(SERIOUS, aestdtc="2024-03", aeawaredtc="2024-03-01")) == {}
    assert "aeawaredtc" in errors(replace(SERIOUS, aestdtc="2024-03", aeawaredtc="2024-02-28"))


def test_a_refused_onset_is_not_also_blamed_on_the_awareness_date():
    got = errors(replace(SERIOUS, aestdtc="2024-13"))
    assert list(got) == ["aestdtc"]


def test_a_draft_sae_is_saved_without_a_narrative_and_submitted_only_with_one():
    draft = replace(SERIOUS, narrative=None)
    assert errors(draft, submit=False) == {}
    assert errors(draft) == {"narrative": "a serious event needs a narrative"}
    assert list(errors(replace(SERIOUS, narrative="   "))) == ["narrative"]


def test_onset_before_consent_is_a_warning_that_must_be_confirmed():
    early = replace(SERIOUS, aestdtc="2023-12-20", aeendtc="2024-01-02", aeawaredtc="2023-12-21")
    plain = findings(early)  # uploads and checks: a warning only
    assert not plain.errors and [w.field for w in plain.warnings] == ["aestdtc"]
    refused = findings(early, confirmed=False)  # form and API: confirm it
    assert [e.field for e in refused.errors] == [CONSENT_FIELD]
    assert "onset 2023-12-20 is before informed consent (2024-01-01)" in refused.errors[0].message
    assert "confirm" in refused.errors[0].message
    ok = findings(early, confirmed=True)
    assert not ok.errors and [w.field for w in ok.warnings] == ["aestdtc"]
    assert findings(SERIOUS, confirmed=False).ok  # after consent: nothing to confirm
    assert findings(early, confirmed=False, consent=None).ok  # no consent date known


def test_the_24_hour_clock_starts_at_midnight_utc_of_a_date_or_at_the_time_given():
    assert site_awareness("2024-03-02") == datetime(2024, 3, 2, tzinfo=UTC)
    assert site_awareness("2024-03-02T14:30") == datetime(2024, 3, 2, 14, 30, tzinfo=UTC)
    assert sae_due(site_awareness("2024-03-02T14:30")) == datetime(  # type: ignore[arg-type]
        2024, 3, 3, 14, 30, tzinfo=UTC
    )
    for value in (None, "", "2024-03", "not a date"):
        assert site_awareness(value) is None
