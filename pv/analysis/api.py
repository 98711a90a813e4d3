"""The one entry point for every rendering: CLI, web page and JSON API.

    build_table(engine, "STUDY", "AET02", control="Placebo", cutoff=date(2024, 6, 30))

returns a `Table`; `build_tables` builds several from one data load (the benchmark and
the DSMB workbook use it). Parameters (all optional, recorded on the table):

- window_days (int, 30), worsening (bool, True), imputation ("first-dose" | "earliest"):
  the TEAE rule, see teae.py;
- order / soc_order: "frequency" (default), "alpha" or "arm:<label or code>";
- threshold (AET10, percent, default 5); aesi (AET01_AESI/AET05: list of grouping keys);
- conf_type ("exact" (default), "byar", "normal", "normal_log") and conf_level (0.95):
  the rate CIs of AET05 and AET05_ALL, as tern's control_incidence_rate (the level also
  of the rate ratio, Poisson regression, Kaplan-Meier median and Cox CIs); km_conf_type
  ("log-log" (default), "log", "plain"): the band the KM median's CI is read from.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import date, datetime
from types import ModuleType
from typing import Any

from sqlalchemy.engine import Engine

from pv.analysis import (
    aet01,
    aet01_aesi,
    aet02,
    aet02_sae,
    aet04,
    aet05,
    aet05_all,
    aet10,
    dmt01,
    dst01,
    dtht01,
    ext01,
)
from pv.analysis.counting import Context
from pv.analysis.data import StudyData, load_study
from pv.analysis.table import TOTAL, ArmInfo, Table
from pv.analysis.teae import TEAERule
from pv.i18n import LANGUAGES, N_, normalize, use
from pv.i18n import gettext as _
from pv.timeutil import utcnow

TABLES: dict[str, ModuleType] = {
    m.NAME: m
    for m in (aet01, aet01_aesi, aet02, aet02_sae, aet04, aet05, aet05_all, aet10, dtht01)
    + (dmt01, ext01, dst01)
}
TABLE_NAMES = tuple(TABLES)
RULE_KEYS = ("window_days", "worsening", "imputation")
STAT_FOOTNOTES = (
    N_(
        "Percentages use the number of subjects in the safety population of each arm "
        "(randomized or assigned to an arm and dosed with any study drug) as denominator."
    ),
    N_(
        "A subject is counted once per row; system organ class and overall rows count "
        "subjects, not the sum of the rows below them. Events count every record."
    ),
)
COMPARISON_FOOTNOTE = N_(
    "Each arm is compared with %(control)s: risk difference with the Newcombe hybrid score "
    "(Wilson) 95%% CI; two-sided p-value from Fisher's exact test as R's fisher.test (the "
    "probability of every table at most as likely as the observed one). p-values are "
    "nominal, not adjusted for multiplicity."
)


POOLED_FOOTNOTE = N_(
    "Pooled across arms: this study is blinded and results by arm are shown only to users "
    "with the unblinded permission."
)


# Row extras that are by arm or compare arms (AET05: Kaplan-Meier by arm, log-rank p,
# Poisson regression rate ratios, Cox hazard ratios): not in a pooled table.
COMPARATIVE_EXTRAS = frozenset({"km", "logrank_p", "poisson_regression", "cox"})


def pooled(table: Table) -> Table | None:
    """The table as a blinded reader may see it (issue 13, blinding: "tables, pooled
    only"): the Total column alone, no arm columns, no control and no comparison, and no
    footnote or parameter naming an arm. None when anything left would still name an arm
    (the caller then refuses the table)."""
    names = {a.label for a in table.arms} | {a.code for a in table.arms if len(a.code) >= 3}
    names = {n for n in names if n.strip()}

    def names_arm(value: Any) -> bool:
        text = json.dumps(value, ensure_ascii=False, default=str)
        return any(n in text for n in names)

    with use(table.language):  # footnotes about arms and comparisons go
        comparison = {_(STAT_FOOTNOTES[0]), _("No control arm: comparisons are not shown.")}
        by_arm = getattr(TABLES.get(table.name), "comparative_footnotes", None)
        if by_arm is not None:  # AET05, AET05_ALL: one-sided bounds, KM by arm, Cox
            comparison |= by_arm(table.params)
    out = copy.deepcopy(table)
    out.pooled_N = table.total_N
    out.arms = []
    out.control = None
    for row in out.rows:
        row.cells = {TOTAL: row.cells[TOTAL]} if TOTAL in row.cells else {}
        # per-arm curves and between-arm tests (AET05) go; so does anything naming an arm
        row.extra = {
            k: v
            for k, v in row.extra.items()
            if k not in COMPARATIVE_EXTRAS and not names_arm(k) and not names_arm(v)
        }
    with use(table.language):
        out.footnotes = [
            _(POOLED_FOOTNOTE),
            *(f for f in table.footnotes if f not in comparison and not names_arm(f)),
        ]
    out.params = {k: v for k, v in table.params.items() if k != "control" and not names_arm(v)}
    return None if names_arm(out.to_dict()) else out


class TableError(ValueError):
    """Bad request: unknown table, arm or parameter."""


def build_table(
    engine: Engine,
    study_id: str,
    name: str,
    *,
    control: str | None = None,
    cutoff: date | None = None,
    params: dict[str, Any] | None = None,
    language: str = "en",
) -> Table:
    """One table; its texts (title, labels, footnotes) in `language` (English by default,
    whatever the reader's interface language: boards and regulators read English)."""
    return build_tables(
        engine, study_id, [name], control=control, cutoff=cutoff, params=params, language=language
    )[0]


def build_tables(
    engine: Engine,
    study_id: str,
    names: Iterable[str],
    *,
    control: str | None = None,
    cutoff: date | None = None,
    params: dict[str, Any] | None = None,
    language: str = "en",
) -> list[Table]:
    language = table_language(language)
    names = [_table_name(n) for n in names]
    params = dict(params or {})
    rule = _rule(params)
    columns: set[str] = set()
    for n in names:
        columns |= TABLES[n].COLUMNS
        _check_params(TABLES[n], params)  # before the data are loaded
    data = load_study(engine, study_id, columns=columns, rule=rule, cutoff=cutoff)
    return [
        build_from_data(data, n, control=control, params=params, language=language) for n in names
    ]


def build_from_data(
    data: StudyData,
    name: str,
    *,
    control: str | None = None,
    params: dict[str, Any] | None = None,
    language: str = "en",
) -> Table:
    """One table from loaded data, its texts in `language` (the data are never translated:
    terms, SOCs and arm labels stay as stored; numbers are the same in every language)."""
    language = table_language(language)
    with use(language):
        table = _build(data, name, control, params)
    table.language = language
    return table


def table_language(language: str | None) -> str:
    """The supported tag for `language` (en, zh-Hans; zh_CN and the like map to zh-Hans),
    else TableError."""
    found = normalize(language)
    if found is None:
        raise TableError(
            _(
                "unknown language %(language)s; choose from %(choices)s",
                language=repr(language),
                choices=", ".join(LANGUAGES),
            )
        )
    return found


def _build(data: StudyData, name: str, control: str | None, params: dict[str, Any] | None) -> Table:
    module = TABLES[_table_name(name)]
    params = dict(params or {})
    _check_params(module, params)
    ctx = _context(data, control, params)
    table = module.build(ctx)
    table.generated_at = utcnow()
    table.params = {
        **params,
        **table.params,  # with the defaults a module filled in (AET05: conf_type, ...)
        "control": table.control,
        "cutoff": data.cutoff.isoformat() if data.cutoff else None,
        "teae_rule": data.rule.as_dict(),
    }
    table.population = _(table.population)
    # Descriptive tables (DMT01, EXT01, DST01) state their own population and method and
    # compare nothing: the TEAE rule and the AE tables' counting and comparison notes are
    # not theirs.
    ae_notes = [
        data.rule.footnote(),
        *(_(f) for f in STAT_FOOTNOTES),
        *(
            (
                []
                if getattr(module, "RATE_TABLE", False)
                else [_(COMPARISON_FOOTNOTE, control=table.control)]
            )
            if table.control
            else [_("No control arm: comparisons are not shown.")]
        ),
    ]
    table.footnotes = [
        *([] if getattr(module, "DESCRIPTIVE", False) else ae_notes),
        *table.footnotes,
        _("Data cut-off: %(date)s.", date=data.cutoff.isoformat())
        if data.cutoff
        else _("Data cut-off: none (all data)."),
    ]
    return table


def _table_name(name: str) -> str:
    key = name.strip().upper()
    if key not in TABLES:
        raise TableError(
            _(
                "unknown table %(name)s; choose from %(choices)s",
                name=repr(name),
                choices=", ".join(TABLE_NAMES),
            )
        )
    return key


def _check_params(module: ModuleType, params: dict[str, Any]) -> None:
    """A table module's own parameter check (validate_params, if it has one): its
    ValueError, which names the parameter, becomes a TableError."""
    check = getattr(module, "validate_params", None)
    if check is None:
        return
    try:
        check(params)
    except ValueError as exc:
        raise TableError(str(exc)) from exc


def _rule(params: dict[str, Any]) -> TEAERule:
    given = {k: params[k] for k in RULE_KEYS if k in params}
    try:
        if "window_days" in given:
            given["window_days"] = int(given["window_days"])
        if "worsening" in given:
            given["worsening"] = str(given["worsening"]).lower() not in ("0", "false", "no")
        return TEAERule(**given)
    except (TypeError, ValueError) as exc:
        raise TableError(str(exc)) from exc


def _context(data: StudyData, control: str | None, params: dict[str, Any]) -> Context:
    sizes = data.arm_sizes()
    arms = [
        ArmInfo(
            id=int(a.id),
            label=str(a.label),
            code=str(a.code),
            N=int(sizes[i]),
            is_control=bool(a.is_control),
        )
        for i, a in enumerate(data.arms.itertuples())
    ]
    position: int | None = None
    if control is not None:
        matches = [i for i, a in enumerate(arms) if control in (a.label, a.code)]
        if not matches:
            choices = ", ".join(a.label for a in arms)
            raise TableError(
                _(
                    "no arm %(arm)s in study %(study)s; arms: %(choices)s",
                    arm=repr(control),
                    study=data.study_id,
                    choices=choices,
                )
            )
        position = matches[0]
    else:
        flagged = [i for i, a in enumerate(arms) if a.is_control]
        position = flagged[0] if flagged else None
    for i, a in enumerate(arms):
        a.is_control = i == position
    return Context(data=data, arms=arms, control=position, params=params)


def now() -> datetime:
    return utcnow()
