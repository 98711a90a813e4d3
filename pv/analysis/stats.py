"""Comparative statistics, vectorised over table rows.

Every function takes numpy arrays (or scalars) so a whole table is computed in a few
array operations: a 10,000-subject trial has thousands of rows per table.

- Risk difference: Newcombe's hybrid score interval (Newcombe 1998, method 10), built
  from the two Wilson score intervals (square-and-add).
- Fisher's exact test, two-sided: the probability of every table at most as likely as
  the observed one (the R / SAS / scipy definition), found by a binary search on the
  hypergeometric tails instead of summing the whole support.
- Exact Poisson interval for a count (Garwood 1936, chi-square form).
- Incidence rate ratio: exact conditional interval and test, as R's poisson.test. Given
  the total count, the count in arm 1 is binomial; Clopper-Pearson limits for that
  binomial are mapped to the rate ratio, and the p-value is binom.test's two-sided one:
  the probability of every outcome at most as likely as the observed one (the same rule as
  Fisher's test above; not the doubled smaller tail of the rateratio.test package).
- Confidence intervals for an incidence rate as tern's h_incidence_rate (control_incidence_rate
  conf_type): "exact" (Garwood, chi-square), "byar", "normal", "normal_log", any level.
- Poisson regression with a log person-time offset (statsmodels GLM).
- Kaplan-Meier (Greenwood variance), its median by R survival's print.survfit rule and the
  median's confidence interval by Brookmeyer-Crowley on a transformed pointwise band
  (survfit's conf.type "log-log" by default); the log-rank test (statsmodels) and the Cox
  proportional-hazards ratio with its Wald interval (statsmodels PHReg, Efron ties as R's
  coxph).
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
from scipy.special import gammaln, ndtri

Z95 = float(ndtri(0.975))  # scipy.stats.norm.ppf(0.975), without importing scipy.stats
_FISHER_TOL = np.log1p(1e-7)  # relative tolerance on "at most as likely" (as R and SAS)


def _st() -> ModuleType:
    """scipy.stats, imported when a test or interval needs it: the import alone costs tens
    of MiB, which processes that only draw charts or write listings need not pay."""
    from scipy import stats

    return stats


def _arr(x: object) -> np.ndarray:
    return np.asarray(x, dtype=float)


def wilson(x: object, n: object, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for x/n (no continuity correction); NaN where n == 0."""
    x, n = _arr(x), _arr(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_diff(
    x1: object, n1: object, x2: object, n2: object, z: float = Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p1 - p2, lower, upper): Newcombe hybrid score interval for a difference."""
    x1, n1, x2, n2 = _arr(x1), _arr(n1), _arr(x2), _arr(n2)
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lower = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, np.maximum(lower, -1.0), np.minimum(upper, 1.0)


def fisher_two_sided(a: object, n1: object, c: object, n2: object) -> np.ndarray:
    """Two-sided Fisher exact p for a/n1 against c/n2 (events/subjects in two arms)."""
    a, n1, c, n2 = (np.atleast_1d(np.asarray(v, dtype=np.int64)) for v in (a, n1, c, n2))
    a, n1, c, n2 = np.broadcast_arrays(a, n1, c, n2)
    total, k = n1 + n2, a + c
    out = np.full(a.shape, np.nan)
    ok = (n1 > 0) & (n2 > 0)
    out[ok & (k == 0)] = 1.0
    idx = np.nonzero(ok & (k > 0))[0]
    if idx.size:
        out[idx] = _fisher(a[idx], n1[idx], k[idx], total[idx])
    return out


def _fisher(a: np.ndarray, n1: np.ndarray, k: np.ndarray, total: np.ndarray) -> np.ndarray:
    def logpmf(j: np.ndarray) -> np.ndarray:  # up to a constant per row
        return -(gammaln(j + 1) + gammaln(k - j + 1) + gammaln(n1 - j + 1)) - gammaln(
            total - k - n1 + j + 1
        )

    lo, hi = np.maximum(0, k - (total - n1)), np.minimum(n1, k)
    mode = np.clip(((n1 + 1) * (k + 1)) // (total + 2), lo, hi)
    limit = logpmf(a) + _FISHER_TOL
    right = a <= mode  # observed on the left: the other tail is on the right, and vice versa
    # Right: smallest j in [max(mode, a+1), hi] with pmf(j) <= pmf(a), hi + 1 if none.
    # Left: largest j in [lo, min(mode, a-1)] with pmf(j) <= pmf(a), lo - 1 if none.
    lo_s = np.where(right, np.maximum(mode, a + 1), lo - 1)
    hi_s = np.where(right, hi + 1, np.minimum(mode, a - 1))
    for _ in range(int(np.log2(max(int((hi - lo).max()), 1) + 2)) + 2):
        mid = np.where(right, (lo_s + hi_s) // 2, (lo_s + hi_s + 1) // 2)
        inside = logpmf(np.clip(mid, lo, hi)) <= limit
        lo_s = np.where(right, np.where(inside, lo_s, mid + 1), np.where(inside, mid, lo_s))
        hi_s = np.where(right, np.where(inside, mid, hi_s), np.where(inside, hi_s, mid - 1))
    j = np.where(right, lo_s, hi_s)
    dist = _st().hypergeom(total, k, n1)
    p = np.where(right, dist.cdf(a) + dist.sf(j - 1), dist.cdf(j) + dist.sf(a - 1))
    return np.minimum(p, 1.0)


def poisson_exact_ci(x: object, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) limits for a Poisson count x."""
    x = _arr(x)
    st = _st()
    with np.errstate(invalid="ignore"):
        lower = np.where(x > 0, st.chi2.ppf(alpha / 2, 2 * x) / 2, 0.0)
        upper = st.chi2.ppf(1 - alpha / 2, 2 * x + 2) / 2
    return lower, upper


CONF_TYPES = ("exact", "byar", "normal", "normal_log")  # tern control_incidence_rate
KM_CONF_TYPES = ("log-log", "log", "plain")  # R survfit conf.type


def z_value(alpha: float) -> float:
    """The normal quantile of a two-sided interval of level 1 - alpha."""
    return float(ndtri(1 - alpha / 2))


def poisson_count_ci(
    x: object, alpha: float = 0.05, conf_type: str = "exact"
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for a Poisson count x, as tern's h_incidence_rate_* divided by nothing: each
    of tern's rate limits is (these limits) / person-years, so a rate's limits are these
    over its patient-years.

    - exact (Garwood): chi2(alpha/2; 2x) / 2 and chi2(1 - alpha/2; 2x + 2) / 2;
    - byar (tern's form, x + 0.5 at both ends): (x + 0.5) (1 - 1/(9 (x + 0.5))
      -/+ z / (3 sqrt(x + 0.5)))^3;
    - normal: x -/+ z sqrt(x) (not truncated at 0, as tern);
    - normal_log: x exp(-/+ z / sqrt(x)); undefined (NaN) for x = 0.
    """
    x = _arr(x)
    if conf_type == "exact":
        return poisson_exact_ci(x, alpha)
    z = z_value(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "byar":
            h = x + 0.5
            a, b = 1 - 1 / (9 * h), z / (3 * np.sqrt(h))
            return h * (a - b) ** 3, h * (a + b) ** 3
        if conf_type == "normal":
            return x - z * np.sqrt(x), x + z * np.sqrt(x)
        if conf_type == "normal_log":
            half = np.where(x > 0, z / np.sqrt(np.where(x > 0, x, 1.0)), np.nan)
            return x * np.exp(-half), x * np.exp(half)
    raise ValueError(conf_type)


def rate_ratio_exact(
    x1: object, t1: object, x0: object, t0: object, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(IRR, lower, upper, p) for rate x1/t1 against x0/t0, exact conditional on x1 + x0.

    As R's poisson.test(c(x1, x0), c(t1, t0)): conditional on the total, x1 is binomial
    with p = t1 / (t1 + t0). The CI is the Clopper-Pearson interval of that proportion
    turned into a rate ratio; the two-sided p is binom.test's: the sum of the probabilities
    of every outcome no more likely than the one observed (scipy's binomtest, the same
    rule and relative tolerance 1e-7). It is not twice the smaller tail, so the p-value
    can be below 0.05 while the central CI still holds 1 (R's documented behaviour)."""
    x1, t1, x0, t0 = np.broadcast_arrays(*(np.atleast_1d(_arr(v)) for v in (x1, t1, x0, t0)))
    n = x1 + x0
    st = _st()
    with np.errstate(divide="ignore", invalid="ignore"):
        irr = (x1 / t1) / (x0 / t0)
        pi_lo = np.where(x1 > 0, st.beta.ppf(alpha / 2, x1, x0 + 1), 0.0)
        pi_hi = np.where(x0 > 0, st.beta.ppf(1 - alpha / 2, x1 + 1, x0), 1.0)
        lower = pi_lo / (1 - pi_lo) * t0 / t1
        upper = np.where(pi_hi < 1, pi_hi / (1 - pi_hi) * t0 / t1, np.inf)
        pi0 = t1 / (t1 + t0)
        p = _binom_two_sided(x1, n, pi0)
    undefined = (n == 0) | ~(t1 > 0) | ~(t0 > 0)
    nan = np.nan
    return tuple(np.where(undefined, nan, arr) for arr in (irr, lower, upper, p))  # type: ignore[return-value]


def _binom_two_sided(x: np.ndarray, n: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """R binom.test's two-sided p-value, element by element (NaN where undefined)."""
    from scipy.stats import binomtest

    out = np.full(np.shape(x), np.nan)
    for i in np.ndindex(out.shape):
        k, size, q = int(x[i]), int(n[i]), float(prob[i])
        if size > 0 and 0.0 < q < 1.0:
            out[i] = binomtest(k, size, q).pvalue
    return out


def poisson_regression(
    counts: list[float], pyears: list[float], control: int, alpha: float = 0.05
) -> list[dict[str, float] | None]:
    """Poisson GLM of counts on arm with offset log(person-years); one dict per arm.

    The only covariate is the arm, so the arm totals are sufficient statistics: fitting
    them gives exactly the estimates and standard errors of the per-subject model.
    """
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    y = np.asarray(counts, dtype=float)
    t = np.asarray(pyears, dtype=float)
    out: list[dict[str, float] | None] = [None] * len(y)
    if (t <= 0).any() or y[control] == 0:
        return out
    others = [i for i in range(len(y)) if i != control]
    design = np.zeros((len(y), len(others) + 1))
    design[:, 0] = 1.0
    for col, i in enumerate(others, start=1):
        design[i, col] = 1.0
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # The arm-only model is saturated: no residual degrees of freedom, which statsmodels
        # warns about (its dispersion estimate); a Poisson GLM does not use it.
        warnings.simplefilter("ignore")
        fit = GLM(y, design, family=families.Poisson(), offset=np.log(t)).fit()
    ci = fit.conf_int(alpha)
    for col, i in enumerate(others, start=1):
        if y[i] == 0:
            continue
        out[i] = {
            "irr": float(np.exp(fit.params[col])),
            "low": float(np.exp(ci[col, 0])),
            "high": float(np.exp(ci[col, 1])),
            "p": float(fit.pvalues[col]),
        }
    return out


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, alpha: float = 0.05, conf_type: str = "log-log"
) -> dict[str, object]:
    """Kaplan-Meier estimate of one group: the curve, its median and the median's CI.

    At each distinct event time t with n at risk and d events, S(t) = prod(1 - d/n) and
    Greenwood's se of -log S (survfit's std.err) = sqrt(sum d / (n (n - d))). The median is
    found by R survival's print.survfit rule (survmean's minmin): the first time S <= 0.5
    (1.5e-8 tolerance, sqrt of the machine epsilon as R); if S is 0.5 there (a flat
    stretch at exactly one half) and the curve later drops below it, the midpoint of that
    time and the next event time; None when S never reaches 0.5. Its confidence interval
    is Brookmeyer and Crowley's: the same rule applied to the lower and to the upper
    pointwise band of S (survfit's survfit_confint: "log-log" band
    S^exp(-/+ z se / log S), "log" S exp(-/+ z se), "plain" S (1 -/+ z se)); a band value
    is undefined where S is 0 or 1 (log-log) and such points are skipped, as R's NA.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    empty = {"subjects": 0, "events": 0, "median": None, "median_low": None,
             "median_high": None, "curve": []}  # fmt: skip
    if len(time) == 0:
        return empty
    times = np.unique(time[event > 0])
    order = np.sort(time)
    at_risk = len(time) - np.searchsorted(order, times, side="left")
    deaths = np.array([event[time == t].sum() for t in times], dtype=float)
    surv = np.cumprod(1 - deaths / at_risk) if len(times) else np.array([])
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.cumsum(deaths / (at_risk * (at_risk - deaths))))
    low, high = _km_band(surv, se, z_value(alpha), conf_type)
    return {
        "subjects": int(len(time)),
        "events": int(np.sum(event)),
        "median": _km_median(times, surv),
        "median_low": _km_median(times, low),
        "median_high": _km_median(times, high),
        "curve": [[float(a), float(b)] for a, b in zip(times, surv, strict=True)],
    }


def _km_band(surv: np.ndarray, se: np.ndarray, z: float, conf_type: str
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log-log":
            ok = (surv > 0) & (surv < 1)
            s = np.where(ok, surv, 0.5)
            shift = z * se / np.log(s)  # negative
            low = np.exp(-np.exp(np.log(-np.log(s)) - shift))
            high = np.exp(-np.exp(np.log(-np.log(s)) + shift))
            return np.where(ok, low, np.nan), np.where(ok, high, np.nan)
        if conf_type == "log":
            ok = surv > 0
            s = np.where(ok, surv, 1.0)
            low, high = np.exp(np.log(s) - z * se), np.minimum(np.exp(np.log(s) + z * se), 1)
            return np.where(ok, low, np.nan), np.where(ok, high, np.nan)
        if conf_type == "plain":
            return np.maximum(surv - z * se * surv, 0), np.minimum(surv + z * se * surv, 1)
    raise ValueError(conf_type)


KM_TOL = float(np.sqrt(np.finfo(float).eps))  # R: .Machine$double.eps^.5


def _km_median(times: np.ndarray, surv: np.ndarray) -> float | None:
    """print.survfit's minmin(y, x): see kaplan_meier."""
    keep = ~np.isnan(surv) & (surv < 0.5 + KM_TOL)
    if not keep.any():
        return None
    x, y = times[keep], surv[keep]
    if abs(y[0] - 0.5) < KM_TOL and (y < y[0]).any():
        return float((x[0] + x[np.flatnonzero(y < y[0])[0]]) / 2)
    return float(x[0])


def cox_ph(time: np.ndarray, event: np.ndarray, treated: np.ndarray, alpha: float = 0.05
           ) -> dict[str, float] | None:  # fmt: skip
    """Cox proportional-hazards ratio of treated (1) against control (0): exp(beta) with
    the Wald interval exp(beta -/+ z se) and Wald p, Efron's method for tied times (R
    coxph's default), statsmodels PHReg. None when it is not estimable: the partial
    likelihood is monotone in beta, so the estimate is infinite (R's coxph warns "coefficient
    may be infinite"): no event in a group, or every event of one group happens while no
    subject of the other group is still at risk; or a fit that does not converge."""
    from statsmodels.duration.hazard_regression import PHReg

    time = np.asarray(time, float)
    event = np.asarray(event, float)
    treated = np.asarray(treated, float)
    for g in (0.0, 1.0):
        # beta -> -/+ infinity raises the likelihood when no event of group g has a subject
        # of the other group in its risk set
        other = np.sort(time[treated != g])
        at_event = time[(event > 0) & (treated == g)]
        if len(other) == 0 or not (len(other) - np.searchsorted(other, at_event, "left")).any():
            return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = PHReg(time, treated[:, None], status=event, ties="efron").fit()
        except (np.linalg.LinAlgError, ValueError):
            return None
    beta, se = float(fit.params[0]), float(fit.bse[0])
    if not (np.isfinite(beta) and np.isfinite(se) and se > 0):
        return None
    z = z_value(alpha)
    return {
        "hr": float(np.exp(beta)),
        "low": float(np.exp(beta - z * se)),
        "high": float(np.exp(beta + z * se)),
        "p": float(fit.pvalues[0]),
    }


def logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float | None:
    """Log-rank test p-value across groups (None if there is nothing to compare)."""
    from statsmodels.duration.survfunc import survdiff

    if len(np.unique(group)) < 2 or not np.any(event):
        return None
    try:
        _, p = survdiff(np.asarray(time, float), np.asarray(event, float), np.asarray(group))
    except np.linalg.LinAlgError:
        # No variance to test with (e.g. every subject has the event at the same time):
        # the statistic is undefined, so no p-value is printed.
        return None
    return float(p)
