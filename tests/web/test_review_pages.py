"""The event review page through its forms: assessment and SUSAR clocks, RSI overrides,
version conflicts, the query round trip, locking and unlocking, recoding and the versions
grid, RSI versions. (Queue, clocks and charts: test_review_queue.py; who may use which
route: test_review_access.py.)

Fragments are requested with and without HX-Request: htmx gets the partial the page
itself includes, a browser without htmx the whole page.
"""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import select

from pv.db import read_session
from pv.review.rsi import rsi_versions
from pv.study.models import Drug
from tests.review.sending import send_report
from tests.web.reviewhelpers import (
    FATAL,
    HX,
    add_event,
    assessment_form,
    event,
    post,
    queries,
    reports,
    text_of,
    version,
)
from tests.web.webhelpers import PASSWORD, login


def _assess(env, client, csrf, event_id, **changes):
    if event(env, event_id).status == "submitted":
        r = post(
            client, csrf, f"/review/events/{event_id}/start", version=str(version(env, event_id))
        )
        assert r.status_code == 303, r.text
    return post(
        client,
        csrf,
        f"/review/events/{event_id}/assess",
        **assessment_form(env, event_id, **changes),
    )


def test_it_assesses_a_susar_due_15_days_after_awareness(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    r = _assess(world, officer, csrf, event_id)
    assert r.status_code == 303 and r.headers["location"].endswith("#assessment")
    page = officer.get(r.headers["location"])
    shown = text_of(page.text)
    assert "SUSAR: serious, unexpected, suspected related" in shown
    assert "Initial SUSAR report (15 days) due 2021-03-19 (day 15)" in shown
    assert [(x.kind, x.due_date) for x in reports(world, event_id)] == [
        ("initial_15", date(2021, 3, 19))
    ]


def test_a_fatal_susar_is_due_in_7_days_with_its_follow_up_8_days_later(world):
    event_id, _ = add_event(world, **{k: v for k, v in FATAL.items()})
    officer, csrf = login(world.app, "officer")
    r = _assess(world, officer, csrf, event_id)
    shown = text_of(officer.get(r.headers["location"]).text)
    assert "(fatal or life-threatening)" in shown
    assert "due 2021-03-11 (day 7)" in shown and "due 2021-03-19 (day 15)" in shown


def test_a_related_but_expected_event_is_not_a_susar_and_an_override_needs_a_reason(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    r = _assess(world, officer, csrf, event_id, **{"expectedness.belimumab": "expected"})
    assert r.status_code == 422
    assert "overriding the RSI needs a reason" in r.text
    assert 'value="probable" selected' in r.text  # what was typed is kept
    r = post(
        officer,
        csrf,
        f"/review/events/{event_id}/assess",
        **assessment_form(
            world,
            event_id,
            **{
                "expectedness.belimumab": "expected",
                "override_reason.belimumab": "listed in the new IB draft",
            },
        ),
    )
    assert r.status_code == 303
    shown = text_of(officer.get(f"/review/events/{event_id}").text)
    assert "Not a SUSAR" in shown and "listed in the new IB draft" in shown
    assert reports(world, event_id) == []


def test_every_form_error_is_shown_at_once_and_nothing_is_stored(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    post(officer, csrf, f"/review/events/{event_id}/start", version="1")
    r = post(
        officer,
        csrf,
        f"/review/events/{event_id}/assess",
        version="2",
        awareness_date="2021-02-30",
        **{"causality.belimumab": "maybe"},
    )
    assert r.status_code == 422
    assert "enter the awareness date as YYYY-MM-DD" in r.text
    assert "confirm whether the event is serious" in r.text
    assert version(world, event_id) == 2 and event(world, event_id).status == "under_review"


def test_a_stale_assessment_shows_their_values_next_to_yours_with_409(world):
    event_id, _ = add_event(world)
    first, csrf1 = login(world.app, "officer")
    post(first, csrf1, f"/review/events/{event_id}/start", version="1")
    second, csrf2 = login(world.app, "officer")
    stale = assessment_form(
        world, event_id, awareness_date="2021-03-06", **{"causality.belimumab": "possible"}
    )
    r = post(first, csrf1, f"/review/events/{event_id}/assess", **assessment_form(world, event_id))
    assert r.status_code == 303
    r = post(second, csrf2, f"/review/events/{event_id}/assess", **stale)
    assert r.status_code == 409
    conflict = text_of(r.text.split('data-testid="conflict"', 1)[1].split("</div>", 1)[0])
    assert "Awareness date (day 0) 2021-03-04 2021-03-06" in conflict
    assert "Causality: Belimumab probable possible" in conflict
    assert "Event: Status assessed under review" in conflict
    assert 'name="awareness_date" value="2021-03-06"' in r.text  # yours, kept
    assert f'name="version" value="{version(world, event_id)}"' in r.text  # save again: next
    stored = reports(world, event_id)
    assert [x.start_date for x in stored] == [date(2021, 3, 4)]


def test_a_query_goes_round_trip_through_the_pages(world):
    own = world.ids["own"][1]
    officer, csrf = login(world.app, "officer")
    r = post(
        officer,
        csrf,
        f"/review/events/{own}/queries",
        version=str(version(world, own)),
        field="aestdtc",
        question="Which day in March did it start?",
    )
    assert r.status_code == 303 and event(world, own).status == "queried"
    inv, inv_csrf = login(world.app, "inv1")
    for headers in ({}, HX):
        listing = inv.get("/queries", headers=headers)
        assert "Which day in March did it start?" in listing.text
        assert ("<html" in listing.text) == (headers == {})
    fragment = inv.get(f"/events/{own}/queries", headers=HX)
    assert "<html" not in fragment.text and 'action="/queries/' in fragment.text
    assert "Onset date" in fragment.text  # the field, by its label
    page = inv.get(f"/events/{own}")
    assert f'hx-get="/events/{own}/queries"' in page.text
    query_id = queries(world, own)[0].id
    r = post(inv, inv_csrf, f"/queries/{query_id}/answer", answer="")
    assert r.status_code == 422 and "the answer is required" in r.text
    r = post(inv, inv_csrf, f"/queries/{query_id}/answer", answer="On 2021-03-09.")
    assert r.status_code == 303 and event(world, own).status == "answered"
    review = officer.get(f"/review/events/{own}")
    assert "On 2021-03-09." in review.text and "Close the query" in review.text
    r = post(
        officer, csrf, f"/queries/{query_id}/close", back=f"/review/events/{own}?done=close#queries"
    )
    assert r.status_code == 303 and queries(world, own)[0].status == "closed"
    assert "No open queries." in text_of(inv.get("/queries").text)


def _send_reports(world, event_id: int) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import col, select

    from pv.db import write_session
    from pv.review.models import ExpeditedReport
    from pv.timeutil import today
    from tests.web.reviewhelpers import actor_for

    officer = actor_for(world.users["officer"])
    with write_session(world.engine) as s:
        for report_id in s.exec(
            select(ExpeditedReport.id).where(
                ExpeditedReport.event_id == event_id,
                col(ExpeditedReport.submitted_date).is_(None),
                col(ExpeditedReport.cancelled_at).is_(None),
            )
        ).all():
            send_report(s, officer, report_id, today(), PASSWORD)


def test_after_a_lock_the_investigator_cannot_follow_up_and_unlock_needs_a_reason(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    _assess(world, officer, csrf, event_id)
    _send_reports(world, event_id)  # locking waits for every expedited report to be sent
    r = post(
        officer,
        csrf,
        f"/review/events/{event_id}/lock",
        version=str(version(world, event_id)),
        password=PASSWORD,
    )
    assert r.status_code == 303 and event(world, event_id).status == "locked"
    inv, inv_csrf = login(world.app, "inv1")
    assert "Follow-up" not in inv.get(f"/events/{event_id}").text
    r = inv.post(
        f"/events/{event_id}",
        data={
            "csrf_token": inv_csrf,
            "version": str(version(world, event_id)),
            "aeterm": "pneumonia",
            "reason": "correction",
        },
        follow_redirects=False,
    )
    assert r.status_code == 409 and "locked" in r.text
    admin, admin_csrf = login(world.app, "admin")
    locked = version(world, event_id)
    r = post(
        admin,
        admin_csrf,
        f"/review/events/{event_id}/unlock",
        version=str(locked),
        reason=" ",
        password=PASSWORD,
    )
    assert r.status_code == 422 and "unlocking needs a reason" in r.text
    assert event(world, event_id).status == "locked"
    r = post(
        admin,
        admin_csrf,
        f"/review/events/{event_id}/unlock",
        version=str(locked),
        reason="the site corrects the onset date",
        password=PASSWORD,
    )
    assert r.status_code == 303 and event(world, event_id).status == "assessed"


def test_recoding_needs_a_reason_and_the_versions_grid_marks_what_changed(world):
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    post(officer, csrf, f"/review/events/{event_id}/start", version="1")
    r = post(officer, csrf, f"/review/events/{event_id}/recode", version="2", aelltcd="10040047")
    assert r.status_code == 422 and "recoding needs a reason" in r.text
    r = post(
        officer,
        csrf,
        f"/review/events/{event_id}/recode",
        version="2",
        aelltcd="10040047",
        reason="blood cultures grew E. coli",
    )
    assert r.status_code == 303 and event(world, event_id).aedecod == "Sepsis"
    page = officer.get(f"/review/events/{event_id}").text
    grid = page.split('data-testid="versions"', 1)[1].split("</table>", 1)[0]
    assert [c.strip() for c in re.findall(r"<th>v(\d+)", grid)] == ["1", "2", "3"]
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", grid, re.S) if "CTCAE term</th>" in r)
    cells = re.findall(r'<td class="([^"]*)">([^<]*)</td>', row)
    assert cells == [
        ("", "Lung infection (10061229)"),
        ("same", "Lung infection (10061229)"),
        ("changed", "Sepsis (10040047)"),
    ]
    assert "blood cultures grew E. coli" in grid


def test_a_stale_status_action_shows_what_changed_with_409(world):
    own = world.ids["own"][1]
    first, csrf1 = login(world.app, "officer")
    second, csrf2 = login(world.app, "officer")
    assert post(first, csrf1, f"/review/events/{own}/start", version="1").status_code == 303
    r = post(second, csrf2, f"/review/events/{own}/queries", version="1", question="Dose?")
    assert r.status_code == 409
    conflict = text_of(r.text.split('data-testid="conflict"', 1)[1].split("</div>", 1)[0])
    assert "Status under review submitted" in conflict
    assert "Dose?" in r.text and queries(world, own) == []


def test_the_expectedness_follows_the_rsi_in_force_on_the_awareness_date(world):
    event_id, _ = add_event(world)
    admin, admin_csrf = login(world.app, "admin")
    with read_session(world.engine) as s:
        beli = s.exec(select(Drug).where(Drug.key == "belimumab")).one()
    r = post(
        admin,
        admin_csrf,
        "/admin/rsi",
        drug_id=str(beli.id),
        label="IB 13",
        effective_from="2021-03-05",
        codes="10061229  Lung infection\n10019211",
    )
    assert r.status_code == 303, r.text
    officer, csrf = login(world.app, "officer")
    post(officer, csrf, f"/review/events/{event_id}/start", version="1")
    url = f"/review/events/{event_id}/expectedness"
    before = officer.get(url, params={"awareness_date": "2021-03-04"}, headers=HX)
    after = officer.get(url, params={"awareness_date": "2021-03-05"}, headers=HX)
    assert "<html" not in before.text and 'id="expectedness"' in before.text
    assert re.search(r'data-testid="rsi-belimumab">unexpected<', before.text)
    assert re.search(r'data-testid="rsi-belimumab">expected<', after.text) and "IB 13" in after.text
    full = officer.get(url, params={"awareness_date": "2021-03-05"})
    assert "<html" in full.text and 'name="awareness_date" value="2021-03-05"' in full.text


def test_admins_add_rsi_versions_officers_read_them(world):
    admin, csrf = login(world.app, "admin")
    with read_session(world.engine) as s:
        pred = s.exec(select(Drug).where(Drug.key == "prednisone")).one()
    r = post(
        admin,
        csrf,
        "/admin/rsi",
        drug_id=str(pred.id),
        label="",
        effective_from="soon",
        codes="10019211, 99999999",
    )
    assert r.status_code == 422
    shown = text_of(r.text)
    assert "a version label is required" in shown or "enter a date" in shown
    assert "99999999" in r.text  # the typed codes are kept
    r = post(
        admin,
        csrf,
        "/admin/rsi",
        drug_id=str(pred.id),
        label="SmPC 2020",
        effective_from="2020-01-01",
        codes="10019211, 10022437",
        source="SmPC 4.8",
    )
    assert r.status_code == 303
    r = post(
        admin,
        csrf,
        "/admin/rsi",
        drug_id=str(pred.id),
        label="SmPC 2019",
        effective_from="2019-01-01",
        codes="10019211",
    )
    assert r.status_code == 422 and "must take effect after the current one" in r.text
    officer, _ = login(world.app, "officer")
    page = text_of(officer.get("/admin/rsi").text)
    assert "SmPC 2020 · in force from 2020-01-01" in page and "Headache" in page
    assert "Add a new version" not in page
    with read_session(world.engine) as s:
        assert [v.label for v in rsi_versions(s, pred.id)] == ["SmPC 2020"]
