"""Sponsor assessment: RSI versions, expectedness, the SUSAR decision and its report clocks."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.service import ValidationFailed
from pv.review import service as review
from pv.review.models import ExpeditedReport
from pv.review.rsi import rsi_versions
from pv.review.workflow import RoleRefused
from tests.review.sending import send_report

from .conftest import FATAL_SEPSIS, HEADACHE, IRR, LUNG, PASSWORD, SEPSIS, SERIOUS_PNEUMONIA, World

NOT_RELATED = {"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"}


def _rsi(world: World, drug: str, label: str, start: str, codes: list[str], who: str = "admin"):
    with write_session(world.engine) as s:
        return review.add_rsi_version(
            session=s,
            actor=world.actor(who),
            drug=world.drugs[drug],
            label=label,
            effective_from=date.fromisoformat(start),
            codes=codes,
        )


def _reviewed(world: World, fields: dict, **changes) -> int:
    ev = world.report(fields, **changes)
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
    return ev


def _assess(
    world: World,
    ev: int,
    awareness: str,
    causality: dict,
    *,
    serious: bool = True,
    overrides: dict | None = None,
    reason: str | None = None,
):
    with write_session(world.engine) as s:
        return review.save_assessment(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=world.event(ev).version,
            awareness_date=date.fromisoformat(awareness),
            seriousness_confirmed=serious,
            causality=causality,
            overrides=overrides,
            reason=reason,
            password=PASSWORD,
        )


def _reports(world: World, ev: int, *, live: bool = True) -> dict[str, ExpeditedReport]:
    with read_session(world.engine) as s:
        q = select(ExpeditedReport).where(
            ExpeditedReport.event_id == ev, ExpeditedReport.kind != "investigator_sae_24h"
        )
        if live:
            q = q.where(col(ExpeditedReport.cancelled_at).is_(None))
        return {r.kind: r for r in s.exec(q)}


def test_expectedness_uses_the_rsi_version_in_force_on_the_awareness_date(world: World):
    v1 = _rsi(world, "belimumab", "IB ed. 12", "2020-06-01", [IRR, HEADACHE])
    v2 = _rsi(world, "belimumab", "IB ed. 13", "2021-04-01", [IRR, HEADACHE, LUNG])
    with read_session(world.engine) as s:
        drug = world.drugs["belimumab"].id
        assert review.rsi_in_force(s, drug, date(2020, 5, 31)) is None
        assert review.rsi_in_force(s, drug, date(2021, 3, 31)).id == v1.id
        assert review.rsi_in_force(s, drug, date(2021, 4, 1)).id == v2.id  # its first day
        assert [v.label for v in rsi_versions(s, drug)] == ["IB ed. 13", "IB ed. 12"]
    causality = {"belimumab": "possible", "prednisone": "unlikely"}
    before = _reviewed(world, SERIOUS_PNEUMONIA, aerel=NOT_RELATED)
    a = _assess(world, before, "2021-03-15", causality)  # between the two versions
    assert a.rsi_versions == {"belimumab": v1.id, "prednisone": None}
    assert a.expectedness == {"belimumab": "unexpected", "prednisone": "unexpected"}
    assert a.is_susar and a.suspect_drugs == ["belimumab"]
    after = _reviewed(world, SERIOUS_PNEUMONIA, aerel=NOT_RELATED)
    a = _assess(world, after, "2021-04-01", causality)
    assert a.rsi_versions["belimumab"] == v2.id and a.expectedness["belimumab"] == "expected"
    assert not a.is_susar and _reports(world, after) == {}


def test_rsi_versions_are_added_by_admins_with_later_dates_and_real_codes(world: World):
    with pytest.raises(RoleRefused):
        _rsi(world, "prednisone", "SmPC 2019", "2019-01-01", [LUNG], who="officer")
    _rsi(world, "prednisone", "SmPC 2019", "2019-01-01", [LUNG])
    for label, start, codes, field in (
        ("SmPC 2018", "2018-06-01", [LUNG], "effective_from"),
        ("SmPC 2019", "2020-01-01", [LUNG], "label"),
        ("SmPC 2020", "2020-01-01", ["99999999"], "codes"),
        ("SmPC 2020", "2020-01-01", [], "codes"),
    ):
        with pytest.raises(ValidationFailed) as err:
            _rsi(world, "prednisone", label, start, codes)
        assert [i.field for i in err.value.findings.errors] == [field]
    with read_session(world.engine) as s:
        [entry] = s.exec(select(AuditEntry).where(AuditEntry.entity_type == "rsi_version")).all()
        assert entry.changes["codes"] == [None, [LUNG]] and entry.actor == "admin"


@pytest.mark.parametrize(
    ("serious", "causality", "investigator", "rsi", "susar", "suspects"),
    [
        # serious + suspected + unexpected for that drug
        (True, ("possible", "unlikely"), NOT_RELATED, [], True, ["belimumab"]),
        (True, ("certain", "unlikely"), NOT_RELATED, [], True, ["belimumab"]),
        (True, ("probable", "unlikely"), NOT_RELATED, [], True, ["belimumab"]),
        # not serious after all
        (False, ("possible", "possible"), NOT_RELATED, [], False, ["belimumab", "prednisone"]),
        # suspected only for belimumab, whose RSI lists it; prednisone unexpected but unlikely
        (True, ("possible", "unlikely"), NOT_RELATED, [LUNG], False, ["belimumab"]),
        # conditional and unassessable are not "suspected"
        (True, ("conditional", "unassessable"), NOT_RELATED, [], False, []),
        # the sponsor may not downgrade the investigator's causality for reporting
        (
            True,
            ("unlikely", "unlikely"),
            {"belimumab": "RELATED", "prednisone": "NOT RELATED"},
            [],
            True,
            ["belimumab"],
        ),
    ],
)
def test_susar_is_serious_and_suspected_and_unexpected_for_the_same_drug(
    world: World, serious, causality, investigator, rsi, susar, suspects
):
    _rsi(world, "belimumab", "IB", "2020-01-01", rsi or [IRR])
    _rsi(world, "prednisone", "SmPC", "2020-01-01", [HEADACHE])
    ev = _reviewed(world, SERIOUS_PNEUMONIA, aerel=investigator)
    a = _assess(
        world,
        ev,
        "2021-03-05",
        dict(zip(("belimumab", "prednisone"), causality, strict=True)),
        serious=serious,
    )
    assert (a.is_susar, a.suspect_drugs) == (susar, suspects)
    assert set(_reports(world, ev)) == ({"initial_15"} if susar else set())


def test_expectedness_can_be_overridden_only_with_a_reason(world: World):
    _rsi(world, "belimumab", "IB", "2020-01-01", [LUNG])
    ev = _reviewed(world, SERIOUS_PNEUMONIA, aerel=NOT_RELATED)
    causality = {"belimumab": "probable", "prednisone": "unlikely"}
    with pytest.raises(ValidationFailed) as err:
        _assess(
            world,
            ev,
            "2021-03-05",
            causality,
            overrides={"belimumab": review.Override("unexpected", " ")},
        )
    assert [i.field for i in err.value.findings.errors] == ["expectedness.belimumab"]
    a = _assess(
        world,
        ev,
        "2021-03-05",
        causality,
        overrides={
            "belimumab": review.Override(
                "unexpected", "necrotising pneumonia is not the listed term"
            )
        },
    )
    assert a.rsi_expectedness["belimumab"] == "expected"
    assert a.expectedness["belimumab"] == "unexpected" and a.is_susar
    assert a.override_reasons == {"belimumab": "necrotising pneumonia is not the listed term"}


def test_fatal_susar_gets_7_and_15_day_clocks_from_awareness(world: World):
    ev = _reviewed(world, FATAL_SEPSIS)
    a = _assess(world, ev, "2021-05-03", {"belimumab": "possible", "prednisone": "possible"})
    assert a.is_susar and a.fatal_or_life_threatening
    reports = _reports(world, ev)
    assert {
        k: (r.clock_days, r.start_date.isoformat(), r.due_date.isoformat())
        for k, r in reports.items()
    } == {
        "initial_7": (7, "2021-05-03", "2021-05-10"),
        "followup_8": (15, "2021-05-03", "2021-05-18"),
    }


def test_reassessment_needs_a_reason_and_moves_or_cancels_unsent_clocks(world: World):
    ev = _reviewed(world, FATAL_SEPSIS, aerel=NOT_RELATED)
    suspected = {"belimumab": "possible", "prednisone": "unlikely"}
    _assess(world, ev, "2021-05-03", suspected)
    sent = _reports(world, ev)["initial_7"]
    with write_session(world.engine) as s:
        send_report(s, world.actor("officer"), sent.id, date(2021, 5, 9), PASSWORD)
    with pytest.raises(ValidationFailed) as err:
        _assess(world, ev, "2021-05-04", suspected)
    assert err.value.findings.errors[0].field == "reason"
    a = _assess(world, ev, "2021-05-04", suspected, reason="sponsor learned a day later")
    assert a.version == 2 and a.awareness_date == date(2021, 5, 4)
    reports = _reports(world, ev)
    assert reports["initial_7"].due_date == date(2021, 5, 10)  # sent: history, unchanged
    assert reports["followup_8"].due_date == date(2021, 5, 19)  # unsent: moved
    a = _assess(
        world,
        ev,
        "2021-05-04",
        {"belimumab": "unlikely", "prednisone": "unlikely"},
        reason="causality revised after autopsy",
    )
    assert not a.is_susar
    assert set(_reports(world, ev)) == {"initial_7"}  # the unsent follow-up was cancelled
    assert _reports(world, ev, live=False)["followup_8"].cancelled_at is not None
    with read_session(world.engine) as s:
        history = s.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "assessment", AuditEntry.entity_id == str(ev))
            .order_by(col(AuditEntry.id))
        ).all()
    assert [h.changes["version"] for h in history] == [[None, 1], [1, 2], [2, 3]]
    assert history[2].changes["is_susar"] == [True, False]
    assert history[2].reason == "causality revised after autopsy"


def test_assessment_inputs_are_checked_all_at_once(world: World):
    ev = _reviewed(world, SERIOUS_PNEUMONIA)
    with pytest.raises(ValidationFailed) as err:
        _assess(world, ev, "2021-02-01", {"belimumab": "maybe", "aspirin": "possible"})
    assert {i.field for i in err.value.findings.errors} == {
        "awareness_date",
        "causality.belimumab",
        "causality.prednisone",
        "causality.aspirin",
    }
    with pytest.raises(ValidationFailed):
        _assess(world, ev, "2999-01-01", {"belimumab": "possible", "prednisone": "possible"})
    assert world.event(ev).status == "under_review"


def test_an_officer_marks_a_report_sent_once_and_not_in_the_future(world: World):
    ev = _reviewed(world, SERIOUS_PNEUMONIA)
    _assess(world, ev, "2021-03-05", {"belimumab": "possible", "prednisone": "possible"})
    report = _reports(world, ev)["initial_15"]
    for who, when, error in (
        ("admin", "2021-03-10", RoleRefused),
        ("officer", "2999-01-01", ValidationFailed),
        ("officer", "2021-03-04", ValidationFailed),
    ):
        with pytest.raises(error), write_session(world.engine) as s:
            send_report(s, world.actor(who), report.id, date.fromisoformat(when), PASSWORD)
    with write_session(world.engine) as s:
        send_report(s, world.actor("officer"), report.id, date(2021, 3, 19), PASSWORD)
    with pytest.raises(ValidationFailed), write_session(world.engine) as s:
        send_report(s, world.actor("officer"), report.id, date(2021, 3, 20), PASSWORD)
    assert _reports(world, ev)["initial_15"].submitted_date == date(2021, 3, 19)


def test_sepsis_code_is_a_ctcae_term(world: World):
    ev = _reviewed(world, FATAL_SEPSIS)
    assert world.event(ev).aedecod == "Sepsis" and world.event(ev).aelltcd == SEPSIS
