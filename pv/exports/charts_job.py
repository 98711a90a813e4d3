"""Rendering the workbook's charts with pv.charts, alongside the rest of the workbook.

The charts are drawn by a child process (`python -m pv.exports.charts_job`) started before
the listings are written and collected at the end: drawing is CPU-bound matplotlib work
that would otherwise add its time to the workbook's, and its memory (pv.charts loads the
study again) to the workbook's peak. The child gets its instructions, the database URL
included, on its standard input (not its command line, which other users can read) and
writes the PNG files and a manifest to a temporary directory. A database another process
cannot open (SQLite in memory) is drawn in this process instead. A chart that fails to
render does not stop the report: the chart sheet and the cover say so.

What a session gets: pooled charts in the open session; by arm in the closed one, except
that a masked session gets pooled charts unless `render_all` takes the coded labels
(a `labels` / `arm_labels` / `label_map` argument), since the legends would name the arms.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import resource
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from pv import i18n
from pv.exports.arms import ArmView
from pv.exports.charts_sheet import Charts, select
from pv.i18n import N_
from pv.i18n import gettext as _

log = logging.getLogger(__name__)
LABEL_ARGS = ("labels", "arm_labels", "label_map")
TIMEOUT_S = 900
MASKED_POOLED = N_(
    "Charts are pooled across arms in this masked session: the chart module cannot yet "
    "label arms with their codes."
)


def render(engine: Engine, job: dict[str, Any]) -> tuple[dict[str, bytes], dict[str, Any]]:
    """(images, manifest: registry, pooled) as `job` asks; runs in whichever process."""
    charts = importlib.import_module("pv.charts")
    render_all = charts.render_all
    params = inspect.signature(render_all).parameters
    label_arg = next((name for name in LABEL_ARGS if name in params), None)
    pooled = not job["by_arm"] or (job["masked"] and label_arg is None)
    kwargs: dict[str, Any] = {"pooled": pooled}
    kwargs["cutoff"] = date.fromisoformat(job["cutoff"]) if job["cutoff"] else None
    if job["masked"] and not pooled and label_arg:
        kwargs[label_arg] = job["labels"]
    with i18n.use(job.get("language")):  # the workbook's language
        images = render_all(engine, job["study_id"], **kwargs)
    # Titles stay msgids: the workbook translates them.
    registry = {
        name: {"title": getattr(info, "title", name), "by_arm": getattr(info, "by_arm", True)}
        for name, info in getattr(charts, "CHARTS", {}).items()
    }
    return images, {"registry": registry, "pooled": pooled}


def _child() -> None:
    """Entry point of the child process: the job arrives as JSON on standard input."""
    from pv.db import make_engine

    job = json.loads(sys.stdin.read())
    engine = make_engine(job["url"])
    try:
        images, manifest = render(engine, job)
    finally:
        engine.dispose()
    out = Path(job["out"])
    for i, (name, png) in enumerate(images.items()):
        (out / f"{i}.png").write_bytes(png)
        manifest.setdefault("files", []).append([name, f"{i}.png"])
    manifest["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


class ChartJob:
    """Charts being drawn; `result()` waits for them."""

    def __init__(
        self,
        engine: Engine,
        study_id: str,
        *,
        cutoff: date | None,
        view: ArmView,
        separate_process: bool = True,
        language: str = "en",
    ) -> None:
        self.peak_rss_mib: float | None = None
        self._engine, self._view = engine, view
        self._job: dict[str, Any] = {
            "study_id": study_id,
            "cutoff": cutoff.isoformat() if cutoff else None,
            "by_arm": view.by_arm,
            "masked": view.masked,
            "labels": dict(view.shown),
            "language": language,
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._missing = importlib.util.find_spec("pv.charts") is None
        url = engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        if self._missing or not separate_process or in_memory:
            return
        self._dir = tempfile.TemporaryDirectory(prefix="pv-charts-")
        job = {**self._job, "url": url.render_as_string(hide_password=False), "out": self._dir.name}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pv.exports.charts_job"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(job).encode("utf-8"))
        self._proc.stdin.close()
        self._proc.stdin = None  # sent: communicate() must not touch it again

    def result(self) -> Charts:
        if self._missing:
            return Charts(notes=[_("Charts are not available in this version of pv-tracker.")])
        try:
            images, manifest = self._collect()
        except Exception as exc:  # a chart bug must not withhold the safety report
            log.exception("chart rendering failed")
            return Charts(
                notes=[
                    _(
                        "The charts could not be drawn (%(error)s: %(detail)s)",
                        error=type(exc).__name__,
                        detail=exc,
                    )
                ]
            )
        finally:
            if self._dir is not None:
                self._dir.cleanup()
        found = select(images, manifest["registry"], pooled=manifest["pooled"])
        if self._view.by_arm and manifest["pooled"]:
            found.notes.insert(0, _(MASKED_POOLED))
        return found

    def cancel(self) -> None:
        """Stop drawing (the workbook failed): end the child process, remove its files."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        if self._dir is not None:
            self._dir.cleanup()

    def _collect(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        if self._proc is None:
            return render(self._engine, self._job)
        assert self._dir is not None and self._proc.stderr is not None
        try:
            _, err = self._proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise RuntimeError(f"no charts after {TIMEOUT_S} s") from None
        if self._proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {self._proc.returncode}")
        out = Path(self._dir.name)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        self.peak_rss_mib = manifest.get("peak_rss_mib")
        images = {name: (out / file).read_bytes() for name, file in manifest.get("files", [])}
        return images, manifest


if __name__ == "__main__":
    _child()
