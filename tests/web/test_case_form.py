"""The SAE case data on the web (issue 16 point 1): the event form's case sections, shown
while "serious" is Yes and saved in the event's own transaction, and the review page's
case data section (htmx swap, 422 with each message beside its field, who may edit).

The rules themselves are pv.icsr.casedata's (tests/icsr/test_casedata*.py); here: that
the form reaches them, that every refusal is placed beside the field it names (a list
row's message beside that row's input after the blank rows are dropped), that the values
typed come back, and that nothing of a refused form is stored.
"""

from __future__ import annotations

import re

from sqlmodel import func, select

from pv.audit.models import AuditEntry
from pv.auth.service import actor_for
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.icsr.models import SaeCase
from tests.web.reviewhelpers import FATAL, HX, add_event, event, post, text_of, version
from tests.web.webhelpers import IRR, login

# A serious event as the form posts it (IRR of webhelpers made serious: hospitalized).
SERIOUS_FORM = {**IRR, "aeser": "Y", "aeshosp": "Y", "aetoxgr": "3", "aestdtc": "2021-02-20",
                "aeendtc": "", "aeout": "RECOVERING/RESOLVING", "aeawaredtc": "2021-02-21",
                "narrative": "Admitted with rigors during the infusion."}  # fmt: skip
CASE_FORM = {
    "sae_shown": "1",
    "reporter_name": "Dr Li Wei",
    "reporter_qualification": "1",
    "reporter_country": "cn",  # upper-cased by the service
    "reporter_contact": "+86 21 5555 0100",
    "hosp_admit_date": "2021-02-21",
    "hosp_discharge_date": "2021-02-25",
    "medical_history[0].term": "Lupus nephritis",
    "medical_history[0].start": "2019-06",
    "medical_history[0].ongoing": "Y",
    "conmeds[0].name": "Hydroxychloroquine",
    "conmeds[0].dose": "200",
    "conmeds[0].unit": "mg",
    "conmeds[0].route": "oral",
    "conmeds[0].start": "2020-01-10",
    "conmeds[0].stop": "",
    "conmeds[0].indication": "SLE",
    # a spare row left blank: ignored
    "conmeds[1].name": "", "conmeds[1].dose": "", "conmeds[1].unit": "",
    "conmeds[2].name": "Paracetamol",
    "conmeds[2].dose": "0.5",
    "conmeds[2].unit": "g",
    "conmeds[2].start": "2021-02-21",
    "conmeds[2].stop": "2021-02-22",
    "tests[0].name": "C-reactive protein",
    "tests[0].date": "2021-02-21",
    "tests[0].value": "48",
    "tests[0].unit": "mg/L",
    "tests[0].low": "0",
    "tests[0].high": "5",
    "dechallenge.belimumab": "yes",
    "dechallenge.prednisone": "na",
    "rechallenge.belimumab": "unknown",
}  # fmt: skip


def _error(page: str, name: str) -> str:
    """The message shown beside field `name` (its id: error-conmeds-1-stop)."""
    fid = name.replace("[", "-").replace("].", "-").replace(".", "-")
    m = re.search(rf'<p class="field-error" id="error-{re.escape(fid)}"[^>]*>([^<]*)</p>', page)
    assert m is not None, f"no error shown for {name}"
    return m.group(1).replace("&#39;", "'")


def _beside(page: str, name: str) -> str:
    """The table cell or field block holding input `name` (its message is inside it)."""
    at = page.index(f'name="{name}"')
    start = max(page.rfind("<td", 0, at), page.rfind('<div class="field', 0, at))
    end_td, end_div = page.find("</td>", at), page.find("</div>", at)
    end = end_td if page[start : start + 3] == "<td" else end_div
    return page[start:end]


def _count(env, model) -> int:
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _case(env, event_id) -> SaeCase | None:
    with read_session(env.engine) as s:
        return s.exec(select(SaeCase).where(SaeCase.event_id == event_id)).first()


def _form(world, csrf, **extra):
    return {**SERIOUS_FORM, "csrf_token": csrf, "subject_id": world.ids["own"][0],
            "action": "submit", **extra}  # fmt: skip


# --- the sections appear when serious is Yes ---------------------------------------------


def test_the_form_asks_for_the_sections_when_serious_changes(world):
    client, _csrf = login(world.app, "inv1")
    page = client.get(f"/events/new?subject={world.ids['own'][0]}").text
    # the radio buttons, "results in death" and the outcome redraw the sections (htmx)
    for control in ('id="aeser-Y"', 'id="aeser-N"', 'name="aesdth"', 'name="aeout"'):
        tag = page[page.index(control) - 200 : page.index(control) + 400]
        tag = tag[tag.rfind("<", 0, 200) :]
        tag = tag[: tag.index(">") + 1]
        assert 'hx-get="/events/sae-case-fields?subject=' in tag, control
        assert 'hx-target="#sae-case"' in tag, control
    # a new form, not answered yet: the placeholder only
    assert re.search(r'<div id="sae-case"[^>]*>\s*</div>', page)


def test_the_sections_when_serious_and_their_death_details_when_fatal(world):
    client, _csrf = login(world.app, "inv1")
    subject = world.ids["own"][0]
    url = f"/events/sae-case-fields?subject={subject}"
    shown = client.get(url + "&aeser=Y", headers=HX)
    assert shown.status_code == 200
    legends = re.findall(r"<legend>([^<]+)</legend>", shown.text)
    assert legends == ["Reporter", "Hospitalization", "Relevant medical history",
                       "Concomitant medications", "Relevant tests and results",
                       "Dechallenge and rechallenge"]  # fmt: skip
    # one dechallenge and one rechallenge select per study drug of the subject (combination arm)
    assert re.findall(r'<select name="(dechallenge\.\w+|rechallenge\.\w+)"', shown.text) == [
        "dechallenge.belimumab", "rechallenge.belimumab",
        "dechallenge.prednisone", "rechallenge.prednisone",
    ]  # fmt: skip
    fatal = client.get(url + "&aeser=Y&aesdth=Y", headers=HX).text
    assert "<legend>Death</legend>" in fatal
    assert "<legend>Death</legend>" in client.get(url + "&aeser=Y&aeout=FATAL", headers=HX).text
    hidden = client.get(url + "&aeser=N", headers=HX).text
    assert "<legend>" not in hidden and 'id="sae-case"' in hidden
    # what was typed in the sections comes back when they are redrawn
    typed = "&sae_shown=1&reporter_name=Dr+Wu&conmeds[0].name=Aspirin&death_date=2021-03-01"
    kept = client.get(url + "&aeser=Y&aesdth=Y" + typed, headers=HX).text
    assert 'name="reporter_name" value="Dr Wu"' in kept
    assert 'name="conmeds[0].name" value="Aspirin"' in kept
    assert 'name="death_date" value="2021-03-01"' in kept


def test_add_a_row_gives_the_next_blank_row(world):
    client, _csrf = login(world.app, "inv1")
    r = client.get("/sae-case/row?kind=conmeds&conmeds[0].name=a&conmeds[1].name=", headers=HX)
    assert r.status_code == 200
    assert r.text.strip().startswith('<tr data-testid="conmeds-row-2">')
    names = re.findall(r'name="([^"]+)"', r.text)
    assert names == [f"conmeds[2].{k}" for k in
                     ("name", "dose", "unit", "route", "start", "stop", "indication")]  # fmt: skip
    assert 'value=""' in r.text and "field-error" not in r.text
    first = client.get("/sae-case/row?kind=tests", headers=HX).text
    assert re.findall(r'name="([^"]+)"', first)[0] == "tests[0].name"
    history = client.get("/sae-case/row?kind=medical_history", headers=HX).text
    assert '<select name="medical_history[0].ongoing"' in history
    assert client.get("/sae-case/row?kind=events", headers=HX).status_code == 404
    dsmb, _ = login(world.app, "dsmb")
    assert dsmb.get("/sae-case/row?kind=conmeds", headers=HX).status_code == 403


# --- saved with the event -------------------------------------------------------------------


def test_a_serious_event_is_saved_with_its_case_data(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/events", data={**_form(world, csrf), **CASE_FORM}, follow_redirects=False)
    assert r.status_code == 303, _error_text(r.text)
    event_id = int(re.search(r"/events/(\d+)", r.headers["location"]).group(1))
    case = _case(world, event_id)
    assert case is not None and case.version == 1
    assert (case.reporter_name, case.reporter_qualification, case.reporter_country,
            case.reporter_contact) == ("Dr Li Wei", "1", "CN", "+86 21 5555 0100")  # fmt: skip
    assert (case.hosp_admit_date, case.hosp_discharge_date) == ("2021-02-21", "2021-02-25")
    assert case.medical_history == [{"term": "Lupus nephritis", "start": "2019-06",
                                     "ongoing": True}]  # fmt: skip
    # the blank row between them is not stored; "200" is the number 200, "0.5" 0.5
    assert case.conmeds == [
        {"name": "Hydroxychloroquine", "dose": 200, "unit": "mg", "route": "oral",
         "start": "2020-01-10", "stop": None, "indication": "SLE"},
        {"name": "Paracetamol", "dose": 0.5, "unit": "g", "route": None,
         "start": "2021-02-21", "stop": "2021-02-22", "indication": None},
    ]  # fmt: skip
    assert case.tests == [{"name": "C-reactive protein", "date": "2021-02-21", "value": "48",
                           "unit": "mg/L", "low": "0", "high": "5"}]  # fmt: skip
    assert case.dechallenge == {"belimumab": "yes", "prednisone": "na"}
    assert case.rechallenge == {"belimumab": "unknown"}
    with read_session(world.engine) as s:
        entries = s.exec(
            select(AuditEntry).where(
                AuditEntry.entity_type == "sae_case", AuditEntry.entity_id == str(event_id)
            )
        ).all()
    assert [e.action for e in entries] == ["create"]
    # the follow-up form shows the stored values in the sections
    form = client.get(f"/events/{event_id}/edit").text
    assert 'name="reporter_name" value="Dr Li Wei"' in form
    assert '<option value="1" selected>Physician</option>' in form
    assert 'name="conmeds[1].name" value="Paracetamol"' in form
    assert 'name="conmeds[1].dose" value="0.5"' in form
    assert 'name="conmeds[0].dose" value="200"' in form
    assert 'name="sae_version" value="1"' in form


def _error_text(page: str) -> str:
    return "; ".join(re.findall(r'class="field-error"[^>]*>([^<]*)<', page))


def test_a_non_serious_event_stores_no_case_data(world):
    client, csrf = login(world.app, "inv1")
    data = {**_form(world, csrf, aeser="N", aeshosp="", narrative=""), **CASE_FORM}
    r = client.post("/events", data=data, follow_redirects=False)
    assert r.status_code == 303, _error_text(r.text)
    assert _count(world, SaeCase) == 0


def test_a_serious_event_with_nothing_typed_in_the_sections_gets_no_case_row(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/events", data={**_form(world, csrf), "sae_shown": "1",
                                     "conmeds[0].name": ""}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, _error_text(r.text)
    assert _count(world, SaeCase) == 0


# --- refusals: placed beside their fields, nothing stored -----------------------------------


def test_a_refused_case_stores_no_event_and_shows_each_message_beside_its_field(world):
    client, csrf = login(world.app, "inv1")
    events_before = _count(world, AdverseEvent)
    case = {**CASE_FORM, "reporter_country": "XX", "conmeds[2].stop": "2021-02-20",
            "dechallenge.belimumab": "maybe"}  # fmt: skip
    r = client.post("/events", data={**_form(world, csrf), **case})
    assert r.status_code == 422
    # the event was valid; its case data was not: neither is stored (one transaction)
    assert _count(world, AdverseEvent) == events_before
    assert _count(world, SaeCase) == 0
    assert _error(r.text, "reporter_country") == (
        "'XX' is not an ISO 3166-1 alpha-2 country code (two letters, such as CN or US)"
    )
    # the blank row is dropped: Paracetamol is row 1 now, its message beside its stop date
    assert _error(r.text, "conmeds[1].stop") == (
        "the stop (2021-02-20) is before the start (2021-02-21)"
    )
    stop_cell = _beside(r.text, "conmeds[1].stop")
    assert 'value="2021-02-20"' in stop_cell and "is before the start" in stop_cell
    assert 'name="conmeds[1].name" value="Paracetamol"' in r.text
    assert "conmeds[2]" not in r.text
    assert _error(r.text, "dechallenge.belimumab") == (
        "'maybe' is not one of: yes, no, na, unknown"
    )
    # every value typed is back in the form, and the count of problems says so
    assert 'name="reporter_country" value="XX"' in r.text
    assert 'name="reporter_name" value="Dr Li Wei"' in r.text
    assert "The event was not saved: 3 problems to fix below." in text_of(r.text)
    assert "The case data was not saved: 3 problems to fix below." in text_of(r.text)


def test_a_refused_event_also_shows_its_case_data_problems(world):
    client, csrf = login(world.app, "inv1")
    case = {**CASE_FORM, "hosp_discharge_date": "2021-02-20"}
    r = client.post("/events", data={**_form(world, csrf, aeterm=""), **case})
    assert r.status_code == 422
    assert _error(r.text, "aeterm") == "the reported (verbatim) term is required"
    assert _error(r.text, "hosp_discharge_date") == (
        "the discharge (2021-02-20) is before the admission (2021-02-21)"
    )
    assert _count(world, SaeCase) == 0


def test_death_details_of_an_event_that_is_not_fatal_are_refused_beside_them(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/events", data={**_form(world, csrf), **CASE_FORM,
                                     "death_date": "2021-02-23"})  # fmt: skip
    assert r.status_code == 422
    # the death section stays on the form (a value is typed in it), the message beside it
    assert "<legend>Death</legend>" in r.text
    assert _error(r.text, "death_date").startswith("death details are only for a fatal event")


def test_a_follow_up_and_its_case_data_are_one_transaction(world):
    event_id, _subject = add_event(world)
    client, csrf = login(world.app, "inv1")
    before = version(world, event_id)
    form = client.get(f"/events/{event_id}/edit").text
    assert 'name="sae_version" value="0"' in form  # nothing stored yet
    data = {**_followup(world, event_id, csrf, narrative="Now recovering."), **CASE_FORM,
            "sae_version": "0", "conmeds[0].dose": "-1"}  # fmt: skip
    r = client.post(f"/events/{event_id}", data=data)
    assert r.status_code == 422
    assert _error(r.text, "conmeds[0].dose") == "the dose must be 0 or more"
    # the event's change was valid but is not stored either
    assert version(world, event_id) == before
    assert event(world, event_id).narrative == "Admitted for intravenous antibiotics."
    assert 'name="conmeds[0].dose" value="-1"' in r.text
    # corrected: both are stored, the event one version on, the case at version 1
    data["conmeds[0].dose"] = "200"
    r = client.post(f"/events/{event_id}", data=data, follow_redirects=False)
    assert r.status_code == 303, _error_text(r.text)
    assert version(world, event_id) == before + 1
    assert event(world, event_id).narrative == "Now recovering."
    assert _case(world, event_id).version == 1
    # a second form read at case version 0 is stale now: refused, nothing stored
    data["reporter_name"] = "Dr Zhang"
    data["version"] = str(version(world, event_id))
    r = client.post(f"/events/{event_id}", data=data)
    assert r.status_code == 409
    assert "the case data changed: it is at version 1, not 0" in text_of(r.text)
    assert _case(world, event_id).reporter_name == "Dr Li Wei"


def _followup(world, event_id, csrf, **changes):
    """The follow-up form of a reviewhelpers SERIOUS event as stored, with changes."""
    ev = event(world, event_id)
    form = {"csrf_token": csrf, "subject_id": str(ev.subject_id), "version": str(ev.version),
            "action": "followup", "reason": "follow-up from the site", "aeterm": ev.aeterm,
            "aelltcd": ev.aelltcd, "aetoxgr": str(ev.aetoxgr), "aeser": "Y", "aeshosp": "Y",
            "aestdtc": ev.aestdtc, "aeendtc": ev.aeendtc or "", "aeout": ev.aeout,
            "narrative": ev.narrative, "aeawaredtc": ev.aeawaredtc or "",
            "aerel.belimumab": ev.aerel["belimumab"], "aerel.prednisone": ev.aerel["prednisone"],
            "aeacn.belimumab": ev.aeacn["belimumab"],
            "aeacn.prednisone": ev.aeacn["prednisone"]}  # fmt: skip
    return {**form, **changes}


# --- the review page --------------------------------------------------------------------------


def test_the_officer_edits_the_case_data_on_the_review_page(world):
    event_id, _subject = add_event(world, **FATAL)
    officer, csrf = login(world.app, "officer")
    page = officer.get(f"/review/events/{event_id}").text
    assert 'id="case-data"' in page and f'hx-post="/review/events/{event_id}/sae-case"' in page
    assert "<legend>Death</legend>" in page  # a fatal event
    url = f"/review/events/{event_id}/sae-case"
    typed = {"sae_version": "0", "reporter_name": "Dr Chen", "reporter_qualification": "2",
             "death_date": "2021-03-01", "death_cause": "Pneumonia", "autopsy": "Y",
             "autopsy_cause": "Bilateral pneumonia",
             "conmeds[0].name": "Ceftriaxone", "conmeds[0].dose": "2", "conmeds[0].unit": "g",
             "conmeds[0].start": "2021-03-05", "conmeds[0].stop": "2021-03-03"}  # fmt: skip
    r = officer.post(url, data={**typed, "csrf_token": csrf}, headers=HX)
    assert r.status_code == 422
    assert r.text.lstrip().startswith('<section id="case-data"')  # the section only: swapped
    assert _error(r.text, "conmeds[0].stop") == (
        "the stop (2021-03-03) is before the start (2021-03-05)"
    )
    # the death on 2021-03-01 is before the event's onset (2021-03-02)
    assert _error(r.text, "death_date") == (
        "the death (2021-03-01) is before the onset of the event (2021-03-02)"
    )
    assert 'name="reporter_name" value="Dr Chen"' in r.text
    assert 'name="conmeds[0].stop" value="2021-03-03"' in r.text
    assert _case(world, event_id) is None
    typed.update({"conmeds[0].stop": "2021-03-08", "death_date": "2021-03-10"})
    r = officer.post(url, data={**typed, "csrf_token": csrf}, headers=HX)
    assert r.status_code == 200, _error_text(r.text)
    assert "Case data saved (version 1)." in text_of(r.text)
    assert 'name="sae_version" value="1"' in r.text
    assert 'name="death_date" value="2021-03-10"' in r.text
    case = _case(world, event_id)
    assert (case.reporter_name, case.reporter_qualification, case.autopsy) == ("Dr Chen", "2", "Y")
    assert case.conmeds[0]["stop"] == "2021-03-08" and case.updated_by_name == "officer"
    # the same form again (read at version 0) is stale
    r = officer.post(url, data={**typed, "csrf_token": csrf}, headers=HX)
    assert r.status_code == 409
    assert "the case data changed: it is at version 1, not 0" in text_of(r.text)
    # without htmx: back to the page at the section
    typed.update({"sae_version": "1", "reporter_name": "Dr Chen Jing"})
    r = post(officer, csrf, url, **typed)
    assert r.status_code == 303 and r.headers["location"].endswith("#case-data")
    assert _case(world, event_id).reporter_name == "Dr Chen Jing"
    assert 'name="reporter_name" value="Dr Chen Jing"' in officer.get(r.headers["location"]).text


def test_who_may_save_the_case_data(world):
    own, _ = add_event(world)
    other, _ = add_event(world, own=False)
    url = "/review/events/{}/sae-case"

    def save(who, event_id, version):
        client, csrf = login(world.app, who)
        data = {"csrf_token": csrf, "sae_version": version, "reporter_name": f"Dr {who}"}
        return client.post(url.format(event_id), data=data, headers=HX).status_code

    # the site's investigator: own site's event yes, another site's as if it did not exist
    assert save("inv1", own, "0") == 200
    assert save("inv2", own, "1") == 404
    assert save("inv1", other, "0") == 404
    # the DSMB never; an officer at any site
    assert save("dsmb", own, "1") == 403
    assert save("officer", other, "0") == 200
    assert (_case(world, own).updated_by_name, _case(world, own).reporter_name) == (
        "inv1",
        "Dr inv1",
    )
    assert _case(world, other).updated_by_name == "officer"
    # without the CSRF token: refused, nothing stored
    client, _csrf = login(world.app, "officer")
    r = client.post(url.format(own), data={"sae_version": "1", "reporter_name": "X"},
                    headers=HX)  # fmt: skip
    assert r.status_code == 403
    assert _case(world, own).reporter_name == "Dr inv1"


def test_a_locked_event_shows_its_case_data_read_only(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    r = officer.post(f"/review/events/{event_id}/sae-case", headers=HX,
                     data={"csrf_token": csrf, "sae_version": "0", "reporter_name": "Dr Ma",
                           "conmeds[0].name": "Aspirin"})  # fmt: skip
    assert r.status_code == 200, _error_text(r.text)
    with write_session(world.engine) as s:
        ev = s.get(AdverseEvent, event_id)
        ev.status = "locked"  # as pv.review.service.lock_event leaves it
        s.add(ev)
    page = officer.get(f"/review/events/{event_id}").text
    section = page[page.index('<section id="case-data"') :]
    section = section[: section.index("</section>")]
    assert "<form" not in section and "<input" not in section and "<select" not in section
    assert "The event is locked: the case data is shown as stored." in text_of(section)
    assert 'data-testid="sae-reporter_name">Dr Ma<' in section
    assert 'data-testid="conmeds-0-name">Aspirin<' in section
    # and a save is refused: the event is locked
    r = officer.post(
        f"/review/events/{event_id}/sae-case",
        headers=HX,
        data={"csrf_token": csrf, "sae_version": "1", "reporter_name": "X"},
    )
    assert r.status_code == 409
    assert _case(world, event_id).reporter_name == "Dr Ma"


def test_a_non_serious_event_without_case_data_has_no_section(world):
    officer, _csrf = login(world.app, "officer")
    page = officer.get(f"/review/events/{world.ids['own'][1]}").text  # IRR: not serious
    assert 'id="case-data"' not in page


def test_an_event_no_longer_serious_shows_its_stored_case_data_read_only(world):
    from pv.events.service import to_input, update_event

    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    url = f"/review/events/{event_id}/sae-case"
    body = {"csrf_token": csrf, "sae_version": "0", "reporter_name": "Dr Ma"}
    r = officer.post(url, headers=HX, data=body)
    assert r.status_code == 200, _error_text(r.text)
    with write_session(world.engine) as s:  # the site changes its mind: not serious
        data = to_input(s.get(AdverseEvent, event_id))
        data.aeser, data.aeshosp = False, False
        update_event(session=s, actor=actor_for(world.users["inv1"]), event_id=event_id,
                     data=data, expected_version=version(world, event_id),
                     reason="not serious after all")  # fmt: skip
    page = officer.get(f"/review/events/{event_id}").text
    section = page[page.index('<section id="case-data"') :]
    section = section[: section.index("</section>")]
    assert "<input" not in section and "<select" not in section
    assert "The event is no longer serious: the case data is shown as stored." in text_of(section)
    assert 'data-testid="sae-reporter_name">Dr Ma<' in section
    # a save is refused (at the top of the section: no field of its own): not serious
    r = officer.post(url, headers=HX, data={**body, "sae_version": "1", "reporter_name": "X"})
    assert r.status_code == 422
    assert "case data is only for a serious event" in text_of(r.text)
    assert 'data-testid="sae-reporter_name">Dr Ma<' in r.text  # shown as stored, not as typed
    assert _case(world, event_id).reporter_name == "Dr Ma"
