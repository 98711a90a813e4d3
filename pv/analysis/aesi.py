"""Adverse events of special interest (AESI): the pre-specified groupings and membership.

Events carry their grouping keys in `aesi` (comma-separated, derived when the event is
coded). The trial's pre-specified groupings are always shown, at zero if need be; any
other key found in the data is appended.

Glucocorticoid (GC) toxicity is shown by GTI domain (`table_rows`): the catalogue puts
every infection in the GC grouping too (its GTI infection domain, by reference), so the
grouping as a whole reads like "any infection". Tables show instead a summary row "GC
toxicity excluding infection" and one row per other domain; infections keep their own
grouping. An event's domain is derived here, at analysis time, from its code (`aelltcd`,
the CTCAE/MedDRA LLT code) through the AESI catalogue, once per distinct code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pv.i18n import N_
from pv.i18n import gettext as _
from pv.labels import choices, label
from pv.terminology.aesi import GC_TOXICITY, GTI_DOMAIN_LABELS, load_aesi

PRESPECIFIED = {
    "infection": N_("Infections"),
    "hypersensitivity": N_("Hypersensitivity reactions"),
    "infusion_reaction": N_("Infusion reactions"),
    "gc_toxicity": N_("Glucocorticoid toxicity"),
}
# The event columns a table needs for table_rows / member (add them to its COLUMNS).
COLUMNS = frozenset({"aesi", "aelltcd"})
GC_EXCL_INFECTION = "gc_toxicity_excl_infection"
GC_EXCL_INFECTION_LABEL = N_("GC toxicity excluding infection")
DOMAIN_PREFIX = "gc_toxicity:"
UNASSIGNED = "unassigned"
INFECTION_DOMAIN = "infection"
# The GTI domains' labels are pv.labels' "gti_domain" vocabulary; this one is the
# catalogue's gap.
UNASSIGNED_LABEL = N_("GC toxicity, domain not known")
assert set(GTI_DOMAIN_LABELS) <= {code for code, _text in choices("gti_domain")}


@dataclass(frozen=True)
class AesiRow:
    """One AESI row of a table: a grouping, the GC summary or a GC domain (indent 1)."""

    key: str  # grouping key, GC_EXCL_INFECTION, or "gc_toxicity:<domain>"
    label: str  # translated
    indent: int = 0


def groupings(events: pd.DataFrame, wanted: list[str] | None = None) -> list[tuple[str, str]]:
    """[(key, label)]: the requested (or pre-specified) keys, then other keys in the data."""
    keys = list(wanted) if wanted else list(PRESPECIFIED)
    if not wanted:
        found = set()
        for value in pd.Categorical(events["aesi"]).categories:
            found |= {k.strip() for k in str(value).split(",") if k.strip()}
        keys += sorted(found - set(keys))
    return [
        (k, _(PRESPECIFIED[k]) if k in PRESPECIFIED else k.replace("_", " ").capitalize())
        for k in keys
    ]


def table_rows(events: pd.DataFrame, wanted: list[str] | None = None) -> list[AesiRow]:
    """The AESI rows of a table, in order: each grouping of `groupings`, except that the GC
    toxicity grouping becomes "GC toxicity excluding infection" followed by one row per
    GTI domain but infection (every domain of the catalogue, at zero if need be; "domain
    not known" only when an event of the grouping has a code the catalogue does not
    place). Pass the events the rows will count (`aesi` and `aelltcd` columns)."""
    out: list[AesiRow] = []
    for key, name in groupings(events, wanted):
        if key != GC_TOXICITY:
            out.append(AesiRow(key, name))
            continue
        out.append(AesiRow(GC_EXCL_INFECTION, _(GC_EXCL_INFECTION_LABEL)))
        domains = [d for d in GTI_DOMAIN_LABELS if d != INFECTION_DOMAIN]
        if len(events) and (member(events, GC_TOXICITY) & _domain_is(events, "")).any():
            domains.append(UNASSIGNED)
        out += [AesiRow(DOMAIN_PREFIX + d, _domain_label(d), indent=1) for d in domains]
    return out


def _domain_label(domain: str) -> str:
    return _(UNASSIGNED_LABEL) if domain == UNASSIGNED else label("gti_domain", domain)


def member(events: pd.DataFrame, key: str) -> np.ndarray:
    """Boolean mask: the event belongs to the grouping `key`, or to a row key of
    `table_rows` (GC toxicity excluding infection, a GC domain)."""
    if key == GC_EXCL_INFECTION:
        return (
            member(events, GC_TOXICITY)
            & ~_domain_is(events, INFECTION_DOMAIN)
            & ~member(events, INFECTION_DOMAIN)
        )
    if key.startswith(DOMAIN_PREFIX):
        domain = key[len(DOMAIN_PREFIX) :]
        wanted = "" if domain == UNASSIGNED else domain
        return member(events, GC_TOXICITY) & _domain_is(events, wanted)
    codes, categories = _codes(events["aesi"])
    hit = np.array([key in {k.strip() for k in str(c).split(",")} for c in categories] + [False])
    return hit[codes]


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1: missing) and their distinct values: a column the loader read as
    a Categorical gives its own, without a pass over its rows."""
    cat = values.array if isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values)
    return cat.codes, cat.categories


def _domain_is(events: pd.DataFrame, domain: str) -> np.ndarray:
    """Boolean mask: gc_domain(events) == domain, decided once per distinct code."""
    return np.array([d == domain for d in _domains(events)])[_codes(events["aelltcd"])[0]]


def _domains(events: pd.DataFrame) -> list[str]:
    """The GTI domain of each distinct code of `events`, then "" for events without one."""
    if "aelltcd" not in events:
        raise KeyError("gc_domain needs the aelltcd column (add aesi.COLUMNS to the table's)")
    catalog = load_aesi()
    _, categories = _codes(events["aelltcd"])
    return [catalog.subgroup_of(str(c), GC_TOXICITY) or "" for c in categories] + [""]


def gc_domain(events: pd.DataFrame) -> np.ndarray:
    """Per event, the GTI domain key of its code in the GC toxicity grouping ("" when the
    code is not in it, or the event has no code). One catalogue look-up per distinct code."""
    return np.array(_domains(events), dtype=object)[_codes(events["aelltcd"])[0]]


def wanted_keys(params: dict) -> list[str] | None:
    value = params.get("aesi")
    if not value:
        return None
    return [k.strip() for k in (value.split(",") if isinstance(value, str) else value) if k.strip()]
