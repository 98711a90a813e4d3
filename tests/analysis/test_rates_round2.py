"""Issue 14, point 3: AET05_ALL, the rate CI method and level, the rate ratio in every output
and the labelled one-sided bound when one arm has no events.

Expected numbers are derived by hand below (closed forms, or an enumeration written out
here), following the peers named in each test: tern R/incidence_rate.R (h_incidence_rate_*),
chevron R/aet05_all.R, R stats poisson.test / binom.test.

The fixture study is drawn in test_fixture_tables.py. Days at risk with the cut-off
2024-06-01 (test_aet05_rates_per_100_patient_years): S1 61, S2 31 (Active: 92), S3 153,
S4 121 (Control: 274), S5 61 (Empty). TEAEs: Active e1 e2 (S1 HEADACHE x2), e4 RASH,
e5 FATIGUE, e9 PRURITUS (S2): 5 events; Control e6 HEADACHE (S3): 1 event; Empty none.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date

import pytest

from pv.analysis import stats
from pv.analysis.api import TABLE_NAMES, TableError, build_table, pooled
from pv.analysis.render import display, to_csv, to_text

CUT = date(2024, 6, 1)
Y = 365.25


def _binom_p(k: int, n: int, q: float) -> float:
    """R binom.test's two-sided p, enumerated: every outcome no more likely than k."""
    pmf = [math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(n + 1)]
    return sum(d for d in pmf if d <= pmf[k] * (1 + 1e-7))


def _beta_quantile(cdf, p: float) -> float:  # type: ignore[no-untyped-def]
    """Bisection on a closed-form beta CDF (independent of scipy)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


# --- tern's four rate intervals --------------------------------------------------------


def test_rate_ci_methods_match_tern_snapshots() -> None:
    """tern tests/testthat/test-estimate_incidence_rate.R, h_incidence_rate_*(200, 2, 0.1)
    (person-years 200, 2 events, alpha 0.1), printed in tests/testthat/_snaps/
    estimate_incidence_rate.md: rate 0.01 and
      normal      (-0.001630872, 0.021630872)  = 2/200 -/+ 1.6449 sqrt(2)/200
      normal_log  ( 0.003125199, 0.031997963)  = 0.01 exp(-/+ 1.6449 / sqrt(2))
      exact       ( 0.001776808, 0.031478968)  = chi2(0.05; 4)/400, chi2(0.95; 6)/400
      byar        ( 0.002820411, 0.027609866)  = 2.5 (1 - 1/22.5 -/+ 1.6449/(3 sqrt 2.5))^3/200
    pv's limits are on the count scale: divided by the 200 person-years they are tern's."""
    expected = {
        "normal": (-0.001630872, 0.021630872),
        "normal_log": (0.003125199, 0.031997963),
        "exact": (0.001776808, 0.031478968),
        "byar": (0.002820411, 0.027609866),
    }
    for conf_type, (low, high) in expected.items():
        lo, hi = stats.poisson_count_ci(2, 0.1, conf_type)
        assert float(lo) / 200 == pytest.approx(low, rel=1e-6), conf_type
        assert float(hi) / 200 == pytest.approx(high, rel=1e-6), conf_type
    # the closed forms written in the docstring, by hand
    z = 1.6448536269514722
    assert float(stats.poisson_count_ci(2, 0.1, "normal")[0]) == pytest.approx(2 - z * 2**0.5)
    h = 2.5
    byar_low = h * (1 - 1 / (9 * h) - z / (3 * h**0.5)) ** 3
    assert float(stats.poisson_count_ci(2, 0.1, "byar")[0]) == pytest.approx(byar_low)
    # tern's h_incidence_rate snapshot: normal_log at 90%, per 100 person-years: 1 (0.3125199,
    # 3.1997963)
    lo, hi = stats.poisson_count_ci(2, 0.1, "normal_log")
    assert (100 * float(lo) / 200, 100 * float(hi) / 200) == pytest.approx(
        (0.3125199, 3.1997963), rel=1e-6
    )


def test_rate_ci_without_events() -> None:
    """No events: exact gives (0, chi2(0.975; 2)/2 = -log(0.025) = 3.689); normal gives
    (0, 0) as tern's formula does (se 0); normal_log is undefined (log 0); Byar's uses
    x + 0.5 = 0.5: 0.5 (1 - 2/9 +/- 1.96/(3 sqrt 0.5))^3."""
    lo, hi = stats.poisson_count_ci(0, 0.05, "exact")
    assert float(lo) == 0 and float(hi) == pytest.approx(-math.log(0.025))
    assert [float(v) for v in stats.poisson_count_ci(0, 0.05, "normal")] == [0.0, 0.0]
    assert all(math.isnan(float(v)) for v in stats.poisson_count_ci(0, 0.05, "normal_log"))
    z = 1.959963984540054
    lo, hi = stats.poisson_count_ci(0, 0.05, "byar")
    assert float(lo) == pytest.approx(0.5 * (1 - 2 / 9 - z / (3 * 0.5**0.5)) ** 3)
    assert float(hi) == pytest.approx(0.5 * (1 - 2 / 9 + z / (3 * 0.5**0.5)) ** 3)


def test_conf_type_and_level_are_table_parameters(fixture_engine) -> None:
    """AET05 Any TEAE, Control: 1 subject over 153 days. Byar at 90%: (x + 0.5) = 1.5,
    limits 1.5 (1 - 1/13.5 -/+ 1.6449/(3 sqrt 1.5))^3 / (153 / 365.25) x 100."""
    t = build_table(fixture_engine, "FIX", "AET05", cutoff=CUT,
                    params={"conf_type": "byar", "conf_level": "0.9"})  # fmt: skip
    ctl = t.row("Any TEAE").cells["Control"]
    z = 1.6448536269514722
    py = 153 / Y
    assert ctl.rate_low == pytest.approx(1.5 * (1 - 1 / 13.5 - z / (3 * 1.5**0.5)) ** 3 / py * 100)
    assert ctl.rate_high == pytest.approx(1.5 * (1 - 1 / 13.5 + z / (3 * 1.5**0.5)) ** 3 / py * 100)
    assert t.params["conf_type"] == "byar" and t.params["conf_level"] == 0.9
    assert any(f.startswith("90% CI for rates: Byar's approximation.") for f in t.footnotes)
    assert any("exact conditional 90% CI" in f for f in t.footnotes)
    head = display(t).headers
    assert "Active vs Control IRR (90% CI)" not in head  # headers use arm codes
    assert "ACT vs CTL IRR (90% CI)" in head
    assert display(t).unit == "n / patient-years  rate per 100 PY (90% CI)"
    # the level applies to the rate ratio too: Active 2 subjects / 6 days vs 1 / 153 days;
    # Clopper-Pearson for X = 2 of 3, p = 6/159, at 90%: lower Beta(0.05; 2, 2), upper 1
    act = t.row("Any TEAE").cells["Active"]
    # Beta(2, 2) CDF: 3x^2 - 2x^3
    pi_lo = _beta_quantile(lambda x: 3 * x**2 - 2 * x**3, 0.05)
    assert act.irr_low == pytest.approx(pi_lo / (1 - pi_lo) * 153 / 6, rel=1e-6)
    # defaults recorded and named
    default = build_table(fixture_engine, "FIX", "AET05", cutoff=CUT)
    assert default.params["conf_type"] == "exact" and default.params["conf_level"] == 0.95
    assert any(
        f.startswith("95% CI for rates: exact Poisson (Garwood).") for f in default.footnotes
    )
    assert "ACT vs CTL IRR (95% CI)" in display(default).headers


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"conf_type": "wald"}, "conf_type must be one of exact, byar, normal, normal_log, "
         "not 'wald'"),
        ({"conf_level": "95"}, "conf_level must be a number between 0 and 1 (e.g. 0.95 for a "
         "95% CI), not '95'"),
        ({"conf_level": "high"}, "conf_level must be a number between 0 and 1"),
        ({"conf_level": 0}, "conf_level must be a number between 0 and 1"),
        ({"km_conf_type": "arcsin"}, "km_conf_type must be one of log-log, log, plain, "
         "not 'arcsin'"),
    ],
)  # fmt: skip
def test_bad_rate_parameters_are_refused(fixture_engine, params, message) -> None:  # type: ignore[no-untyped-def]
    for name in ("AET05", "AET05_ALL"):
        with pytest.raises(TableError) as err:
            build_table(fixture_engine, "FIX", name, cutoff=CUT, params=params)
        assert message in str(err.value)


# --- AET05_ALL -------------------------------------------------------------------------


def test_aet05_all_counts_every_event_over_the_whole_observation_period(fixture_engine) -> None:
    """chevron AET05_ALL (R/aet05_all.R: n_events = the events of a parameter over AVAL, the
    time to the end of the reporting period). Any TEAE: Active 5 events / 92 days, Control
    1 / 274, Empty 0 / 61. Rate = events / (days / 365.25) x 100.
    Rate ratio (R poisson.test(c(5, 1), c(92, 274))): (5/92) / (1/274) = 1370/92; given 6
    events, Active's share X ~ Bin(6, 92/366). Clopper-Pearson at 95%: upper
    Beta(0.975; 6, 1) = 0.975^(1/6) (CDF x^6), lower Beta(0.025; 5, 2) (CDF 6x^5 - 5x^6);
    ratio limit = pi / (1 - pi) x 274 / 92. p: binom.test's rule, enumerated."""
    t = build_table(fixture_engine, "FIX", "AET05_ALL", cutoff=CUT)
    assert t.name == "AET05_ALL" and t.rate_of == "events"
    row = t.row("Any TEAE")
    act, ctl, emp = (row.cells[a] for a in ("Active", "Control", "Empty"))
    assert (act.n, act.events, ctl.n, ctl.events, emp.events) == (2, 5, 1, 1, 0)
    assert act.pyears == pytest.approx(92 / Y) and ctl.pyears == pytest.approx(274 / Y)
    assert act.rate == pytest.approx(5 / 92 * Y * 100)
    assert ctl.rate == pytest.approx(1 / 274 * Y * 100)
    # exact Garwood limits for 5 events: chi2(0.025; 10)/2 and chi2(0.975; 12)/2
    from scipy.stats import chi2

    lo, hi = chi2.ppf(0.025, 10) / 2, chi2.ppf(0.975, 12) / 2
    assert act.rate_low == pytest.approx(lo / 92 * Y * 100) and act.rate_high == pytest.approx(
        hi / 92 * Y * 100
    )
    assert act.irr == pytest.approx(1370 / 92)
    pi_hi = 0.975 ** (1 / 6)
    pi_lo = _beta_quantile(lambda x: 6 * x**5 - 5 * x**6, 0.025)
    assert act.irr_high == pytest.approx(pi_hi / (1 - pi_hi) * 274 / 92, rel=1e-6)
    assert act.irr_low == pytest.approx(pi_lo / (1 - pi_lo) * 274 / 92, rel=1e-6)
    assert act.p_value == pytest.approx(_binom_p(5, 6, 92 / 366), rel=1e-9)
    assert act.irr_bound_side is None
    # The whole period, not stopped at the first event: the HEADACHE row has AET05_ALL's
    # 92 Active days (AET05 stops S1 at day 5: 5 + 31 = 36 days) and both of S1's events.
    head = t.row("HEADACHE")
    assert head.cells["Active"].pyears == pytest.approx(92 / Y)
    assert (head.cells["Active"].n, head.cells["Active"].events) == (1, 2)
    first = build_table(fixture_engine, "FIX", "AET05", cutoff=CUT).row("HEADACHE")
    assert first.cells["Active"].pyears == pytest.approx(36 / Y)
    # Total: 6 events over 92 + 274 + 61 days
    assert row.cells["Total"].rate == pytest.approx(6 / 427 * Y * 100)
    # rows as AET05: the same labels in the same order
    labels = [r.label for r in first_table_rows(fixture_engine)]
    assert [r.label for r in t.rows] == labels
    assert t.row("Infections").extra["aesi"] == "infection"
    assert any(f.startswith("Rate: events (every occurrence) per 100") for f in t.footnotes)


def first_table_rows(engine):  # type: ignore[no-untyped-def]
    return build_table(engine, "FIX", "AET05", cutoff=CUT).rows


def test_aet05_all_is_offered_everywhere(fixture_engine) -> None:
    """Registered in api.TABLES: 'all' in the CLI, the web page's select and the JSON API
    (tests/web/test_reports.py reaches the page and the API)."""
    assert "AET05_ALL" in TABLE_NAMES
    assert TABLE_NAMES.index("AET05_ALL") == TABLE_NAMES.index("AET05") + 1


# --- the rate ratio in every format, and the one-sided bounds ---------------------------


def test_zero_events_in_one_arm_gives_a_labelled_one_sided_bound(fixture_engine) -> None:
    """AET05_ALL, Any TEAE, Empty (0 events / 61 days) against Control (1 / 274): ratio 0.
    Given 1 event, X ~ Bin(1, 61/335); X = 0: R's binom.test / poisson.test interval is
    [0, 1 - 0.025^(1/1)] = [0, 0.975] (Clopper-Pearson, alpha/2 at the finite end), so the
    upper limit 0.975/0.025 x 274/61 = 39 x 274/61 is a one-sided 97.5% upper bound.
    RASH (Active 1 event / 92 days, Control 0 / 274): the ratio is not estimable; lower
    limit pi = 0.025 (Beta(0.025; 1, 1)): 0.025/0.975 x 274/92 = 274 / (39 x 92), a
    one-sided 97.5% lower bound."""
    t = build_table(fixture_engine, "FIX", "AET05_ALL", cutoff=CUT)
    emp = t.row("Any TEAE").cells["Empty"]
    assert emp.irr == 0 and emp.irr_low == 0
    assert emp.irr_high == pytest.approx(39 * 274 / 61)
    assert (emp.irr_bound_side, emp.irr_bound_level) == ("upper", 0.975)
    rash = t.row("RASH").cells["Active"]
    assert rash.irr is None and rash.irr_high is None
    assert rash.irr_low == pytest.approx(274 / (39 * 92))
    assert (rash.irr_bound_side, rash.irr_bound_level) == ("lower", 0.975)
    # p stays: X ~ Bin(1, 61/335), P(0) = 274/335 observed, P(1) = 61/335 is no more
    # likely, so binom.test's p = P(0) + P(1) = 1
    assert emp.p_value == pytest.approx(1.0)
    # text: the ratio and its labelled bound
    shown = {r.label: v for r, v in display(t).rows}
    heads = display(t).headers
    emp_col = heads.index("EMP vs CTL IRR (95% CI)")
    act_col = heads.index("ACT vs CTL IRR (95% CI)")
    assert shown["Any TEAE"][emp_col] == "0.00 (one-sided 97.5% upper bound 175.18)"
    assert shown["RASH"][act_col] == "NE (one-sided 97.5% lower bound 0.08)"
    assert "0.00 (one-sided 97.5% upper bound 175.18)" in to_text(t)
    # the level follows conf_level: 90% -> one-sided 95%
    t90 = build_table(fixture_engine, "FIX", "AET05_ALL", cutoff=CUT, params={"conf_level": 0.9})
    shown90 = {r.label: v for r, v in display(t90).rows}
    # X = 0 of 1 at one-sided 95%: pi = 0.95, ratio 0.95/0.05 x 274/61 = 19 x 274/61
    emp_col90 = display(t90).headers.index("EMP vs CTL IRR (90% CI)")
    assert shown90["Any TEAE"][emp_col90] == f"0.00 (one-sided 95% upper bound {19 * 274 / 61:.2f})"
    assert any("one-sided 95% bound" in f for f in t90.footnotes)
    # both arms without events: nothing to estimate, no bound
    inf = t.row("Infections").cells["Active"]
    assert inf.irr is None and inf.irr_low is None and inf.irr_bound_side is None


def test_rate_ratio_columns_in_csv_and_json(fixture_engine) -> None:
    """CSV: irr, irr_low, irr_high, irr_bound_side (and p_value) on each compared arm's line;
    JSON: the same Cell fields."""
    t = build_table(fixture_engine, "FIX", "AET05_ALL", cutoff=CUT)
    recs = list(csv.DictReader(io.StringIO(to_csv([t]))))
    overall = {r["arm"]: r for r in recs if r["row_type"] == "overall" and r["term"] == "Any TEAE"}
    assert float(overall["Active"]["irr"]) == pytest.approx(1370 / 92, rel=1e-5)
    assert float(overall["Active"]["irr_low"]) > 0 and overall["Active"]["irr_bound_side"] == ""
    assert overall["Empty"]["irr"] == "0" and overall["Empty"]["irr_bound_side"] == "upper"
    assert float(overall["Empty"]["irr_high"]) == pytest.approx(39 * 274 / 61, rel=1e-5)
    assert overall["Control"]["irr"] == "" and overall["Total"]["irr"] == ""
    rash = next(r for r in recs if r["term"] == "RASH" and r["arm"] == "Active")
    assert (rash["irr"], rash["irr_high"], rash["irr_bound_side"]) == ("", "", "lower")
    assert float(rash["irr_low"]) == pytest.approx(274 / (39 * 92), rel=1e-5)
    body = json.loads(json.dumps(t.to_dict()))
    cell = next(r for r in body["rows"] if r["label"] == "RASH")["cells"]["Active"]
    assert cell["irr"] is None and cell["irr_bound_side"] == "lower"
    assert cell["irr_bound_level"] == 0.975
    assert body["rate_of"] == "events" and body["params"]["conf_type"] == "exact"


def test_pooled_tables_drop_ratios_and_comparative_extras(fixture_engine) -> None:
    """A blinded reader: the Total column alone; no cox, km, log-rank or regression extras."""
    for name in ("AET05", "AET05_ALL"):
        t = pooled(build_table(fixture_engine, "FIX", name, cutoff=CUT))
        assert t is not None
        for row in t.rows:
            assert set(row.cells) == {"Total"}
            assert row.cells["Total"].irr is None and row.cells["Total"].irr_bound_side is None
            assert not {"cox", "km", "logrank_p", "poisson_regression"} & set(row.extra)
        # footnotes about results by arm or between arms go; the rate CI method stays
        text = " ".join(t.footnotes)
        assert "one-sided" not in text and "Cox" not in text and "log-rank" not in text
        assert "95% CI for rates: exact Poisson (Garwood)." in text


def test_cli_offers_aet05_all_and_refuses_a_bad_ci_method(fixture_engine, db_url, monkeypatch,
                                                          capsys) -> None:  # fmt: skip
    """pvtracker tables: --table all includes AET05_ALL; --param conf_type / conf_level reach
    the table (the text header names the level); a bad value exits 2 naming the parameter."""
    from pv.cli import main
    from pv.settings import get_settings
    from tests.analysis.test_cli import _release

    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        args = ["tables", "--study", "FIX", "--cutoff", "2024-06-01"]
        assert main([*args, "--table", "all", "--format", "csv"]) == 0
        recs = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert {r["table"] for r in recs} >= {"AET05", "AET05_ALL"}
        code = main([*args, "--table", "AET05_ALL", "--param", "conf_type=normal_log",
                     "--param", "conf_level=0.99"])  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0 and "ACT vs CTL IRR (99% CI)" in out
        assert "99% CI for rates: normal approximation of the log rate." in out
        code = main([*args, "--table", "AET05", "--param", "conf_type=poisson"])
        err = capsys.readouterr().err
        assert code == 2
        assert "conf_type must be one of exact, byar, normal, normal_log, not 'poisson'" in err
    finally:
        get_settings.cache_clear()
        _release(db_url)
