"""The event form and likely duplicates: the stored event is shown, "Save anyway" stores it."""

from __future__ import annotations

import html
import re

from sqlalchemy import func
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from tests.web.webhelpers import IRR, login


def _count(env) -> int:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(AdverseEvent)).one()


def _hidden(page: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        out.setdefault(name, []).append(html.unescape(value))
    return out


def test_a_likely_duplicate_shows_the_stored_event_and_save_anyway_stores_it(world) -> None:  # type: ignore[no-untyped-def]
    client, csrf = login(world.app, "inv1")
    subject_id, event_id, usubjid = world.ids["own"]  # IRR, onset 2021-03, grade 2
    form = {**IRR, "aeterm": "chills at the infusion", "subject_id": str(subject_id),
            "action": "submit", "csrf_token": csrf}  # fmt: skip
    r = client.post("/events", data=form, follow_redirects=False)
    assert r.status_code == 409, r.text
    page = r.text
    notice = page[page.index('id="duplicate-notice"') : page.index("</table>")]
    assert f'href="/events/{event_id}"' in notice and usubjid in page
    cells = re.findall(r"<td>(.*?)</td>", notice)
    assert cells[2:5] == ["2021-03", "2", "submitted"]  # onset, grade, status
    assert "shivers during infusion" in cells[1]  # the stored event's verbatim term
    assert 'data-testid="save-anyway"' in page and 'value="submit"' in page
    # Nothing was saved and the form keeps what was typed.
    assert _count(world) == 2
    assert 'value="chills at the infusion"' in page
    hidden = _hidden(page)
    assert hidden["confirm_duplicate"] == ["1"] and hidden["duplicate_of"] == [str(event_id)]

    # "Save anyway": the same form with the confirmation it carried.
    confirmed = {**form, "confirm_duplicate": "1", "duplicate_of": str(event_id)}
    r = client.post("/events", data=confirmed, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _count(world) == 3
    with read_session(world.engine) as s:
        new = s.get(AdverseEvent, int(r.headers["location"].split("/")[2].split("?")[0]))
        assert new is not None and new.aeseq == 2 and new.aeterm == "chills at the infusion"


def test_a_confirmation_covers_only_the_events_it_showed(world) -> None:  # type: ignore[no-untyped-def]
    client, csrf = login(world.app, "inv1")
    subject_id, event_id, _ = world.ids["own"]
    base = {**IRR, "subject_id": str(subject_id), "action": "draft", "csrf_token": csrf}
    other = {**base, "aestdtc": "2021-04", "aeendtc": "2021-04-20"}
    assert client.post("/events", data=other, follow_redirects=False).status_code == 303
    # Confirmed for the first event only, then the onset changed to the second one's.
    stale = {**other, "confirm_duplicate": "1", "duplicate_of": str(event_id)}
    r = client.post("/events", data=stale, follow_redirects=False)
    assert r.status_code == 409 and _count(world) == 3
    assert _hidden(r.text)["duplicate_of"] != [str(event_id)]
    # At the other site, the other subject's own stored event is shown, never this one.
    other_subject, other_event, _ = world.ids["other"]
    client2, csrf2 = login(world.app, "inv2")
    r = client2.post("/events", data={**base, "subject_id": str(other_subject),
                                      "csrf_token": csrf2}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 409 and f"/events/{other_event}" in r.text
    assert f'/events/{event_id}"' not in r.text
