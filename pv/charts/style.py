"""Shared look of every chart: figure size, palettes, labels, deterministic PNG/SVG output.

Figures are built with the object-oriented API (`Figure` + `FigureCanvasAgg`): no pyplot,
no global figure registry, safe to call from several server threads at once. Styling is
passed explicitly to each artist instead of through `rcParams`, so nothing global changes
while a chart is drawn.
"""

from __future__ import annotations

import io
import logging
import re
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Literal

import matplotlib
from matplotlib import dates as mdates
from matplotlib import transforms
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text

from pv import i18n
from pv.analysis.survival import POOLED
from pv.i18n import N_
from pv.i18n import gettext as _

log = logging.getLogger(__name__)

# SVG element ids are random unless salted; a fixed salt makes SVG output reproducible.
if matplotlib.rcParams.get("svg.hashsalt") is None:
    matplotlib.rcParams["svg.hashsalt"] = "pv-tracker"

WIDTH, HEIGHT, DPI = 9.0, 5.0, 120
FORMATS = ("png", "svg")

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
ARM_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
POOLED_COLOUR = "#4D4D4D"
REFERENCE_COLOUR = "#7F7F7F"
# CTCAE grades: 1 green ... 5 black (the usual convention); the grade number is also
# written on the chart so colour is never the only cue. 0 = grade unknown.
GRADE_COLOURS = {
    0: "#BDBDBD",
    1: "#1A9850",
    2: "#FEE08B",
    3: "#F46D43",
    4: "#B2182B",
    5: "#000000",
}
GRADE_LABELS = {  # msgids: shown through grade_label()
    0: N_("Grade unknown"),
    1: N_("Grade 1 (mild)"),
    2: N_("Grade 2 (moderate)"),
    3: N_("Grade 3 (severe)"),
    4: N_("Grade 4 (life-threatening)"),
    5: N_("Grade 5 (death)"),
}
# Chinese text needs a CJK font (Debian: fonts-noto-cjk); Latin text keeps matplotlib's
# default font, the CJK one is its fallback for the characters it lacks.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Sans CJK JP")
LATIN_FAMILY = "DejaVu Sans"
NEEDS_CJK = frozenset({"zh-Hans"})
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, NOTE_SIZE = 13, 10.5, 9.5, 8.5
TITLE_WIDTH = 76  # characters per title line (bold, TITLE_SIZE, 9 in)
NOTE_WIDTH = 135  # characters per footnote line at NOTE_SIZE on a 9 in figure


class ChartError(ValueError):
    """The chart cannot be drawn as asked (e.g. a by-arm-only chart requested pooled)."""


def new_figure(height: float = HEIGHT, width: float = WIDTH) -> Figure:
    fig = Figure(
        figsize=(width, height), dpi=DPI, layout=ConstrainedLayoutEngine(w_pad=0.08, h_pad=0.08)
    )
    FigureCanvasAgg(fig)
    return fig


def arm_colour(position: int) -> str:
    return ARM_COLOURS[position % len(ARM_COLOURS)]


def arm_label(label: str, n: int) -> str:
    return f"{group(label)} (N={n})"


def group(label: str) -> str:
    """A group as shown: an arm's label (data, as stored) or the pooled group, translated."""
    return _(POOLED) if label == POOLED else label


def grade_label(grade: int) -> str:
    return _(GRADE_LABELS[grade])


def scope(pooled: bool) -> str:
    """The title's last words: "all arms pooled" or "by arm"."""
    return _("all arms pooled") if pooled else _("by arm")


def gap() -> str:
    """What separates two sentences: a space, none between Chinese sentences."""
    return "" if i18n.current() in NEEDS_CJK else " "


def cutoff_note(cutoff: object) -> str:
    """The data cut-off sentence of a chart's footnote, with the gap before it."""
    if cutoff:
        return gap() + _("Data cut-off: %(date)s.", date=cutoff)
    return gap() + _("Data cut-off: none (all data).")


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """The name of an installed CJK font family, found by matplotlib's font manager (the
    font list is cached by matplotlib; this looks once per process), or None."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _first_cjk({f.name for f in manager.ttflist})
    if found is None:
        # matplotlib's font list is cached on disk: a font installed after the cache was
        # written is not in it. Look for CJK font files once and add them.
        for path in font_manager.findSystemFonts(fontext="otf"):
            if "cjk" in Path(path).name.lower():
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # unreadable font: skip it
                    log.debug("cannot read font %s", path)
        found = _first_cjk({f.name for f in manager.ttflist})
    return found


def _first_cjk(installed: set[str]) -> str | None:
    return next((family for family in CJK_FAMILIES if family in installed), None)


def chart_language(language: str | None = None) -> str:
    """The language a chart can be drawn in: `language` (default: the one in hand), or
    English, with a warning, when it needs a CJK font and none is installed (a chart of
    empty boxes helps nobody)."""
    wanted = i18n.normalize(language) if language else i18n.current()
    wanted = wanted or i18n.DEFAULT
    if wanted in NEEDS_CJK and cjk_family() is None:
        log.warning(
            "no CJK font (tried %s; install fonts-noto-cjk): charts are drawn in English",
            ", ".join(CJK_FAMILIES),
        )
        return i18n.DEFAULT
    return wanted


@contextmanager
def drawing(language: str | None = None) -> Iterator[str]:
    """Draw a chart in `language` (default: the one in hand), English if it cannot be."""
    shown = chart_language(language)
    with i18n.use(shown):
        yield shown


def apply_fonts(fig: Figure) -> None:
    """Give every text of the figure the CJK fallback font when the language needs one.
    Per artist, not through rcParams: nothing global changes while a chart is drawn."""
    if i18n.current() not in NEEDS_CJK:
        return
    family = cjk_family()
    if family is None:
        return
    families = [LATIN_FAMILY, family]
    for text in fig.findobj(Text):
        text.set_fontfamily(families)


def grade_colour(grade: object) -> str:
    try:
        g = int(grade)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        g = 0
    return GRADE_COLOURS.get(g, GRADE_COLOURS[0])


def text_colour_on(grade: int) -> str:
    return "white" if grade in (1, 4, 5) else "black"


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns; a Chinese character takes two (and Chinese text,
    without spaces, may break anywhere)."""
    if text.isascii():
        return textwrap.wrap(text, width)
    lines, line, used = [], "", 0
    for ch in text:
        size = 2 if ord(ch) > 0x2E7F else 1
        if used + size > width and line:
            lines.append(line.rstrip())
            line, used = ch.lstrip(), len(ch.lstrip())
        else:
            line, used = line + ch, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines


def title(fig: Figure, text: str, note: str | None = None) -> None:
    """Bold title at the top left; an optional footnote (population, cut-off) at the bottom."""
    text = "\n".join(_wrap(text, TITLE_WIDTH))
    fig.suptitle(text, fontsize=TITLE_SIZE, fontweight="bold", x=0.01, ha="left")
    if note:
        text = "\n".join(_wrap(note, NOTE_WIDTH))
        fig.supxlabel(text, fontsize=NOTE_SIZE, color="#404040", x=0.01, ha="left")


def tidy(ax: Axes, *, grid: Literal["x", "y", "both", ""] = "y") -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=TICK_SIZE)
    if grid:
        ax.grid(axis=grid, color="#E0E0E0", linewidth=0.8)
        ax.set_axisbelow(True)


def date_axis(ax: Axes) -> None:
    """Month ticks labelled "Mar 2021" (every tick carries its year: no guessing across a
    new year); day ticks "02 Mar 2021" for short spans. Call after the x limits are set."""
    lo, hi = ax.get_xlim()
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    if i18n.current() == i18n.DEFAULT:
        fmt = "%b %Y" if hi - lo > 75 else "%d %b %Y"
    else:  # no month names through a locale: ISO 8601 in every other language
        fmt = "%Y-%m" if hi - lo > 75 else "%Y-%m-%d"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))


def legend_row(
    fig: Figure, spec: SubplotSpec, handles: Sequence[Artist], ncol: int | None = None
) -> Axes:
    """An axes-less strip (a gridspec cell, e.g. gs[0, :]) holding the legend, between the
    title and the plots: it never covers data and constrained layout sizes it."""
    ax = fig.add_subplot(spec)
    ax.axis("off")
    cols = ncol or min(len(handles), 2)
    # Anchored at the figure's left edge (under the title), not the axes': long y labels
    # push the axes right and a wide legend would run off the figure.
    where = transforms.blended_transform_factory(fig.transFigure, ax.transAxes)
    ax.legend(
        handles=handles,
        loc="center left",
        ncol=cols,
        fontsize=TICK_SIZE,
        frameon=False,
        borderaxespad=0,
        handlelength=1.6,
        columnspacing=1.6,
        bbox_to_anchor=(0.012, 0.5),
        bbox_transform=where,
    )
    return ax


# Label positions tried in turn (offset in points, horizontal and vertical alignment).
_PLACES = (
    ((8, -10), "left", "top"),
    ((-8, 10), "right", "bottom"),
    ((8, 10), "left", "bottom"),
    ((-8, -10), "right", "top"),
    ((8, -26), "left", "top"),
    ((-8, 26), "right", "bottom"),
    ((8, 26), "left", "bottom"),
    ((-8, -26), "right", "top"),
)


def place_labels(ax: Axes, items: Sequence[tuple[object, float, str]], fontsize: float) -> None:
    """Annotate points (x, y, text) with labels that stay inside the axes and do not
    overlap each other: the first free position of _PLACES is used (the last tried if
    none is free). Call once everything else is drawn and the limits are final."""
    fig, canvas = ax.get_figure(), ax.figure.canvas
    assert isinstance(fig, Figure) and isinstance(canvas, FigureCanvasAgg)
    apply_fonts(fig)  # measured with the fonts they will be drawn with
    fig.draw_without_rendering()  # final layout, so window extents are the real ones
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken: list[transforms.Bbox] = []
    for x, y, text in items:
        label = None
        for offset, ha, va in _PLACES:
            if label is not None:
                label.remove()
            label = ax.annotate(
                text,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                fontfamily=_families(),
                zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
            box = label.get_window_extent(renderer)
            inside = (
                frame.x0 <= box.x0
                and box.x1 <= frame.x1
                and frame.y0 <= box.y0
                and (box.y1 <= frame.y1)
            )
            if inside and not any(box.overlaps(t.padded(3)) for t in taken):
                break
        if label is not None:
            taken.append(label.get_window_extent(renderer))


NO_SUBJECTS = N_("No subject in the safety population (no dose of study drug by the cut-off).")


def _families() -> list[str] | None:
    family = cjk_family() if i18n.current() in NEEDS_CJK else None
    return [LATIN_FAMILY, family] if family else None


def empty(ax: Axes, text: str = NO_SUBJECTS) -> None:
    """An empty panel: the message (a msgid, translated here), no ticks, no frame."""
    message(ax, _(text))
    # tick_params, not set_*ticks([]): the panel may share an axis with a drawn one.
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)
    ax.spines[["top", "right", "left", "bottom"]].set_visible(False)


def message(ax: Axes, text: str) -> None:
    """Write a message in the middle of an empty panel (no data, no comparison)."""
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=LABEL_SIZE,
        color="#606060",
        wrap=True,
    )


def to_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """PNG (or SVG) bytes without timestamps or version strings: same data, same bytes."""
    if fmt not in FORMATS:
        raise ChartError(f"unknown image format {fmt!r}; use png or svg")
    apply_fonts(fig)
    buf = io.BytesIO()
    if fmt == "png":
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    else:
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, facecolor="white")
        return _stable_svg_ids(buf.getvalue())
    return buf.getvalue()


_SVG_ID = re.compile(rb'id="([a-zA-Z]+[0-9a-f]{10})"')


def _stable_svg_ids(svg: bytes) -> bytes:
    """Renumber matplotlib's hashed SVG ids (clip paths, markers) in order of appearance.

    The hash covers the clip rectangle's floats, whose last bits vary with the process's
    layout history although the drawing is the same; sequential ids make equal drawings
    equal bytes.
    """
    names: dict[bytes, bytes] = {}
    for match in _SVG_ID.finditer(svg):
        names.setdefault(match.group(1), b"pv%d" % len(names))
    if not names:
        return svg
    pattern = re.compile(rb"\b(" + b"|".join(re.escape(k) for k in names) + rb")\b")
    return pattern.sub(lambda m: names[m.group(1)], svg)
