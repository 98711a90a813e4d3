"""The DSUR of the demo trial (build_demo seed 42, plus the export fixtures' extra events:
tests/exports/conftest.py) cross-checked against an independent count.

The independent count reads the tables with pandas (`pandas.read_sql`) and applies the
rules of pv.exports.dsur's docstring in its own terms: serious (AESER) and not a draft;
received = the sponsor's assessment awareness date, else the date of the site's
submission, else of the record's creation; in the cumulative tabulation when received on
or before the data lock point; events counted (not subjects) by SOC, coded term (uncoded:
"Not coded" and the verbatim term) and the subject's arm. A plain SQL COUNT(*) checks the
grand total of a data lock point after every event (all serious non-draft events).
"""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import text

from pv.exports.dsur import build_dsur
from tests.exports.conftest import STUDY, Demo
from tests.exports.test_dsur import HEADER_ROW, LIST, TAB, rows

LATE = date(2099, 12, 31)  # after every event's receipt (the demo's are received today)


def independent_counts(demo: Demo, lock: date) -> pd.DataFrame:
    with demo.engine.connect() as conn:
        ae = pd.read_sql(
            text(
                "SELECT e.id, e.status, e.aeser, e.aebodsys, e.aedecod, e.aeterm, "
                "e.submitted_at, e.created_at, a.label AS arm, s.awareness_date "
                "FROM adverseevent e JOIN subject j ON j.id = e.subject_id "
                "LEFT JOIN arm a ON a.id = j.arm_id "
                "LEFT JOIN assessment s ON s.event_id = e.id WHERE e.study_id = :study"
            ),
            conn,
            params={"study": STUDY},
        )
    ae = ae[(ae["status"] != "draft") & ae["aeser"].fillna(False).astype(bool)].copy()
    stamp = pd.to_datetime(ae["submitted_at"].fillna(ae["created_at"]), utc=True, format="mixed")
    aware = pd.to_datetime(ae["awareness_date"], format="mixed")
    ae["received"] = aware.dt.date.where(aware.notna(), stamp.dt.date)
    ae = ae[ae["received"] <= lock]
    coded = ae["aedecod"].notna()
    ae["soc"] = ae["aebodsys"].where(coded, "Not coded")
    ae["term"] = ae["aedecod"].where(coded, ae["aeterm"])
    return ae.groupby(["soc", "term", "arm"]).size().unstack("arm", fill_value=0)


def _tabulation(demo: Demo, lock: date) -> tuple[list, list[list]]:  # type: ignore[type-arg]
    data = build_dsur(demo.engine, STUDY, date(2021, 1, 1), lock, masked=False)
    ws = load_workbook(io.BytesIO(data))[TAB]
    return [c.value for c in ws[HEADER_ROW]], rows(ws)


def test_the_demo_tabulation_matches_an_independent_count(demo: Demo) -> None:
    for lock in (date(2021, 12, 31), LATE):
        heads, got = _tabulation(demo, lock)
        expected = independent_counts(demo, lock)
        arms = [h.removesuffix(" (comparator)") for h in heads[1:-1]]
        assert set(arms) <= set(demo.arms)  # the arms' labels, the comparator marked
        # the expected rows: SOCs alphabetically, each with its sum, then its terms
        want = []
        for soc, block in sorted(expected.groupby(level="soc"), key=lambda x: x[0].casefold()):
            total = [int(block[a].sum()) if a in block else 0 for a in arms]
            want.append([soc, *total, sum(total)])
            for (_soc, term), row in sorted(block.iterrows(), key=lambda x: x[0][1].casefold()):
                counts = [int(row[a]) if a in row else 0 for a in arms]
                want.append([term, *counts, sum(counts)])
        grand = [int(expected[a].sum()) if a in expected else 0 for a in arms]
        want.append(["Total (all system organ classes)", *grand, sum(grand)])
        assert got == want, lock


def test_the_grand_total_is_every_serious_event_by_sql(demo: Demo) -> None:
    with demo.engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT COUNT(*) FROM adverseevent WHERE study_id = :s AND status <> 'draft' "
                "AND aeser = :yes"
            ),
            {"s": STUDY, "yes": True},
        ).scalar_one()
    _heads, got = _tabulation(demo, LATE)
    assert got[-1][0] == "Total (all system organ classes)" and got[-1][-1] == n
    assert n >= 8 + 9  # the demo's 8 SAEs and the fixtures' 9 serious extra events


def test_the_planted_susars_are_in_the_2021_listing(demo: Demo) -> None:
    """pv.review.demo plants two SUSARs the sponsor knew of in 2021 (Sepsis, aware
    2021-09-20; Shingles, aware 2021-11-10): both suspected for belimumab."""
    data = build_dsur(demo.engine, STUDY, date(2021, 1, 1), date(2021, 12, 31), masked=False)
    listed = rows(load_workbook(io.BytesIO(data))[LIST])
    by_term = {r[12]: r for r in listed}
    for term, received in (("Sepsis", date(2021, 9, 20)), ("Shingles", date(2021, 11, 10))):
        row = by_term[term]
        assert row[20] == "Yes" and row[21].date() == received
        assert "Belimumab" in row[7]
    # every listed reaction was received in 2021: the others are received the day the demo
    # was generated, after this period
    assert all(date(2021, 1, 1) <= r[21].date() <= date(2021, 12, 31) for r in listed)
