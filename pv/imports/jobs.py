"""Upload jobs: a spreadsheet upload is read, checked and stored off the request loop.

The web route saves the file's bytes with a new `UploadJob` row and hands the work to an
executor; the page polls the row for progress (rows read, checked, stored) and the result.

Where the work runs (`PV_UPLOAD_WORKER`):
- ``process`` (the default): one worker process per web process (`spawn`ed, so it shares
  no threads or locks with the server). A CPU-bound import then competes with the web
  workers for a core only, never for the interpreter lock, and whatever memory a file
  costs is the worker's, not the server's. The worker opens its own engine from the
  database URL.
- ``thread``: a thread of the web process (an in-memory SQLite database, which another
  process cannot see, always uses this; so do most unit tests, for speed).

Everything the page shows comes from the job's row, so any web worker can answer a poll
and a cancel (several `pvtracker serve` workers share nothing but the database). Progress
is written at most every `PROGRESS_EVERY` seconds in its own short transaction, which also
reads the cancel flag; the store phase is one short all-or-nothing transaction that is
not interrupted (a cancel arriving then is too late, and the page says so).

Results: the first `SHOWN` errors and warnings are kept for the page; the whole error list
is kept as gzip-compressed CSV (`errors_csv`) and streamed, decompressed, as the report.
Finished jobs are deleted after `KEEP_DAYS` days, when the next job starts.
"""

from __future__ import annotations

import atexit
import gzip
import io
import logging
import multiprocessing
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import defer
from sqlmodel import col, select

from pv import i18n
from pv.audit.service import Actor
from pv.db import make_engine, read_session, write_session
from pv.imports.job_models import FINISHED, JobStatus, UploadJob
from pv.imports.spreadsheet.upload import UploadCancelled, error_report_gzip, import_upload
from pv.settings import Settings
from pv.timeutil import utcnow

log = logging.getLogger(__name__)

SHOWN = 1000  # errors kept for the page; the CSV report has them all
SHOWN_WARNINGS = 200
PROGRESS_EVERY = 0.4  # seconds between progress writes
KEEP_DAYS = 7
# A job whose row has not moved for this long while unfinished was lost with its worker
# (a server restart): the page says so instead of polling for ever.
STALLED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one upload (picklable: it may cross to a process)."""

    job_id: str
    database_url: str
    actor: Actor
    study_id: str
    site_ids: frozenset[int] | None
    filename: str
    data: bytes
    settings: Settings
    # The uploader's language (pv.i18n.current() when the job is created): the job's
    # messages and its error report are written in it.
    language: str = i18n.DEFAULT


def new_job(*, engine: Engine, actor: Actor, study_id: str, filename: str, size: int) -> str:
    """Record a queued job; returns its id (unguessable: it is also the report's URL)."""
    job_id = secrets.token_hex(16)
    now = utcnow()
    with write_session(engine) as session:
        session.exec(
            delete(UploadJob).where(  # type: ignore[call-overload]
                col(UploadJob.finished_at) < now - timedelta(days=KEEP_DAYS)
            )
        )  # type: ignore[operator]
        session.add(UploadJob(id=job_id, user_id=actor.user_id, username=actor.username,
                              study_id=study_id, filename=filename[:255], size=size,
                              created_at=now, updated_at=now))  # fmt: skip
    return job_id


def submit(spec: JobSpec, engine: Engine, mode: str) -> None:
    """Run the job in the background (see the module docstring for `mode`)."""
    if mode == "process" and not _in_memory(spec.database_url):
        memory_mb = spec.settings.upload_worker_memory_mb
        try:
            future = _executor("process", memory_mb).submit(run_in_worker, spec)
        except BrokenProcessPool:  # the last worker died (killed, out of memory): a new one
            _discard("process")
            future = _executor("process", memory_mb).submit(run_in_worker, spec)
    else:
        future = _executor("thread").submit(run_job, spec, engine)
    future.add_done_callback(lambda f: _worker_died(f, spec, engine))


def _worker_died(future: Any, spec: JobSpec, engine: Engine) -> None:
    """A job that never ran (the server stopped first) or whose worker died (killed, out of
    memory) is marked failed, saying what may have been stored."""
    with i18n.use(spec.language):
        _record_failure(future, spec, engine)


def _record_failure(future: Any, spec: JobSpec, engine: Engine) -> None:
    if future.cancelled():
        reason = i18n.gettext("the server stopped before the upload started; nothing was stored")
    else:
        exc = future.exception()
        if exc is None:
            return  # run_job recorded the result, whatever it was
        if isinstance(exc, BrokenProcessPool):
            _discard("process")
        log.error("upload job %s: worker failed: %r", spec.job_id, exc)
        reason = i18n.gettext(
            "the upload could not be processed (the worker stopped); nothing was stored"
        )
    try:
        job = get_job(engine, spec.job_id)
        if job is None or is_finished(job):
            return
        if job.status == JobStatus.storing:
            # The store is one transaction: it either committed whole or not at all.
            reason = i18n.gettext(
                "the upload stopped while its rows were being stored: either every row or "
                "none was stored (look at the event list before uploading again)"
            )
        _finish(engine, spec.job_id, JobStatus.failed, refused=reason)
    except Exception:  # noqa: BLE001 - best effort; the page will show the job as stalled
        log.exception("upload job %s: could not record the failure", spec.job_id)


def _in_memory(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and u.database in (None, "", ":memory:")


_executors: dict[str, Executor] = {}
_lock = threading.Lock()


def _executor(kind: str, memory_mb: int = 0) -> Executor:
    with _lock:
        ex = _executors.get(kind)
        if ex is None:
            if kind == "process":
                ex = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_limit_memory,
                    initargs=(memory_mb,),
                )
            else:
                ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pv-upload")
            _executors[kind] = ex
        return ex


def _discard(kind: str) -> None:
    with _lock:
        ex = _executors.pop(kind, None)
    if ex is not None:
        ex.shutdown(wait=False, cancel_futures=False)


def _limit_memory(memory_mb: int) -> None:
    """In a new worker process: cap its address space, so that a file that somehow gets
    past the reader's limits fails its job (MemoryError, or the worker dies and the job is
    marked failed) instead of taking the machine's memory from the server."""
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def shutdown() -> None:
    """Stop the executors (app shutdown): a running job finishes first, queued ones are
    marked failed (nothing stored) instead of delaying the shutdown."""
    with _lock:
        executors = list(_executors.values())
        _executors.clear()
    for ex in executors:
        ex.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)

_worker_engines: dict[str, Engine] = {}


def run_in_worker(spec: JobSpec) -> None:
    """The entry point in a worker process: one engine per database URL, kept."""
    engine = _worker_engines.get(spec.database_url)
    if engine is None:
        engine = _worker_engines[spec.database_url] = make_engine(spec.database_url)
    run_job(spec, engine)


class _Reporter:
    """Progress callbacks of `import_upload`, written to the job row now and then."""

    def __init__(self, engine: Engine, job_id: str):
        self.engine, self.job_id = engine, job_id
        self.phase = JobStatus.queued
        self.counts = {"rows_total": 0, "rows_read": 0, "rows_checked": 0, "rows_stored": 0}
        self.last = 0.0
        self.total_rows = 0

    def on_phase(self, name: str) -> None:
        self.phase = JobStatus(name)
        if self.phase == JobStatus.checking:
            self.total_rows = self.counts["rows_read"]
            self.counts["rows_total"] = self.total_rows
        # Every phase change looks at the cancel flag; entering the store is the last chance.
        self.write(force=True)

    def progress(self, done: int, total: int) -> None:
        """`import_upload` counts three passes over the rows: read, check, store."""
        if self.phase == JobStatus.reading:
            self.counts["rows_read"] = done
            self.counts["rows_total"] = max(total // 3, done)
        elif self.phase == JobStatus.checking:
            self.counts["rows_checked"] = max(done - self.total_rows, 0)
        elif self.phase == JobStatus.storing:
            self.counts["rows_stored"] = max(done - 2 * self.total_rows, 0)
            return  # the store's own transaction holds the write lock: nothing is written
        self.write()

    def write(self, *, force: bool = False) -> None:
        """The counts and phase, and a look at the cancel flag (UploadCancelled)."""
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        with write_session(self.engine) as session:
            session.exec(
                update(UploadJob)
                .where(col(UploadJob.id) == self.job_id)
                .values(status=self.phase.value, updated_at=utcnow(), **self.counts)
            )
            q = select(UploadJob.cancel_requested).where(col(UploadJob.id) == self.job_id)
            if session.exec(q).first():
                raise UploadCancelled()


def run_job(spec: JobSpec, engine: Engine) -> None:
    """Run one upload and record its result on the job row (never raises for the file), in
    the language of the user who uploaded it (messages, error report)."""
    with i18n.use(spec.language):
        _run_job(spec, engine)


def _run_job(spec: JobSpec, engine: Engine) -> None:
    reporter = _Reporter(engine, spec.job_id)
    try:
        result = import_upload(engine=engine, actor=spec.actor, study_id=spec.study_id,
                               site_ids=set(spec.site_ids) if spec.site_ids is not None
                               else None, filename=spec.filename, data=spec.data,
                               progress=reporter.progress, settings=spec.settings,
                               phase=reporter.on_phase)  # fmt: skip
    except UploadCancelled:
        _finish(engine, spec.job_id, JobStatus.cancelled, counts=reporter.counts)
        return
    except Exception:
        log.exception("upload job %s failed", spec.job_id)
        _finish(engine, spec.job_id, JobStatus.failed, counts=reporter.counts,
                refused=i18n.gettext("the upload could not be processed because of an "
                                     "internal error; nothing was stored"))  # fmt: skip
        return
    counts = dict(reporter.counts, rows_read=result.rows, rows_total=result.rows)
    if result.refused is not None:
        _finish(engine, spec.job_id, JobStatus.refused, counts=counts, refused=result.refused)
        return
    warnings = [[w.row, w.where, w.value, w.reason] for w in result.warnings[:SHOWN_WARNINGS]]
    if result.errors:
        _finish(engine, spec.job_id, JobStatus.rejected, counts=counts,
                error_count=len(result.errors), warning_count=len(result.warnings),
                errors_shown=[[e.row, e.where, e.value, e.reason]
                              for e in result.errors[:SHOWN]],
                warnings_shown=warnings,
                errors_csv=error_report_gzip(result.errors))  # fmt: skip
        return
    counts.update(rows_checked=result.rows, rows_stored=result.stored)
    _finish(engine, spec.job_id, JobStatus.stored, counts=counts, stored=result.stored,
            warning_count=len(result.warnings), warnings_shown=warnings)  # fmt: skip


def _finish(engine: Engine, job_id: str, status: JobStatus, *,
            counts: dict[str, int] | None = None, **values: Any) -> None:  # fmt: skip
    now = utcnow()
    with write_session(engine) as session:
        session.exec(update(UploadJob).where(col(UploadJob.id) == job_id)
                     .values(status=status.value, updated_at=now, finished_at=now,
                             **(counts or {}), **values))  # fmt: skip


def request_cancel(engine: Engine, job_id: str) -> None:
    with write_session(engine) as session:
        session.exec(update(UploadJob).where(col(UploadJob.id) == job_id)
                     .values(cancel_requested=True))  # fmt: skip


def get_job(engine: Engine, job_id: str) -> UploadJob | None:
    """The job's row without its error report (polled twice a second; see `error_report`)."""
    with read_session(engine) as session:
        q = select(UploadJob).where(col(UploadJob.id) == job_id)
        return session.exec(q.options(defer(UploadJob.errors_csv))).first()  # type: ignore[arg-type]


def error_report(engine: Engine, job_id: str, size: int = 1 << 16) -> Iterator[bytes] | None:
    """The job's whole error report (CSV), decompressed piece by piece; None without one."""
    with read_session(engine) as session:
        q = select(UploadJob.errors_csv).where(col(UploadJob.id) == job_id)
        packed = session.exec(q).first()
    if not packed:
        return None

    def chunks() -> Iterator[bytes]:
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as f:
            while chunk := f.read(size):
                yield chunk

    return chunks()


def is_finished(job: UploadJob) -> bool:
    return job.status in FINISHED


def is_stalled(job: UploadJob) -> bool:
    return not is_finished(job) and utcnow() - job.updated_at > STALLED_AFTER
