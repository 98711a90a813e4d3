"""Comparative statistics checked against published worked examples and hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import fisher_exact

from pv.analysis import stats


def test_wilson_score_interval_newcombe_1998_table_i() -> None:
    """Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of
    seven methods. Stat Med 1998;17:857-872, Table I, method 3 (score, no continuity
    correction): 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605."""
    low, high = stats.wilson([81, 15], [263, 148])
    assert np.round(low, 4).tolist() == [0.2553, 0.0624]
    assert np.round(high, 4).tolist() == [0.3662, 0.1605]


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_newcombe_hybrid_score_interval_worked_examples(x1, n1, x2, n2, low, high) -> None:  # type: ignore[no-untyped-def]
    """Newcombe RG. Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Stat Med 1998;17:873-890, Table II, method 10 (hybrid
    score interval without continuity correction), examples (a) to (e)."""
    d, lo, hi = stats.newcombe_diff(x1, n1, x2, n2)
    assert float(d) == pytest.approx(x1 / n1 - x2 / n2)
    assert round(float(lo), 4) == low and round(float(hi), 4) == high


def test_fisher_tea_tasting() -> None:
    """Fisher's tea-tasting experiment (The Design of Experiments, 1935), as in R's
    `fisher.test(TeaTasting)` example: 3 of 4 'milk first' cups named correctly against 1 of
    4 -> two-sided p = 0.4857 (= 34/70: tables 0/4 and 4/0 have probability 1/70 each, 1/3
    and 3/1 have 16/70 each)."""
    assert float(stats.fisher_two_sided(3, 4, 1, 4)[0]) == pytest.approx(34 / 70)


def test_fisher_matches_scipy_on_random_tables() -> None:
    """The vectorised binary-search Fisher test against scipy's reference implementation,
    including extreme, tied and zero-margin tables."""
    rng = np.random.default_rng(20240601)
    n1 = rng.integers(1, 400, 400)
    n2 = rng.integers(1, 400, 400)
    a = rng.integers(0, n1 + 1)
    c = rng.integers(0, n2 + 1)
    extra = np.array([[0, 86, 0, 84], [86, 86, 0, 84], [1, 1, 0, 1], [5, 10, 5, 10]])
    a, n1, c, n2 = (np.concatenate([v, extra[:, i]]) for i, v in enumerate((a, n1, c, n2)))
    ours = stats.fisher_two_sided(a, n1, c, n2)
    tables = zip(a, n1, c, n2, strict=True)
    ref = [fisher_exact([[x, m - x], [y, k - y]])[1] for x, m, y, k in tables]
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-300)


def test_fisher_is_undefined_without_subjects() -> None:
    p = stats.fisher_two_sided([0, 0], [0, 5], [1, 0], [3, 5])
    assert math.isnan(p[0]) and p[1] == 1.0


def test_exact_poisson_interval_for_a_count() -> None:
    """GraphPad QuickCalcs FAQ "How QuickCalcs computes the confidence interval of a count"
    (exact Poisson, Garwood 1936): a count of 25 -> 95% CI 16.18 to 36.90, 90% CI 17.38 to
    34.92, 99% CI 14.00 to 41.00. For a count of 0 the 95% upper limit is 3.689 (the
    "rule of three" refined; epitools `pois.exact`)."""
    for alpha, low, high in [(0.05, 16.18, 36.90), (0.10, 17.38, 34.92), (0.01, 14.00, 41.00)]:
        lo, hi = stats.poisson_exact_ci(25, alpha)
        assert round(float(lo), 2) == low and round(float(hi), 2) == high
    lo, hi = stats.poisson_exact_ci(0)
    assert float(lo) == 0 and round(float(hi), 3) == 3.689


def test_incidence_rate_ratio_exact_conditional() -> None:
    """The rate ratio and its CI as Fay MP, Two-sided exact tests and matching confidence
    intervals for discrete data, R Journal 2010;2(1):53-58 (rateratio.test(x = c(2, 9),
    n = c(17877, 16660)): rate ratio 0.2070942, 95% CI 0.02177406 to 1.00054910). The
    p-value follows R's poisson.test (binom.test's two-sided rule), not rateratio.test's
    doubled tail (0.05011): computed here by enumerating the conditional binomial."""
    irr, low, high, p = stats.rate_ratio_exact(2, 17877, 9, 16660)
    assert float(irr[0]) == pytest.approx(0.2070941557, rel=1e-8)
    assert float(low[0]) == pytest.approx(0.02177406, rel=1e-6)
    assert float(high[0]) == pytest.approx(1.00054910, rel=1e-6)
    # Independent: P(X = k) for X ~ Bin(11, 17877 / 34537), summed over every k no more
    # likely than the observed 2 (R's relative tolerance 1e-7).
    n, q = 11, 17877 / (17877 + 16660)
    pmf = [math.comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(n + 1)]
    expected = sum(d for d in pmf if d <= pmf[2] * (1 + 1e-7))
    assert float(p[0]) == pytest.approx(expected, rel=1e-9)
    assert round(float(p[0]), 5) == 0.03309


def test_rate_ratio_p_value_is_r_poisson_test() -> None:
    """R documentation of poisson.test, the lung-cancer example (Andersen 1974):
    poisson.test(c(11, 6 + 8 + 7), c(800, 1083 + 1050 + 878)) prints rate ratio 1.971488,
    95% CI 0.8584264 4.2772659, p-value = 0.07967 (the doubled smaller tail gives 0.112)."""
    irr, low, high, p = stats.rate_ratio_exact(11, 800, 21, 3011)
    assert float(irr[0]) == pytest.approx(1.971488, rel=1e-6)
    assert float(low[0]) == pytest.approx(0.8584264, rel=1e-6)
    assert float(high[0]) == pytest.approx(4.2772659, rel=1e-6)
    assert round(float(p[0]), 5) == 0.07967


def test_incidence_rate_ratio_without_events_is_undefined() -> None:
    irr, low, high, p = stats.rate_ratio_exact(0, 10.0, 0, 12.0)
    assert all(math.isnan(float(v[0])) for v in (irr, low, high, p))


def test_poisson_regression_with_log_exposure_offset() -> None:
    """With arm as the only covariate the Poisson model's maximum-likelihood rate ratio is
    the crude one, (2/17877) / (9/16660), and the standard error of its logarithm is
    sqrt(1/2 + 1/9) (e.g. Rothman, Modern Epidemiology, 3rd ed., ch. 14): Wald interval
    and test computed here by hand."""
    out = stats.poisson_regression([9, 2], [16660, 17877], control=0)
    assert out[0] is None
    fit = out[1]
    assert fit is not None
    log_irr = math.log((2 / 17877) / (9 / 16660))
    se = math.sqrt(1 / 2 + 1 / 9)
    assert fit["irr"] == pytest.approx(math.exp(log_irr), rel=1e-6)
    assert fit["low"] == pytest.approx(math.exp(log_irr - 1.959963985 * se), rel=1e-5)
    assert fit["high"] == pytest.approx(math.exp(log_irr + 1.959963985 * se), rel=1e-5)
    assert fit["p"] == pytest.approx(math.erfc(abs(log_irr) / se / math.sqrt(2)), rel=1e-5)


def test_kaplan_meier_and_log_rank_by_hand() -> None:
    """Group A: events at days 1 and 2. Group B: event at day 3, censored at day 4.

    KM: A drops to 1/2 at day 1 and 0 at day 2 (median (1 + 2) / 2 = 1.5 by R survival's
    print.survfit rule: the curve is exactly 1/2 from day 1 to the next event); B to 1/2 at
    day 3 and stays there to its end (median 3, the start of the stretch).
    Log-rank, at each event time (at risk A, at risk B, deaths):
        day 1: (2, 2, 1 in A)  E_A = 2/4 = 1/2,  V = 1 * 2/4 * 2/4 * 3/3 = 1/4
        day 2: (1, 2, 1 in A)  E_A = 1/3,        V = 1 * 1/3 * 2/3 * 2/2 = 2/9
        day 3: (0, 2, 1 in B)  E_A = 0,          V = 0
    O_A - E_A = 2 - 5/6 = 7/6; V = 17/36; chi-square = (49/36) / (17/36) = 49/17, 1 df.
    """
    a = stats.kaplan_meier(np.array([1, 2]), np.array([1, 1]))
    b = stats.kaplan_meier(np.array([3, 4]), np.array([1, 0]))
    assert a["median"] == 1.5 and b["median"] == 3
    assert a["curve"] == [[1.0, 0.5], [2.0, 0.0]]
    assert (b["subjects"], b["events"]) == (2, 1)
    p = stats.logrank(np.array([1, 2, 3, 4]), np.array([1, 1, 1, 0]), np.array([0, 0, 1, 1]))
    assert p == pytest.approx(math.erfc(math.sqrt(49 / 17 / 2)), rel=1e-9)


def test_kaplan_meier_without_reaching_half() -> None:
    km = stats.kaplan_meier(np.array([2, 5, 6]), np.array([1, 0, 0]))
    assert km["median"] is None
    assert stats.logrank(np.array([1, 2]), np.array([0, 0]), np.array([0, 1])) is None


def test_logrank_without_variance_gives_no_p_value() -> None:
    # One subject per arm, both with the event on day 5: every risk set has as many
    # events as subjects, so the variance is 0 and the statistic undefined (a blinded test
    # study with one subject per arm found the crash this guards).
    from pv.analysis.stats import logrank

    assert logrank(np.array([5.0, 5.0]), np.array([1, 1]), np.array([0, 1])) is None
    # with variance it is the usual chi-square p (1 degree of freedom, chisq = 1)
    assert logrank(np.array([5.0, 9.0]), np.array([1, 1]), np.array([0, 1])) == pytest.approx(
        0.3173105078629141
    )
