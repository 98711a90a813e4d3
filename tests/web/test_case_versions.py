"""The review page's "Report versions" section (pv.web.case_versions) and the downloads of
each version (pv.web.review_icsr): prepare, refresh, follow-up, refusals in the section,
files byte-identical to pv.icsr.versions.version_file, 404 for a version that does not exist.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

import e2br3
from sqlmodel import select

from pv.db import read_session, write_session
from pv.icsr.models import ReportFormat, ReportVersion, SaeCase, Submission
from pv.icsr.versions import get_version, version_file
from pv.web.case_versions import readable_change
from tests.icsr.pdftext import norm, page_texts
from tests.web.reviewhelpers import HX, add_event
from tests.web.webhelpers import login


def _versions(env, event_id: int) -> list[ReportVersion]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        rows = list(s.exec(select(ReportVersion).where(ReportVersion.event_id == event_id)
                           .order_by(ReportVersion.number)))  # fmt: skip
        for r in rows:
            s.expunge(r)
        return rows


def _submit(env, version_id: int) -> None:  # type: ignore[no-untyped-def]
    """A standing submission inserted directly (pv.icsr.submissions records it in the app)."""
    with write_session(env.engine) as s:
        v = s.get(ReportVersion, version_id)
        s.add(Submission(report_version_id=version_id, event_id=v.event_id, study_id=v.study_id,
                         recipient_kind="regulator", recipient="NMPA", channel="gateway",
                         format="e2b", sent_date=date(2021, 3, 10), file_name="x.xml",
                         file_sha256=hashlib.sha256(b"x").hexdigest(), file=b"x",
                         recorded_by_name="officer"))  # fmt: skip


def _section(html: str) -> str:
    start = html.index('id="case-versions"')
    return html[start : html.index("</section>", start)]


def test_the_officer_prepares_refreshes_and_follows_up(world) -> None:  # type: ignore[no-untyped-def]
    event_id, _subject = add_event(world)
    officer, csrf = login(world.app, "officer")
    page = officer.get(f"/review/events/{event_id}").text
    section = _section(page)
    assert "No report version yet" in section and "Prepare initial report" in section
    # htmx: the section comes back with version 1
    r = officer.post(f"/review/events/{event_id}/versions", headers=HX,
                     data={"csrf_token": csrf, "note": "initial SUSAR report"})  # fmt: skip
    assert r.status_code == 200 and r.text.lstrip().startswith("<section")
    assert "Version 1 saved." in r.text and "initial SUSAR report" in r.text
    assert "Initial report" in r.text and "Refresh version 1" in r.text  # nothing sent yet
    assert f"/review/events/{event_id}/versions/1/e2b.xml" in r.text
    assert f"/review/events/{event_id}/versions/1/cioms.pdf?lang=zh-Hans" in r.text
    [v1] = _versions(world, event_id)
    # refresh: the same number, a new moment, the note kept
    r = officer.post(f"/review/events/{event_id}/versions", headers=HX,
                     data={"csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200 and "(refreshed)" in r.text
    [again] = _versions(world, event_id)
    assert again.id == v1.id and again.refreshed_at is not None
    assert again.note == "initial SUSAR report"
    # sent: the next prepare is follow-up 1 (version 2) with what changed, readable
    _submit(world, v1.id)  # type: ignore[arg-type]
    with write_session(world.engine) as s:
        s.add(SaeCase(event_id=event_id, study_id=world.study_id,
                      hosp_discharge_date="2021-03-12",
                      conmeds=[{"name": "ceftriaxone", "start": "2021-03-02"}]))  # fmt: skip
    page = officer.get(f"/review/events/{event_id}").text
    assert "Prepare follow-up 1" in _section(page)
    assert "1 submission (1 standing)" in _section(page)
    r = officer.post(
        f"/review/events/{event_id}/versions",
        follow_redirects=False,
        data={"csrf_token": csrf, "note": "discharged"},
    )  # without htmx
    assert r.status_code == 303 and r.headers["location"].endswith("#case-versions")
    section = _section(officer.get(f"/review/events/{event_id}").text)
    assert "Follow-up 1" in section and "discharged" in section
    # by hand: the case data added a discharge date and one concomitant medication
    changes = re.findall(r'<li data-path="([^"]+)">([^<]*)</li>', section)
    assert changes == [
        ("conmeds[0].name", "Concomitant medication 1 · name: — → ceftriaxone"),
        ("conmeds[0].start", "Concomitant medication 1 · start: — → 2021-03-02"),
        ("hospital_discharge", "Hospital discharge: — → 2021-03-12"),
    ]
    assert [v.number for v in _versions(world, event_id)] == [1, 2]


def test_each_version_downloads_as_frozen(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    event_id, _subject = add_event(world)
    officer, csrf = login(world.app, "officer")
    officer.post(f"/review/events/{event_id}/versions", headers=HX, data={"csrf_token": csrf})
    with read_session(world.engine) as s:
        v = get_version(s, event_id, 1)
        expected = {f: version_file(v, f, masked=False) for f in ReportFormat}
    xml = officer.get(f"/review/events/{event_id}/versions/1/e2b.xml")
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
    name, data = expected[ReportFormat.e2b]
    assert xml.content == data and name in xml.headers["content-disposition"]
    for lang, fmt in (("en", ReportFormat.cioms), ("zh-Hans", ReportFormat.cioms_zh)):
        pdf = officer.get(f"/review/events/{event_id}/versions/1/cioms.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.content == expected[fmt][1]
        assert expected[fmt][0] in pdf.headers["content-disposition"]
    assert norm("pneumonia") in "".join(page_texts(expected[ReportFormat.cioms][1]))
    # the same bytes again (deterministic), and the ICSR parses back (e2br3)
    assert officer.get(f"/review/events/{event_id}/versions/1/e2b.xml").content == data
    (tmp_path / "v1.xml").write_bytes(data)
    icsr = e2br3.parse(tmp_path / "v1.xml").icsrs[0]
    assert icsr.reactions[0].native_term == "pneumonia"
    assert icsr.worldwide_case_id == icsr.safety_report_id  # C.1.1 = C.1.8.1
    assert officer.get(f"/review/events/{event_id}/versions/2/e2b.xml").status_code == 404
    assert officer.get(f"/review/events/{event_id}/versions/1/cioms.pdf?lang=xx").status_code == 422
    admin, _ = login(world.app, "admin")  # administrators read the versions too
    assert admin.get(f"/review/events/{event_id}/versions/1/e2b.xml").content == data
    inv, _ = login(world.app, "inv1")  # the review pages are not the site's
    assert inv.get(f"/review/events/{event_id}/versions/1/e2b.xml").status_code == 403
    # the preview of the case as it stands is labelled as such
    preview = officer.get(f"/review/events/{event_id}/e2b.xml")
    assert "-preview-E2B.xml" in preview.headers["content-disposition"]


def test_refusals_are_shown_in_the_section(world) -> None:  # type: ignore[no-untyped-def]
    officer, csrf = login(world.app, "officer")
    event_id, _subject = add_event(world)
    r = officer.post(f"/review/events/{event_id}/versions", headers=HX,
                     data={"csrf_token": csrf, "note": "x" * 2001})  # fmt: skip
    assert r.status_code == 422 and "at most 2000 characters" in r.text
    assert 'id="case-versions"' in r.text and "x" * 2001 in r.text  # the note as typed
    assert _versions(world, event_id) == []
    mild = world.ids["own"][1]  # not serious: no section, and a refusal when posted
    assert 'id="case-versions"' not in officer.get(f"/review/events/{mild}").text
    r = officer.post(f"/review/events/{mild}/versions", headers=HX, data={"csrf_token": csrf})
    assert r.status_code == 409 and "is not serious" in r.text
    admin, admin_csrf = login(world.app, "admin")
    page = admin.get(f"/review/events/{event_id}").text
    assert 'id="case-versions"' in page and "prepare-version" not in page  # officers only
    r = admin.post(f"/review/events/{event_id}/versions", data={"csrf_token": admin_csrf})
    assert r.status_code == 403


def test_a_masked_reader_is_not_told_the_treatment() -> None:
    assert readable_change("patient.arm", "Combination", "Monotherapy", masked=True) is None
    assert readable_change("drugs[1].name", "Belimumab", "Placebo", masked=True) is None
    seen = readable_change("drugs[1].dechallenge", None, "yes", masked=True)
    assert seen == {"path": "drugs[1].dechallenge", "what": "Study drug · dechallenge",
                    "old": "—", "new": "yes"}  # fmt: skip
    # an unmasked reader sees which drug (1-based) and every value
    assert readable_change("drugs[1].name", "a", "b", masked=False)["what"] == "Study drug 2 · name"
    assert readable_change("susar", False, True, masked=False)["new"] == "Yes"
