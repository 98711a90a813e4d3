"""Charts on the demo trial: valid images, pooled variants, and the plotted numbers checked
against the analysis tables and against independent computations from the records."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date, timedelta

import matplotlib.image as mpimg
import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pv import charts
from pv.analysis.api import build_table, build_tables
from pv.analysis.table import TOTAL
from pv.charts import dosing, forest, km, load, prednisone, sites
from pv.demo.generate import build_demo
from pv.events.dates import parse_dtc
from pv.events.models import AdverseEvent
from pv.exposure import derive
from pv.exposure.models import Exposure
from pv.study.models import Drug, Site, Subject

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CUTOFF = date(2021, 10, 31)  # mid-study: windows capped, exposure truncated


@pytest.fixture
def study(engine: Engine) -> str:
    return build_demo(engine, seed=42).study_id


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    # Not blank: a chart has many distinct colours.
    assert len(np.unique(image.reshape(-1, image.shape[2])[::97], axis=0)) > 8
    return image.shape[1], image.shape[0]


def _subject_ids(engine: Engine, study: str) -> list[int]:
    with Session(engine) as s:
        return list(
            s.exec(select(Subject.id).where(Subject.study_id == study).order_by(Subject.id))
        )


def _exposures(engine: Engine) -> dict[int, list[Exposure]]:
    out: dict[int, list[Exposure]] = defaultdict(list)
    with Session(engine) as s:
        rows = s.exec(select(Exposure, Drug.key).join(Drug, col(Drug.id) == col(Exposure.drug_id)))
        for e, key in rows:
            e.__dict__["drug_key"] = key
            out[e.subject_id].append(e)
    return out


def test_every_chart_is_a_readable_png_by_arm_and_pooled(engine: Engine, study: str) -> None:
    by_arm = charts.render_all(engine, study)
    pooled = charts.render_all(engine, study, pooled=True)
    assert list(by_arm) == list(charts.STUDY_CHARTS)
    # Every study-level chart has a pooled variant; none is by-arm only.
    assert list(pooled) == [n for n in charts.STUDY_CHARTS if not charts.CHARTS[n].by_arm]
    assert list(pooled) == list(charts.STUDY_CHARTS)
    for images in (by_arm, pooled):
        for name, data in images.items():
            width, height = _png_size(data)
            assert width == 1080, name  # 9 in at 120 dpi
            assert 450 <= height <= 1200, name
    subject = _subject_ids(engine, study)[0]
    for data in (
        charts.chart_subject_timeline(engine, subject, study_id=study),
        charts.chart_cumulative_prednisone(engine, study, subject),
        charts.chart_cumulative_prednisone(engine, study, subject, pooled=True),
    ):
        assert _png_size(data)[0] == 1080
    svg = charts.chart_aesi_forest(engine, study, fmt="svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg


def test_chart_catalogue_and_refusals(engine: Engine, study: str) -> None:
    assert set(charts.STUDY_CHARTS) | set(charts.SUBJECT_CHARTS) == set(charts.CHARTS)
    for name, (title, by_arm) in charts.CHARTS.items():
        assert title and isinstance(by_arm, bool), name
    assert [n for n, info in charts.CHARTS.items() if info.by_arm] == ["subject_timeline"]
    subject = _subject_ids(engine, study)[0]
    with pytest.raises(charts.ChartError):
        charts.chart_subject_timeline(engine, subject, pooled=True)
    with pytest.raises(charts.NotFound):
        charts.chart_subject_timeline(engine, subject, study_id="NCT00000000")
    with pytest.raises(charts.NotFound):
        charts.chart_cumulative_prednisone(engine, "NCT00000000", subject)
    with pytest.raises(charts.ChartError):
        charts.chart_km_infection(engine, study, fmt="gif")


def test_pooled_images_carry_no_arm_name(engine: Engine, study: str) -> None:
    arms = [a.label for a in build_table(engine, study, "AET01").arms]
    for name in charts.STUDY_CHARTS:
        svg = getattr(charts, f"chart_{name}")(engine, study, pooled=True, fmt="svg")
        text = svg.decode()
        # Text is drawn as glyph paths; the labels survive as <!-- comments --> per text.
        for arm in arms:
            assert arm not in text, (name, arm)
        by_arm = getattr(charts, f"chart_{name}")(engine, study, fmt="svg").decode()
        assert all(arm in by_arm for arm in arms), name


def test_masked_arms_are_coded_and_ordered_by_code(
    engine: Engine, study: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    arms = build_table(engine, study, "AET01").arms
    control = next(a for a in arms if a.is_control)
    other = next(a for a in arms if not a.is_control)
    # The comparator gets "Arm B": the charts must not keep comparing against it.
    shown = {control.label: "Arm B", other.label: "Arm A"}
    drawn: list = []
    original = forest.plot_aesi_forest
    monkeypatch.setattr(
        forest, "plot_aesi_forest", lambda f, **kw: drawn.append(f) or original(f, **kw)
    )
    images = charts.render_all(engine, study, arm_labels=shown, fmt="svg")
    for name, svg in images.items():
        text = svg.decode()
        assert control.label not in text and other.label not in text, name
        assert "Arm A (N=" in text and "Arm B (N=" in text, name
    frame = drawn[0]
    assert list(dict.fromkeys(frame["group"])) == ["Arm A", "Arm B"]
    assert frame.attrs["control"] == "Arm A"
    # Arm B minus Arm A: the table with the real "Arm A" arm as the reference.
    table = build_table(engine, study, "AET01_AESI", control=other.label)
    for row in (r for r in table.rows if r.row_type == "soc"):
        got = frame[(frame["grouping"] == row.label) & (frame["group"] == "Arm B")].iloc[0]
        cell = row.cells[control.label]
        assert (got["n"], got["rd"], got["rd_low"], got["rd_high"]) == (
            cell.n,
            cell.rd,
            cell.rd_low,
            cell.rd_high,
        )
    subject = _subject_ids(engine, study)[0]
    svg = charts.chart_subject_timeline(engine, subject, arm_labels=shown, fmt="svg").decode()
    assert "Arm A" in svg or "Arm B" in svg
    with pytest.raises(charts.ChartError):
        charts.render_all(engine, study, arm_labels={control.label: "Arm A"})


def test_forest_plots_the_aet01_aesi_numbers(
    engine: Engine, study: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list = []
    original = forest.plot_aesi_forest
    monkeypatch.setattr(
        forest, "plot_aesi_forest", lambda f, **kw: drawn.append(f) or original(f, **kw)
    )
    charts.chart_aesi_forest(engine, study, cutoff=CUTOFF)
    charts.chart_aesi_forest(engine, study, cutoff=CUTOFF, pooled=True)
    frame, pooled = drawn
    table = build_table(engine, study, "AET01_AESI", cutoff=CUTOFF)
    rows = [r for r in table.rows if r.row_type == "soc"]
    assert list(dict.fromkeys(frame["grouping"])) == [r.label for r in rows]
    assert len(frame) == len(rows) * len(table.arms)
    compared = 0
    for row in rows:
        for arm in table.arms:
            got = frame[(frame["grouping"] == row.label) & (frame["group"] == arm.label)].iloc[0]
            cell = row.cells[arm.label]
            assert (got["n"], got["N"]) == (cell.n, cell.N) and got["N"] == arm.N
            assert got["pct"] == pytest.approx(100 * cell.n / cell.N)
            if arm.is_control:
                assert np.isnan(got["rd"]) and cell.rd is None
                continue
            assert (got["rd"], got["rd_low"], got["rd_high"]) == (
                cell.rd,
                cell.rd_low,
                cell.rd_high,
            )
            compared += 1
    assert compared == len(rows)  # two arms: one comparison per grouping
    assert frame.attrs["control"] == table.control
    assert set(pooled["group"]) == {"All subjects"} and pooled["rd"].isna().all()
    for row in rows:
        got = pooled[pooled["grouping"] == row.label].iloc[0]
        assert (got["n"], got["N"]) == (row.cells[TOTAL].n, row.cells[TOTAL].N)


def test_km_starts_at_the_safety_n_and_matches_aet05(engine: Engine, study: str) -> None:
    aet01, aet05 = build_tables(engine, study, ["AET01", "AET05"])
    data = load.study_data(engine, study)
    frame = km.km_data(data)
    for arm in aet01.arms:
        part = frame[frame["group"] == arm.label]
        first = part.iloc[0]
        assert (first["time"], first["at_risk"], first["surv"]) == (0.0, arm.N, 1.0)
        assert int(part["events"].sum() + part["censored"].sum()) == arm.N
        expected = aet05.row("Infections").extra["km"][arm.label]
        assert frame.attrs["medians"][arm.label] == expected["median"]
        steps = part[part["events"] > 0]
        assert steps[["time", "surv"]].to_numpy().tolist() == expected["curve"]
        assert int(steps["events"].sum()) == expected["events"]
    assert frame.attrs["logrank_p"] == pytest.approx(aet05.row("Infections").extra["logrank_p"])
    pooled = km.km_data(data, pooled=True)
    assert pooled.iloc[0]["at_risk"] == sum(a.N for a in aet01.arms)
    assert pooled.attrs["logrank_p"] is None and set(pooled["group"]) == {"All subjects"}
    # The numbers under the axis: subjects whose time is >= t, counted from the raw times.
    tte = km.survival.time_to_first(data, "infection")
    for arm_pos, arm in enumerate(aet01.arms):
        times = tte.loc[tte["arm"] == arm_pos, "time"].to_numpy()
        for t in (0, 30, 90, 180):
            got = km.survival.at_risk(frame, arm.label, np.array([t]))[0]
            assert got == int((times >= t).sum())


def test_cumulative_prednisone_equals_derive(engine: Engine, study: str) -> None:
    records = _exposures(engine)
    for subject_id in _subject_ids(engine, study):
        ex = load.exposures(engine, subject_id=subject_id)
        events = load.subject_events(engine, subject_id)
        series, marks = prednisone.subject_prednisone_data(ex, events)
        mine = [e for e in records[subject_id] if e.__dict__["drug_key"] == "prednisone"]
        day1 = derive.first_dose(records[subject_id]).date()
        last = derive.last_dose(mine)
        # Days on prednisone (a subject who left the study early has no day 100).
        for day in (d for d in (1, 30, 100) if day1 + timedelta(days=d - 1) <= last):
            got = series.loc[series["study_day"] == day, "cumulative_mg"].iloc[0]
            assert got == derive.cumulative_dose_mg(mine, day1 + timedelta(days=day - 1))
        for m in marks.itertuples():
            assert m.cumulative_mg == derive.cumulative_dose_mg(mine, m.onset.date())
    # Study level: the median drawn at day 30 is the median over each arm's subjects.
    data = load.study_data(engine, study)
    summary, events = prednisone.prednisone_data(
        data, load.exposures(engine, study_id=study, drug="prednisone")
    )
    arm_of = dict(zip(data.subjects["id"], data.subjects["arm"], strict=True))
    labels = list(data.arms["label"])
    for arm_pos, label in enumerate(labels):
        values = []
        for sid in (s for s, a in arm_of.items() if a == arm_pos):
            mine = [e for e in records[sid] if e.__dict__["drug_key"] == "prednisone"]
            day1 = derive.first_dose(records[sid]).date()
            values.append(derive.cumulative_dose_mg(mine, day1 + timedelta(days=29)))
        row = summary[(summary["group"] == label) & (summary["study_day"] == 30)].iloc[0]
        assert row["subjects"] == len(values) == summary.attrs["N"][label]
        assert row["median"] == pytest.approx(float(np.median(values)))
    assert len(events) > 0 and set(events["category"]) <= {"Infection", "Glucocorticoid toxicity"}


def test_dose_series_rules_by_hand() -> None:
    import pandas as pd

    ex = pd.DataFrame(
        {
            "subject_id": [7, 7, 7, 8],
            "dose_mg": [20.0, 10.0, 600.0, 5.0],
            "frequency": ["QD", "QD", "ONCE", "QD"],
            "start": pd.to_datetime(
                ["2024-01-01", "2024-01-04", "2024-01-02 10:30", "2024-02-28"], format="ISO8601"
            ),
            "end": pd.to_datetime(
                ["2024-01-03", "2024-01-05", "2024-01-02 11:30", None], format="ISO8601"
            ),
        }
    )
    series = dosing.dose_series(ex)
    s7 = series[series["subject_id"] == 7]
    assert s7["daily_mg"].tolist() == [20, 620, 20, 10, 10]
    assert s7["cumulative_mg"].tolist() == [20, 640, 660, 670, 680]
    s8 = series[series["subject_id"] == 8]
    assert s8["cumulative_mg"].tolist() == [5]  # no end date: the start day only
    totals = dosing.dose_totals(ex)
    got = dosing.cumulative_at(totals, np.array([7, 7, 7, 9]), np.array([0, 2, 99, 1]))
    assert got.tolist() == [0, 640, 680, 0]


def _imputed_onset(text: str, first_dose: date) -> date:
    """The documented TEAE rule: a partial date covering the first dose becomes the first
    dose date, otherwise its earliest day."""
    partial = parse_dtc(text)
    if not partial.complete and partial.earliest_date <= first_dose <= partial.latest_date:
        return first_dose
    return partial.earliest_date


def test_reporting_rate_is_events_per_patient_year(engine: Engine, study: str) -> None:
    data = load.study_data(engine, study, CUTOFF)
    frame = sites.reporting_rate_data(data, load.subject_sites(engine, study))
    pooled = sites.reporting_rate_data(data, load.subject_sites(engine, study), pooled=True)
    # Independently: exposure records truncated at the cut-off, derive.time_at_risk_years,
    # events whose onset falls in [first dose, last dose + 30 days] and not after the cut-off
    # nor after the subject's end of study (the observation period, issue 14 point 2; the
    # demo's disposition and death dates are its end of study).
    records = _exposures(engine)
    events: dict[tuple[int, int | None], int] = defaultdict(int)
    pyears: dict[tuple[int, int | None], float] = defaultdict(float)
    with Session(engine) as s:
        subjects = list(s.exec(select(Subject).where(Subject.study_id == study)))
        site_codes = {x.id: x.code for x in s.exec(select(Site))}
        aes = list(s.exec(select(AdverseEvent).where(AdverseEvent.status != "draft")))
    by_subject: dict[int, list[AdverseEvent]] = defaultdict(list)
    for ae in aes:
        by_subject[ae.subject_id].append(ae)
    for subj in subjects:
        given = [e for e in records[subj.id] if e.start.date() <= CUTOFF]
        if not given or subj.arm_id is None:
            continue
        first = derive.first_dose(given).date()
        last = min(derive.last_dose(given), CUTOFF)
        eos = subj.end_of_study_date
        for key in ((subj.site_id, subj.arm_id), (subj.site_id, None)):
            pyears[key] += derive.time_at_risk_years(first, last, window_days=30, cutoff=CUTOFF,
                                                     end_of_study=eos)  # fmt: skip
            for ae in by_subject[subj.id]:
                onset = _imputed_onset(ae.aestdtc, first)
                if first <= onset <= min(last + timedelta(days=30), CUTOFF, eos or CUTOFF):
                    events[key] += 1
    arm_ids = dict(zip(data.arms["label"], data.arms["id"], strict=True))
    assert len(frame) == len({k for k in pyears if k[1] is not None})
    for r in frame.itertuples():
        key = (r.site_id, arm_ids[r.group])
        assert r.events == events[key]
        assert r.pyears == pytest.approx(pyears[key], rel=1e-12)
        assert r.rate == pytest.approx(events[key] / pyears[key], rel=1e-12)
        assert r.rate_low < r.rate < r.rate_high
        assert r.site_code == site_codes[r.site_id]
    for r in pooled.itertuples():
        assert r.group == "All subjects"
        assert r.rate == pytest.approx(events[(r.site_id, None)] / pyears[(r.site_id, None)])
    total = sum(v for k, v in events.items() if k[1] is None)
    assert pooled.attrs["study_rate"] == pytest.approx(
        total / sum(v for k, v in pyears.items() if k[1] is None)
    )


def test_an_under_reporting_site_is_flagged(engine: Engine, study: str) -> None:
    """The demo has one site: spread its subjects over four, then drop three quarters of
    one site's events; only that site is flagged low, by arm and pooled."""
    data = load.study_data(engine, study)
    mapping = load.subject_sites(engine, study)
    which = np.arange(len(mapping)) % 4
    mapping = mapping.assign(
        site_id=100 + which, site_code=[f"S{i}" for i in which], site_name="Site"
    )
    site_of = dict(zip(mapping["subject_id"], mapping["site_id"], strict=True))
    ids = data.subjects["id"].to_numpy()[data.events["subj"].to_numpy()]
    on_site = np.array([site_of[i] == 102 for i in ids])
    data.events = data.events[~on_site | (np.arange(len(ids)) % 4 == 0)].reset_index(drop=True)
    for pooled in (False, True):
        frame = sites.reporting_rate_data(data, mapping, pooled=pooled)
        assert set(frame.loc[frame["low"], "site_id"]) == {102}, pooled
        low = frame[frame["low"]]
        assert (low["rate_high"] < low["reference"]).all()
        assert (low["rate"] < sites.LOW_RATIO * low["reference"]).all()
        assert _png_size(sites.plot_reporting_rate(frame))[0] == 1080


def test_subject_timeline_data(engine: Engine, study: str) -> None:
    records = _exposures(engine)
    for subject_id in _subject_ids(engine, study)[:10]:
        ex = load.exposures(engine, subject_id=subject_id)
        evs = load.subject_events(engine, subject_id)
        frame = charts.subject_timeline_data(ex, evs)
        kinds = frame["kind"].value_counts().to_dict()
        mine = records[subject_id]
        assert kinds.get("dose", 0) == sum(e.frequency == "QD" for e in mine)
        assert kinds.get("infusion", 0) == sum(e.frequency == "ONCE" for e in mine)
        assert kinds.get("event", 0) == len(evs)
        ev = frame[frame["kind"] == "event"]
        assert ev["value"].tolist() == evs["grade"].tolist()
        assert (ev["end"] > ev["start"]).all()


def test_same_data_same_bytes(engine: Engine, study: str) -> None:
    first = charts.render_all(engine, study, cutoff=CUTOFF)
    again = charts.render_all(engine, study, cutoff=CUTOFF)
    assert first == again
    subject = _subject_ids(engine, study)[5]
    assert charts.chart_subject_timeline(engine, subject) == charts.chart_subject_timeline(
        engine, subject
    )
    svg = [charts.chart_km_infection(engine, study, fmt="svg") for _ in range(2)]
    assert svg[0] == svg[1]
    assert b"Software" not in first["km_infection"]
    # A different cut-off draws a different picture.
    assert charts.render_all(engine, study)["km_infection"] != first["km_infection"]


def test_no_subject_dosed_yet_draws_a_message(engine: Engine, study: str) -> None:
    images = charts.render_all(engine, study, cutoff=date(2020, 1, 1))
    assert set(images) == set(charts.STUDY_CHARTS)
    for data in images.values():
        assert _png_size(data)[0] == 1080


def test_subject_without_prednisone_gets_a_message_not_a_1970_axis(
    engine: Engine, study: str
) -> None:
    subject = _subject_ids(engine, study)[0]
    # A cut-off before the first dose: the subject has no prednisone dosing in scope.
    svg = charts.chart_cumulative_prednisone(
        engine, study, subject, cutoff=date(2020, 1, 1), fmt="svg"
    ).decode()
    assert "No prednisone dosing recorded for this subject." in svg
    assert "1970" not in svg and "Jan 1970" not in svg
    dosed = charts.chart_cumulative_prednisone(engine, study, subject, fmt="svg").decode()
    assert "No prednisone dosing" not in dosed and "Cumulative prednisone dose (g)" in dosed


def test_by_day_summary_equals_a_long_format_groupby() -> None:
    """The block-wise summary against pandas over one row per subject-day (the simple,
    memory-hungry way), with blocks small enough to cut through every subject."""
    import pandas as pd

    rng = np.random.default_rng(11)
    rows = []
    for sid in range(1, 41):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 5)))
        for _ in range(int(rng.integers(1, 4))):
            length = int(rng.integers(1, 30 if sid != 7 else 400))  # one long course
            rows.append((sid, float(rng.choice([5, 7.5, 10, 20])), "QD", start,
                         start + pd.Timedelta(days=length - 1)))  # fmt: skip
            start += pd.Timedelta(days=length + int(rng.integers(0, 3)))
        if sid % 5 == 0:
            rows.append((sid, 500.0, "ONCE", start, None))
    ex = pd.DataFrame(rows, columns=["subject_id", "dose_mg", "frequency", "start", "end"])
    ex["end"] = pd.to_datetime(ex["end"])
    group = pd.Series(["A" if sid % 3 else "B" for sid in range(1, 41)], index=range(1, 41))

    long = dosing.dose_series(ex).assign(group=lambda f: group.reindex(f["subject_id"]).values)
    g = long.groupby(["group", "study_day"])["cumulative_mg"]
    expected = pd.DataFrame(
        {
            "subjects": g.size(),
            "median": g.median(),
            "q1": g.quantile(0.25),
            "q3": g.quantile(0.75),
        }  # fmt: skip
    ).reset_index()
    expected = expected[expected["subjects"] >= 5].reset_index(drop=True)
    assert set(expected["group"]) == {"A", "B"} and len(expected) > 50

    totals = dosing.dose_totals(ex)
    for block in (3, 64):
        got = dosing.by_day_summary(totals, group, block_days=block)
        assert got["group"].tolist() == expected["group"].tolist()
        assert got["study_day"].tolist() == expected["study_day"].tolist()
        assert got["subjects"].tolist() == expected["subjects"].tolist()
        for c in ("median", "q1", "q3"):
            assert got[c].to_numpy() == pytest.approx(expected[c].to_numpy(), abs=1e-9)
    # cumulative_at agrees with the long rows: 0 before day 1 or for an unknown subject,
    # the day's row inside, the last row held after the last dosing day.
    who = np.array([1, 7, 7, 12, 99, 20])
    day = np.array([0, 1, 350, 10_000, 1, 3])
    expected = []
    for w, d in zip(who, day, strict=True):
        rows = long[long["subject_id"] == w]
        expected.append(0.0 if d < 1 or rows.empty else
                        rows["cumulative_mg"].iloc[min(d, len(rows)) - 1])  # fmt: skip
    assert dosing.cumulative_at(totals, who, day).tolist() == pytest.approx(expected)
