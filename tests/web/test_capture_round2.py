"""Issue 14 capture: a pre-existing condition (flag, grade at the first dose, worsening date)
and the episode ids of an adverse event through the form, the API and the upload; a
subject's race and height, end of study, death and disposition through the subject page
and the API. Every refusal names its field and stores nothing; what is stored is audited
and shown."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from sqlmodel import func, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.service import EVENT_FIELDS, replay, snapshot
from pv.review.signing import event_content
from pv.study.models import Subject
from tests.web.webhelpers import IRR, login, upload_and_wait

HTMX = {"HX-Request": "true"}


def _count(env) -> int:
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(AdverseEvent)).one()


def _event(env, event_id) -> AdverseEvent:
    with read_session(env.engine) as s:
        return s.get(AdverseEvent, event_id)


def _subject(env, subject_id) -> Subject:
    with read_session(env.engine) as s:
        return s.get(Subject, subject_id)


def _entries(env, entity_type, entity_id):
    with read_session(env.engine) as s:
        return s.exec(select(AuditEntry).where(AuditEntry.entity_type == entity_type,
                                               AuditEntry.entity_id == str(entity_id))
                      .order_by(AuditEntry.id)).all()  # fmt: skip


def _error(page: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="(?:eos-)?error-{name}"[^>]*>([^<]*)</p>', page)
    assert m is not None, f"no error shown for {name}"
    return m.group(1).replace("&#39;", "'")


# --- the AE form ----------------------------------------------------------------------------


def _form(world, csrf, **extra):
    return {**IRR, "csrf_token": csrf, "subject_id": world.ids["own"][0], "action": "submit",
            "aestdtc": "2021-02-20", **extra}  # fmt: skip


def test_form_refuses_an_initial_grade_above_the_grade_and_a_worsening_before_onset(world):
    client, csrf = login(world.app, "inv1")
    before = _count(world)
    # IRR is grade 2 with onset 2021-02-20 (set above): grade 3 at the first dose is above
    # it, and 2021-02-01 is before the onset.
    r = client.post("/events", data=_form(world, csrf, preexisting="Y", initial_grade="3",
                                          worsened_dtc="2021-02-01"))  # fmt: skip
    assert r.status_code == 422
    assert _error(r.text, "initial_grade") == (
        "the grade at the first dose (3) is above the event's grade (2): record the condition "
        "at its worst grade"
    )
    assert _error(r.text, "worsened_dtc") == (
        "the worsening (2021-02-01) is before the onset (2021-02-20)"
    )
    # The section stays open with what was typed; nothing was stored.
    assert 'name="preexisting" value="Y" data-testid="preexisting" checked' in r.text
    assert 'value="2021-02-01"' in r.text and '<option value="3" selected>' in r.text
    assert _count(world) == before


def test_form_requires_the_initial_grade_when_a_pre_existing_event_is_submitted(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/events", data=_form(world, csrf, preexisting="Y"))
    assert r.status_code == 422
    assert _error(r.text, "initial_grade") == (
        "the CTCAE grade at the first dose of a pre-existing condition is required"
    )
    # A draft may leave it for later.
    r = client.post("/events", data=_form(world, csrf, preexisting="Y", action="draft"),
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303


def test_form_stores_a_pre_existing_condition_shown_on_the_page_and_in_the_history(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/events", data=_form(world, csrf, preexisting="Y", initial_grade="1",
                                          worsened_dtc="2021-03", aegrpid="EP-7",
                                          aespid="12"), follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    event_id = int(re.search(r"/events/(\d+)", r.headers["location"]).group(1))
    ev = _event(world, event_id)
    assert (ev.preexisting, ev.initial_grade, ev.worsened_dtc, ev.aegrpid, ev.aespid) == (
        True,
        1,
        "2021-03",
        "EP-7",
        "12",
    )
    page = client.get(f"/events/{event_id}").text
    assert "Yes: grade 1 at the first dose · worsened on 2021-03" in page
    assert "AEGRPID EP-7 · AESPID 12" in page
    # The history names the fields as the form does.
    for label in ("Present before the first dose", "CTCAE grade at the first dose",
                  "Worsened on", "Episode (group) id", "Sponsor record id"):  # fmt: skip
        assert label in page, label
    # The audit trail alone rebuilds the event, new fields included.
    entries = [e.changes for e in _entries(world, "adverse_event", event_id)]
    assert entries[0]["initial_grade"] == [None, 1] and entries[0]["aegrpid"] == [None, "EP-7"]
    assert {k: replay(entries).get(k) for k in EVENT_FIELDS} == snapshot(ev)


def test_unticking_pre_existing_leaves_its_section_out(world):
    client, csrf = login(world.app, "inv1")
    # The section's fields were filled, then the box unticked: they are not stored.
    r = client.post(
        "/events",
        data=_form(world, csrf, initial_grade="1", worsened_dtc="2021-03"),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    ev = _event(world, int(r.headers["location"].split("/")[2].split("?")[0]))
    assert (ev.preexisting, ev.initial_grade, ev.worsened_dtc) == (False, None, None)


def test_the_section_appears_when_the_box_is_ticked(world):
    client, _csrf = login(world.app, "inv1")
    shown = client.get("/events/preexisting-fields?preexisting=Y&worsened_dtc=2021-03",
                       headers=HTMX).text  # fmt: skip
    assert 'name="initial_grade"' in shown and 'value="2021-03"' in shown
    hidden = client.get("/events/preexisting-fields", headers=HTMX).text
    assert 'id="preexisting-details"' in hidden and "initial_grade" not in hidden
    form = client.get(f"/events/new?subject={world.ids['own'][0]}").text
    assert 'hx-get="/events/preexisting-fields"' in form and 'name="initial_grade"' not in form


def test_a_follow_up_sets_the_fields_with_a_reason(world):
    client, csrf = login(world.app, "inv1")
    event_id = world.ids["own"][1]
    version = _event(world, event_id).version
    data = {**IRR, "csrf_token": csrf, "version": str(version), "action": "followup",
            "reason": "medical history checked", "preexisting": "Y", "initial_grade": "2",
            "worsened_dtc": "2021-03-10"}  # fmt: skip
    r = client.post(f"/events/{event_id}", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    ev = _event(world, event_id)
    assert (ev.version, ev.preexisting, ev.initial_grade) == (version + 1, True, 2)
    last = _entries(world, "adverse_event", event_id)[-1]
    assert last.reason == "medical history checked"
    assert last.changes["preexisting"] == [False, True]
    assert last.changes["worsened_dtc"] == [None, "2021-03-10"]


def test_signatures_of_events_without_the_new_fields_keep_their_content(world):
    # A signature made before issue 14 covered EVENT_FIELDS without the five new fields:
    # at their defaults they are left out of the signed content, so its digest is the same.
    with read_session(world.engine) as s:
        ev = s.get(AdverseEvent, world.ids["own"][1])
        content = event_content(s, ev)["event"]
        assert not {"preexisting", "initial_grade", "worsened_dtc", "aegrpid",
                    "aespid"} & set(content)  # fmt: skip
        ev.preexisting, ev.initial_grade = True, 1
        changed = event_content(s, ev)["event"]
        assert changed["preexisting"] is True and changed["initial_grade"] == 1


# --- the API --------------------------------------------------------------------------------


def _api_event(world, **extra):
    return {"usubjid": world.ids["own"][2], "aeterm": "fever worse", "aelltcd": "10016558",
            "aetoxgr": 3, "aeser": "N", "aestdtc": "2021-02-10", "aeout": "RECOVERING/RESOLVING",
            "aerel": {"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
            **extra}  # fmt: skip


def test_api_creates_reads_and_patches_the_fields(world):
    c = world.client
    r = c.post(
        "/api/v1/events",
        headers=world.auth("inv1"),
        json=_api_event(
            world, aepreex="Y", aeitoxgr=2, aewrsdtc="2021-02-12", aegrpid="G1", aespid="7"
        ),
    )
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["aepreex"], ev["aeitoxgr"], ev["aewrsdtc"], ev["aegrpid"], ev["aespid"]) == (
        "Y",
        2,
        "2021-02-12",
        "G1",
        "7",
    )
    r = c.patch(
        f"/api/v1/events/{ev['id']}",
        headers=world.auth("inv1"),
        json={"version": ev["version"], "aeitoxgr": 1, "reason": "source checked"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["aeitoxgr"] == 1 and r.json()["aepreex"] == "Y"
    assert c.get(f"/api/v1/events/{ev['id']}", headers=world.auth("inv1")).json()["aeitoxgr"] == 1


def test_api_names_each_refused_field_and_stores_nothing(world):
    before = _count(world)
    r = world.client.post(
        "/api/v1/events",
        headers=world.auth("inv1"),
        json=_api_event(world, aeitoxgr=4, aewrsdtc="2021-02-01"),
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    # No aepreex: both belong to a pre-existing condition only.
    assert errors == {
        "aeitoxgr": "a grade at the first dose is only for a condition present before the "
                    "first dose",
        "aewrsdtc": "a worsening date is only for a condition present before the first dose",
    }  # fmt: skip
    r = world.client.post(
        "/api/v1/events",
        headers=world.auth("inv1"),
        json=_api_event(world, aepreex="Y", aeitoxgr=2, aegrpid="x" * 41),
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "aegrpid", "message": "at most 40 characters"}]
    r = world.client.post(
        "/api/v1/events",
        headers=world.auth("inv1"),
        json=_api_event(world, aepreex="Y", aeitoxgr=4),
    )
    assert r.status_code == 422
    assert {e["field"]: e["message"] for e in r.json()["errors"]} == {
        "aeitoxgr": "the grade at the first dose (4) is above the event's grade (3): record "
                    "the condition at its worst grade"}  # fmt: skip
    assert _count(world) == before


def test_openapi_documents_the_fields(world):
    spec = world.client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("aepreex", "aeitoxgr", "aewrsdtc", "aegrpid", "aespid"):
        assert name in spec["EventIn"]["properties"] and name in spec["EventPatch"]["properties"]
        assert name in spec["EventOut"]["properties"]
    assert spec["EventIn"]["properties"]["aegrpid"]["anyOf"][0]["maxLength"] == 40
    patch = spec["SubjectPatch"]["properties"]
    assert "DEATH" in patch["disposition"]["anyOf"][0]["enum"]
    assert {
        "race",
        "height_cm",
        "died",
        "death_date",
        "death_date_unknown",
        "end_of_study_date",
        "disposition_date",
        "disposition_reason",
    } <= set(patch)


# --- the upload -----------------------------------------------------------------------------

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "AEPREEX", "AEITOXGR", "AEWRSDTC", "AEGRPID",
          "AESPID"]  # fmt: skip


def _csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    w.writerows(rows)
    return out.getvalue().encode()


def _row(usubjid, onset, *episode):
    return [usubjid, "fever", "10016558", "2", "N", onset, "2021-04-02", "RECOVERED/RESOLVED",
            "NOT RELATED", "NOT RELATED", *episode]  # fmt: skip


def test_upload_stores_the_optional_columns(world):
    client, csrf = login(world.app, "inv1")
    own = world.ids["own"][2]
    data = _csv(
        [
            _row(own, "2021-02-01", "Y", "1", "2021-03-01", "FEV-1", "1"),
            _row(own, "2021-03-01", "", "", "", "FEV-1", "2"),
        ]
    )
    _r, state, _fragment = upload_and_wait(client, csrf, world.study_id, "events.csv", data)
    assert state["status"] == "stored" and state["stored"] == 2, state
    with read_session(world.engine) as s:
        rows = s.exec(select(AdverseEvent).where(AdverseEvent.aegrpid == "FEV-1")
                      .order_by(AdverseEvent.aespid)).all()  # fmt: skip
        got = [(e.preexisting, e.initial_grade, e.worsened_dtc, e.aespid) for e in rows]
        assert got == [(True, 1, "2021-03-01", "1"), (False, None, None, "2")]
        audit = s.exec(select(AuditEntry).where(AuditEntry.entity_id == str(rows[0].id),
                                                AuditEntry.entity_type == "adverse_event")
                       ).one()  # fmt: skip
        assert audit.changes["initial_grade"] == [None, 1]
        assert audit.changes["preexisting"] == [None, True]


def test_upload_names_the_row_and_column_of_each_refusal(world):
    client, csrf = login(world.app, "inv1")
    before = _count(world)
    own = world.ids["own"][2]
    data = _csv(
        [
            _row(own, "2021-02-01", "Y", "7", "", "", ""),  # row 2: grade 7
            _row(own, "2021-02-02", "maybe", "", "", "", ""),  # row 3: not Y/N
            _row(own, "2021-02-03", "Y", "3", "2021-01", "", ""),  # row 4: two rules
            _row(own, "2021-02-04", "", "", "", "G" * 41, ""),
        ]
    )  # row 5: too long
    _r, state, fragment = upload_and_wait(client, csrf, world.study_id, "events.csv", data)
    assert state["status"] == "rejected" and _count(world) == before
    cells = set(re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([A-Z_]+)</td>", fragment))
    assert cells == {("2", "AEITOXGR"), ("3", "AEPREEX"), ("4", "AEITOXGR"), ("4", "AEWRSDTC"),
                     ("5", "AEGRPID")}  # fmt: skip
    assert "the grade at the first dose (3) is above the event&#39;s grade (2)" in fragment
    assert "the worsening (2021-01) is before the onset (2021-02-03)" in fragment


# --- subjects: baseline, end of study, death, disposition -----------------------------------


def test_subject_form_takes_race_and_height(world):
    client, csrf = login(world.app, "inv1")
    r = client.post(
        "/subjects",
        data={
            "csrf_token": csrf,
            "site": world.site1.id,
            "subjid": "r-1",
            "race": "ASIAN",
            "height_cm": "300",
        },
    )
    assert r.status_code == 422
    assert _error(r.text, "height_cm") == "a number from 30 to 250"
    r = client.post("/subjects", data={"csrf_token": csrf, "site": world.site1.id,
                                       "subjid": "r-1", "race": "ASIAN", "height_cm": "162.5"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    with read_session(world.engine) as s:
        subj = s.exec(select(Subject).where(Subject.subjid == "r-1")).one()
        assert (subj.race, subj.height_cm) == ("ASIAN", 162.5)


def _eos(csrf, **values):
    return {"csrf_token": csrf, "race": "", "height_cm": "", "disposition": "",
            "disposition_date": "", "disposition_reason": "", "end_of_study_date": "",
            "death_date": "", "death_cause": "", "reason": "", **values}  # fmt: skip


def test_end_of_study_refusals_are_shown_next_to_each_field_and_nothing_is_stored(world):
    client, csrf = login(world.app, "inv1")
    subject_id = world.ids["own"][0]  # consent 2021-01-05
    entries = len(_entries(world, "subject", subject_id))
    r = client.post(
        f"/subjects/{subject_id}/end-of-study",
        headers=HTMX,
        data=_eos(
            csrf,
            disposition="DEATH",
            disposition_date="2020-12-31",
            death_cause="sepsis",
            end_of_study_date="2020-12-31",
            height_cm="160",
        ),
    )
    assert r.status_code == 422
    page = r.text
    assert page.lstrip().startswith("{#") is False and '<section id="end-of-study"' in page
    assert _error(page, "died") == "the disposition DEATH means the subject died: tick 'died'"
    assert _error(page, "death_cause") == "a cause of death needs 'died'"
    assert _error(page, "disposition_date") == "2020-12-31 is before informed consent (2021-01-05)"
    assert _error(page, "end_of_study_date") == (
        "the end of study (2020-12-31) is before informed consent (2021-01-05)"
    )
    assert "Not saved: 4 problems to fix below." in page
    assert 'value="sepsis"' in page  # what was typed is kept
    subj = _subject(world, subject_id)
    assert (subj.disposition, subj.height_cm, subj.died) == (None, None, False)
    assert len(_entries(world, "subject", subject_id)) == entries
    # Died without a date: the date, or 'date unknown'.
    r = client.post(f"/subjects/{subject_id}/end-of-study", headers=HTMX,
                    data=_eos(csrf, died="Y"))  # fmt: skip
    assert _error(r.text, "death_date") == (
        "the date of death is required; tick 'date unknown' if it is not known"
    )


def test_end_of_study_is_saved_audited_and_shown(world):
    client, csrf = login(world.app, "inv1")
    subject_id = world.ids["own"][0]
    r = client.post(
        f"/subjects/{subject_id}/end-of-study",
        headers=HTMX,
        data=_eos(
            csrf,
            race="WHITE",
            height_cm="171",
            disposition="DEATH",
            disposition_date="2021-06-02",
            end_of_study_date="2021-06-02",
            died="Y",
            death_date="2021-06",
            death_cause="sepsis",
            reason="death reported by the family",
        ),
    )
    assert r.status_code == 200, r.text
    assert 'data-testid="eos-saved"' in r.text
    assert "Death · 2021-06-02" in r.text and "Died on 2021-06 · primary cause: sepsis" in r.text
    subj = _subject(world, subject_id)
    assert (
        subj.disposition,
        subj.disposition_date,
        subj.end_of_study_date,
        subj.died,
        subj.death_date,
        subj.death_cause,
        subj.race,
        subj.height_cm,
    ) == ("DEATH", "2021-06-02", date(2021, 6, 2), True, "2021-06", "sepsis", "WHITE", 171.0)
    last = _entries(world, "subject", subject_id)[-1]
    assert last.action == "update" and last.reason == "death reported by the family"
    assert last.changes["disposition"] == [None, "DEATH"]
    assert last.changes["died"] == [False, True]
    page = client.get(f"/subjects/{subject_id}").text
    assert 'data-testid="eos-disposition">Death · 2021-06-02' in page
    # Date unknown is accepted once declared.
    r = client.post(
        f"/subjects/{subject_id}/end-of-study",
        headers=HTMX,
        data=_eos(
            csrf,
            disposition="DEATH",
            disposition_date="2021-06-02",
            died="Y",
            death_date_unknown="Y",
        ),
    )
    assert r.status_code == 200 and "Died (date unknown)" in r.text


def test_end_of_study_of_another_sites_subject_is_not_found_and_officers_only_read(world):
    client, csrf = login(world.app, "inv1")
    r = client.post(
        f"/subjects/{world.ids['other'][0]}/end-of-study",
        headers=HTMX,
        data=_eos(csrf, disposition="COMPLETED", disposition_date="2021-06-02"),
    )
    assert r.status_code == 404
    officer, ocsrf = login(world.app, "officer")
    page = officer.get(f"/subjects/{world.ids['own'][0]}").text
    assert 'data-testid="end-of-study"' in page and 'data-testid="eos-form"' not in page
    r = officer.post(
        f"/subjects/{world.ids['own'][0]}/end-of-study",
        headers=HTMX,
        data=_eos(ocsrf, disposition="COMPLETED", disposition_date="2021-06-02"),
    )
    assert r.status_code == 403
    assert _subject(world, world.ids["own"][0]).disposition is None


def test_api_patches_a_subject_with_every_problem_named(world):
    c, usubjid = world.client, world.ids["own"][2]
    r = c.patch(
        f"/api/v1/subjects/{usubjid}",
        headers=world.auth("inv1"),
        json={"disposition": "OTHER", "end_of_study_date": "2021-07-01"},
    )
    assert r.status_code == 422
    assert {e["field"]: e["message"] for e in r.json()["errors"]} == {
        "disposition_date": "the date of the disposition is required",
        "disposition_reason": "say what the other reason is",
    }
    r = c.patch(f"/api/v1/subjects/{usubjid}", headers=world.auth("inv1"),
                json={"disposition": "WITHDRAWAL BY SUBJECT", "disposition_date": "2021-07-01",
                      "end_of_study_date": "2021-07-01", "race": "ASIAN", "height_cm": 158,
                      "reason": "withdrew consent"})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert (
        out["disposition"],
        out["end_of_study_date"],
        out["race"],
        out["height_cm"],
        out["died"],
    ) == ("WITHDRAWAL BY SUBJECT", "2021-07-01", "ASIAN", 158.0, "N")
    # Later: the subject died after withdrawing (the disposition stays).
    r = c.patch(
        f"/api/v1/subjects/{usubjid}",
        headers=world.auth("inv1"),
        json={"died": "Y", "death_date": "2021-06-15"},
    )
    assert r.status_code == 422  # the end of study (2021-07-01) is after that death
    assert {e["field"] for e in r.json()["errors"]} == {"end_of_study_date", "disposition_date"}
    r = c.patch(
        f"/api/v1/subjects/{usubjid}",
        headers=world.auth("inv1"),
        json={"died": "Y", "death_date": "2021-08-15", "death_cause": "stroke"},
    )
    assert r.status_code == 200 and r.json()["died"] == "Y"
    # Another site's subject: 404; officers write nothing here.
    other = world.ids["other"][2]
    assert (
        c.patch(
            f"/api/v1/subjects/{other}", headers=world.auth("inv1"), json={"race": "ASIAN"}
        ).status_code
        == 404
    )
    assert (
        c.patch(
            f"/api/v1/subjects/{usubjid}", headers=world.auth("officer"), json={"race": "WHITE"}
        ).status_code
        == 403
    )
    with write_session(world.engine) as s:
        assert s.get(Subject, world.ids["own"][0]).race == "ASIAN"
