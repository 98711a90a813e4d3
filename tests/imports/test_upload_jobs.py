"""Upload jobs run in a worker process: the result lands on the job row, a dead worker
fails its job (and the next job gets a new worker), stalled and old jobs (issue 12.2)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.imports import jobs
from pv.imports.job_models import JobStatus, UploadJob
from pv.settings import Settings
from pv.timeutil import utcnow
from tests.imports.test_spreadsheet import ACTOR, csv_bytes, good


def _spec(env, data: bytes, settings: Settings, filename: str = "ae.csv") -> jobs.JobSpec:
    job_id = jobs.new_job(engine=env.engine, actor=ACTOR, study_id=env.study_id,
                          filename=filename, size=len(data))  # fmt: skip
    url = env.engine.url.render_as_string(hide_password=False)
    return jobs.JobSpec(job_id=job_id, database_url=url, actor=ACTOR, study_id=env.study_id,
                        site_ids=None, filename=filename, data=data, settings=settings)  # fmt: skip


def _wait(env, job_id: str, timeout: float = 90.0) -> UploadJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get_job(env.engine, job_id)
        assert job is not None
        if jobs.is_finished(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _count(env) -> int:
    with read_session(env.engine) as s:
        return len(s.exec(select(AdverseEvent.id)).all())


@pytest.fixture
def fresh_workers():
    jobs.shutdown()
    yield
    jobs.shutdown()


def test_a_job_in_a_worker_process_stores_the_file(upload_study, fresh_workers):
    env = upload_study
    rows = [
        good(env.subject("0012"), AESTDTC=f"2021-03-{d:02d}", AEENDTC="2021-03-31")
        for d in range(1, 11)
    ]
    spec = _spec(env, csv_bytes(rows), Settings(database_url="unused"))
    jobs.submit(spec, env.engine, "process")
    job = _wait(env, spec.job_id)
    assert (job.status, job.stored, job.rows_read, job.rows_stored) == ("stored", 10, 10, 10)
    assert _count(env) == 10 and job.finished_at is not None


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_new_worker(
    upload_study, fresh_workers
):
    env = upload_study
    data = csv_bytes([good(env.subject("0012"))])
    # 40 MiB of address space: the worker cannot even import the upload code.
    starved = Settings(database_url="unused", upload_worker_memory_mb=40)
    spec = _spec(env, data, starved)
    jobs.submit(spec, env.engine, "process")
    job = _wait(env, spec.job_id)
    assert job.status == JobStatus.failed and "nothing was stored" in (job.refused or "")
    assert _count(env) == 0
    jobs.shutdown()  # the starved worker (if it still lives) goes; the next is a normal one
    spec = _spec(env, data, Settings(database_url="unused"))
    jobs.submit(spec, env.engine, "process")
    assert _wait(env, spec.job_id).status == JobStatus.stored and _count(env) == 1


def test_a_job_whose_worker_vanished_is_shown_as_stalled(upload_study):
    env = upload_study
    spec = _spec(env, b"", Settings(database_url="unused"))
    job = jobs.get_job(env.engine, spec.job_id)
    assert job is not None and not jobs.is_stalled(job)
    with write_session(env.engine) as s:
        s.exec(update(UploadJob).where(UploadJob.id == spec.job_id)  # type: ignore[call-overload,arg-type]
               .values(status="reading", updated_at=utcnow() - timedelta(minutes=11)))  # fmt: skip
    job = jobs.get_job(env.engine, spec.job_id)
    assert job is not None and jobs.is_stalled(job) and not jobs.is_finished(job)


def test_finished_jobs_are_deleted_after_a_week(upload_study):
    env = upload_study
    old = _spec(env, b"", Settings(database_url="unused")).job_id
    with write_session(env.engine) as s:
        s.exec(update(UploadJob).where(UploadJob.id == old)  # type: ignore[call-overload,arg-type]
               .values(status="stored", finished_at=utcnow() - timedelta(days=8)))  # fmt: skip
    recent = _spec(env, b"", Settings(database_url="unused")).job_id
    assert jobs.get_job(env.engine, old) is None
    assert jobs.get_job(env.engine, recent) is not None


def test_the_compressed_report_is_the_csv_report_written_row_by_row():
    import gzip

    from pv.imports.spreadsheet import RowError
    from pv.imports.spreadsheet.upload import error_report_csv, error_report_gzip

    errors = [RowError(i + 2, "AETERM", f"=cmd|' /C calc'!A{i}", "naïve 发热, \"quoted\"\n")
              for i in range(5000)]  # fmt: skip
    assert gzip.decompress(error_report_gzip(errors)) == error_report_csv(errors)
    assert gzip.decompress(error_report_gzip([])) == error_report_csv([])


def test_the_report_treats_only_ascii_numbers_as_numbers():
    """A value like "-٣" is no number: it is neutralised like any text starting with "-"."""
    from pv.imports.spreadsheet import RowError
    from pv.imports.spreadsheet.upload import error_report_csv

    text = error_report_csv([RowError(2, "AETOXGR", "-3", "x"), RowError(3, "AETOXGR", "-٣", "x")])
    lines = text.decode("utf-8-sig").splitlines()
    assert lines[1] == "2,AETOXGR,-3,x" and lines[2] == "3,AETOXGR,'-٣,x"


def test_a_row_in_error_is_not_also_called_a_duplicate(upload_study):
    """Root causes only: two identical rows with a bad grade give two grade errors; a row
    repeating a row in error is not a duplicate of it (fixing the first may make it one)."""
    from tests.imports.test_spreadsheet import upload

    env = upload_study
    bad = good(env.subject("0012"), AETOXGR="9")
    result = upload(env, csv_bytes([bad, bad]), filename="ae.csv")
    assert [(e.row, e.column) for e in result.errors] == [(2, "AETOXGR"), (3, "AETOXGR")]
    result = upload(env, csv_bytes([bad, good(env.subject("0012"))]), filename="ae.csv")
    assert [(e.row, e.column) for e in result.errors] == [(2, "AETOXGR")]
    both = upload(env, csv_bytes([good(env.subject("0012"))] * 2), filename="ae.csv")
    assert [(e.row, e.column) for e in both.errors] == [(3, "CONFIRM_DUPLICATE")]
    assert _count(env) == 0


def test_a_queued_job_cancelled_at_shutdown_is_failed_and_a_dead_store_says_so(upload_study):
    """The executor's callback for a job that never ran, and for a worker that died while
    storing (the store either committed whole or not: the message says which to check)."""
    from concurrent.futures import Future

    env = upload_study
    settings = Settings(database_url="unused")
    queued = _spec(env, b"", settings)
    never_ran: Future = Future()
    never_ran.cancel()
    jobs._worker_died(never_ran, queued, env.engine)
    job = jobs.get_job(env.engine, queued.job_id)
    assert job is not None and job.status == JobStatus.failed
    assert "before the upload started" in (job.refused or "")

    storing = _spec(env, b"", settings)
    with write_session(env.engine) as s:
        s.exec(update(UploadJob).where(UploadJob.id == storing.job_id)  # type: ignore[call-overload,arg-type]
               .values(status="storing"))  # fmt: skip
    died: Future = Future()
    died.set_exception(RuntimeError("killed"))
    jobs._worker_died(died, storing, env.engine)
    job = jobs.get_job(env.engine, storing.job_id)
    assert job is not None and job.status == JobStatus.failed
    assert "either every row or none was stored" in (job.refused or "")

    done = _spec(env, b"", settings)
    jobs._finish(env.engine, done.job_id, JobStatus.stored, stored=3)
    jobs._worker_died(died, done, env.engine)  # a finished job keeps its result
    job = jobs.get_job(env.engine, done.job_id)
    assert job is not None and (job.status, job.stored) == (JobStatus.stored, 3)
