"""AET05: exposure-adjusted incidence rate of first occurrence, per 100 patient-years.

pre: TEAEs and each safety subject's time at risk (first dose to the end of the TEAE
window, or the data end / cut-off while dosing is ongoing; data.py). count: per row the
subjects with a first occurrence and their person-time, which stops at the first event;
post: rate = subjects / patient-years x 100 with its CI (parameters conf_type: exact
(default, Garwood), byar, normal, normal_log, and conf_level, default 0.95, as tern's
control_incidence_rate), and each arm against control: incidence rate ratio with the exact
conditional CI and two-sided p as R's poisson.test (the CSV irr, irr_low, irr_high,
p_value). With no events in one arm only one limit is finite: it is the one-sided bound at
level 1 - alpha/2 (Cell.irr_bound_side "upper" when the arm has none, the ratio 0; "lower"
when the control has none, the ratio not estimable). For the overall row and each AESI
grouping also a Poisson regression with a log(patient-years) offset, Kaplan-Meier time to
first event per arm (median by R survival's rule with its Brookmeyer-Crowley CI,
km_conf_type "log-log" by default), the log-rank p and a Cox hazard ratio of each arm
against control. Rows: any TEAE, the AESI groupings (pre-specified ones kept at zero),
then SOCs and preferred terms. Patient-years = days / 365.25.

aet05_all builds AET05_ALL (all occurrences) from the same rows with `rows`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pv.analysis import aesi, stats
from pv.analysis.counting import Context, category_codes, dense_codes, group_extreme, order
from pv.analysis.table import TOTAL, Cell, Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET05"
# Compares arms by rate ratios (its own footnote), not by risk differences.
RATE_TABLE = True
TITLE = N_(
    "Exposure-adjusted incidence rate of treatment-emergent adverse events (first occurrence)"
)
COLUMNS = frozenset({"aebodsys", "aedecod"}) | aesi.COLUMNS
DAYS_PER_YEAR = 365.25
RATE_DEFAULTS: dict[str, Any] = {
    "conf_type": "exact",
    "conf_level": 0.95,
    "km_conf_type": "log-log",
}
METHODS = {  # the footnote's name of each rate CI method (tern control_incidence_rate)
    "exact": N_("exact Poisson (Garwood)"),
    "byar": N_("Byar's approximation"),
    "normal": N_("normal approximation"),
    "normal_log": N_("normal approximation of the log rate"),
}
KM_METHODS = {
    "log-log": N_("log-log"),
    "log": N_("log"),
    "plain": N_("plain (linear)"),
}


def rate_params(params: dict[str, Any]) -> dict[str, Any]:
    """conf_type, conf_level and km_conf_type from a table's parameters (defaults filled
    in); ValueError naming the parameter when a value is not allowed."""
    out = dict(RATE_DEFAULTS)
    given = {k: params[k] for k in RATE_DEFAULTS if params.get(k) not in (None, "")}
    # tern spells its methods with "_", R survfit its transforms with "-": either is taken
    for key, choices, sep in (("conf_type", stats.CONF_TYPES, "_"),
                              ("km_conf_type", stats.KM_CONF_TYPES, "-")):  # fmt: skip
        if key not in given:
            continue
        value = str(given[key]).strip().lower().replace("_", sep).replace("-", sep)
        if value not in choices:
            raise ValueError(_("%(name)s must be one of %(choices)s, not %(value)s", name=key,
                               choices=", ".join(choices), value=repr(given[key])))  # fmt: skip
        out[key] = value
    if "conf_level" in given:
        raw = given["conf_level"]
        try:
            level = float(raw) if not isinstance(raw, bool) else float("nan")
        except (TypeError, ValueError):
            level = float("nan")
        if not 0 < level < 1:
            raise ValueError(_("conf_level must be a number between 0 and 1 (e.g. 0.95 for a "
                               "95%% CI), not %(value)s", value=repr(raw)))  # fmt: skip
        out["conf_level"] = level
    return out


def validate_params(params: dict[str, Any]) -> None:
    """Called by api before the data are loaded: a bad parameter is a TableError."""
    rate_params(params)


def level_text(level: float) -> str:
    """95 for 0.95, 97.5 for 0.975 (a CI level as printed, without the percent sign)."""
    return f"{round(100 * level, 6):g}"


def first_events(ctx: Context, ev: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """One row per (level, subject): the day of the subject's first event, days at risk."""
    subj = ev["subj"].to_numpy(np.int64)
    n_subj = max(ctx.n_subjects, 1)
    levels = int(codes.max()) + 1 if len(codes) else 1
    key = codes.astype(np.int64) * n_subj + subj
    pairs, first = group_extreme(key, ev["adt"].to_numpy(), levels * n_subj, "min")
    who = (pairs % n_subj).astype(np.int64)
    sj = ctx.data.subjects
    risk = sj["risk_days"].to_numpy()[who]
    t = np.clip(first - sj["first_dose"].to_numpy()[who] + 1, 1, risk)
    return pd.DataFrame({
        "level": pairs // n_subj, "subj": who,
        "arm": sj["arm"].to_numpy()[who].astype(np.int64), "t": t, "risk": risk,
    })  # fmt: skip


def person_time(ctx: Context, firsts: pd.DataFrame, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(subjects with a first event, patient-years at risk), shaped (levels, arms)."""
    a = ctx.n_arms
    safety = ctx.data.safety
    risk_total = np.bincount(
        safety["arm"].to_numpy(np.int64), weights=safety["risk_days"], minlength=a
    )
    flat = firsts["level"].to_numpy() * a + firsts["arm"].to_numpy()
    n = np.bincount(flat, minlength=levels * a).reshape(levels, a)
    lost = np.bincount(
        flat, weights=(firsts["risk"] - firsts["t"]).to_numpy(), minlength=levels * a
    )
    return n, (risk_total[None, :] - lost.reshape(levels, a)) / DAYS_PER_YEAR


def _survival(ctx: Context, firsts: pd.DataFrame, conf: dict[str, Any]) -> dict[str, object]:
    safety = ctx.data.safety
    time = safety["risk_days"].to_numpy().copy()
    event = np.zeros(len(safety))
    pos = pd.Index(safety.index).get_indexer(firsts["subj"].to_numpy())
    time[pos], event[pos] = firsts["t"].to_numpy(), 1.0
    group = safety["arm"].to_numpy()
    alpha = 1 - conf["conf_level"]
    km = {
        arm.label: stats.kaplan_meier(
            time[group == i], event[group == i], alpha, conf["km_conf_type"]
        )
        for i, arm in enumerate(ctx.arms)
    }
    out: dict[str, object] = {
        "km": km, "logrank_p": stats.logrank(time, event, group), "time_unit": "days",
    }  # fmt: skip
    c = ctx.control
    if c is not None:
        # Each arm against control on the two arms' subjects (tern's s_coxph_pairwise).
        cox: dict[str, object] = {}
        for i, arm in enumerate(ctx.arms):
            if i != c:
                two = (group == i) | (group == c)
                cox[arm.label] = stats.cox_ph(time[two], event[two], group[two] == i, alpha)
        out["cox"] = cox
    return out


def rows(ctx: Context, meta: list[tuple[str, str, str | None, str | None]], n: np.ndarray,
         events: np.ndarray, py: np.ndarray, conf: dict[str, Any],
         numerator: np.ndarray | None = None) -> list[Row]:  # fmt: skip
    """Rows with rates, their CIs and rate ratios; arrays shaped (rows, arms). The rate's
    numerator is `numerator` (AET05_ALL: events), else the subjects `n`."""
    x = n if numerator is None else numerator
    alpha = 1 - conf["conf_level"]
    lo, hi = stats.poisson_count_ci(x, alpha, conf["conf_type"])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate, rate_lo, rate_hi = (np.where(py > 0, 100 * v / py, np.nan) for v in (x, lo, hi))
    c = ctx.control
    ratios = {}
    if c is not None:
        for i in range(ctx.n_arms):
            if i != c:
                ratios[i] = stats.rate_ratio_exact(x[:, i], py[:, i], x[:, c], py[:, c], alpha)
    tot_n, tot_e, tot_py = n.sum(axis=1), events.sum(axis=1), py.sum(axis=1)
    tot_x = x.sum(axis=1)
    tl, th = stats.poisson_count_ci(tot_x, alpha, conf["conf_type"])
    with np.errstate(divide="ignore", invalid="ignore"):
        tot_rate = np.where(tot_py > 0, 100 / tot_py, np.nan)
    big_n = [a.N for a in ctx.arms]
    out = []
    for r, (kind, label, soc, term) in enumerate(meta):
        row = Row(kind, label, soc=soc, term=term, indent=int(kind == "term"))
        for i, arm in enumerate(ctx.arms):
            cell = Cell(
                n=int(n[r, i]),
                N=big_n[i],
                events=int(events[r, i]),
                pyears=float(py[r, i]),
                rate=_num(rate[r, i]),
                rate_low=_num(rate_lo[r, i]),
                rate_high=_num(rate_hi[r, i]),
            )
            if i in ratios:
                irr, low, high, p = (_num(v[r]) for v in ratios[i])
                cell.irr, cell.irr_low, cell.irr_high, cell.p_value = irr, low, high, p
                _one_sided(cell, x[r, i], x[r, c], alpha)  # type: ignore[index]
            row.cells[arm.label] = cell
        row.cells[TOTAL] = Cell(
            n=int(tot_n[r]), N=sum(big_n), events=int(tot_e[r]), pyears=float(tot_py[r]),
            rate=_num(tot_x[r] * tot_rate[r]), rate_low=_num(tl[r] * tot_rate[r]),
            rate_high=_num(th[r] * tot_rate[r]),
        )  # fmt: skip
        out.append(row)
    return out


def _one_sided(cell: Cell, x1: float, x0: float, alpha: float) -> None:
    """With no events in one of the two arms the exact interval has one finite limit, the
    Clopper-Pearson limit of the conditional binomial at 1 - alpha/2 (R's poisson.test
    and binom.test compute a two-sided interval this way, also at the boundary): it is
    labelled as a one-sided bound. The arm has none: ratio 0, upper bound. The control
    has none: ratio not estimable (None), lower bound."""
    if x1 == 0 and x0 > 0 and cell.irr_high is not None:
        cell.irr_bound_side = "upper"
    elif x0 == 0 and x1 > 0 and cell.irr_low is not None:
        cell.irr_bound_side = "lower"
    else:
        return
    cell.irr_bound_level = 1 - alpha / 2


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def build(ctx: Context) -> Table:
    conf = rate_params(ctx.params)
    ev = ctx.teaes()
    groups: list[tuple[str, np.ndarray, str | None]] = [
        (_("Any TEAE"), np.ones(len(ev), dtype=bool), None)
    ]
    # GC toxicity by GTI domain, with infections in their own grouping (aesi.table_rows)
    aesi_rows = aesi.table_rows(ctx.data.events, aesi.wanted_keys(ctx.params))
    groups += [(r.label, aesi.member(ev, r.key), r.key) for r in aesi_rows]
    meta: list[tuple[str, str, str | None, str | None]] = []
    ns, es, pys, extras = [], [], [], []
    for label, mask, key in groups:
        sub = ev[mask]
        firsts = first_events(ctx, sub, np.zeros(len(sub), dtype=np.int64))
        n, py = person_time(ctx, firsts, 1)
        extra = _survival(ctx, firsts, conf)
        if ctx.control is not None:
            glm = stats.poisson_regression(
                n[0].tolist(), py[0].tolist(), ctx.control, 1 - conf["conf_level"]
            )
            extra["poisson_regression"] = {a.label: g for a, g in zip(ctx.arms, glm, strict=True)}
        if key:
            extra["aesi"] = key
        meta.append(("overall", label, None, label))
        ns.append(n[0])
        es.append(np.bincount(sub["arm"].to_numpy(np.int64), minlength=ctx.n_arms))
        pys.append(py[0])
        extras.append(extra)
    s_meta, s_n, s_e, s_py = _soc_terms(ctx, ev)
    meta += s_meta
    table_rows = rows(
        ctx, meta, np.vstack(ns + s_n), np.vstack(es + s_e), np.vstack(pys + s_py), conf
    )
    for row, extra in zip(table_rows, extras, strict=False):
        row.extra.update(extra)
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=table_rows, cutoff=ctx.data.cutoff, params={**ctx.params, **conf},
        footnotes=[
            _("Rate: subjects with the event per 100 patient-years at risk; time at risk runs "
            "from the first dose to the first occurrence, or to the end of the TEAE window "
            "(the data cut-off while dosing continues). Patient-years = days / 365.25."),
            *rate_footnotes(conf),
            *_by_arm_footnotes(conf),
        ],
    )  # fmt: skip


def _by_arm_footnotes(conf: dict[str, Any]) -> list[str]:
    return [
        _(
            "Any TEAE and AESI rows: Poisson regression with log(patient-years) offset, and "
            "Kaplan-Meier time to first event with the log-rank test."
        ),
        km_footnote(conf),
    ]


def comparative_footnotes(params: dict[str, Any]) -> set[str]:
    """The footnotes about results by arm or between arms only (one-sided bounds of the
    rate ratio, regression, Kaplan-Meier by arm, log-rank, Cox): api.pooled drops them."""
    conf = rate_params(params)
    return {rate_footnotes(conf)[1], *_by_arm_footnotes(conf)}


def rate_footnotes(conf: dict[str, Any]) -> list[str]:
    """The CI method and level of the rates and of the rate ratio, and the one-sided bound
    convention (AET05 and AET05_ALL)."""
    level = level_text(conf["conf_level"])
    one = level_text(1 - (1 - conf["conf_level"]) / 2)
    return [
        _("%(level)s%% CI for rates: %(method)s. Rate ratio against the control arm: "
          "exact conditional %(level)s%% CI (Clopper-Pearson, conditional on the total) and "
          "two-sided p as R's poisson.test: the probability of every split of the total at "
          "most as likely as the observed one. p-values are nominal, not adjusted for "
          "multiplicity.", level=level, method=_(METHODS[conf["conf_type"]])),
        _("With no events in one arm the rate ratio has one finite limit, shown as a "
          "one-sided %(one)s%% bound (the Clopper-Pearson limit of that interval, as R's "
          "poisson.test): no events in the arm, ratio 0 with its upper bound; no events in "
          "the control arm, ratio not estimable (NE) with its lower bound.", one=one),
    ]  # fmt: skip


def km_footnote(conf: dict[str, Any]) -> str:
    return _(
        "Kaplan-Meier median as R survival's print.survfit (where the curve is exactly 0.5, "
        "the midpoint to the next event time), its %(level)s%% CI by Brookmeyer-Crowley on "
        "the %(transform)s-transformed pointwise band; Cox hazard ratio of each arm against "
        "the control arm with Wald %(level)s%% CI (Efron ties, as R's coxph); NR: not "
        "reached.",
        level=level_text(conf["conf_level"]),
        transform=_(KM_METHODS[conf["km_conf_type"]]),
    )


def _soc_terms(ctx: Context, ev: pd.DataFrame) -> tuple[list, list, list, list]:
    """Meta and (n, events, patient-years) per SOC and term row, in AET02 order."""
    soc, soc_labels = category_codes(ev["aebodsys"])
    term, term_labels = category_codes(ev["aedecod"])
    width = len(term_labels) + 1
    pair_ids, pair = dense_codes(soc * width + term, (len(soc_labels) + 1) * width)
    n_soc, py_soc = person_time(ctx, first_events(ctx, ev, soc), len(soc_labels))
    n_pair, py_pair = person_time(ctx, first_events(ctx, ev, pair), len(pair_ids))
    a = ctx.n_arms
    ev_arm = ev["arm"].to_numpy(np.int64)
    e_soc = np.bincount(soc * a + ev_arm, minlength=len(soc_labels) * a).reshape(-1, a)
    e_pair = np.bincount(pair * a + ev_arm, minlength=len(pair_ids) * a).reshape(-1, a)
    pair_soc, pair_term = pair_ids // width, [term_labels[t] for t in pair_ids % width]
    meta, ns, es, pys = [], [], [], []
    for kind, i in soc_term_order(ctx, soc_labels, n_soc, pair_soc, pair_term, n_pair):
        if kind == "soc":
            meta.append(("soc", soc_labels[i], soc_labels[i], None))
            ns.append(n_soc[i])
            es.append(e_soc[i])
            pys.append(py_soc[i])
        else:
            soc_label = soc_labels[pair_soc[i]]
            meta.append(("term", pair_term[i], soc_label, pair_term[i]))
            ns.append(n_pair[i])
            es.append(e_pair[i])
            pys.append(py_pair[i])
    return meta, ns, es, pys


def soc_term_order(
    ctx: Context,
    soc_labels: list[str],
    n_soc: np.ndarray,
    pair_soc: np.ndarray,
    pair_term: list[str],
    n_pair: np.ndarray,
) -> list[tuple[str, int]]:
    """The rows of a rate table's SOC/term part, in AET02 order: ("soc", SOC index) for
    each SOC with a subject, each followed by its ("term", pair index) rows."""
    out: list[tuple[str, int]] = []
    for s in order(ctx, soc_labels, n_soc, key="soc_order"):
        if n_soc[s].sum() == 0:
            continue
        out.append(("soc", int(s)))
        members = np.flatnonzero(pair_soc == s)
        for j in order(ctx, [pair_term[m] for m in members], n_pair[members]):
            out.append(("term", int(members[j])))
    return out
