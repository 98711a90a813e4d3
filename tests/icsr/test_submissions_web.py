# ruff: noqa: F811  (the fixtures are imported, then named by the tests)
"""The submissions section of the review page (pv.web.submissions): the "Record submission"
form with the open clock that fits preselected, refusals beside their fields after the htmx
swap, the submissions table (file name, SHA-256, download, signer, ACK), the ACK upload,
who sees what; "Mark as sent" is gone."""

from __future__ import annotations

import hashlib
import re
from datetime import date

from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.icsr.ack import build_ack
from pv.icsr.models import Submission
from pv.review.models import ExpeditedReport
from tests.review.sending import version_for
from tests.web.conftest import app_env, world  # noqa: F401
from tests.web.reviewhelpers import HX, actor_for, add_event, assessment_form, post, text_of
from tests.web.webhelpers import PASSWORD, login

NMPA = "NMPA Center for Drug Evaluation"


def _ready(world):  # type: ignore[no-untyped-def]
    """An assessed SUSAR (15-day clock from 2021-03-04) with report version 1."""
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    assert post(officer, csrf, f"/review/events/{event_id}/start", version="1").status_code == 303
    r = post(officer, csrf, f"/review/events/{event_id}/assess",
             **assessment_form(world, event_id))  # fmt: skip
    assert r.status_code == 303
    with write_session(world.engine) as s:
        [clock] = s.exec(select(ExpeditedReport).where(
            ExpeditedReport.event_id == event_id, ExpeditedReport.kind == "initial_15"
        )).all()  # fmt: skip
        version = version_for(s, actor_for(world.users["officer"]), clock)
        return event_id, clock.id, version.id, officer, csrf


def _section(html: str) -> str:
    return html.split('data-testid="submissions"', 1)[1]


def _error(html: str, field: str) -> str:
    found = re.search(rf'data-testid="error-{field}">([^<]*)<', html)
    return found.group(1) if found else ""


def _clock_row(html: str) -> str:
    """The 15-day clock's row of the expedited reports table."""
    table = html.split('data-testid="event-reports"', 1)[1].split("</table>", 1)[0]
    return next(r for r in table.split("<tr>") if "Initial SUSAR report (15 days)" in r)


def _form(version_id: int, clock_id: int, **changes: str) -> dict[str, str]:
    return {"version_id": str(version_id), "recipient_kind": "regulator", "recipient": NMPA,
            "channel": "gateway", "format": "e2b", "sent_date": "2021-03-10",
            "clock_id": str(clock_id), "password": PASSWORD} | changes  # fmt: skip


def _count(world) -> int:  # type: ignore[no-untyped-def]
    with read_session(world.engine) as s:
        return len(s.exec(select(Submission)).all())


def test_the_form_preselects_the_clock_and_places_refusals_beside_the_fields(world):
    event_id, clock_id, version_id, officer, csrf = _ready(world)
    page = officer.get(f"/review/events/{event_id}").text
    assert "Mark as sent" not in page and "/sent" not in page
    form = page.split('data-testid="submission-form"', 1)[1].split("</form>", 1)[0]
    assert re.search(rf'<option value="{clock_id}" selected>Initial SUSAR report \(15 days\)', form)
    assert re.search(rf'<option value="{version_id}" selected>1</option>', form)
    assert 'data-testid="sign-approved"' in form
    assert "Not sent yet." in text_of(_section(page))

    url = f"/review/events/{event_id}/submissions"
    bad = _form(version_id, clock_id, recipient="", channel="email", sent_date="2021-02-30",
                password=PASSWORD + "!")  # fmt: skip
    r = officer.post(url, data=bad | {"csrf_token": csrf}, headers=HX)
    assert r.status_code == 422
    assert "<html" not in r.text and r.text.lstrip().startswith('<section id="reports"')
    assert _error(r.text, "recipient") == "the recipient is required"
    assert _error(r.text, "format") == (
        "the E2B(R3) XML goes to a regulator through an E2B gateway or a web portal"
    )
    assert _error(r.text, "sent_date") == "enter a date as YYYY-MM-DD"
    sign = r.text.split('data-testid="sign-approved"', 1)[1].split("</fieldset>", 1)[0]
    assert "The password is wrong: nothing was signed or saved." in sign
    assert '<option value="email" selected>' in r.text  # the typed form is kept
    assert 'value="2021-02-30"' in r.text and PASSWORD not in r.text
    assert _count(world) == 0
    with read_session(world.engine) as s:  # the wrong password counts as a failed log-in
        failed = s.exec(select(AuditEntry).where(AuditEntry.action == "sign_failed")).all()
        assert [(a.entity_type, a.entity_id) for a in failed] == [
            ("user", str(world.users["officer"].id))
        ]

    r = officer.post(url, data=_form(version_id, clock_id) | {"csrf_token": csrf}, headers=HX)
    assert r.status_code == 200 and "<html" not in r.text
    with read_session(world.engine) as s:
        sub = s.exec(select(Submission)).one()
        assert s.get(ExpeditedReport, clock_id).submitted_date == date(2021, 3, 10)
    row = re.search(rf'<tr data-testid="submission-{sub.id}">(.*?)</tr>', r.text, re.S).group(1)
    shown = text_of(row)
    for expected in ("2021-03-10", NMPA, "(Regulator)", "E2B gateway", "E2B(R3) ICSR (XML)",
                     sub.file_name, f"SHA-256 {sub.file_sha256[:12]}", "Officer"):  # fmt: skip
        assert expected in shown, expected
    assert f'href="/review/submissions/{sub.id}/file"' in row
    assert "Upload ACK" in row  # an E2B submission without its ACK
    row = _clock_row(r.text)
    assert "2021-03-10" in row and ">sent<" in row  # the clock is closed


def test_the_file_downloads_as_stored_and_the_ack_upload_shows_its_outcome(world):
    event_id, clock_id, version_id, officer, csrf = _ready(world)
    url = f"/review/events/{event_id}/submissions"
    assert post(officer, csrf, url, **_form(version_id, clock_id)).status_code == 303
    with read_session(world.engine) as s:
        sub = s.exec(select(Submission)).one()
    r = officer.get(f"/review/submissions/{sub.id}/file")
    assert r.status_code == 200 and r.content == sub.file
    assert hashlib.sha256(r.content).hexdigest() == sub.file_sha256
    assert sub.file_name in r.headers["content-disposition"]
    admin, _ = login(world.app, "admin")
    assert admin.get(f"/review/submissions/{sub.id}/file").status_code == 200
    for who in ("inv1", "dsmb"):
        client, _ = login(world.app, who)
        assert client.get(f"/review/submissions/{sub.id}/file").status_code == 403
    assert officer.get("/review/submissions/999999/file").status_code == 404

    ack_url = f"/review/submissions/{sub.id}/ack"
    r = officer.post(ack_url, data={"csrf_token": csrf}, headers=HX,
                     files={"ack": ("ack.xml", b"<nonsense/>", "application/xml")})  # fmt: skip
    assert r.status_code == 422
    error = re.search(r'data-testid="ack-error">([^<]*)<', r.text).group(1)
    assert error  # the parser's reason, beside the upload
    ack = build_ack(sub.file, "accepted_with_errors", "C.2.r.4 qualification missing")
    r = officer.post(ack_url, data={"csrf_token": csrf}, headers=HX,
                     files={"ack": ("ack.xml", ack, "application/xml")})  # fmt: skip
    assert r.status_code == 200
    cell = r.text.split(f'data-testid="ack-{sub.id}">', 1)[1].split("</td>", 1)[0]
    assert "accepted with errors" in text_of(cell)
    assert "C.2.r.4 qualification missing" in cell and "Upload ACK" not in cell


def test_a_rejected_ack_shows_and_the_clock_is_open_again(world):
    event_id, clock_id, version_id, officer, csrf = _ready(world)
    url = f"/review/events/{event_id}/submissions"
    assert post(officer, csrf, url, **_form(version_id, clock_id)).status_code == 303
    with read_session(world.engine) as s:
        sub = s.exec(select(Submission)).one()
    ack = build_ack(sub.file, "rejected", "E.i.2.1b: not a MedDRA code")
    r = officer.post(f"/review/submissions/{sub.id}/ack", data={"csrf_token": csrf},
                     files={"ack": ("ack.xml", ack, "application/xml")},
                     follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = officer.get(r.headers["location"]).text
    cell = page.split(f'data-testid="ack-{sub.id}">', 1)[1].split("</td>", 1)[0]
    assert "rejected" in text_of(cell) and "not a MedDRA code" in cell
    row = _clock_row(page)
    assert ">sent<" not in row and "2021-03-10" not in row and ">overdue<" in row  # open again
    form = page.split('data-testid="submission-form"', 1)[1].split("</form>", 1)[0]
    assert re.search(rf'<option value="{clock_id}" selected>', form)  # send it again


def test_who_sees_the_section_and_its_forms(world):
    event_id, clock_id, version_id, officer, csrf = _ready(world)
    admin, admin_csrf = login(world.app, "admin")
    page = admin.get(f"/review/events/{event_id}").text
    assert 'data-testid="submissions"' in page and 'data-testid="submission-form"' not in page
    r = post(admin, admin_csrf, f"/review/events/{event_id}/submissions",
             **_form(version_id, clock_id))  # fmt: skip
    assert r.status_code == 403
    for who in ("inv1", "dsmb"):
        client, token = login(world.app, who)
        assert client.get(f"/review/events/{event_id}").status_code in (403, 404)
        r = post(client, token, f"/review/events/{event_id}/submissions",
                 **_form(version_id, clock_id))  # fmt: skip
        assert r.status_code == 403
    # another event's version is no version of this event
    other, _ = add_event(world)
    r = post(officer, csrf, f"/review/events/{other}/submissions", **_form(version_id, clock_id))
    assert r.status_code == 422
    shown = re.search(r'data-testid="submission-errors">([^<]*)<', r.text).group(1)
    assert shown == "choose a report version of this event"  # it has none: no form
    assert _count(world) == 0
    # "Mark as sent" is gone
    r = post(officer, csrf, f"/clocks/{clock_id}/sent", sent_date="2021-03-10",
             password=PASSWORD)  # fmt: skip
    assert r.status_code in (404, 405)


def test_the_versions_and_reports_sections_reload_each_other(world):
    """Preparing a version tells the page (HX-Trigger) so that the Expedited reports section,
    whose form offers the versions, reloads itself; recording a submission does the same
    for the Report versions section, which counts what stands."""
    event_id, clock_id, version_id, officer, csrf = _ready(world)
    r = officer.post(f"/review/events/{event_id}/versions", headers=HX,
                     data={"csrf_token": csrf, "note": ""})  # fmt: skip
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "pv-versions-changed"
    assert 'hx-trigger="pv-versions-changed from:body"' in officer.get(
        f"/review/events/{event_id}").text  # the reports section listens  # fmt: skip
    section = officer.get(f"/review/events/{event_id}/reports", headers=HX)
    assert section.status_code == 200 and section.text.lstrip().startswith(
        '<section id="reports"')  # the section alone  # fmt: skip
    assert f'<option value="{version_id}"' in section.text
    r = officer.post(
        f"/review/events/{event_id}/submissions",
        headers=HX,
        data={
            "csrf_token": csrf,
            **_form(version_id, clock_id, sent_date=date.today().isoformat()),
        },
    )
    # (sent today: the refresh above froze version 1 again today)  # fmt: skip
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "pv-reports-changed"
    versions = officer.get(f"/review/events/{event_id}/versions", headers=HX)
    assert versions.status_code == 200 and "1 submission (1 standing)" in text_of(versions.text)
    dsmb, _ = login(world.app, "dsmb")
    for url in ("reports", "versions"):
        assert dsmb.get(f"/review/events/{event_id}/{url}", headers=HX).status_code in (403, 404)
