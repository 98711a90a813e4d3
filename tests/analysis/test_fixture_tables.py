"""Every table type on a small study whose numbers are worked out by hand below.

The fixture study (built in conftest.py), TEAE window 30 days, data cut-off 2024-06-01
unless a test says otherwise:

    Arms: Control (comparator; S3, S4), Active (S1, S2), Empty (S5, no events).
    Not in the safety population: S6 (no arm: screen failure), S7 (Active, never dosed).

             Nov-Dec 2023        Jan 2024        Feb      Mar      Apr      May    Jun 2024
    S1 Act                 |=====QD=====|  dosing 01-01..01-31, window to 03-01
                             e1 HEADACHE g1 01-05            TEAE
                                  e2 HEADACHE g3 01-20       TEAE, serious, drug withdrawn
                                                         e3 NAUSEA g5 fatal 04-15, ended 04-16:
                                                            after the window -> not TEAE;
                                                            a death > 30 days after last dose
    S2 Act                       ^ one infusion 01-10, window to 02-09
       e10 BACK PAIN pre-existing 2023-11-01, never worsened  -> never a TEAE
           e4 RASH pre-existing 2023-12-20, worsened 01-15 -> TEAE (worsening), g2, related
                          e5 FATIGUE onset "2024-01" (partial): the first dose is in that
                             month -> imputed to 01-10, flag "D" -> TEAE, g2
                            e9 PRURITUS 01-12 g1 (same SOC as RASH)  TEAE
    S3 Ctl                 |=====QD, no end date: dosing ongoing ======================...
                                      e6 HEADACHE g2 02-01   TEAE
                                               e8 HEADACHE 03-01, status draft -> never counted
                                                                         cut-off 06-01 |
                                             e7 PNEUMONIA g5 fatal 06-20, AESI infection:
                                                after the cut-off -> dropped (TEAE without it)
    S4 Ctl                 |=====QD 01-01..03-31====|  no events, window to 04-30
    S5 Emp                 |=====QD=====|  no events
    S6 (no arm) e11 HEADACHE 01-05; S7 (Active, never dosed) e12 HEADACHE 01-05: excluded

    Denominators: Control 2, Active 2, Empty 1, Total 5.
    TEAEs with the cut-off: e1 e2 (S1), e4 e5 e9 (S2), e6 (S3).
"""

from __future__ import annotations

from datetime import date

import pytest

from pv.analysis.api import build_table
from pv.analysis.data import load_study
from pv.analysis.teae import TEAERule

CUT = date(2024, 6, 1)
ARMS = ("Control", "Active", "Empty", "Total")


def counts(row) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(subjects, events) for Control, Active, Empty, Total."""
    return [(row.cells[a].n, row.cells[a].events) for a in ARMS]


def test_denominators_are_the_dosed_subjects_of_each_arm(fixture_engine) -> None:
    table = build_table(fixture_engine, "FIX", "AET01", cutoff=CUT)
    assert [(a.label, a.N) for a in table.arms] == [("Control", 2), ("Active", 2), ("Empty", 1)]
    assert table.control == "Control"
    assert table.row("Any AE").cells["Total"].N == 5


def test_aet01(fixture_engine) -> None:
    """Any AE: Active S1 (e1 e2 e3) + S2 (e4 e5 e9 e10) = 2 subjects, 7 events; Control S3 (e6).
    Any TEAE: Active 2 subjects (e1 e2 e4 e5 e9 = 5); Control 1 (e6). Serious, grade >= 3 and
    withdrawn: e2 only. Related: e4 only. Death: e3 is not a TEAE, e7 is after the cut-off."""
    t = build_table(fixture_engine, "FIX", "AET01", cutoff=CUT)
    assert counts(t.row("Any AE")) == [(1, 1), (2, 7), (0, 0), (3, 8)]
    assert counts(t.row("Any TEAE")) == [(1, 1), (2, 5), (0, 0), (3, 6)]
    assert counts(t.row("Serious TEAE")) == [(0, 0), (1, 1), (0, 0), (1, 1)]
    only_e2 = [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert counts(t.row("TEAE of grade 3 or higher (or severe)")) == only_e2
    assert counts(t.row("Related TEAE")) == [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert counts(t.row("TEAE leading to discontinuation of study drug")) == [
        (0, 0), (1, 1), (0, 0), (1, 1)]  # fmt: skip
    assert counts(t.row("TEAE leading to death")) == [(0, 0)] * 4
    any_teae = t.row("Any TEAE").cells
    assert any_teae["Active"].pct == 100.0 and any_teae["Control"].pct == 50.0
    assert any_teae["Empty"].pct == 0.0
    # 2/2 against 1/2: the two tables with 3 cases are equally likely -> p = 1; RD = +0.5
    assert any_teae["Active"].rd == 0.5 and any_teae["Active"].p_value == pytest.approx(1.0)
    assert any_teae["Control"].p_value is None and any_teae["Total"].p_value is None


def test_aet01_without_cut_off_counts_the_late_fatal_pneumonia(fixture_engine) -> None:
    """Without the cut-off e7 (S3, dosing ongoing) is a serious, grade 5, fatal TEAE."""
    t = build_table(fixture_engine, "FIX", "AET01")
    assert counts(t.row("Any AE"))[0] == (1, 2)
    assert counts(t.row("Any TEAE"))[0] == (1, 2)
    assert counts(t.row("Serious TEAE"))[0] == (1, 1)
    assert counts(t.row("TEAE leading to death")) == [(1, 1), (0, 0), (0, 0), (1, 1)]


def test_aet01_aesi_keeps_the_prespecified_groupings(fixture_engine) -> None:
    """With the cut-off no AESI event remains, yet all four groupings are shown at zero
    (glucocorticoid toxicity as "GC toxicity excluding infection" and its nine GTI domains
    but infection, tests/analysis/test_tables_round2.py); without it, Infections holds
    S3's pneumonia (serious, grade 5, fatal)."""
    t = build_table(fixture_engine, "FIX", "AET01_AESI", cutoff=CUT)
    groups = [r.label for r in t.rows if r.row_type == "soc" and r.indent == 0]
    assert groups == ["Infections", "Hypersensitivity reactions", "Infusion reactions",
                      "GC toxicity excluding infection"]  # fmt: skip
    assert all(c.n == 0 for r in t.rows for c in r.cells.values())
    t = build_table(fixture_engine, "FIX", "AET01_AESI")
    assert counts(t.row("Infections")) == [(1, 1), (0, 0), (0, 0), (1, 1)]
    assert counts(t.row("TEAE leading to death", soc="Infections"))[0] == (1, 1)
    assert counts(t.row("Related TEAE", soc="Infections"))[0] == (0, 0)


def test_aet02(fixture_engine) -> None:
    """Rows by descending total frequency, then name: NERVOUS (2 subjects) before GENERAL and
    SKIN (1 each). SKIN counts S2 once although S2 has both RASH and PRURITUS (2 events)."""
    t = build_table(fixture_engine, "FIX", "AET02", cutoff=CUT)
    assert [(r.row_type, r.label) for r in t.rows] == [
        ("overall", "Subjects with at least one TEAE"),
        ("soc", "NERVOUS SYSTEM DISORDERS"), ("term", "HEADACHE"),
        ("soc", "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"), ("term", "FATIGUE"),
        ("soc", "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"), ("term", "PRURITUS"), ("term", "RASH"),
    ]  # fmt: skip
    r = t.rows
    assert counts(r[0]) == [(1, 1), (2, 5), (0, 0), (3, 6)]
    assert counts(r[1]) == counts(r[2]) == [(1, 1), (1, 2), (0, 0), (2, 3)]
    assert counts(r[5]) == [(0, 0), (1, 2), (0, 0), (1, 2)]
    assert counts(r[6]) == counts(r[7]) == [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert r[0].cells["Total"].pct == 60.0


def test_aet02_alphabetical_order(fixture_engine) -> None:
    t = build_table(fixture_engine, "FIX", "AET02", cutoff=CUT, params={"order": "alpha"})
    assert [r.label for r in t.rows if r.row_type == "soc"] == [
        "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "NERVOUS SYSTEM DISORDERS",
        "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"]  # fmt: skip


def test_aet02_sae(fixture_engine) -> None:
    """Only e2 is a serious TEAE before the cut-off (e3 is not treatment-emergent)."""
    t = build_table(fixture_engine, "FIX", "AET02_SAE", cutoff=CUT)
    assert [(r.row_type, r.label) for r in t.rows] == [
        ("overall", "Subjects with at least one serious TEAE"),
        ("soc", "NERVOUS SYSTEM DISORDERS"), ("term", "HEADACHE")]  # fmt: skip
    assert all(counts(r) == [(0, 0), (1, 1), (0, 0), (1, 1)] for r in t.rows)


def test_aet04_highest_grade(fixture_engine) -> None:
    """S1's highest HEADACHE grade is 3 (e2), so S1 is only in 3-4 although e1 is grade 1;
    S2's highest is 2; S3's is 2 with the cut-off and 5 without it (e7)."""
    t = build_table(fixture_engine, "FIX", "AET04", cutoff=CUT)
    overall = {r.grade: counts(r) for r in t.rows if r.row_type == "overall"}
    assert overall["Any"] == [(1, 1), (2, 5), (0, 0), (3, 6)]
    assert overall["1-2"] == [(1, 1), (1, 4), (0, 0), (2, 5)]  # events: e1 e4 e5 e9 | e6
    assert overall["3-4"] == [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert overall["5"] == [(0, 0)] * 4
    head = {r.grade: counts(r) for r in t.rows if r.term == "HEADACHE"}
    assert head["1-2"] == [(1, 1), (0, 1), (0, 0), (1, 2)]  # S1's e1 is counted as an event only
    assert head["3-4"] == [(0, 0), (1, 1), (0, 0), (1, 1)]
    skin = {r.grade: counts(r) for r in t.rows if r.row_type == "soc" and r.soc.startswith("SKIN")}
    assert skin["1-2"] == [(0, 0), (1, 2), (0, 0), (1, 2)]
    no_cut = build_table(fixture_engine, "FIX", "AET04")
    overall = {r.grade: counts(r)[0] for r in no_cut.rows if r.row_type == "overall"}
    assert overall["1-2"] == (0, 1) and overall["5"] == (1, 1)


def test_aet05_rates_per_100_patient_years(fixture_engine) -> None:
    """Days at risk (first dose to end of window, or to the cut-off while dosing goes on):
    S1 01-01..03-01 = 61, S2 01-10..02-09 = 31, S3 01-01..06-01 = 153, S4 01-01..04-30 = 121.
    Any TEAE, first occurrence: S1 at day 5 (e1), S2 at day 1 (e5 imputed to 01-10),
    S3 at day 32 (e6). Active: 2 subjects / 6 days; Control: 1 / (32 + 121) = 153 days.
    Rate = n / (days / 365.25) x 100. IRR = (2/6) / (1/153) = 51. Exact conditional test:
    given 3 events, Active's share X is binomial(3, 6/159). R's poisson.test (binom.test's
    two-sided rule) sums P(k) over every k no more likely than the observed 2: P(0) = 0.891
    and P(1) = 0.105 are more likely, P(3) is not, so p = P(2) + P(3) = P(X >= 2)."""
    t = build_table(fixture_engine, "FIX", "AET05", cutoff=CUT)
    row = t.row("Any TEAE")
    act, ctl, emp = row.cells["Active"], row.cells["Control"], row.cells["Empty"]
    assert act.pyears == pytest.approx(6 / 365.25) and ctl.pyears == pytest.approx(153 / 365.25)
    assert emp.pyears == pytest.approx(61 / 365.25)
    assert act.rate == pytest.approx(2 * 365.25 * 100 / 6)
    assert ctl.rate == pytest.approx(365.25 * 100 / 153)
    assert emp.rate == 0 and emp.rate_low == 0
    assert emp.rate_high == pytest.approx(3.688879 * 365.25 * 100 / 61, rel=1e-6)
    assert act.irr == pytest.approx(51.0)
    pi = 6 / 159
    tail = 3 * pi**2 * (1 - pi) + pi**3
    assert act.p_value == pytest.approx(tail)
    assert row.cells["Total"].pyears == pytest.approx((6 + 153 + 61) / 365.25)
    km = row.extra["km"]
    # R survival's print.survfit median: Active drops to exactly 0.5 at day 1 and to 0 at
    # day 5, so the median is the midpoint (1 + 5) / 2 = 3; Control is 0.5 from day 32 to
    # its last follow-up with no later drop, so the median is the start of that stretch.
    assert km["Active"]["median"] == 3.0 and km["Control"]["median"] == 32.0
    nerv = t.row("NERVOUS SYSTEM DISORDERS")  # S1 at day 5; S2 at risk all 31 days
    assert nerv.cells["Active"].pyears == pytest.approx((5 + 31) / 365.25)
    infections = t.row("Infections")  # pre-specified AESI kept at zero
    assert infections.cells["Control"].n == 0
    assert infections.cells["Control"].pyears == pytest.approx(274 / 365.25)


def test_aet10_threshold(fixture_engine) -> None:
    """Every TEAE term reaches 50% in some arm (1 of 2 subjects), none reaches 51%."""
    t = build_table(fixture_engine, "FIX", "AET10", cutoff=CUT, params={"threshold": 50})
    assert [r.label for r in t.rows] == ["HEADACHE", "FATIGUE", "PRURITUS", "RASH"]
    above = build_table(fixture_engine, "FIX", "AET10", cutoff=CUT, params={"threshold": 51})
    assert above.rows == []


def test_dtht01(fixture_engine) -> None:
    """With the cut-off: one death, S1's nausea (ended 04-16), 45 days after the 30-day
    window closed on 03-01. Without it also S3's pneumonia, dosing ongoing: on treatment.
    Subjects only (one death per subject, no event count); no cause of death in DM, so
    the cause is the fatal event's preferred term (DM deaths: test_observation.py)."""
    t = build_table(fixture_engine, "FIX", "DTHT01", cutoff=CUT)
    assert counts(t.rows[0]) == [(0, None), (1, None), (0, None), (1, None)]
    assert counts(t.rows[1]) == [(0, None)] * 4
    assert counts(t.rows[2]) == [(0, None), (1, None), (0, None), (1, None)]
    assert [r.label for r in t.rows[3:]] == ["Primary cause of death", "NAUSEA"]
    assert counts(t.rows[4]) == counts(t.rows[0])
    t = build_table(fixture_engine, "FIX", "DTHT01")
    assert counts(t.rows[0]) == [(1, None), (1, None), (0, None), (2, None)]
    assert counts(t.rows[1]) == [(1, None), (0, None), (0, None), (1, None)]
    assert counts(t.rows[2]) == [(0, None), (1, None), (0, None), (1, None)]
    assert [r.label for r in t.rows[4:]] == ["NAUSEA", "PNEUMONIA"]


def test_partial_onset_is_imputed_and_flagged(fixture_engine) -> None:
    data = load_study(fixture_engine, "FIX", columns={"aedecod"}, cutoff=CUT)
    fatigue = data.events[data.events["aedecod"].astype(str) == "FATIGUE"]
    assert list(fatigue["adt_flag"].astype(str)) == ["D"]
    assert fatigue["adt"].iloc[0] == date(2024, 1, 10).toordinal() - date(1970, 1, 1).toordinal()


@pytest.mark.parametrize(
    ("params", "active_teaes"),
    [
        ({}, 5),
        ({"imputation": "earliest"}, 4),  # e5 -> 2024-01-01, before S2's first dose
        ({"worsening": "false"}, 4),  # e4 no longer counts through its worsening
        ({"window_days": 0}, 3),  # S2's e9 (01-12) and e4 (01-15) fall after the infusion day
    ],
)
def test_teae_rule_is_configurable_and_footnoted(fixture_engine, params, active_teaes) -> None:  # type: ignore[no-untyped-def]
    t = build_table(fixture_engine, "FIX", "AET01", cutoff=CUT, params=params)
    assert t.row("Any TEAE").cells["Active"].events == active_teaes
    rule = TEAERule(**{k: (v if k != "worsening" else False) for k, v in params.items()})
    assert t.footnotes[0] == rule.footnote()
    assert t.params["teae_rule"] == rule.as_dict()
    assert "Data cut-off: 2024-06-01." in t.footnotes


def test_every_table_states_rule_cutoff_and_methods(fixture_engine) -> None:
    from pv.analysis.api import TABLE_NAMES, TABLES, build_tables

    for t in build_tables(fixture_engine, "FIX", TABLE_NAMES, cutoff=CUT):
        assert t.cutoff == CUT and t.footnotes[-1] == "Data cut-off: 2024-06-01."
        # descriptive tables (DMT01, EXT01, DST01) compare no arms and count no AEs: no
        # TEAE rule, no comparison method, no "safety population" percentage note
        if getattr(TABLES[t.name], "DESCRIPTIVE", False):
            assert not any("Treatment-emergent" in f or "Newcombe" in f for f in t.footnotes)
            assert not any("comparisons are not shown" in f for f in t.footnotes)
        else:
            assert t.footnotes[0].startswith("Treatment-emergent adverse event")
            # rate tables compare by rate ratios, the others by risk differences (Fisher)
            rates = getattr(TABLES[t.name], "RATE_TABLE", False)
            assert any("Newcombe" in f for f in t.footnotes) is not rates, t.name
            assert any("poisson.test" in f for f in t.footnotes) is rates, t.name
        assert t.to_dict()["cutoff"] == "2024-06-01"


def test_nothing_is_written_by_analysis(fixture_engine) -> None:
    from sqlalchemy import text

    def snapshot() -> list:
        with fixture_engine.connect() as conn:
            return [conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
                    for t in ("adverseevent", "subject", "exposure", "audit_log")]  # fmt: skip

    before = snapshot()
    build_table(fixture_engine, "FIX", "AET05", cutoff=CUT)
    assert snapshot() == before
