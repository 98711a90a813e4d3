"""Charts drawn by pv.charts in a child process, as a large study's workbook draws them."""

from __future__ import annotations

from pv.analysis.table import ArmInfo
from pv.exports.arms import ArmView
from pv.exports.charts_job import MASKED_POOLED, ChartJob
from tests.exports.conftest import CUTOFF, STUDY, Demo

PNG = b"\x89PNG\r\n\x1a\n"


def _view(demo: Demo, session: str, mask: bool = False) -> ArmView:
    arms = [ArmInfo(None, label, code, 0) for label, code in demo.arms.items()]
    return ArmView.build(STUDY, arms, session=session, mask=mask)


def test_a_child_process_draws_the_pooled_charts_of_the_open_session(demo: Demo) -> None:
    from pv.charts import CHARTS

    job = ChartJob(
        demo.engine, STUDY, cutoff=CUTOFF, view=_view(demo, "open"), separate_process=True
    )
    found = job.result()
    assert found.images and all(png.startswith(PNG) for png in found.images.values())
    assert not any(CHARTS[name].by_arm for name in found.images)
    assert job.peak_rss_mib and job.peak_rss_mib > 0  # measured in the child


def test_a_masked_session_passes_coded_labels_or_pools(demo: Demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pv.charts

    seen: dict[str, object] = {}

    def with_labels(engine, study_id, *, cutoff=None, pooled=False, arm_labels=None):  # type: ignore[no-untyped-def]
        seen.update(pooled=pooled, arm_labels=arm_labels)
        return {"aesi_forest": PNG}

    def without_labels(engine, study_id, *, cutoff=None, pooled=False):  # type: ignore[no-untyped-def]
        seen.update(pooled=pooled, arm_labels=None)
        return {"aesi_forest": PNG}

    view = _view(demo, "closed", mask=True)
    monkeypatch.setattr(pv.charts, "render_all", with_labels)
    found = ChartJob(demo.engine, STUDY, cutoff=CUTOFF, view=view, separate_process=False).result()
    assert seen == {"pooled": False, "arm_labels": view.shown} and not found.notes
    monkeypatch.setattr(pv.charts, "render_all", without_labels)
    found = ChartJob(demo.engine, STUDY, cutoff=CUTOFF, view=view, separate_process=False).result()
    assert seen["pooled"] is True and found.notes == [MASKED_POOLED]


def test_masked_charts_name_no_arm(demo: Demo) -> None:
    """The contract the masked workbook relies on: coded labels replace the arm names."""
    from pv.charts import render_all

    view = _view(demo, "closed", mask=True)
    plain = render_all(demo.engine, STUDY, cutoff=CUTOFF, fmt="svg")
    assert any(label in svg.decode("utf-8") for label in demo.arms for svg in plain.values())
    images = render_all(demo.engine, STUDY, cutoff=CUTOFF, arm_labels=view.shown, fmt="svg")
    for name, svg in images.items():
        text = svg.decode("utf-8")
        assert not [label for label in demo.arms if label in text], name


def test_a_chart_failure_is_reported_not_raised(demo: Demo) -> None:
    job = ChartJob(
        demo.engine, "NO-SUCH-STUDY", cutoff=CUTOFF, view=_view(demo, "open"), separate_process=True
    )
    found = job.result()
    assert found.images == {} and "could not be drawn" in found.notes[0]
    job = ChartJob(
        demo.engine, STUDY, cutoff=CUTOFF, view=_view(demo, "open"), separate_process=True
    )
    job.cancel()  # the workbook failed: the child is stopped and its files removed
