"""AET05_ALL: exposure-adjusted rate of all occurrences of TEAEs, per 100 patient-years.

As chevron's AET05_ALL (aet05_all_pre: n_events = the number of events of a parameter,
AVAL = the time to the end of the AE reporting period): every TEAE record counts, and each
safety subject's time at risk is the whole observation period (first dose to the end of
the TEAE window, data.py `risk_days`), not stopped at a first event. So every row of an arm
has the same patient-years. Rate = events / patient-years x 100 with its CI (conf_type,
conf_level as AET05), and each arm against control: the rate ratio of events with the exact
conditional CI and poisson.test's p (aet05.rows). The event counts are treated as Poisson,
as tern's estimate_incidence_rate does: no allowance for subjects with repeated events.
Rows as AET05: any TEAE, the AESI groupings, then SOCs and preferred terms (ordered by the
number of subjects, as AET02). Patient-years = days / 365.25.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis import aesi, aet05
from pv.analysis.counting import Context, category_codes, count, dense_codes
from pv.analysis.table import Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET05_ALL"
# Compares arms by rate ratios (its own footnote), not by risk differences.
RATE_TABLE = True
TITLE = N_(
    "Exposure-adjusted incidence rate of treatment-emergent adverse events (all occurrences)"
)
COLUMNS = aet05.COLUMNS
validate_params = aet05.validate_params


def comparative_footnotes(params: dict[str, object]) -> set[str]:
    """The one-sided bound footnote: about the rate ratio only (api.pooled drops it)."""
    return {aet05.rate_footnotes(aet05.rate_params(params))[1]}


def build(ctx: Context) -> Table:
    conf = aet05.rate_params(ctx.params)
    ev = ctx.teaes()
    safety = ctx.data.safety
    days = np.bincount(
        safety["arm"].to_numpy(np.int64), weights=safety["risk_days"], minlength=ctx.n_arms
    )
    py_arm = days / aet05.DAYS_PER_YEAR
    meta: list[tuple[str, str, str | None, str | None]] = []
    ns, es = [], []
    groups: list[tuple[str, np.ndarray]] = [(_("Any TEAE"), np.ones(len(ev), dtype=bool))]
    aesi_rows = aesi.table_rows(ctx.data.events, aesi.wanted_keys(ctx.params))
    groups += [(r.label, aesi.member(ev, r.key)) for r in aesi_rows]
    for label, mask in groups:
        n, e = count(ctx, ev[mask])
        meta.append(("overall", label, None, label))
        ns.append(n[0])
        es.append(e[0])
    s_meta, s_n, s_e = _soc_terms(ctx, ev)
    meta += s_meta
    n_all, e_all = np.vstack(ns + s_n), np.vstack(es + s_e)
    py = np.broadcast_to(py_arm, n_all.shape).astype(float)
    rows = aet05.rows(ctx, meta, n_all, e_all, py, conf, numerator=e_all)
    for row, key in zip(rows[1:], [r.key for r in aesi_rows], strict=False):
        row.extra["aesi"] = key
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff, params={**ctx.params, **conf}, rate_of="events",
        footnotes=[
            _("Rate: events (every occurrence) per 100 patient-years at risk; time at risk "
              "runs from the first dose to the end of the TEAE window (the data cut-off "
              "while dosing continues), not stopped at a first event, so every row of an "
              "arm has the same patient-years. Patient-years = days / 365.25. Events are "
              "treated as Poisson counts: repeated events of one subject are not allowed "
              "for."),
            *aet05.rate_footnotes(conf),
        ],
    )  # fmt: skip


def _soc_terms(ctx: Context, ev: pd.DataFrame) -> tuple[list, list, list]:
    """Meta and (subjects, events) per SOC and term row, in AET02 order."""
    soc, soc_labels = category_codes(ev["aebodsys"])
    term, term_labels = category_codes(ev["aedecod"])
    width = len(term_labels) + 1
    pair_ids, pair = dense_codes(soc * width + term, (len(soc_labels) + 1) * width)
    n_soc, e_soc = count(ctx, ev, soc, len(soc_labels))
    n_pair, e_pair = count(ctx, ev, pair, len(pair_ids))
    pair_soc, pair_term = pair_ids // width, [term_labels[t] for t in pair_ids % width]
    meta, ns, es = [], [], []
    for kind, i in aet05.soc_term_order(ctx, soc_labels, n_soc, pair_soc, pair_term, n_pair):
        if kind == "soc":
            meta.append(("soc", soc_labels[i], soc_labels[i], None))
            ns.append(n_soc[i])
            es.append(e_soc[i])
        else:
            soc_label = soc_labels[pair_soc[i]]
            meta.append(("term", pair_term[i], soc_label, pair_term[i]))
            ns.append(n_pair[i])
            es.append(e_pair[i])
    return meta, ns, es
