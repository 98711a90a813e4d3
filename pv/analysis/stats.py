"""Comparative statistics, vectorised over table rows.

Every function takes numpy arrays (or scalars) so a whole table is computed in a few
array operations: a 10,000-subject trial has thousands of rows per table.

- Risk difference: Newcombe's hybrid score interval (Newcombe 1998, method 10), built
  from the two Wilson score intervals (square-and-add).
- Fisher's exact test, two-sided: the probability of every table at most as likely as
  the observed one (the R / SAS / scipy definition): a binary search finds where the other
  tail starts, and each tail is summed from its inner end outwards only as far as it is
  not negligible (a few standard deviations, not the whole support), for all rows at once.
- Exact Poisson interval for a count (Garwood 1936, chi-square form).
- Incidence rate ratio: exact conditional interval and test, as R's poisson.test. Given
  the total count, the count in arm 1 is binomial; Clopper-Pearson limits for that
  binomial are mapped to the rate ratio, and the p-value is binom.test's two-sided one:
  the probability of every outcome at most as likely as the observed one (the same rule as
  Fisher's test above; not the doubled smaller tail of the rateratio.test package).
- Confidence intervals for an incidence rate as tern's h_incidence_rate (control_incidence_rate
  conf_type): "exact" (Garwood, chi-square), "byar", "normal", "normal_log", any level.
- Poisson regression of counts on arm with a log person-time offset: the arm-only model is
  saturated, so its maximum-likelihood fit is in closed form (crude rate ratios, Wald).
- Kaplan-Meier (Greenwood variance), its median by R survival's print.survfit rule and the
  median's confidence interval by Brookmeyer-Crowley on a transformed pointwise band
  (survfit's conf.type "log-log" by default); the log-rank test (R survdiff, rho = 0) and
  the Cox proportional-hazards ratio with its Wald interval (Efron ties and Newton-Raphson
  as R's coxph), both from the numbers at risk and of events per distinct event time.

No statsmodels: every fit here is written out (and checked against statsmodels and scipy in
tests/analysis/test_stats_vectorized.py); scipy.special gives the special functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import (
    betainc,
    betaincc,
    betaincinv,
    chdtrc,
    gammaincinv,
    gammaln,
    ndtr,
    ndtri,
)

Z95 = float(ndtri(0.975))  # scipy.stats.norm.ppf(0.975), without importing scipy.stats
_FISHER_TOL = np.log1p(1e-7)  # relative tolerance on "at most as likely" (as R and SAS)


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
    def logpmf(j: np.ndarray, rows: np.ndarray) -> np.ndarray:  # up to a constant per row
        kr, n1r, tr = k[rows], n1[rows], total[rows]
        return -(gammaln(j + 1) + gammaln(kr - j + 1) + gammaln(n1r - j + 1)) - gammaln(
            tr - kr - n1r + j + 1
        )

    everyone = np.arange(len(a))
    lo, hi = np.maximum(0, k - (total - n1)), np.minimum(n1, k)
    mode = np.clip(((n1 + 1) * (k + 1)) // (total + 2), lo, hi)
    limit = logpmf(a, everyone) + _FISHER_TOL
    right = a <= mode  # observed on the left: the other tail is on the right, and vice versa
    # Right: smallest j in [max(mode, a+1), hi] with pmf(j) <= pmf(a), hi + 1 if none.
    # Left: largest j in [lo, min(mode, a-1)] with pmf(j) <= pmf(a), lo - 1 if none.
    j = _search_outwards(
        lambda m, rows: logpmf(m, rows) <= limit[rows],
        right,
        np.where(right, np.maximum(mode, a + 1), np.minimum(mode, a - 1)),
        np.where(right, hi, lo),
    )
    # P(X <= near) + P(X >= far), each tail summed from its inner end outwards.
    near, far = np.where(right, a, j), np.where(right, j, a)
    p = _hyper_tail(near, n1, k, total, lo, hi, up=False)
    p += _hyper_tail(far, n1, k, total, lo, hi, up=True)
    return np.minimum(p, 1.0)


def _search_outwards(
    beyond: Callable[[np.ndarray, np.ndarray], np.ndarray],
    up: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
) -> np.ndarray:
    """Per row, the first j from `inner` towards `outer` (upwards where `up`, else downwards)
    with beyond(j, rows) true, or one step past `outer` if there is none; `beyond` must be
    false then true along that path (a tail of a unimodal pmf seen from its mode). A binary
    search on all rows at once: beyond(j, rows) gets the positions and their row indices."""
    sign = np.where(up, 1, -1)
    # in the coordinate m = sign * j every path goes upwards: [inner', outer']
    lo, hi = sign * inner, sign * outer + 1  # the answer lies in [lo, hi]
    while True:
        rows = np.flatnonzero(lo < hi)
        if rows.size == 0:
            return sign * lo
        mid = (lo[rows] + hi[rows]) // 2
        yes = beyond(sign[rows] * mid, rows)
        hi[rows[yes]] = mid[yes]
        lo[rows[~yes]] = mid[~yes] + 1


_TAIL_REL = 1e-17  # a tail sum stops when the rest is provably below this fraction of it


def _hyper_tail(
    start: np.ndarray,
    n1: np.ndarray,
    k: np.ndarray,
    total: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    up: bool,
) -> np.ndarray:
    """P(X >= start) (up) or P(X <= start) (down) for X hypergeometric (k draws from total,
    n1 of them marked; support [lo, hi]), where start is at or beyond the mode on that side,
    so that the terms only shrink from start outwards.

    The terms follow from pmf(start) by the ratio of consecutive terms, in blocks of
    doubling width for all rows at once. The pmf is log-concave, so these ratios shrink
    outwards, and once the ratio is r < 1 the rest of the tail is at most (next term) /
    (1 - r): a row stops when that bound is below 1e-17 of its sum (or at the end of the
    support). The number of terms is then a few standard deviations of X, not the support.
    """
    out = np.zeros(len(start))
    inside = start <= hi if up else start >= lo
    rows = np.flatnonzero(inside)
    if rows.size == 0:
        return out
    start = start[rows].astype(float)
    n1, k, total = (v[rows].astype(float) for v in (n1, k, total))
    other = total - n1 - k  # the unmarked not drawn, less the marked drawn: bad - k
    step = 1.0 if up else -1.0
    pos = start.copy()  # position of the next term, per row
    term = np.ones(len(rows))  # its value relative to pmf(start)
    acc = np.zeros(len(rows))
    todo = np.arange(len(rows))
    width = 32
    while todo.size:
        j = pos[todo, None] + step * np.arange(width)
        nn, kk, oo = n1[todo, None], k[todo, None], other[todo, None]
        if up:  # pmf(j + 1) / pmf(j); zero past hi
            ratio = (nn - j) * (kk - j) / ((j + 1) * (oo + j + 1))
        else:  # pmf(j - 1) / pmf(j); zero past lo
            ratio = j * (oo + j) / ((nn - j + 1) * (kk - j + 1))
        ratio = np.maximum(ratio, 0.0)
        chain = np.cumprod(ratio, axis=1)
        acc[todo] += term[todo] * (1.0 + chain[:, :-1].sum(axis=1))
        nxt = term[todo] * chain[:, -1]
        r = ratio[:, -1]
        done = (nxt == 0) | ((r < 1) & (nxt <= _TAIL_REL * acc[todo] * (1 - r)))
        term[todo] = nxt
        pos[todo] += step * width
        todo = todo[~done]
        width *= 2
    out[rows] = acc * np.exp(_hyper_logpmf(start, n1, k, total))
    return out


def _hyper_logpmf(j: np.ndarray, n1: np.ndarray, k: np.ndarray, total: np.ndarray) -> np.ndarray:
    """log P(X = j), X hypergeometric: k draws from total, n1 of them marked."""
    return _log_choose(n1, j) + _log_choose(total - n1, k - j) - _log_choose(total, k)


def _log_choose(n: np.ndarray, j: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(j + 1) - gammaln(n - j + 1)


def poisson_exact_ci(x: object, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) limits for a Poisson count x."""
    x = _arr(x)
    with np.errstate(invalid="ignore"):
        lower = np.where(x > 0, _chi2_ppf(alpha / 2, 2 * x) / 2, 0.0)
        upper = _chi2_ppf(1 - alpha / 2, 2 * x + 2) / 2
    return lower, upper


def _chi2_ppf(q: float, df: np.ndarray) -> np.ndarray:
    """The chi-square quantile (scipy.stats.chi2.ppf: 2 * gammaincinv(df/2, q)) through
    scipy.special alone: importing scipy.stats costs about a second at the first table."""
    df = np.asarray(df, dtype=float)
    return np.where(df > 0, 2 * gammaincinv(np.where(df > 0, df, 1.0) / 2, q), np.nan)


def _beta_ppf(q: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The beta quantile (scipy.stats.beta.ppf) through scipy.special's betaincinv; NaN
    where a shape is not positive (the callers replace those by the interval's end)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = (a > 0) & (b > 0)
    return np.where(ok, betaincinv(np.where(ok, a, 1.0), np.where(ok, b, 1.0), q), np.nan)


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
    with np.errstate(divide="ignore", invalid="ignore"):
        irr = (x1 / t1) / (x0 / t0)
        pi_lo = np.where(x1 > 0, _beta_ppf(alpha / 2, x1, x0 + 1), 0.0)
        pi_hi = np.where(x0 > 0, _beta_ppf(1 - alpha / 2, x1 + 1, x0), 1.0)
        lower = pi_lo / (1 - pi_lo) * t0 / t1
        upper = np.where(pi_hi < 1, pi_hi / (1 - pi_hi) * t0 / t1, np.inf)
        pi0 = t1 / (t1 + t0)
        p = _binom_two_sided(x1, n, pi0)
    undefined = (n == 0) | ~(t1 > 0) | ~(t0 > 0)
    nan = np.nan
    return tuple(np.where(undefined, nan, arr) for arr in (irr, lower, upper, p))  # type: ignore[return-value]


def _binom_two_sided(x: np.ndarray, n: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """R binom.test's two-sided p-value for x of n at probability prob, for all rows at once
    (NaN where n is 0 or prob is not strictly between 0 and 1).

    The rule of scipy.stats.binomtest (and R): with d = pmf(x), the p-value sums the pmf of
    every outcome with pmf <= d (1 + 1e-7). The outcomes on x's side of the mean n p are
    the tail up to x; on the other side (from the mean outwards, where the pmf only falls)
    the first j with pmf(j) <= d (1 + 1e-7) starts the other tail, found by a binary search
    for every row at once on log pmf(j) - log pmf(x) (gammaln, no distribution objects).
    x == n p exactly gives 1. The tails are regularised incomplete beta functions:
    P(X <= j) = I_{1-p}(n - j, j + 1) (betaincc) and P(X >= j) = I_p(j, n - j + 1)
    (betainc), as scipy's binomial cdf and sf."""
    x, n, prob = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, n, prob)))
    out = np.full(x.shape, np.nan)
    ok = (n > 0) & (prob > 0) & (prob < 1)
    if not ok.any():
        return out
    k, size, q = x[ok], n[ok], prob[ok]
    mean = size * q
    log_odds = np.log(q) - np.log1p(-q)
    base = gammaln(k + 1) + gammaln(size - k + 1)

    def beyond(j: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rel = base[rows] - gammaln(j + 1) - gammaln(size[rows] - j + 1)
        return rel + (j - k[rows]) * log_odds[rows] <= _FISHER_TOL

    low = k < mean  # x below the mean: the other tail is above it, and vice versa
    j = _search_outwards(
        beyond, low, np.where(low, np.ceil(mean), np.floor(mean)), np.where(low, size, 0.0)
    )
    below, above = np.where(low, k, j), np.where(low, j, k)  # P(X <= below) + P(X >= above)
    p = _binom_cdf(below, size, q) + _binom_cdf(above - 1, size, q, upper=True)
    p = np.where(k == mean, 1.0, np.minimum(p, 1.0))
    out[ok] = p
    return out


def _binom_cdf(j: np.ndarray, n: np.ndarray, p: np.ndarray, upper: bool = False) -> np.ndarray:
    """P(X <= j), or P(X > j) if upper, for X ~ Bin(n, p) and integers j."""
    inside = (j >= 0) & (j < n)
    jj = np.where(inside, j, 0.0)
    if upper:
        return np.where(inside, betainc(jj + 1, n - jj, p), (j < 0).astype(float))
    return np.where(inside, betaincc(jj + 1, n - jj, p), (j >= n).astype(float))


def poisson_regression(
    counts: list[float], pyears: list[float], control: int, alpha: float = 0.05
) -> list[dict[str, float] | None]:
    """Poisson regression of counts on arm with offset log(person-years); one dict per arm
    ({irr, low, high, p}; None for the control arm and for an arm without events), all None
    when an arm has no person-time or the control arm no events.

    The only covariate is the arm, so the arm totals are sufficient statistics and the model
    (an intercept and one indicator per non-control arm) is saturated: its maximum
    likelihood fits every arm's rate exactly. So the rate ratio of arm i is
    (y_i / t_i) / (y_c / t_c), and the inverse of the information matrix gives the standard
    error of its logarithm sqrt(1/y_i + 1/y_c); the interval is exp(log IRR -/+ z se) and
    p the two-sided Wald p. This is the GLM fit (statsmodels' or R's glm) in closed form.
    """
    y = np.asarray(counts, dtype=float)
    t = np.asarray(pyears, dtype=float)
    out: list[dict[str, float] | None] = [None] * len(y)
    if (t <= 0).any() or y[control] == 0:
        return out
    z = z_value(alpha)
    for i in range(len(y)):
        if i == control or y[i] == 0:
            continue
        log_irr = float(np.log(y[i] / t[i]) - np.log(y[control] / t[control]))
        se = float(np.sqrt(1 / y[i] + 1 / y[control]))
        out[i] = {
            "irr": float(np.exp(log_irr)),
            "low": float(np.exp(log_irr - z * se)),
            "high": float(np.exp(log_irr + z * se)),
            "p": _wald_p(log_irr / se),
        }
    return out


def _wald_p(z: float) -> float:
    """Two-sided normal p-value of a Wald statistic: 2 (1 - Phi(|z|))."""
    return float(2 * ndtr(-abs(z)))


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
    died = event > 0
    times = np.unique(time[died])
    order = np.sort(time)
    at_risk = len(time) - np.searchsorted(order, times, side="left")
    slot = np.searchsorted(times, time[died])
    deaths = np.bincount(slot, weights=event[died], minlength=len(times)).astype(float)
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


def _risk_sets(time: np.ndarray, event: np.ndarray, group: np.ndarray, groups: int
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """At each distinct event time t (ascending), per group g in range(groups): the number at
    risk (time >= t, so a subject censored at t is still at risk) and the number of events;
    two arrays shaped (times, groups). One sort and a few counts, no loop over subjects."""
    times = np.unique(time)
    cell = np.searchsorted(times, time) * groups + np.asarray(group, dtype=np.int64)
    size = len(times) * groups
    leaving = np.bincount(cell, minlength=size).reshape(-1, groups)
    deaths = np.bincount(cell[event > 0], minlength=size).reshape(-1, groups)
    at_risk = np.cumsum(leaving[::-1], axis=0)[::-1]
    keep = deaths.sum(axis=1) > 0
    return at_risk[keep].astype(float), deaths[keep].astype(float)


COX_EPS = 1e-9  # R coxph.control(eps): relative change of the log partial likelihood
COX_ITER_MAX = 20  # R coxph.control(iter.max)


def cox_ph(time: np.ndarray, event: np.ndarray, treated: np.ndarray, alpha: float = 0.05
           ) -> dict[str, float] | None:  # fmt: skip
    """Cox proportional-hazards ratio of treated (1) against control (0): exp(beta) with
    the Wald interval exp(beta -/+ z se) and the Wald p, Efron's approximation for tied
    event times, as R's coxph (survival package, T. Therneau; method = "efron", its
    default). None when it is not estimable: the partial likelihood is monotone in beta,
    so the estimate is infinite (R's coxph warns "coefficient may be infinite"): no event in
    a group, or every event of one group happens while no subject of the other group is
    still at risk; or a fit that does not converge.

    The covariate is binary, so the partial likelihood depends on the data only through,
    at each distinct event time, the numbers at risk n0, n1 and of events d0, d1 of each
    group (d = d0 + d1). Efron's approximation (Efron 1977, JASA 72:557-565; the "efron"
    ties method of R's survival package, documented in ?coxph and in Therneau and
    Grambsch, Modeling Survival Data, 2000): the d tied deaths leave the risk set
    gradually, so that the l-th of the d denominator terms (l = 0..d-1) still holds a
    fraction 1 - l/d of each of them. With u = exp(beta),
        log L(beta) = beta D1 - sum over times, l = 0..d-1 of log(a_l + b_l u),
        a_l = n0 - (l/d) d0, b_l = n1 - (l/d) d1,
    where D1 is the number of treated events. With p_l = b_l u / (a_l + b_l u) (the
    treated share of the l-th term's risk set) the score is D1 - sum p_l and the
    information sum p_l (1 - p_l). All (time, l) terms are one array: at most one per
    event, whatever the ties.

    Newton-Raphson as R's coxph.fit (coxph.control: eps 1e-9, iter.max 20, start at 0):
    from beta the step goes to beta + score / information; the fit has converged when the
    log-likelihood at the new point differs from the best so far by at most eps relatively
    (|1 - best / new| <= eps), and that new point is the estimate (its information gives
    the standard error). A step that lowers the likelihood is halved (the midpoint of the
    best point and the rejected one), and no convergence is declared on a halved step.
    Not converged in iter.max iterations (R warns "Ran out of iterations") gives None.
    R's safeguards against an infinite coefficient (bounds on the step) are left out: the
    monotone cases that need them are refused before the fit.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    treated = np.asarray(treated, float)
    if not np.isin(treated, (0.0, 1.0)).all():
        raise ValueError("cox_ph: treated must be 0 (control) or 1 (treated)")
    at_risk, deaths = _risk_sets(time, event, treated.astype(np.int64), 2)
    for g in (0, 1):
        # beta -> -/+ infinity raises the likelihood when no event of group g has a subject
        # of the other group in its risk set
        if not ((deaths[:, g] > 0) & (at_risk[:, 1 - g] > 0)).any():
            return None
    fit = _cox_newton(at_risk, deaths)
    if fit is None:
        return None
    beta, info = fit
    if not (np.isfinite(beta) and np.isfinite(info) and info > 0):
        return None
    se = 1 / np.sqrt(info)
    z = z_value(alpha)
    return {
        "hr": float(np.exp(beta)),
        "low": float(np.exp(beta - z * se)),
        "high": float(np.exp(beta + z * se)),
        "p": _wald_p(beta / se),
    }


def _cox_newton(at_risk: np.ndarray, deaths: np.ndarray, eps: float = COX_EPS
                ) -> tuple[float, float] | None:  # fmt: skip
    """(beta, information at beta) of the Efron partial likelihood (see cox_ph), or None
    when Newton-Raphson does not converge in COX_ITER_MAX iterations. `at_risk` and
    `deaths` are _risk_sets' arrays (control, treated); eps as R's coxph.control."""
    d = deaths.sum(axis=1).astype(np.int64)
    term = np.repeat(np.arange(len(d)), d)  # one entry per event: its time's index
    frac = (np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)) / d[term]  # l / d
    with np.errstate(divide="ignore"):  # a group with nobody at risk: log 0 = -inf
        log_a = np.log(at_risk[term, 0] - frac * deaths[term, 0])
        log_b = np.log(at_risk[term, 1] - frac * deaths[term, 1])
    d1 = float(deaths[:, 1].sum())

    def at(beta: float) -> tuple[float, float, float]:
        log_sum = np.logaddexp(log_a, log_b + beta)  # log(a + b exp(beta))
        p = np.exp(log_b + beta - log_sum)  # treated share of each risk set
        q = np.exp(log_a - log_sum)  # 1 - p, without cancellation
        return beta * d1 - float(log_sum.sum()), d1 - float(p.sum()), float((p * q).sum())

    beta = 0.0
    best, score, info = at(beta)
    new = beta + score / info
    halving = False
    for iteration in range(1, COX_ITER_MAX + 1):
        loglik, score, info = at(new)
        if not halving and abs(1 - best / loglik) <= eps:
            return new, info
        if iteration == COX_ITER_MAX:
            break
        if not loglik >= best:  # worse (or not a number): halve the step
            halving = True
            new = (new + beta) / 2
        else:
            halving = False
            best, beta = loglik, new
            new = beta + score / info
    return None


def logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float | None:
    """Log-rank test p-value across groups (None if there is nothing to compare), as R's
    survdiff (survival package, rho = 0).

    At each distinct event time t with n_g at risk in group g (n in all) and d_g events (d
    in all), the expected events of group g are d n_g / n and the hypergeometric
    covariance of the events of groups g and h is d (n - d) / (n - 1) (n_g / n)
    (delta_gh - n_h / n) (0 when n = 1). Summed over the times: O - E and V. As survdiff,
    groups with no expected events (nobody at risk at any event time) are left out, then
    the first remaining group; the statistic (O - E)' V^-1 (O - E) over the others is
    chi-square on (groups left - 1) degrees of freedom. None with fewer than two groups
    with expected events, no events, or a singular V (no variance to test with, e.g. every
    subject at risk has the event at the same time; R's solve fails there).
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    group = np.asarray(group)
    labels = np.unique(group)
    if len(labels) < 2 or not np.any(event):
        return None
    at_risk, deaths = _risk_sets(time, event, np.searchsorted(labels, group), len(labels))
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    share = at_risk / n[:, None]
    expected = (d[:, None] * share).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    var = np.diag((weight[:, None] * share).sum(axis=0)) - (weight[:, None] * share).T @ share
    kept = np.flatnonzero(expected > 0)[1:]
    if kept.size == 0:
        return None
    diff = (deaths.sum(axis=0) - expected)[kept]
    vv = var[np.ix_(kept, kept)]
    if not (np.diag(vv) > 0).all() or (
        kept.size > 1 and np.linalg.cond(vv) > 1 / np.finfo(float).eps
    ):
        return None
    chi = float(diff @ np.linalg.solve(vv, diff))
    return float(chdtrc(len(kept), chi))
