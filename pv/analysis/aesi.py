"""Adverse events of special interest (AESI): the pre-specified groupings and membership.

Events carry their grouping keys in `aesi` (comma-separated, derived when the event is
coded). The trial's pre-specified groupings are always shown, at zero if need be; any
other key found in the data is appended.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.i18n import N_
from pv.i18n import gettext as _

PRESPECIFIED = {
    "infection": N_("Infections"),
    "hypersensitivity": N_("Hypersensitivity reactions"),
    "infusion_reaction": N_("Infusion reactions"),
    "gc_toxicity": N_("Glucocorticoid toxicity"),
}


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


def member(events: pd.DataFrame, key: str) -> np.ndarray:
    """Boolean mask: the event belongs to the grouping `key`."""
    cat = pd.Categorical(events["aesi"])
    hit = np.array(
        [key in {k.strip() for k in str(c).split(",")} for c in cat.categories] + [False]
    )
    return hit[cat.codes]


def wanted_keys(params: dict) -> list[str] | None:
    value = params.get("aesi")
    if not value:
        return None
    return [k.strip() for k in (value.split(",") if isinstance(value, str) else value) if k.strip()]
