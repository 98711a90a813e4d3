"""Issue 14, point 5: the Kaplan-Meier median by R survival's rule, its Brookmeyer-Crowley CI
(log-log band) and the Cox hazard ratio beside the log-rank p.

R is not installed: every expected value is derived by hand below from the rules of
therneau/survival R/print.survfit.R (survmean's minmin: the first time S <= 0.5; where S is
exactly 0.5 and later drops, the midpoint of that time and the next event time) and
R/survfit_confint (conf.type "log-log": S^exp(-/+ z se / log S), se = Greenwood's
sqrt(sum d / (n (n - d))), undefined where S is 0 or 1), and of R's coxph (Efron ties).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from pv.analysis import stats
from pv.analysis.api import build_table, pooled
from pv.analysis.render import to_text

Z = 1.959963984540054
CUT = date(2024, 6, 1)


def test_median_midpoint_of_a_flat_stretch_at_one_half() -> None:
    """Four events at days 1, 2, 3, 4 (survfit(Surv(1:4) ~ 1)): S = 3/4, 1/2, 1/4, 0. S is
    exactly 1/2 from day 2 until the next event at day 3: median (2 + 3) / 2 = 2.5.
    Events at 1 and 3, censored at 2 and 4: S(1) = 3/4, S(3) = 3/4 x 1/2 = 3/8: no flat at
    1/2, the median is the first time S <= 1/2: 3."""
    assert stats.kaplan_meier(np.array([1, 2, 3, 4]), np.ones(4))["median"] == 2.5
    km = stats.kaplan_meier(np.array([1, 2, 3, 4]), np.array([1, 0, 1, 0]))
    assert km["median"] == 3.0
    assert km["curve"] == [[1.0, 0.75], [3.0, 0.375]]


def test_median_flat_at_one_half_to_the_end_and_not_reached() -> None:
    """Events at 1 and 2, censored at 3 and 4: S(1) = 3/4, S(2) = 3/4 x 2/3 = 1/2 and it stays
    1/2 to the last follow-up with no later drop: print.survfit's minmin returns the start of
    the stretch, 2 (quantile.survfit would take (2 + 4) / 2; pv follows the printed median).
    One event in three subjects: S = 2/3, the median is not reached (None); the log-log
    lower band at day 2 is (2/3)^exp(1.96 sqrt(1/6) / log(3/2)) = 0.054 <= 0.5, so the lower
    CI limit is 2 while the upper is not reached either (R prints NA, 2, NA)."""
    assert stats.kaplan_meier(np.array([1, 2, 3, 4]), np.array([1, 1, 0, 0]))["median"] == 2.0
    none = stats.kaplan_meier(np.array([2, 5, 6]), np.array([1, 0, 0]))
    assert (none["median"], none["median_low"], none["median_high"]) == (None, 2.0, None)
    assert round((2 / 3) ** math.exp(Z * math.sqrt(1 / 6) / math.log(1.5)), 3) == 0.054


def test_median_ci_brookmeyer_crowley_log_log_by_hand() -> None:
    """Ten events at days 1..10 (survfit(Surv(1:10) ~ 1, conf.type = "log-log")).
    S(k) = 1 - k/10. Greenwood: sum over j < k of 1/((10-j)(9-j)) telescopes
    (1/(n(n-1)) = 1/(n-1) - 1/n) to 1/(10-k) - 1/10, so se(k) = sqrt(k / (10 (10 - k))).
    Log-log band: lower = S^exp(z se / |log S|), upper = S^exp(-z se / |log S|):
        k   S    se       lower    upper
        1  0.9  0.10541  0.47301  0.98528   <- the lower band is below 0.5 first at day 1
        5  0.5  0.31623  0.18361  0.75317
        7  0.3  0.48305  0.07113  0.57787
        8  0.2  0.63246  0.03091  0.47471   <- the upper band is below 0.5 first at day 8
    Median: S(5) = 0.5 exactly, next event at 6: 5.5. 95% CI (Brookmeyer-Crowley: the
    times where the band crosses 0.5): 1 to 8.
    With the "log" band (survfit's default: S exp(-/+ z se), upper capped at 1) the lower
    band is S(3) exp(-1.96 x 0.20702) = 0.4665 at day 3 (S(2) exp(-1.96 x 0.15811) = 0.5868),
    and the upper band never goes below 0.5 before S reaches 0 (undefined there): 3 to NA."""
    for k, low, high in [(1, 0.47301, 0.98528), (5, 0.18361, 0.75317), (8, 0.03091, 0.47471)]:
        s, se = 1 - k / 10, math.sqrt(k / (10 * (10 - k)))
        assert round(s ** math.exp(Z * se / -math.log(s)), 5) == low
        assert round(s ** math.exp(-Z * se / -math.log(s)), 5) == high
    km = stats.kaplan_meier(np.arange(1, 11), np.ones(10))
    assert (km["median"], km["median_low"], km["median_high"]) == (5.5, 1.0, 8.0)
    log = stats.kaplan_meier(np.arange(1, 11), np.ones(10), conf_type="log")
    assert round(0.7 * math.exp(-Z * math.sqrt(3 / 70)), 4) == 0.4665
    assert (log["median"], log["median_low"], log["median_high"]) == (5.5, 3.0, None)
    # four events (the first test): se(2) = sqrt(1/12 + 1/6) = 1/2; lower band at day 1
    # 0.75^exp(1.96 sqrt(1/12) / log(4/3)) = 0.128 <= 0.5; the upper band is 0.845 at day 2,
    # 0.752 at day 3 and undefined at S = 0: the CI is 1 to NA
    km4 = stats.kaplan_meier(np.array([1, 2, 3, 4]), np.ones(4))
    assert (km4["median_low"], km4["median_high"]) == (1.0, None)
    # a 90% level narrows the band: z = 1.6449; day 7 upper = 0.3^exp(-1.6449 x 0.48305 /
    # 1.20397) = 0.5134 > 0.5, day 8 upper = 0.2^exp(-1.6449 x 0.63246 / 1.60944) = 0.4268
    km90 = stats.kaplan_meier(np.arange(1, 11), np.ones(10), alpha=0.1)
    assert km90["median_high"] == 8.0
    z90 = 1.6448536269514722
    assert 0.3 ** math.exp(-z90 * math.sqrt(7 / 30) / math.log(1 / 0.3)) > 0.5


def test_cox_hazard_ratio_closed_form() -> None:
    """Treated events at days 1 and 3, control events at days 2 and 4, no censoring, no
    ties (Efron = Breslow = exact). With u = exp(beta) the partial likelihood is
    u/(2u + 2) x 1/(u + 2) x u/(u + 1) x 1; its score 2 - 2u/(u + 1) - u/(u + 2) = 0 gives
    u^2 - u - 4 = 0, u = (1 + sqrt 17)/2 = 2.5616. Information = sum of p(1 - p) over the
    risk sets with n1 treated of n: 2u/(u+1)^2 (day 1: 2 of 4) + 2u/(u+2)^2 (day 2: 1 of 3)
    + u/(u+1)^2 (day 3: 1 of 2) ... written out: day 1: 2u*2/(2u+2)^2 = u/(u+1)^2,
    day 2: 2u/(u+2)^2, day 3: u/(u+1)^2; se = 1/sqrt(I); Wald CI exp(beta -/+ 1.96 se)."""
    out = stats.cox_ph(np.array([1, 3, 2, 4]), np.ones(4), np.array([1, 1, 0, 0]))
    assert out is not None
    u = (1 + math.sqrt(17)) / 2
    info = 2 * u / (u + 1) ** 2 + 2 * u / (u + 2) ** 2
    se = 1 / math.sqrt(info)
    beta = math.log(u)
    assert out["hr"] == pytest.approx(u, rel=1e-6)
    assert out["low"] == pytest.approx(math.exp(beta - Z * se), rel=1e-5)
    assert out["high"] == pytest.approx(math.exp(beta + Z * se), rel=1e-5)
    assert out["p"] == pytest.approx(math.erfc(beta / se / math.sqrt(2)), rel=1e-5)


def _efron_loglik(beta: float, time, event, x, ties: str) -> float:  # type: ignore[no-untyped-def]
    """The Cox log partial likelihood written out (Efron 1977; Breslow for comparison)."""
    total = 0.0
    for t in np.unique(time[event == 1]):
        dead = (time == t) & (event == 1)
        risk = time >= t
        d = int(dead.sum())
        total += beta * x[dead].sum()
        r_sum = np.exp(beta * x[risk]).sum()
        d_sum = np.exp(beta * x[dead]).sum()
        for k in range(d):
            total -= math.log(r_sum - (k / d if ties == "efron" else 0) * d_sum)
    return total


def test_cox_uses_efron_ties_as_r_coxph() -> None:
    """Tied event times: R's coxph default is Efron's approximation. The estimate equals the
    maximum of the Efron log partial likelihood written out above (found by a golden-section
    search), and differs from Breslow's."""
    time = np.array([1, 2, 2, 3, 5, 2, 2, 4, 6, 6], dtype=float)
    event = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0], dtype=float)
    x = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=float)

    def argmax(ties: str) -> float:
        lo, hi = -5.0, 5.0
        g = (math.sqrt(5) - 1) / 2
        for _ in range(200):
            a, b = hi - g * (hi - lo), lo + g * (hi - lo)
            if _efron_loglik(a, time, event, x, ties) < _efron_loglik(b, time, event, x, ties):
                lo = a
            else:
                hi = b
        return (lo + hi) / 2

    out = stats.cox_ph(time, event, x)
    assert out is not None
    assert math.log(out["hr"]) == pytest.approx(argmax("efron"), abs=1e-6)
    assert abs(argmax("efron") - argmax("breslow")) > 1e-3


def test_cox_not_estimable_when_the_likelihood_is_monotone() -> None:
    """No events in one group, or every event of one group while nobody of the other is at
    risk: the partial likelihood keeps rising as beta -> +/- infinity (R's coxph warns the
    coefficient may be infinite); pv gives no hazard ratio."""
    assert (
        stats.cox_ph(np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])) is None
    )
    # treated events at 1 and 5; the control's event at 32 has no treated subject at risk
    assert stats.cox_ph(np.array([1, 5, 32, 121]), np.array([1, 1, 1, 0]),
                        np.array([1, 1, 0, 0])) is None  # fmt: skip


def test_aet05_any_teae_and_aesi_rows_carry_km_ci_and_cox(fixture_engine) -> None:
    """The fixture (test_fixture_tables.py): Any TEAE first occurrence, Active at days 1 (S2)
    and 5 (S1): S = 1/2 at day 1, 0 at day 5: median (1 + 5)/2 = 3; log-log band at day 1:
    se = sqrt(1/(2 x 1)) = 0.7071, lower = 0.5^exp(1.96 x 0.7071/0.6931) = 0.5^7.38 < 0.5:
    lower limit 1; the upper band at day 1 is 0.5^exp(-2.0) = 0.910 and undefined at S = 0:
    NA. Control: S3 at day 32, S4 censored at 121: median 32 (flat to the end).
    Cox Active vs Control: the Control event at day 32 has no Active subject at risk
    (monotone likelihood): not estimable. Empty has no event: not estimable."""
    t = build_table(fixture_engine, "FIX", "AET05", cutoff=CUT)
    row = t.row("Any TEAE")
    act = row.extra["km"]["Active"]
    assert (act["median"], act["median_low"], act["median_high"]) == (3.0, 1.0, None)
    assert 0.5 ** math.exp(Z * math.sqrt(0.5) / math.log(2)) < 0.5
    assert row.extra["km"]["Control"]["median"] == 32.0
    assert row.extra["cox"] == {"Active": None, "Empty": None}
    assert "cox" in t.row("Infections").extra
    assert all("cox" not in r.extra for r in t.rows if r.row_type != "overall")
    assert any("Brookmeyer-Crowley on the log-log-transformed" in f for f in t.footnotes)
    blind = pooled(t)
    assert blind is not None and all("cox" not in r.extra for r in blind.rows)
    assert "NR" in to_text(t)


def test_km_table_attrs_carry_median_ci_and_cox(fixture_engine) -> None:
    """survival.km_table (the KM chart's data): the same medians and CIs as AET05's extras,
    and the Cox entry per arm; pooled: no Cox."""
    from pv.analysis import survival
    from pv.analysis.data import load_study

    data = load_study(fixture_engine, "FIX", cutoff=CUT, columns={"aesi", "aebodsys", "aedecod"})
    frame = survival.km_table(data, "infection")
    assert set(frame.attrs["cox"]) == {"Active", "Empty"}
    assert frame.attrs["median_ci"]["Control"] == (None, None)  # no infection before the cut-off
    assert survival.km_table(data, "infection", pooled=True).attrs["cox"] == {}


# The survival package's aml data (Miller 1981, acute myelogenous leukaemia; ?aml): weeks,
# status 1 = relapse, by whether maintenance chemotherapy was given.
AML_MAINTAINED = ([9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0])
AML_NONMAINTAINED = (
    [5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45],
    [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1],
)


def test_aml_matches_r_printed_output() -> None:
    """R's printed output on aml, as reproduced in published R course notes and tutorials:
    survfit(Surv(time, status) ~ x, data = aml)          (conf.type "log", the default)
      x=Maintained    11  7  median 31  0.95LCL 18  0.95UCL NA
      x=Nonmaintained 12 11  median 23  0.95LCL  8  0.95UCL NA
    survfit(Surv(time) ~ x, data = aml)                  (every time an event)
      x=Maintained    median 28.0 (18, NA); x=Nonmaintained median 19.5 (8, NA)
      -- 19.5: twelve events, S = 6/12 = 0.5 exactly from week 16 to the next event at 23
    coxph(Surv(time, status) ~ x, data = aml)            (Efron ties: 5, 5, 8, 8, 13, 13, 23)
      xNonmaintained coef 0.9155 exp(coef) 2.4981 se(coef) 0.5119 p 0.0737
    survdiff(Surv(time, status) ~ x, data = aml): Chisq = 3.4 on 1 df, p = 0.0653"""
    m, n = (tuple(np.array(v, dtype=float) for v in g) for g in (AML_MAINTAINED, AML_NONMAINTAINED))
    for (t, e), expected in [(m, (31.0, 18.0, None)), (n, (23.0, 8.0, None))]:
        km = stats.kaplan_meier(t, e, conf_type="log")
        assert (km["median"], km["median_low"], km["median_high"]) == expected
    for t, expected in [(m[0], (28.0, 18.0, None)), (n[0], (19.5, 8.0, None))]:
        km = stats.kaplan_meier(t, np.ones(len(t)), conf_type="log")
        assert (km["median"], km["median_low"], km["median_high"]) == expected
    time, event = np.concatenate([m[0], n[0]]), np.concatenate([m[1], n[1]])
    group = np.array([0] * 11 + [1] * 12)
    cox = stats.cox_ph(time, event, group)
    assert cox is not None
    assert round(math.log(cox["hr"]), 4) == 0.9155 and round(cox["hr"], 4) == 2.4981
    se = (math.log(cox["high"]) - math.log(cox["hr"])) / Z
    assert round(se, 4) == 0.5119 and round(cox["p"], 4) == 0.0737
    assert round(stats.logrank(time, event, group), 4) == 0.0653


def test_aml_log_log_band_by_hand() -> None:
    """The default of pv's tables, conf.type "log-log", on aml's Nonmaintained arm. Events
    (n at risk, d): 5 (12, 2), 8 (10, 2), 12 (8, 1), 16 censored, 23 (6, 1), 27 (5, 1),
    30 (4, 1), 33 (3, 1), 43 (2, 1), 45 (1, 1). S(30) = 10/12 x 8/10 x 7/8 x 5/6 x 4/5 x
    3/4 = 0.29167; Greenwood sum 2/120 + 2/80 + 1/56 + 1/30 + 1/20 + 1/12 = 0.22619, se
    0.47560; upper band 0.29167^exp(-1.96 x 0.47560 / 1.23214) = 0.5609 > 0.5. S(33) =
    0.19444, sum + 1/6 = 0.39286, se 0.62678, upper 0.19444^exp(-1.96 x 0.62678 / 1.63760)
    = 0.4614 <= 0.5: the upper limit of the median's CI is 33 (with the log band it is not
    reached). Lower band at the first event, 5: S = 5/6, se sqrt(2/120) = 0.12910, lower
    (5/6)^exp(1.96 x 0.12910 / 0.18232) = (5/6)^4.006 = 0.4817 <= 0.5: the lower limit is
    5. (The log band's limit is 8: 5/6 exp(-1.96 x 0.12910) = 0.6470 > 0.5 at 5, and
    2/3 exp(-1.96 sqrt(2/120 + 2/80)) = 0.4468 <= 0.5 at 8, as R prints.)"""
    t, e = (np.array(v, dtype=float) for v in AML_NONMAINTAINED)

    def upper(s: float, var: float) -> float:
        return s ** math.exp(-Z * math.sqrt(var) / -math.log(s))

    def lower(s: float, var: float) -> float:
        return s ** math.exp(Z * math.sqrt(var) / -math.log(s))

    s30, v30 = (
        10 / 12 * 8 / 10 * 7 / 8 * 5 / 6 * 4 / 5 * 3 / 4,
        2 / 120 + 2 / 80 + 1 / 56 + 1 / 30 + 1 / 20 + 1 / 12,
    )
    assert round(upper(s30, v30), 4) == 0.5609
    s33, v33 = s30 * 2 / 3, v30 + 1 / 6
    assert round(upper(s33, v33), 4) == 0.4614
    assert round(lower(5 / 6, 2 / 120), 4) == 0.4817
    assert round(5 / 6 * math.exp(-Z * math.sqrt(2 / 120)), 4) == 0.647
    assert round(2 / 3 * math.exp(-Z * math.sqrt(2 / 120 + 2 / 80)), 4) == 0.4468
    km = stats.kaplan_meier(t, e)  # log-log by default
    assert (km["median"], km["median_low"], km["median_high"]) == (23.0, 5.0, 33.0)
