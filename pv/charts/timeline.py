"""One subject's timeline: dosing bars, infusions, adverse events coloured by CTCAE grade.

Lanes from top to bottom: each daily-dosed drug (a bar per dosing period, labelled with
its mg/day), each infused drug (a diamond per infusion), then one lane per reported
event (onset to end; an ongoing or open event runs to the end of observation with an
arrow). Serious events are hatched; the grade is written on the bar as well as coloured.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pv.charts import style
from pv.events.dates import parse_dtc
from pv.i18n import gettext as _

COLUMNS = ["lane", "kind", "start", "end", "value", "text", "serious", "open_end"]
DOSE_COLOUR, INFUSION_COLOUR = "#0072B2", "#CC79A7"
ONE_DAY = pd.Timedelta(days=1)


def subject_timeline_data(
    exposure: pd.DataFrame, events: pd.DataFrame, *, observed_until: date | None = None
) -> pd.DataFrame:
    """The bars and markers the chart draws, one row each, lanes in drawing order.

    kind: "dose" (value mg/day, end exclusive), "infusion" (value mg), "event" (value = grade,
    end exclusive; open_end when ongoing or without an end date).
    """
    rows: list[dict[str, object]] = []
    last_seen = [exposure["start"].max(), exposure["end"].max()] if len(exposure) else []
    for (_drug, name), ex in exposure.groupby(["drug", "drug_name"], sort=False):
        daily = ex["frequency"].astype(str).str.upper().eq("QD")
        for r in ex[daily].itertuples():
            end = (r.end if pd.notna(r.end) else r.start).normalize() + ONE_DAY
            rows.append(
                {
                    "lane": _("%(drug)s (mg/day)", drug=name),
                    "kind": "dose",
                    "start": r.start.normalize(),
                    "end": end,
                    "value": r.dose_mg,
                    "text": f"{r.dose_mg:g}",
                }
            )
        for r in ex[~daily].itertuples():
            rows.append(
                {
                    "lane": _("%(drug)s infusions", drug=name),
                    "kind": "infusion",
                    "start": r.start,
                    "end": r.start,
                    "value": r.dose_mg,
                    "text": "",
                }
            )
    spans = [_span(e) for e in events.itertuples()]
    until = pd.Timestamp(observed_until) if observed_until else None
    ends = [s[1] for s in spans if s[1] is not None] + [s[0] for s in spans if s[0] is not None]
    fallback = until or max([t for t in last_seen + ends if pd.notna(t)], default=None)
    for e, (start, end) in zip(events.itertuples(), spans, strict=True):
        if start is None:
            continue
        open_end = bool(e.ongoing) or end is None
        stop = (fallback if open_end and fallback is not None else end or start) + ONE_DAY
        term = _short(str(e.term))
        label = _("%(term)s (SAE)", term=term) if e.serious else term
        rows.append(
            {
                "lane": _("AE %(seq)s: %(event)s", seq=e.aeseq, event=label),
                "kind": "event",
                "start": start,
                "end": max(stop, start + ONE_DAY),
                "value": int(e.grade),
                "text": str(int(e.grade)) if e.grade else "?",
                "serious": bool(e.serious),
                "open_end": open_end,
            }
        )
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
    frame["serious"] = frame["serious"].fillna(False).astype(bool)
    frame["open_end"] = frame["open_end"].fillna(False).astype(bool)
    frame.attrs["observed_until"] = until
    return frame


def _span(e: object) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    def parse(text: object, latest: bool) -> pd.Timestamp | None:
        if not text:
            return None
        try:
            p = parse_dtc(str(text))
        except ValueError:
            return None
        return pd.Timestamp(p.latest_date if latest else p.earliest_date)

    return parse(e.aestdtc, False), parse(e.aeendtc, True)  # type: ignore[attr-defined]


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_subject_timeline(
    frame: pd.DataFrame, *, subject: str, arm: str | None, fmt: str = "png"
) -> bytes:
    lanes = list(dict.fromkeys(frame["lane"]))
    fig = style.new_figure(max(3.8, 2.6 + 0.36 * len(lanes)))
    ax = fig.add_subplot(1, 1, 1)
    if frame.empty:
        style.message(ax, _("No dosing and no adverse events recorded for this subject."))
    y = {lane: i for i, lane in enumerate(lanes)}
    doses = frame[frame["kind"] == "dose"]
    top = float(doses["value"].max()) if len(doses) else 1.0
    for r in frame.itertuples():
        yy = y[r.lane]
        if r.kind == "dose":
            width = (r.end - r.start).days
            ax.barh(
                yy,
                width,
                left=r.start,
                height=0.62,
                color=DOSE_COLOUR,
                alpha=0.3 + 0.7 * r.value / top,
                edgecolor="white",
                linewidth=0.6,
            )
            if width >= 12:
                ax.text(
                    r.start + (r.end - r.start) / 2,
                    yy,
                    r.text,
                    ha="center",
                    va="center",
                    fontsize=style.NOTE_SIZE - 1,
                    color="black" if r.value / top < 0.5 else "white",
                )
        elif r.kind == "infusion":
            ax.plot(
                [r.start],
                [yy],
                marker="D",
                markersize=7,
                color=INFUSION_COLOUR,
                markeredgecolor="black",
                markeredgewidth=0.6,
            )
        else:
            grade = int(r.value)
            ax.barh(
                yy,
                (r.end - r.start).days,
                left=r.start,
                height=0.62,
                color=style.grade_colour(grade),
                linewidth=0.7,
                edgecolor="#9E9E9E" if grade == 5 else "black",  # hatch visible on black
                hatch="///" if r.serious else None,
            )
            ax.text(
                r.start - pd.Timedelta(days=2),
                yy,
                r.text,
                ha="right",
                va="center",
                fontsize=style.NOTE_SIZE,
                fontweight="bold",
            )
            if r.open_end:
                ax.plot([r.end], [yy], marker=">", color="black", markersize=6)
    until = frame.attrs.get("observed_until")
    if until is not None:
        ax.axvline(until, color=style.REFERENCE_COLOUR, linestyle="--", linewidth=1)
    ax.set_yticks(range(len(lanes)), lanes, fontsize=style.TICK_SIZE)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    if len(frame):
        lo, hi = frame["start"].min(), frame["end"].max()
        pad = max((hi - lo) * 0.03, pd.Timedelta(days=3))
        ax.set_xlim(mdates.date2num(lo - pad * 2), mdates.date2num(hi + pad))
    style.date_axis(ax)
    style.tidy(ax, grid="x")
    ax.set_xlabel(_("Date (event grade written left of each bar)"), fontsize=style.LABEL_SIZE)
    grades = sorted(
        {int(v) for v in frame.loc[frame["kind"] == "event", "value"]} | {1, 2, 3, 4, 5}
    )
    handles: list[Artist] = [
        Patch(facecolor=style.GRADE_COLOURS[g], edgecolor="black", label=style.grade_label(g))
        for g in grades
    ]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch="///", label=_("Serious")),
        Patch(color=DOSE_COLOUR, alpha=0.7, label=_("Daily dose period (darker = higher)")),
        Line2D(
            [],
            [],
            marker="D",
            linestyle="none",
            color=INFUSION_COLOUR,
            markeredgecolor="black",
            label=_("Infusion"),
        ),
    ]
    if frame.attrs.get("observed_until") is not None:
        handles.append(
            Line2D(
                [], [], color=style.REFERENCE_COLOUR, linestyle="--", label=_("End of observation")
            )
        )
    if (frame["open_end"]).any():
        handles.append(
            Line2D(
                [],
                [],
                marker=">",
                linestyle="none",
                color="black",
                label=_("Ongoing at end of observation"),
            )
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncol=4, fontsize=style.NOTE_SIZE, frameon=False
    )
    if arm:
        head = _("Subject timeline: %(subject)s (%(arm)s)", subject=subject, arm=arm)
    else:
        head = _("Subject timeline: %(subject)s", subject=subject)
    style.title(fig, head)
    return style.to_bytes(fig, fmt)


def observed_until(end_of_study: date | None, cutoff: date | None) -> date | None:
    """The end of observation: the cut-off or the end of study, whichever comes first."""
    dates = [d for d in (end_of_study, cutoff) if d is not None]
    return min(dates) if dates else None
