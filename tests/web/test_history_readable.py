"""The readable history (issue 15, point 7) checked on an event with per-drug values: field
labels, people by name, coded terms by name, per-drug values by drug name and in words; the
stored record only for administrators."""

from __future__ import annotations

import html as htmllib
import re

from tests.web.webhelpers import IRR, login


def _history_text(page: str) -> str:
    table = page.split('id="history"', 1)[1].split("</table>", 1)[0]
    table = re.sub(r"<details.*?</details>", "", table, flags=re.S)
    table = re.sub(r"</?span[^>]*>", "", table)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", table))
    return re.sub(r"\s+", " ", text)


def _follow_up(world):
    client, csrf = login(world.app, "inv1")
    ev = world.ids["own"][1]
    changed = {**IRR, "aelltcd": "10061229", "aetoxgr": "3", "aerel.prednisone": "POSSIBLY RELATED",
               "aeacn.belimumab": "DRUG INTERRUPTED", "aeacn.prednisone": "DOSE NOT CHANGED",
               "version": "1", "reason": "CT confirmed pneumonia", "csrf_token": csrf}  # fmt: skip
    r = client.post(f"/events/{ev}", data=changed, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client, ev


def test_the_readable_history_checked_on_an_event_with_per_drug_values(world):
    client, ev = _follow_up(world)
    page = client.get(f"/events/{ev}")
    assert page.status_code == 200
    text = _history_text(page.text)
    # who: the full name with the username
    assert "Admin (admin)" in text and "Inv1 (inv1)" in text
    # the code that changed, by term name (looked up), on one line with its label
    assert "CTCAE term: Infusion related reaction (10051792) → Lung infection (10061229)" in text
    assert "CTCAE grade: 2 → 3" in text
    # per-drug values: the drug's name (not its key) and the label of the stored code
    assert "Relationship to the study drugs: Belimumab: Related; Prednisone: Not related" in text
    assert (
        "Relationship to the study drugs: Belimumab: Related; Prednisone: Not related → "
        "Belimumab: Related; Prednisone: Possibly related"
    ) in text
    assert "Action taken with the study drugs: ∅ → Belimumab: Drug interrupted; " in text
    assert "CT confirmed pneumonia" in text
    # none of the stored shapes or internal ids
    for raw in ("aerel", "aelltcd", "belimumab:", "RELATED'", "{", "term_id", "site_id"):
        assert raw not in text, raw
    # the investigator sees no raw record
    assert 'data-testid="raw-record"' not in page.text
    # the partial the page reloads shows the same
    partial = client.get(f"/events/{ev}/history", headers={"HX-Request": "true"})
    assert _history_text(partial.text) == text


def test_administrators_can_open_the_stored_record(world):
    _client, ev = _follow_up(world)
    admin, _csrf = login(world.app, "admin")
    page = admin.get(f"/events/{ev}")
    assert page.status_code == 200
    assert page.text.count('data-testid="raw-record"') == 2  # one per history entry
    raw = htmllib.unescape(page.text.split('data-testid="raw-record"', 2)[2].split("</pre>")[0])
    assert '"actor": "inv1"' in raw and '"aelltcd": [' in raw and '"10061229"' in raw
    assert '"prednisone": "POSSIBLY RELATED"' in raw
    # the readable lines stay above it
    assert "Lung infection (10061229)" in _history_text(page.text)
