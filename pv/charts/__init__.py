"""Server-rendered safety charts (matplotlib, Agg, PNG or SVG bytes; no browser library).

    from pv.charts import render_all, chart_subject_timeline
    images = render_all(engine, "NCT04660565", cutoff=date(2021, 12, 31), pooled=False)

Study-level charts (CHARTS, STUDY_CHARTS): AESI incidence with the risk-difference forest
plot, Kaplan-Meier time to first infection, cumulative prednisone dose with events, AE
reporting rate per site; each by arm or pooled (the DSMB open session). Subject-level: the
subject timeline (by arm only: it shows the infusions received) and the subject's
cumulative prednisone dose. The `*_data` functions return the DataFrames that are drawn.
"""

from pv.charts.api import (
    CHARTS,
    STUDY_CHARTS,
    SUBJECT_CHARTS,
    ChartInfo,
    chart_aesi_forest,
    chart_cumulative_prednisone,
    chart_km_infection,
    chart_reporting_rate_by_site,
    chart_subject_timeline,
    render_all,
)
from pv.charts.forest import aesi_forest_data
from pv.charts.km import km_data
from pv.charts.load import NotFound
from pv.charts.prednisone import prednisone_data, subject_prednisone_data
from pv.charts.sites import reporting_rate_data
from pv.charts.style import ChartError
from pv.charts.timeline import subject_timeline_data

__all__ = [
    "CHARTS",
    "STUDY_CHARTS",
    "SUBJECT_CHARTS",
    "ChartError",
    "ChartInfo",
    "NotFound",
    "aesi_forest_data",
    "chart_aesi_forest",
    "chart_cumulative_prednisone",
    "chart_km_infection",
    "chart_reporting_rate_by_site",
    "chart_subject_timeline",
    "km_data",
    "prednisone_data",
    "reporting_rate_data",
    "render_all",
    "subject_prednisone_data",
    "subject_timeline_data",
]
