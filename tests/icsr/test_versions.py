"""Report versions (pv.icsr.versions): the case frozen as the initial report, re-frozen while
nothing sent stands, a new number once a submission stands; what changed, by hand;
deterministic files."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.service import ValidationFailed
from pv.icsr.build import CaseError, build_case
from pv.icsr.case import Change, ConMed, case_from_json, case_to_json
from pv.icsr.models import ReportFormat, ReportVersion, SaeCase, Submission
from pv.icsr.versions import (
    NOTE_MAX,
    diff_cases,
    get_version,
    masked,
    prepare_version,
    standing,
    thaw,
    version_file,
)
from pv.review.workflow import RoleRefused, TransitionRefused
from tests.review.conftest import MILD_HEADACHE, SERIOUS_PNEUMONIA, World, world  # noqa: F401


def _prepare(w: World, event_id: int, note: str | None = None, who: str = "officer") -> int:
    with write_session(w.engine) as s:
        return prepare_version(s, w.actor(who), event_id, note=note).id  # type: ignore[return-value]


def _version(w: World, version_id: int) -> ReportVersion:
    with read_session(w.engine) as s:
        row = s.get(ReportVersion, version_id)
        assert row is not None
        s.expunge(row)
        return row


def _case_data(w: World, event_id: int, **values) -> None:  # type: ignore[no-untyped-def]
    """Write the SAE case data directly (the casedata helper's service is tested there)."""
    with write_session(w.engine) as s:
        row = s.exec(select(SaeCase).where(SaeCase.event_id == event_id)).first()
        if row is None:
            row = SaeCase(event_id=event_id, study_id=w.study_id)
        for name, value in values.items():
            setattr(row, name, value)
        s.add(row)


def _submit(w: World, version_id: int, *, ack: str | None = None) -> None:
    """A submission row inserted directly (pv.icsr.submissions records it in the app)."""
    with write_session(w.engine) as s:
        v = s.get(ReportVersion, version_id)
        data = b"sent"
        s.add(Submission(report_version_id=version_id, event_id=v.event_id, study_id=v.study_id,
                         recipient_kind="regulator", recipient="NMPA", channel="gateway",
                         format="e2b", sent_date=date(2021, 3, 10), file_name="x.xml",
                         file_sha256=hashlib.sha256(data).hexdigest(), file=data,
                         recorded_by_name="officer", ack_outcome=ack))  # fmt: skip


def _audit(w: World, version_id: int) -> list[AuditEntry]:
    with read_session(w.engine) as s:
        return list(s.exec(select(AuditEntry).where(
            AuditEntry.entity_type == "report_version", AuditEntry.entity_id == str(version_id)
        ).order_by(col(AuditEntry.id))))  # fmt: skip


def test_prepare_freezes_the_initial_report(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    vid = _prepare(world, ev, note="  first report  ")
    v = _version(world, vid)
    assert (v.number, v.note, v.changes, v.refreshed_at) == (1, "first report", [], None)
    assert v.created_by_name == "officer"
    case = thaw(v)
    assert case == case_from_json(v.snapshot)  # thaw gives back exactly what was frozen
    assert case.version == 1 and case.initial and case.note == "first report"
    assert case.report_id == case.case_id  # C.1.1 = C.1.8.1 (pv.icsr.versions docstring)
    assert case.created == v.created_at.date()
    with read_session(world.engine) as s:  # frozen: the case as it stands, unmasked
        now = build_case(s, ev, created=case.created, blinded=False)
    assert replace(case, note=None) == now
    [entry] = _audit(world, vid)
    assert entry.action == "create" and entry.changes["number"] == [None, 1]
    with read_session(world.engine) as s:
        assert get_version(s, ev).id == get_version(s, ev, 1).id == vid
        with pytest.raises(LookupError, match="has no report version 2"):
            get_version(s, ev, 2)


def test_who_and_what_may_be_prepared(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    with pytest.raises(RoleRefused):
        _prepare(world, ev, who="inv1")
    with pytest.raises(ValidationFailed) as err:
        _prepare(world, ev, note="x" * (NOTE_MAX + 1))
    assert [i.field for i in err.value.findings.errors] == ["note"]
    mild = world.report(MILD_HEADACHE)
    with pytest.raises(CaseError, match="not serious"):
        _prepare(world, mild)
    draft = world.report(SERIOUS_PNEUMONIA, submit=False)
    with pytest.raises(TransitionRefused):
        _prepare(world, draft)
    with pytest.raises(CaseError, match="no event"):
        _prepare(world, 10**9)
    with read_session(world.engine) as s:
        assert s.exec(select(ReportVersion)).all() == []  # nothing half-written
        with pytest.raises(LookupError, match="no report version yet"):
            get_version(s, ev)


def test_prepare_again_before_sending_refreezes_the_same_number(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    vid = _prepare(world, ev, note="first")
    _case_data(world, ev, reporter_contact="+86 10 6915 5555")
    again = _prepare(world, ev)  # no note: the version keeps its note
    assert again == vid
    v = _version(world, vid)
    assert v.number == 1 and v.refreshed_at is not None and v.note == "first"
    assert thaw(v).reporter.contact == "+86 10 6915 5555"
    assert thaw(v).created == v.refreshed_at.date()
    create, refresh = _audit(world, vid)
    assert (create.action, refresh.action) == ("create", "refresh")
    assert refresh.changes["content"] == [None, ["reporter.contact"]]
    # a rejected submission does not stand: the version is still re-frozen
    _submit(world, vid, ack="rejected")
    assert _prepare(world, ev, note="corrected") == vid
    assert _version(world, vid).note == "corrected"
    with read_session(world.engine) as s:
        assert len(s.exec(select(ReportVersion).where(ReportVersion.event_id == ev)).all()) == 1


def test_a_standing_submission_makes_the_next_prepare_a_follow_up(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    v1 = _prepare(world, ev)
    _submit(world, v1)  # no ACK yet: it stands
    _case_data(
        world, ev, hosp_admit_date="2021-03-02",
        conmeds=[{"name": "paracetamol", "dose": 500, "unit": "mg", "route": "oral",
                  "start": "2021-03-02", "stop": None, "indication": "fever"}],
        dechallenge={"belimumab": "yes"},
    )  # fmt: skip
    v2 = _prepare(world, ev, note="hospital admission and a concomitant drug")
    assert v2 != v1
    second = _version(world, v2)
    assert second.number == 2 and not thaw(second).initial
    # by hand: what the case data added, against version 1 (no case data then); the
    # conmed's stop stays None on both sides, so it is no change. Drug order: the subject's
    # study drugs as build_case lists them (belimumab first in the demo record's arm).
    drug = [d.key for d in thaw(second).drugs].index("belimumab")
    assert second.changes == [
        {"field": "conmeds[0].dose", "old": None, "new": 500.0},
        {"field": "conmeds[0].indication", "old": None, "new": "fever"},
        {"field": "conmeds[0].name", "old": None, "new": "paracetamol"},
        {"field": "conmeds[0].route", "old": None, "new": "oral"},
        {"field": "conmeds[0].start", "old": None, "new": "2021-03-02"},
        {"field": "conmeds[0].unit", "old": None, "new": "mg"},
        {"field": f"drugs[{drug}].dechallenge", "old": None, "new": "yes"},
        {"field": "hospital_admission", "old": None, "new": "2021-03-02"},
    ]
    assert [c.field for c in thaw(second).changes] == [c["field"] for c in second.changes]
    assert thaw(_version(world, v1)).changes == ()  # version 1 untouched
    with read_session(world.engine) as s:
        assert get_version(s, ev).number == 2
        assert standing(s.exec(select(Submission)).one())


def test_diff_cases_by_hand(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    with read_session(world.engine) as s:
        old = build_case(s, ev, created=date(2021, 3, 5))
    pill = ConMed("aspirin", 100.0, "mg", "oral", "2020-01", None, "prevention")
    new = replace(
        old,
        version=2, initial=False, report_id="other", created=date(2021, 4, 1),  # metadata
        conmeds=(pill, replace(pill, name="omeprazole", stop="2021-03-01")),
        reaction=replace(old.reaction, end=None, ongoing=True),
    )  # fmt: skip
    older = replace(old, conmeds=(pill,))
    assert diff_cases(older, new) == [
        Change("conmeds[1].dose", None, 100.0),
        Change("conmeds[1].indication", None, "prevention"),
        Change("conmeds[1].name", None, "omeprazole"),
        Change("conmeds[1].route", None, "oral"),
        Change("conmeds[1].start", None, "2020-01"),
        Change("conmeds[1].stop", None, "2021-03-01"),
        Change("conmeds[1].unit", None, "mg"),
        Change("reaction.end", "2021-03-20", None),
        Change("reaction.ongoing", False, True),
    ]
    assert diff_cases(new, new) == []
    gone = replace(new, conmeds=(pill,))
    assert Change("conmeds[1].stop", "2021-03-01", None) in diff_cases(new, gone)


def test_files_are_deterministic_and_masked_on_request(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    v = _version(world, _prepare(world, ev))
    case = thaw(v)
    for fmt in ReportFormat:
        name, data = version_file(v, fmt, masked=False)
        again = version_file(v, fmt, masked=False)
        assert again == (name, data), fmt  # byte-identical
        assert name.startswith(f"{case.case_id}-V1-")
    assert version_file(v, "cioms_zh", masked=False)[0].endswith("-CIOMS-zh-Hans.pdf")
    assert version_file(v, "e2b", masked=False)[0].endswith("-V1-E2B.xml")
    xml = version_file(v, ReportFormat.e2b, masked=False)[1]
    stamp = v.created_at.strftime("%Y%m%d%H%M%S")
    assert f'<creationTime value="{stamp}'.encode() in xml  # the version's moment
    hidden = masked(case)
    assert hidden.blinded and hidden.patient.arm is None and case.patient.arm is not None
    assert hidden.reaction == case.reaction and hidden.drugs == case.drugs
    assert version_file(v, "e2b", masked=True)[1] != xml  # the product names are masked
    # the snapshot stays the unmasked case
    assert case_from_json(v.snapshot).patient.arm == case.patient.arm
    assert case_from_json(case_to_json(case)) == case == case_from_json(v.snapshot)
