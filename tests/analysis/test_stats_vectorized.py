"""pv.analysis.stats' own vectorised fits against the library routines they replace.

Each function is compared on many random inputs (and the edge cases: ties, every event at
one time, a group without events, empty input, probabilities at the boundaries, counts of
10^5) with an independent reference: statsmodels PHReg (Efron ties), statsmodels survdiff,
a statsmodels Poisson GLM, scipy.stats.binomtest and scipy.stats.fisher_exact. statsmodels
is a test dependency only: pv itself no longer imports it.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, fisher_exact

from pv.analysis import stats

TINY = 1e-250  # below this scipy's tails may underflow to 0 where betainc still has a value


def _close(ours: np.ndarray, ref: np.ndarray, rtol: float) -> None:
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=TINY)


# -- binom.test's two-sided p (rate_ratio_exact's p-value) ---------------------------------


def _binom_cases() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20250117)
    n = rng.integers(1, 300, 2000)
    p = rng.uniform(0.001, 0.999, 2000)
    x = rng.binomial(n, rng.uniform(0, 1, 2000))
    # huge counts near and far from the mean
    big = rng.integers(50_000, 200_000, 200)
    pb = rng.uniform(0.05, 0.95, 200)
    xb = rng.binomial(big, np.clip(pb + rng.normal(0, 0.004, 200), 0, 1))
    edge = [
        (0, 1, 0.5), (1, 1, 0.5), (0, 10, 0.5), (10, 10, 0.5), (5, 10, 0.5), (3, 10, 0.3),
        (4, 10, 0.5),  # symmetric: pmf(4) == pmf(6), the 1e-7 tolerance keeps both
        (12, 20, 1 / 3), (7, 21, 1 / 3),  # x == n p (up to rounding)
        (0, 10, 1e-12), (10, 10, 1 - 1e-12), (1, 10, 1e-12), (0, 100_000, 0.5),
        (100_000, 100_000, 0.5), (50_000, 100_000, 0.5), (50_321, 100_000, 0.5),
        (49_000, 100_000, 0.5), (60_000, 100_000, 0.5), (2, 11, 17877 / 34537),
    ]  # fmt: skip
    ex, en, ep = (np.array(v, dtype=float) for v in zip(*edge, strict=True))
    return (
        np.concatenate([x, xb, ex]).astype(float),
        np.concatenate([n, big, en]).astype(float),
        np.concatenate([p, pb, ep]),
    )


def test_binomial_two_sided_p_is_scipy_binomtest() -> None:
    x, n, p = _binom_cases()
    ours = stats._binom_two_sided(x, n, p)
    ref = [binomtest(int(k), int(m), q).pvalue for k, m, q in zip(x, n, p, strict=True)]
    _close(ours, np.array(ref), rtol=1e-10)


def test_binomial_two_sided_p_is_undefined_without_trials_or_at_certain_outcomes() -> None:
    p = stats._binom_two_sided(np.array([0, 0, 3, 3]), np.array([0, 5, 5, 5]),
                               np.array([0.5, 0.5, 0.0, 1.0]))  # fmt: skip
    assert math.isnan(p[0]) and math.isnan(p[2]) and math.isnan(p[3])
    assert p[1] == pytest.approx(binomtest(0, 5, 0.5).pvalue, rel=1e-12)
    assert stats._binom_two_sided(np.array([]), np.array([]), np.array([])).shape == (0,)


def test_rate_ratio_p_values_for_a_table_match_binomtest() -> None:
    """rate_ratio_exact on a whole table (many rows at once) against scipy row by row."""
    rng = np.random.default_rng(7)
    x1, x0 = rng.poisson(30, 500), rng.poisson(30, 500)
    t1, t0 = rng.uniform(100, 2000, 500), rng.uniform(100, 2000, 500)
    x1[:5], x0[:5] = 0, [0, 1, 2, 0, 100_000]
    _, _, _, p = stats.rate_ratio_exact(x1, t1, x0, t0)
    for i in range(500):
        n = int(x1[i] + x0[i])
        if n == 0:
            assert math.isnan(p[i])
        else:
            ref = binomtest(int(x1[i]), n, t1[i] / (t1[i] + t0[i])).pvalue
            assert p[i] == pytest.approx(ref, rel=1e-10, abs=TINY)


# -- Fisher's exact test -------------------------------------------------------------------


def test_fisher_matches_scipy_on_large_and_extreme_tables() -> None:
    """Arms of 1 to 20,000 subjects, proportions 0 to 1: scipy's fisher_exact table by
    table (the tail sums stop when the rest is provably negligible)."""
    rng = np.random.default_rng(5)
    size = 1500
    sizes = [1, 3, 10, 100, 1000, 5000, 20_000]
    n1 = np.maximum((rng.choice(sizes, size) * rng.uniform(0.5, 1, size)).astype(int), 1)
    n2 = np.maximum((rng.choice(sizes, size) * rng.uniform(0.5, 1, size)).astype(int), 1)
    pr = rng.choice([0, 0.001, 0.05, 0.5, 0.95, 1], size)
    a = rng.binomial(n1, pr)
    c = rng.binomial(n2, np.clip(pr * rng.uniform(0.7, 1.4, size), 0, 1))
    extra = np.array([[0, 5000, 0, 5000], [5000, 5000, 5000, 5000], [0, 5000, 5000, 5000],
                      [2500, 5000, 2500, 5000], [1, 1, 0, 1], [0, 1, 1, 1]])  # fmt: skip
    a, n1, c, n2 = (np.concatenate([v, extra[:, i]]) for i, v in enumerate((a, n1, c, n2)))
    ours = stats.fisher_two_sided(a, n1, c, n2)
    tables = zip(a, n1, c, n2, strict=True)
    ref = [fisher_exact([[x, m - x], [y, k - y]])[1] for x, m, y, k in tables]
    _close(ours, np.array(ref), rtol=1e-9)


def test_hypergeometric_tails_sum_the_pmf() -> None:
    """_hyper_tail against the plain sum of the pmf over the tail (small supports)."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n1, n2 = (int(v) for v in rng.integers(1, 60, 2))
        k = int(rng.integers(0, n1 + n2 + 1))
        total = n1 + n2
        lo, hi = max(0, k - n2), min(n1, k)
        support = np.arange(lo, hi + 1)
        a_n1, a_k, a_total, a_lo, a_hi = (np.array([v]) for v in (n1, k, total, lo, hi))
        pmf = np.exp(stats._hyper_logpmf(support, a_n1, a_k, a_total))
        mode = min(max(((n1 + 1) * (k + 1)) // (total + 2), lo), hi)
        for start in range(lo - 1, hi + 2):
            s = np.array([start])
            if start >= mode:
                up = stats._hyper_tail(s, a_n1, a_k, a_total, a_lo, a_hi, up=True)[0]
                assert up == pytest.approx(pmf[support >= start].sum(), rel=1e-12, abs=1e-300)
            if start <= mode:
                down = stats._hyper_tail(s, a_n1, a_k, a_total, a_lo, a_hi, up=False)[0]
                assert down == pytest.approx(pmf[support <= start].sum(), rel=1e-12, abs=1e-300)


# -- Poisson regression --------------------------------------------------------------------


def _glm(y: np.ndarray, t: np.ndarray, control: int) -> dict[int, dict[str, float]]:
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    others = [i for i in range(len(y)) if i != control]
    design = np.zeros((len(y), len(others) + 1))
    design[:, 0] = 1.0
    for col, i in enumerate(others, start=1):
        design[i, col] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the saturated model has no residual df
        fit = GLM(y, design, family=families.Poisson(), offset=np.log(t)).fit(
            tol=1e-13, tol_criterion="params", maxiter=200
        )
    ci = fit.conf_int(0.05)
    with np.errstate(over="ignore"):  # an arm without events: beta -> -infinity, se huge
        return {
            i: {"irr": float(np.exp(fit.params[col])), "low": float(np.exp(ci[col, 0])),
                "high": float(np.exp(ci[col, 1])), "p": float(fit.pvalues[col])}
            for col, i in enumerate(others, start=1)
        }  # fmt: skip


def test_poisson_regression_is_the_statsmodels_glm() -> None:
    """The closed form against a statsmodels Poisson GLM (log person-time offset) fitted to
    convergence on the parameters: 2 to 4 arms, counts 0 to 10^5."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        arms = int(rng.integers(2, 5))
        control = int(rng.integers(0, arms))
        y = rng.poisson(rng.choice([1, 5, 50, 100_000]), arms).astype(float)
        y[control] = max(y[control], 1.0)
        t = rng.uniform(0.5, 5000, arms)
        ours = stats.poisson_regression(list(y), list(t), control)
        assert ours[control] is None
        for i, ref in _glm(y, t, control).items():
            if y[i] == 0:
                assert ours[i] is None
                continue
            fit = ours[i]
            assert fit is not None and set(fit) == {"irr", "low", "high", "p"}
            for key, value in ref.items():
                assert fit[key] == pytest.approx(value, rel=1e-10, abs=1e-300), key


def test_poisson_regression_not_estimable() -> None:
    assert stats.poisson_regression([0, 4], [10.0, 12.0], 0) == [None, None]
    assert stats.poisson_regression([3, 4], [0.0, 12.0], 0) == [None, None]
    out = stats.poisson_regression([3, 0, 5], [10.0, 12.0, 9.0], 0)
    assert out[0] is None and out[1] is None and out[2] is not None


# -- Cox proportional hazards --------------------------------------------------------------


def _random_survival(rng: np.random.Generator, n: int, tmax: int, groups: int = 2
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Integer times (ties when tmax is small), some censoring, groups shifted apart."""
    g = rng.integers(0, groups, n)
    time = np.floor(rng.integers(1, tmax + 1, n) * (1 + rng.uniform(-0.5, 1.0) * g / groups))
    event = (rng.random(n) < rng.uniform(0.1, 1)).astype(float)
    return np.maximum(time, 1.0), event, g


def _phreg(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    from statsmodels.duration.hazard_regression import PHReg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = PHReg(time, x[:, None], status=event, ties="efron").fit(gtol=1e-14, maxiter=200)
    return float(fit.params[0]), float(fit.bse[0]), float(fit.pvalues[0])


def _cox_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2024)
    cases = []
    for _ in range(250):
        n = int(rng.choice([4, 10, 40, 200, 2000]))
        tmax = int(rng.choice([3, 10, 100, 10_000]))
        cases.append(_random_survival(rng, n, tmax))
    # every event at one time (no information beyond it: beta = 0), and a censored tie
    cases.append((np.full(6, 5.0), np.ones(6), np.array([0, 0, 0, 1, 1, 1])))
    cases.append((np.array([2.0, 2, 2, 2, 3, 3]), np.array([1.0, 0, 1, 1, 0, 1]),
                  np.array([0, 1, 1, 0, 1, 0])))  # fmt: skip
    return cases


def test_cox_efron_newton_is_the_maximum_likelihood_of_statsmodels_phreg() -> None:
    """The Newton-Raphson on per-time counts, run to a tight tolerance (eps 1e-13), finds
    statsmodels PHReg's (Efron) estimate and standard error to 1e-10."""
    compared = 0
    for time, event, x in _cox_cases():
        if stats.cox_ph(time, event, x) is None:
            continue
        at_risk, deaths = stats._risk_sets(time, event, x, 2)
        fit = stats._cox_newton(at_risk, deaths, eps=1e-13)
        assert fit is not None
        beta, se, _ = _phreg(time, event, x.astype(float))
        assert fit[0] == pytest.approx(beta, rel=1e-10, abs=1e-12)
        assert 1 / math.sqrt(fit[1]) == pytest.approx(se, rel=1e-10)
        compared += 1
    assert compared > 150


def test_cox_ph_with_r_convergence_matches_statsmodels_phreg() -> None:
    """cox_ph stops where R's coxph stops (relative change of the log-likelihood <= 1e-9),
    which leaves the estimate within about 1e-8 (relative) of the exact maximum that PHReg
    finds with a tight gradient tolerance: the hazard ratio and its limits agree to 1e-7,
    the p-value (relatively more sensitive when it is small) to 1e-6."""
    for time, event, x in _cox_cases():
        ours = stats.cox_ph(time, event, x)
        if ours is None:
            continue
        beta, se, p = _phreg(time, event, x.astype(float))
        assert ours["hr"] == pytest.approx(math.exp(beta), rel=1e-7)
        assert ours["low"] == pytest.approx(math.exp(beta - stats.Z95 * se), rel=1e-7)
        assert ours["high"] == pytest.approx(math.exp(beta + stats.Z95 * se), rel=1e-7)
        assert ours["p"] == pytest.approx(p, rel=1e-6)


def test_cox_edge_cases() -> None:
    # no data, no events, one group only: not estimable
    assert stats.cox_ph(np.array([]), np.array([]), np.array([])) is None
    assert stats.cox_ph(np.array([1.0, 2]), np.zeros(2), np.array([0, 1])) is None
    assert stats.cox_ph(np.array([1.0, 2]), np.ones(2), np.array([1, 1])) is None
    # every subject has the event at the same time: the Efron likelihood peaks at beta = 0
    out = stats.cox_ph(np.full(4, 3.0), np.ones(4), np.array([0, 0, 1, 1]))
    assert out is not None and out["hr"] == pytest.approx(1.0, abs=1e-12)
    assert out["p"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="treated"):
        stats.cox_ph(np.array([1.0, 2]), np.ones(2), np.array([0, 2]))


def test_cox_non_convergence_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not converged within iter.max (R: "Ran out of iterations"): no hazard ratio."""
    time = np.array([1.0, 2, 3, 4, 5, 6])
    event = np.ones(6)
    x = np.array([1, 0, 1, 1, 0, 0])
    assert stats.cox_ph(time, event, x) is not None
    monkeypatch.setattr(stats, "COX_ITER_MAX", 1)
    assert stats.cox_ph(time, event, x) is None


# -- log-rank (survdiff) -------------------------------------------------------------------


def _survdiff_p(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float | None:
    """statsmodels survdiff, on the groups R's survdiff keeps: a group nobody of which is at
    risk at any event time expects no events and is left out (statsmodels' variance matrix
    would be singular); dropping its subjects changes no risk set at an event time."""
    from statsmodels.duration.survfunc import survdiff

    first = time[event > 0].min()
    present = [g for g in np.unique(group) if (time[group == g] >= first).any()]
    keep = np.isin(group, present)
    time, event, group = time[keep], event[keep], group[keep]
    if len(np.unique(group)) < 2:
        return None
    try:
        chisq, _ = survdiff(time, event, group)
    except np.linalg.LinAlgError:
        return None
    return float(chi2.sf(chisq, len(np.unique(group)) - 1))


def test_logrank_matches_statsmodels_survdiff() -> None:
    """2 to 4 groups, heavy ties to none, up to 3,000 subjects. statsmodels' own p-value is
    1 - cdf (it loses the small ones), so its chi-square is turned into p by chi2.sf."""
    rng = np.random.default_rng(99)
    compared = 0
    for _ in range(300):
        n = int(rng.choice([3, 10, 40, 300, 3000]))
        groups = int(rng.choice([2, 3, 4]))
        tmax = int(rng.choice([2, 5, 50, 5000]))
        time, event, group = _random_survival(rng, n, tmax, groups)
        if len(np.unique(group)) < 2 or not event.any():
            assert stats.logrank(time, event, group) is None
            continue
        ref = _survdiff_p(time, event, group)
        ours = stats.logrank(time, event, group)
        if ref is None:
            assert ours is None
            continue
        assert ours == pytest.approx(ref, rel=1e-9, abs=TINY)
        compared += 1
    assert compared > 200


def test_logrank_leaves_out_a_group_without_expected_events() -> None:
    """Group 2's only subject leaves before the first event: R's survdiff tests groups 0
    and 1 on 1 degree of freedom (statsmodels' variance matrix is singular there)."""
    time = np.array([1.0, 2, 3, 4, 5, 6, 0.5])
    event = np.array([1.0, 1, 0, 1, 1, 1, 0])
    group = np.array([0, 0, 0, 1, 1, 1, 2])
    assert stats.logrank(time, event, group) == pytest.approx(
        stats.logrank(time[:6], event[:6], group[:6]), rel=1e-15
    )


def test_logrank_edge_cases() -> None:
    assert stats.logrank(np.array([]), np.array([]), np.array([])) is None
    assert stats.logrank(np.array([1.0, 2]), np.zeros(2), np.array([0, 1])) is None
    assert stats.logrank(np.array([1.0, 2]), np.ones(2), np.array([0, 0])) is None
    # every subject at risk dies at one time: no variance
    assert stats.logrank(np.full(4, 3.0), np.ones(4), np.array([0, 0, 1, 1])) is None
    # string labels work as well as codes
    p = stats.logrank(np.array([1.0, 2, 3, 4]), np.ones(4), np.array(["b", "a", "b", "a"]))
    assert p is not None and 0 < p <= 1


# -- a published R reference ---------------------------------------------------------------

# R survival's aml data set (Miller 1981, acute myelogenous leukaemia; documented as ?aml in
# the survival package): weeks to relapse or censoring, status 1 = relapse.
AML_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161,  # Maintained
            5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]  # Nonmaintained  # fmt: skip
AML_STATUS = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0,
              1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]  # fmt: skip
AML_NONMAINTAINED = [0] * 11 + [1] * 12


def test_aml_survdiff_table_as_printed_by_r() -> None:
    """survdiff(Surv(time, status) ~ x, data = aml) prints (survival package):
                     N Observed Expected (O-E)^2/E (O-E)^2/V
    x=Maintained    11        7    10.69      1.27       3.4
    x=Nonmaintained 12       11     7.31      1.86       3.4
    Chisq= 3.4 on 1 degrees of freedom, p= 0.0653
    (coxph(Surv(time, status) ~ x, data = aml), coef 0.9155, se 0.5119, p 0.0737, is
    checked in test_survival_round2.test_aml_matches_r_printed_output)."""
    time, event = np.array(AML_TIME, float), np.array(AML_STATUS, float)
    group = np.array(AML_NONMAINTAINED)
    at_risk, deaths = stats._risk_sets(time, event, group, 2)
    expected = (deaths.sum(axis=1)[:, None] * at_risk / at_risk.sum(axis=1)[:, None]).sum(0)
    assert deaths.sum(axis=0).tolist() == [7, 11]
    assert np.round(expected, 2).tolist() == [10.69, 7.31]
    assert np.round((deaths.sum(axis=0) - expected) ** 2 / expected, 2).tolist() == [1.27, 1.86]
    p = stats.logrank(time, event, group)
    assert p is not None and round(p, 4) == 0.0653
    assert round(float(chi2.isf(p, 1)), 1) == 3.4
    cox = stats.cox_ph(time, event, group)
    assert cox is not None and round(math.log(cox["hr"]), 4) == 0.9155


# -- no statsmodels on the table path ------------------------------------------------------


def test_statistics_do_not_import_statsmodels() -> None:
    """Every module of pv.analysis (the table builders, the API) and every function of
    pv.analysis.stats run without importing statsmodels (a test-only dependency now) or
    scipy.stats (its import alone costs about a second at a command's first table)."""
    code = """
import importlib
import pkgutil
import sys
import numpy as np
import pv.analysis
for mod in pkgutil.walk_packages(pv.analysis.__path__, "pv.analysis."):
    importlib.import_module(mod.name)
from pv.analysis import stats
t, e, g = np.array([1.0, 2, 3, 4]), np.array([1.0, 1, 1, 0]), np.array([0, 0, 1, 1])
stats.cox_ph(np.array([1.0, 3, 2, 4]), np.ones(4), np.array([1, 1, 0, 0]))
stats.logrank(t, e, g)
stats.poisson_regression([9, 2], [16660, 17877], control=0)
stats.rate_ratio_exact([2, 5], [17877, 10], [9, 5], [16660, 12])
stats.fisher_two_sided([3, 1], [4, 4], [1, 3], [4, 4])
stats.kaplan_meier(t, e)
stats.poisson_exact_ci([0, 3, 120])
print(sorted(m for m in sys.modules
             if m.split(".")[0] == "statsmodels" or m.startswith("scipy.stats")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_quantiles_through_scipy_special_are_scipy_stats() -> None:
    """The exact Poisson and Clopper-Pearson limits use chi-square and beta quantiles from
    scipy.special; they are scipy.stats' chi2.ppf and beta.ppf."""
    from scipy.stats import beta, chi2

    df = np.array([2.0, 4, 7, 20, 200, 2e4, 2e6])
    for q in (0.005, 0.025, 0.05, 0.95, 0.975, 0.995):
        np.testing.assert_allclose(stats._chi2_ppf(q, df), chi2.ppf(q, df), rtol=1e-12)
    rng = np.random.default_rng(17)
    a = rng.integers(1, 5000, 200).astype(float)
    b = rng.integers(1, 5000, 200).astype(float)
    for q in (0.025, 0.975, 0.05, 0.95):
        np.testing.assert_allclose(stats._beta_ppf(q, a, b), beta.ppf(q, a, b), rtol=1e-10)
    assert np.isnan(stats._beta_ppf(0.025, np.array([0.0]), np.array([3.0]))).all()
    assert np.isnan(stats._chi2_ppf(0.025, np.array([0.0]))).all()
