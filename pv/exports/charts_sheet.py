"""The charts of the safety review as images on one sheet.

`select` keeps what a session may show of rendered images: drawn pooled (the open
session), a chart that exists only by arm (CHARTS[name].by_arm in pv.charts, or a chart
the registry does not describe) is left out, and the captions say what is drawn: a pooled
chart's caption never says "by arm" (POOLED_TITLES; other titles get "all arms pooled").
`write_charts` takes plain PNG bytes, so it is tested with a generated image;
charts_job.py renders them with pv.charts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openpyxl.drawing.image import Image
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from pv.exports import styles as st
from pv.exports.xlsx_layout import UNIT_PT, print_setup
from pv.exports.xlsx_safe import safe_cell
from pv.i18n import N_
from pv.i18n import gettext as _

ROW_PX = 20  # rows under an image are given this height (15 pt) in pixels
ROW_PT = 15
# Captions of charts drawn pooled, where the registry's title describes the by-arm chart.
POOLED_TITLES = {
    "aesi_forest": N_("AESI incidence, all arms pooled"),
    "km_infection": N_("Kaplan-Meier time to first infection, all arms pooled"),
    "cumulative_prednisone": N_(
        "Cumulative prednisone dose over time with events, all arms pooled"
    ),
    "reporting_rate_by_site": N_(
        "AE reporting rate per site (AEs per patient-year), all arms pooled"
    ),
}
MAX_WIDTH_PX = 960
MAX_HEIGHT_PX = 580  # with its caption, a chart fits an A4 landscape page (509 pt high)


@dataclass
class Charts:
    images: dict[str, bytes] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _entry(registry: Any, name: str) -> Any:
    if isinstance(registry, Mapping):
        return registry.get(name)
    return None


def is_by_arm(registry: Any, name: str) -> bool:
    entry = _entry(registry, name)
    if entry is None:
        return True
    if isinstance(entry, bool):
        return entry
    if isinstance(entry, Mapping):
        return bool(entry.get("by_arm", True))
    return bool(getattr(entry, "by_arm", True))


def _title(registry: Any, name: str, pooled: bool = False) -> str:
    if pooled:
        if name in POOLED_TITLES:
            return _(POOLED_TITLES[name])
        return _("%(title)s, all arms pooled", title=_title(registry, name))
    entry = _entry(registry, name)
    found = entry.get("title") if isinstance(entry, Mapping) else getattr(entry, "title", None)
    return _(str(found)) if found else name.replace("_", " ").capitalize()


def registry() -> Mapping[str, Any]:
    """pv.charts' CHARTS registry (which charts exist only by arm), if pv.charts exists."""
    try:
        from pv.charts import CHARTS
    except ImportError:
        return {}
    return CHARTS


def select(images: Mapping[str, bytes], registry: Any, *, pooled: bool) -> Charts:
    """The images to show, with titles; drawn pooled, a by-arm-only chart is left out."""
    out = Charts()
    for name, png in images.items():
        if pooled and is_by_arm(registry, name):
            out.notes.append(
                _("Chart '%(title)s' exists only by arm: not shown.", title=_title(registry, name))
            )
            continue
        out.images[name] = png
        out.titles[name] = _title(registry, name, pooled)
    return out


def write_charts(
    ws: Worksheet, found: Charts, *, title: str, print_header: str, print_footer: str
) -> int:
    """Each image under its title, one chart a printed page; returns the number of charts."""
    ws.column_dimensions["A"].width = 12
    print_setup(ws, print_header, print_footer, width=MAX_WIDTH_PX * 0.75 / UNIT_PT)
    ws.append([st.apply(safe_cell(ws, title), "title")])
    for note in found.notes:
        ws.append([st.apply(safe_cell(ws, note), "note")])
    if not found.images:
        ws.append([st.apply(safe_cell(ws, _("No charts in this report.")), "note")])
    row = 1 + len(found.notes) + (0 if found.images else 1)  # rows written so far
    for i, (name, png) in enumerate(found.images.items()):
        if i:
            ws.row_breaks.append(Break(id=row))  # each chart starts a page
        ws.append([])
        ws.append([st.apply(safe_cell(ws, found.titles[name]), "key")])
        row += 2
        image = Image(io.BytesIO(png))
        scale = min(MAX_WIDTH_PX / image.width, MAX_HEIGHT_PX / image.height, 1.0)
        image.width, image.height = int(image.width * scale), int(image.height * scale)
        ws.add_image(image, f"A{row + 1}")
        rows = image.height // ROW_PX + 1
        for r in range(row + 1, row + rows + 1):  # rows of a known height under the image
            ws.row_dimensions[r].height = ROW_PT
            ws.append([])
        row += rows
    return len(found.images)
