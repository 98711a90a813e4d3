"""Issue 15, points 2 and 6, as an investigator and a safety officer meet them in Chromium.

- An investigator submits an SAE the site learned of two days ago: the event page and the
  clocks page show the site's 24-hour report as late (the clock exists from submission).
- An onset before the subject's informed consent shows a warning; the event is stored only
  once the investigator ticks the confirmation.
- A serious draft saves without a narrative.
- An officer's "Lock the event" is refused, with a visible message, while the event's
  expedited (SUSAR) report is not sent.

Screenshots: /tmp/pv-clocks-*.png.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import select

from pv.events.models import AdverseEvent, Status
from pv.review.models import ExpeditedReport, ReportKind
from tests.live.conftest import INVESTIGATOR, OFFICER, Person
from tests.live.test_browser import INFUSION, _choose_term

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
SHOTS = Path("/tmp")


def _event_form(page: Page, live: LiveServer, *, verbatim: str, onset: str, serious: bool) -> None:
    page.goto(f"/events/new?subject={live.subject_id}")
    page.locator("input[name=aeterm]").fill(verbatim)
    _choose_term(page, "infus", INFUSION[1])
    page.locator("input[name=aetoxgr][value='3']").check()
    page.locator("input[name=aestdtc]").fill(onset)
    page.locator("select[name=aeout]").select_option("RECOVERED/RESOLVED")
    page.locator("input[name=aeendtc]").fill(onset)
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("POSSIBLY RELATED")
        page.locator(f"select[name='aeacn.{key}']").select_option("DOSE NOT CHANGED")
    if serious:
        page.locator("#aeser-Y").check()
        page.locator("input[name=aeshosp]").check()
    else:
        page.locator("#aeser-N").check()


def _stored(live: LiveServer, verbatim: str) -> list[AdverseEvent]:
    from pv.db import make_engine, read_session

    engine = make_engine(live.db_url)
    try:
        with read_session(engine) as s:
            return list(s.exec(select(AdverseEvent).where(AdverseEvent.aeterm == verbatim)))
    finally:
        engine.dispose()


def test_a_late_24_hour_report_is_flagged_on_the_event_and_the_clocks_page(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    two_days_ago = (date.today() - timedelta(days=2)).isoformat()
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    _event_form(page, live, verbatim="rigors and hypotension during infusion",
                onset=two_days_ago, serious=True)  # fmt: skip
    awareness = page.get_by_test_id("aeawaredtc")
    expect(awareness).to_be_visible()  # shown once "serious" is ticked
    awareness.fill(two_days_ago)
    page.locator("textarea[name=narrative]").fill("Admitted overnight for observation.")
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    event_id = int(re.search(r"/events/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    expect(page.get_by_test_id("aeawaredtc")).to_have_text(two_days_ago)
    expect(page.get_by_test_id("sae-clock")).to_contain_text(
        f"due {(date.today() - timedelta(days=1)).isoformat()} 00:00 UTC"
    )
    expect(page.get_by_test_id("sae-late")).to_have_text("late: sent after 24 hours")
    inv.shot(SHOTS / "pv-clocks-event-late.png")

    # The clock was stored at the submission: no officer has opened the event.
    from pv.db import make_engine, read_session

    engine = make_engine(live.db_url)
    try:
        with read_session(engine) as s:
            [report] = s.exec(select(ExpeditedReport).where(
                ExpeditedReport.event_id == event_id,
                ExpeditedReport.kind == ReportKind.investigator_sae_24h)).all()  # fmt: skip
            assert report.start_date.isoformat() == two_days_ago and report.submitted_at
            assert s.get(AdverseEvent, event_id).status == Status.submitted  # type: ignore[union-attr]
    finally:
        engine.dispose()

    page.goto("/clocks")
    expect(page.get_by_test_id("clocks-late")).to_have_text("1 sent late")
    page.get_by_test_id("clocks-late").click()
    row = page.get_by_test_id("clocks-sent").locator("tr", has_text="Infusion related reaction")
    expect(row).to_contain_text(two_days_ago)
    expect(row.get_by_test_id("report-late")).to_have_text("late")
    inv.shot(SHOTS / "pv-clocks-page-late.png")

    # The officer's queue tags it too.
    officer = Person(browser, live, *OFFICER)
    officer.page.goto("/review")
    queue_row = officer.page.locator(
        "tr", has=officer.page.locator(f"a[href='/review/events/{event_id}']")
    )
    expect(queue_row.get_by_test_id("late-report")).to_have_text("report sent late")
    officer.shot(SHOTS / "pv-clocks-queue-late.png")
    assert not inv.problems and not officer.problems, inv.problems + officer.problems


def test_onset_before_consent_is_stored_only_once_confirmed(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server  # the subject consented on 2021-01-15
    verbatim = "flushing before consent"
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    _event_form(page, live, verbatim=verbatim, onset="2021-01-10", serious=False)
    page.locator("button[name=action][value=submit]").click()
    warning = page.get_by_test_id("consent-warning")
    expect(warning).to_contain_text("onset 2021-01-10 is before informed consent (2021-01-15)")
    expect(page.locator("input[name=aestdtc]")).to_have_value("2021-01-10")  # nothing lost
    inv.shot(SHOTS / "pv-clocks-consent-warning.png")
    assert _stored(live, verbatim) == []
    page.get_by_test_id("confirm-before-consent").check()
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    expect(page.get_by_role("status")).to_contain_text("Saved")
    [event] = _stored(live, verbatim)
    assert event.status == Status.submitted and event.aestdtc == "2021-01-10"
    assert not inv.problems, inv.problems


def test_a_serious_draft_saves_without_a_narrative(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    verbatim = "chest pain, details to follow"
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    _event_form(page, live, verbatim=verbatim, onset="2021-06-01", serious=True)
    page.locator("button[name=action][value=draft]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    expect(page.locator("h1")).to_contain_text("Infusion related reaction")
    expect(page.locator("p.meta").first).to_contain_text("draft")
    inv.shot(SHOTS / "pv-clocks-draft-sae.png")
    [event] = _stored(live, verbatim)
    assert (event.status, event.aeser, event.narrative) == (Status.draft, True, None)
    # Submitting it asks for the narrative and the awareness date, beside their fields.
    page.goto(f"/events/{event.id}/edit")
    page.locator("button[name=action][value=submit]").click()
    expect(page.locator("#error-narrative")).to_contain_text("a serious event needs a narrative")
    expect(page.locator("#error-aeawaredtc")).to_contain_text("the site became aware")
    inv.shot(SHOTS / "pv-clocks-submit-needs-narrative.png")
    assert not inv.problems, inv.problems


def test_an_officer_cannot_lock_while_a_report_is_unsent(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    from pv.auth.models import User
    from pv.auth.service import actor_for
    from pv.db import make_engine, write_session
    from pv.events.rules import EventInput
    from pv.events.service import create_event
    from pv.review import service as review
    from pv.study.models import Subject

    live = live_server
    engine = make_engine(live.db_url)
    try:  # a submitted SAE, reviewed and assessed as a SUSAR: its 15-day report is owed
        with write_session(engine) as s:
            inv = actor_for(s.exec(select(User).where(User.username == INVESTIGATOR[0])).one())
            officer = actor_for(s.exec(select(User).where(User.username == OFFICER[0])).one())
            subject = s.get(Subject, live.subject_id)
            event, _ = create_event(session=s, actor=inv, subject=subject, data=EventInput(
                aeterm="anaphylactoid reaction", aelltcd=INFUSION[0], aetoxgr=3, aeser=True,
                aeshosp=True, aestdtc="2021-06-10", aeendtc="2021-06-11",
                aeout="RECOVERED/RESOLVED", narrative="Admitted.", aeawaredtc="2021-06-10",
                aerel={k: "POSSIBLY RELATED" for k in live.drug_keys}), submit=True,
                confirm_duplicate=True)  # fmt: skip
            event_id = event.id
            review.start_review(session=s, actor=officer, event_id=event_id, expected_version=1)
            review.save_assessment(session=s, actor=officer, event_id=event_id,
                                   expected_version=2, awareness_date=date(2021, 6, 11),
                                   seriousness_confirmed=True,
                                   causality={k: "possible" for k in live.drug_keys},
                                   password=OFFICER[1])  # fmt: skip
    finally:
        engine.dispose()

    person = Person(browser, live, *OFFICER)
    page = person.page
    page.goto(f"/review/events/{event_id}")
    page.get_by_test_id("lock-form").locator("input[name=password]").fill(OFFICER[1])
    page.get_by_role("button", name="Lock the event").click()
    refusal = page.get_by_test_id("lock-error")
    expect(refusal).to_contain_text(
        "1 expedited report of this event is not sent: record its submission before locking"
    )
    expect(page.get_by_test_id("event-status")).to_have_text("assessed")
    person.shot(SHOTS / "pv-clocks-lock-refused.png")
    # Its submission recorded (a prepared report version sent to the regulator, approved
    # and signed: issue 16), the clock is closed and the lock goes through.
    page.get_by_test_id("prepare-version").click()
    expect(page.get_by_test_id("version-table")).to_be_visible()
    page.reload()  # the submissions form offers the new version
    form = page.get_by_test_id("submission-form")
    form.locator("input[name=recipient]").fill("NMPA Center for Drug Evaluation")
    form.locator("input[name=password]").fill(OFFICER[1])
    form.get_by_role("button", name="Record submission").click()
    expect(page.get_by_test_id("submissions")).to_contain_text("NMPA Center for Drug Evaluation")
    row = page.get_by_test_id("event-reports").locator("tr", has_text="15 days")
    expect(row).to_contain_text("sent")
    person.shot(SHOTS / "pv-clocks-submission.png")
    page.get_by_test_id("lock-form").locator("input[name=password]").fill(OFFICER[1])
    page.get_by_role("button", name="Lock the event").click()
    expect(page.get_by_test_id("event-status")).to_have_text("locked")
    assert not person.problems, person.problems
