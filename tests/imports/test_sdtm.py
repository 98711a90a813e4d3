"""SDTM import: the CDISC pilot study (tests/data/cdiscpilot01) and small hand-made datasets."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.cli import main
from pv.db import _engines
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.imports.cli import ProgressBar
from pv.imports.sdtm import (
    MissingColumnsError,
    SDTMImportError,
    StudyExistsError,
    import_sdtm,
)
from pv.settings import get_settings
from pv.study.models import Arm, Drug, Site, Study, Subject

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
ACTOR = Actor.system("test")


def xpt(name: str) -> pd.DataFrame:
    frame, _ = pyreadstat.read_xport(str(PILOT / f"{name}.xpt"))
    return frame


def pilot(engine, **kw):  # type: ignore[no-untyped-def]
    files = {k: PILOT / f"{k}.xpt" for k in ("dm", "ae", "ex", "suppae")}
    return import_sdtm(engine=engine, actor=ACTOR, **{**files, **kw})


def count(engine, model, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar()


def test_pilot_import(engine) -> None:  # type: ignore[no-untyped-def]
    """Expected numbers come from the source files themselves: 306 DM subjects of which 52
    are screen failures; every randomized subject has EX records (254 dosed); 591 EX and
    1,191 AE records; one SUPPAE AETRTEM record per AE."""
    dm, ex, ae, supp = xpt("dm"), xpt("ex"), xpt("ae"), xpt("suppae")
    randomized = set(dm.loc[dm["ARM"] != "Screen Failure", "USUBJID"])
    result = pilot(engine)
    assert result.study_id == "CDISCPILOT01"
    assert (result.subjects, result.safety) == (len(dm), len(randomized & set(ex["USUBJID"])))
    assert (result.subjects, result.safety) == (306, 254)
    assert result.control == "Placebo"
    assert result.arms == ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    assert (result.exposures, result.events) == (len(ex), len(ae)) == (591, 1191)
    with engine.connect() as conn:
        study = conn.execute(sa.select(Study.source, Study.enrollment)).one()
        arms = conn.execute(sa.select(Arm.label, Arm.is_control).order_by(Arm.position)).all()
        drugs = set(conn.execute(sa.select(Drug.name)).scalars())
        screen_failures = conn.execute(
            sa.select(sa.func.count()).select_from(Subject).where(Subject.arm_id.is_(None))
        ).scalar()
        statuses = set(conn.execute(sa.select(AdverseEvent.status)).scalars())
        flags = conn.execute(
            sa.select(AdverseEvent.sponsor_te_flag, sa.func.count()).group_by(
                AdverseEvent.sponsor_te_flag
            )
        ).all()
    assert study == ("sdtm", 254)
    assert arms == [("Placebo", True), ("Xanomeline Low Dose", False),
                    ("Xanomeline High Dose", False)]  # fmt: skip
    assert drugs == set(ex["EXTRT"])
    assert screen_failures == (dm["ARM"] == "Screen Failure").sum() == 52
    assert count(engine, Site) == dm["SITEID"].nunique()
    assert count(engine, Exposure) == 591
    assert statuses == {"submitted"}
    teflags = supp.loc[supp["QNAM"] == "AETRTEM", "QVAL"].value_counts().to_dict()
    assert dict(flags) == teflags


def test_pilot_event_fields(engine) -> None:  # type: ignore[no-untyped-def]
    pilot(engine)
    ae = xpt("ae").set_index(["USUBJID", "AESEQ"])
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Subject.usubjid, AdverseEvent.aeseq, AdverseEvent.aedecod,
                      AdverseEvent.aebodsys, AdverseEvent.aesev, AdverseEvent.aetoxgr,
                      AdverseEvent.aeser, AdverseEvent.related, AdverseEvent.drug_withdrawn,
                      AdverseEvent.aestdtc)
            .join(Subject, Subject.id == AdverseEvent.subject_id)
        ).all()  # fmt: skip
    assert len(rows) == len(ae)
    for u, seq, decod, soc, sev, grade, ser, related, withdrawn, start in rows:
        src = ae.loc[(u, float(seq))]
        assert (decod, soc, sev, start or "") == (src.AEDECOD, src.AEBODSYS, src.AESEV, src.AESTDTC)
        assert grade is None  # the pilot has no AETOXGR: severity is kept as collected
        assert ser == (src.AESER == "Y")
        assert related == (src.AEREL in ("POSSIBLE", "PROBABLE"))
        assert withdrawn == (src.AEACN == "DRUG WITHDRAWN")
    partial = ae[ae["AESTDTC"].str.len() < 10]
    assert len(partial) > 0  # the pilot has partial onset dates; they are kept as collected
    stored = {r[9] for r in rows}
    assert set(partial["AESTDTC"]) <= stored


def test_every_imported_event_has_a_create_audit_entry(engine) -> None:  # type: ignore[no-untyped-def]
    pilot(engine)
    with engine.connect() as conn:
        events = dict(conn.execute(sa.select(AdverseEvent.id, AdverseEvent.aedecod)).all())
        audit = conn.execute(
            sa.select(AuditEntry.entity_id, AuditEntry.changes, AuditEntry.study_id).where(
                AuditEntry.entity_type == "adverse_event", AuditEntry.action == "create"
            )
        ).all()
    assert sorted(int(e) for e, _, _ in audit) == sorted(events)
    for entity_id, changes, study in audit:
        assert study == "CDISCPILOT01"
        assert changes["aedecod"] == [None, events[int(entity_id)]]
        assert changes["status"] == [None, "submitted"]


def test_csv_files_import_like_xpt(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same datasets written as CSV (every value text) give the same events."""
    paths = {}
    for name in ("dm", "ae", "ex", "suppae"):
        frame = xpt(name)
        for col in frame.select_dtypes("number"):
            frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else f"{v:g}")
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    pilot(engine)
    result = import_sdtm(engine=engine, actor=ACTOR, study_id="PILOTCSV", **paths)
    assert (result.subjects, result.safety, result.events) == (306, 254, 1191)
    cols = (Subject.usubjid, AdverseEvent.aeseq, AdverseEvent.aedecod, AdverseEvent.aestdtc,
            AdverseEvent.aeendtc, AdverseEvent.aeser, AdverseEvent.related,
            AdverseEvent.sponsor_te_flag)  # fmt: skip

    def events(study: str) -> list[tuple]:
        with engine.connect() as conn:
            q = sa.select(*cols).join(Subject, Subject.id == AdverseEvent.subject_id)
            return sorted(conn.execute(q.where(AdverseEvent.study_id == study)).all())

    assert events("PILOTCSV") == events("CDISCPILOT01")


def test_reimport_is_refused_and_changes_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    pilot(engine)
    before = count(engine, AdverseEvent), count(engine, AuditEntry)
    with pytest.raises(StudyExistsError, match="CDISCPILOT01.*already exists"):
        pilot(engine)
    assert (count(engine, AdverseEvent), count(engine, AuditEntry)) == before


def test_failure_midway_leaves_nothing_behind(engine) -> None:  # type: ignore[no-untyped-def]
    """The import is one transaction: a failure after subjects, exposure and part of the
    events were inserted rolls everything back."""
    seen = []

    def explode(done: int, total: int) -> None:
        seen.append(done)
        if done > 306 + 591:  # DM and EX are in; the first batch of events too
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        pilot(engine, progress=explode)
    assert seen[-1] > 306 + 591
    for model in (Study, Subject, Exposure, AdverseEvent, Arm, AuditEntry):
        where = [AuditEntry.entity_type != "terminology"] if model is AuditEntry else []
        assert count(engine, model, *where) == 0, model


def test_missing_columns_are_named(engine) -> None:  # type: ignore[no-untyped-def]
    dm = xpt("dm").drop(columns=["ARM"])
    ae = xpt("ae").drop(columns=["AEDECOD", "AESTDTC"])
    with pytest.raises(MissingColumnsError) as info:
        import_sdtm(engine=engine, actor=ACTOR, dm=dm, ae=ae, ex=xpt("ex"))
    assert isinstance(info.value, ValueError)
    assert "DM lacks ARM" in str(info.value) and "AE lacks AEDECOD, AESTDTC" in str(info.value)
    assert count(engine, Study) == 0


def test_events_of_unknown_subjects_are_refused(engine) -> None:  # type: ignore[no-untyped-def]
    ae = xpt("ae")
    ae.loc[0, "USUBJID"] = "01-999-9999"
    with pytest.raises(SDTMImportError, match="01-999-9999"):
        import_sdtm(engine=engine, actor=ACTOR, dm=xpt("dm"), ae=ae, ex=xpt("ex"))


def small_study() -> dict[str, pd.DataFrame]:
    """Four subjects: P1 on placebo, A1 on the active arm, A2 assigned but never dosed,
    SF a screen failure. Listed active arm first, so the comparator must be found by name."""
    dm = pd.DataFrame({
        "STUDYID": ["X1"] * 4, "USUBJID": ["A1", "P1", "A2", "SF"],
        "ARM": ["Drug X 10 mg", "Placebo", "Drug X 10 mg", "Screen Failure"],
        "ARMCD": ["DRX", "PBO", "DRX", "SCRNFAIL"], "SITEID": ["701", "702", "701", "701"],
    })  # fmt: skip
    ex = pd.DataFrame({
        "USUBJID": ["A1", "P1"], "EXTRT": ["DRUG X", "PLACEBO"], "EXDOSE": ["10", "0"],
        "EXDOSU": ["mg", "mg"], "EXDOSFRQ": ["QD", "QD"],
        "EXSTDTC": ["2021-03-01", "2021-03-02"], "EXENDTC": ["2021-03-31", ""],
    })  # fmt: skip
    ae = pd.DataFrame({
        "USUBJID": ["A1", "A1", "P1"], "AESEQ": ["1", "2", "1"],
        "AETERM": ["headache", "rash", "nausea"], "AEDECOD": ["Headache", "Rash", "Nausea"],
        "AEBODSYS": ["NERV", "SKIN", "GI"], "AESTDTC": ["2021-03", "2021-03-10", "2021-04-02"],
        "AETOXGR": ["", "3", ""], "AESEV": ["SEVERE", "MODERATE", "MILD"],
        "AESER": ["N", "Y", "N"], "AESHOSP": ["", "Y", ""],
        "AEREL": ["PROBABLE", "NOT RELATED", ""], "AEACN": ["", "DRUG WITHDRAWN", ""],
    })  # fmt: skip
    supp = pd.DataFrame({
        "USUBJID": ["A1"], "IDVAR": ["AESEQ"], "IDVARVAL": ["2"], "QNAM": ["AETRTEM"],
        "QVAL": ["Y"],
    })  # fmt: skip
    return {"dm": dm, "ex": ex, "ae": ae, "suppae": supp}


def test_field_mapping_on_a_small_study(engine) -> None:  # type: ignore[no-untyped-def]
    from pv.analysis.api import build_table

    result = import_sdtm(engine=engine, actor=ACTOR, **small_study())
    assert (result.study_id, result.subjects, result.safety) == ("X1", 4, 2)
    assert result.arms == ["Placebo", "Drug X 10 mg"] and result.control == "Placebo"
    with engine.connect() as conn:
        got = {
            (r.aedecod): r
            for r in conn.execute(
                sa.select(AdverseEvent.aedecod, AdverseEvent.aestdtc, AdverseEvent.aetoxgr,
                          AdverseEvent.aesev, AdverseEvent.aeser, AdverseEvent.aeshosp,
                          AdverseEvent.related, AdverseEvent.drug_withdrawn,
                          AdverseEvent.sponsor_te_flag, AdverseEvent.aerel)
            )
        }  # fmt: skip
    head, rash = got["Headache"], got["Rash"]
    assert (head.aestdtc, head.aetoxgr, head.aesev) == ("2021-03", None, "SEVERE")
    assert head.related
    assert (rash.aetoxgr, rash.aeser, rash.aeshosp, rash.related) == (3, True, True, False)
    assert rash.drug_withdrawn and not head.drug_withdrawn
    assert (rash.sponsor_te_flag, head.sponsor_te_flag) == ("Y", None)
    assert rash.aerel == {"drug_x": "NOT RELATED"}
    # A2 (never dosed) and SF (screen failure) are outside the safety population
    table = build_table(engine, "X1", "AET01")
    assert [(a.label, a.N) for a in table.arms] == [("Placebo", 1), ("Drug X 10 mg", 1)]
    assert table.control == "Placebo"


def _release(url: str) -> None:
    """Close the CLI's cached engine, so the test database can be dropped at once."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@pytest.fixture
def cli(db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from tests.cli.actors import seed_admin

    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.setenv("PV_ACTOR", seed_admin(db_url))  # import sdtm is an admin's
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    get_settings.cache_clear()
    _release(db_url)


def test_cli_import_then_tables(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = ["import", "sdtm"] + [f"--{k}={PILOT / k}.xpt" for k in ("dm", "ae", "ex", "suppae")]
    code, out, _ = cli(*args)
    assert code == 0
    assert "Imported study CDISCPILOT01: 306 subjects (254 in the safety population)" in out
    code, _, err = cli(*args)
    assert code == 2 and "already exists" in err
    code, out, _ = cli("tables", "--study", "CDISCPILOT01", "--table", "AET02")
    assert code == 0 and "Placebo (N=86)" in out
    small = small_study()
    small["ae"] = small["ae"].drop(columns=["AEBODSYS"])
    for name, frame in small.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    code, _, err = cli("import", "sdtm", *(f"--{k}={tmp_path / k}.csv" for k in small))
    assert code == 2 and "AE lacks AEBODSYS" in err


def test_progress_bar_draws_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar("Importing", stream=stream, width=10)
    bar(5, 10)
    bar(10, 10)
    text = stream.getvalue()
    assert "[#####     ]  50% 5/10" in text and text.endswith("[##########] 100% 10/10\n")
    quiet = io.StringIO()  # not a terminal: nothing is drawn
    ProgressBar("Importing", stream=quiet)(10, 10)
    assert quiet.getvalue() == ""
