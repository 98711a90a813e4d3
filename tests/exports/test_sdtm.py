"""SDTM export: variable names and labels, and the CDISC pilot study round trip
(imported, exported, imported again: the same AET02 and AET02_SAE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa

from pv.analysis.api import build_tables
from pv.audit.service import Actor
from pv.exports.sdtm import LABELS, NotAscii, export_sdtm, one_action, one_relationship
from pv.imports.sdtm import import_sdtm

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"


def comparable(table: Any) -> dict[str, Any]:
    """A table's content without what differs between two studies (ids, names, time)."""
    out = table.to_dict()
    for key in ("study_id", "generated_at"):
        out.pop(key)
    for arm in out["arms"]:
        arm.pop("id")
    return out


@pytest.fixture
def pilot(engine):  # type: ignore[no-untyped-def]
    import_sdtm(
        engine=engine,
        actor=Actor.system("test"),
        dm=PILOT / "dm.xpt",
        ae=PILOT / "ae.xpt",
        ex=PILOT / "ex.xpt",
        suppae=PILOT / "suppae.xpt",
    )
    return engine


def test_round_trip_of_the_cdisc_pilot_gives_the_same_tables(pilot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    counts = export_sdtm(pilot, study_id="CDISCPILOT01", out_dir=tmp_path)
    assert counts["DM"] == 306 and counts["AE"] == 1191
    for suffix, study in ((".xpt", "ROUNDTRIP_XPT"), (".csv", "ROUNDTRIP_CSV")):
        import_sdtm(
            engine=pilot,
            actor=Actor.system("test"),
            study_id=study,
            dm=tmp_path / f"dm{suffix}",
            ae=tmp_path / f"ae{suffix}",
            ex=tmp_path / f"ex{suffix}",
            suppae=tmp_path / f"suppae{suffix}",
        )
        for name in ("AET02", "AET02_SAE", "AET01"):
            (before,) = build_tables(pilot, "CDISCPILOT01", [name])
            (after,) = build_tables(pilot, study, [name])
            assert comparable(after) == comparable(before), (suffix, name)
        # Round 2: the pilot's race, deaths, end of study, AESPID episode ids and the
        # sponsor's treatment-emergent flag (SUPPAE AETRTEM) come back.
        for sql in (PILOT_SUBJECTS, PILOT_EVENTS):
            assert _rows(pilot, sql, study) == _rows(pilot, sql, "CDISCPILOT01"), (suffix, sql)
    # ... and what came back is not empty: every subject has a race, 3 died (DM DTHFL), every
    # event has its AESPID (the tracker's row id was written before) and its AETRTEM (the
    # pilot's suppae.xpt: 1126 Y, 65 N).
    subjects = _rows(pilot, PILOT_SUBJECTS, "CDISCPILOT01")
    assert all(r[1] for r in subjects) and sum(1 for r in subjects if r[2]) == 3
    events = _rows(pilot, PILOT_EVENTS, "CDISCPILOT01")
    assert all(r[2] for r in events)
    assert [sum(1 for r in events if r[4] == f) for f in "YN"] == [1126, 65]


PILOT_SUBJECTS = ("SELECT usubjid, race, died, death_date, end_of_study_date FROM subject "
                  "WHERE study_id = :s ORDER BY usubjid")  # fmt: skip
PILOT_EVENTS = ("SELECT s.usubjid, e.aeseq, e.aespid, e.aegrpid, e.sponsor_te_flag "
                "FROM adverseevent e "
                "JOIN subject s ON s.id = e.subject_id WHERE e.study_id = :s "
                "ORDER BY s.usubjid, e.aeseq")  # fmt: skip


def _rows(engine, sql: str, study: str) -> list[Any]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), {"s": study})]


def test_datasets_have_sdtm_names_labels_and_v5_limits(pilot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    export_sdtm(pilot, study_id="CDISCPILOT01", out_dir=tmp_path)
    for name, must in (
        (
            "dm",
            {
                "STUDYID",
                "USUBJID",
                "SITEID",
                "ARM",
                "ARMCD",
                "ACTARM",
                "RFXSTDTC",
                "RFXENDTC",
                "AGE",
                "SEX",
            },
        ),
        (
            "ae",
            {
                "STUDYID",
                "DOMAIN",
                "USUBJID",
                "AESEQ",
                "AETERM",
                "AEDECOD",
                "AEBODSYS",
                "AESEV",
                "AETOXGR",
                "AESER",
                "AEREL",
                "AEACN",
                "AEOUT",
                "AESTDTC",
                "AEENDTC",
                "AESTDY",
            },
        ),
        ("ex", {"USUBJID", "EXTRT", "EXDOSE", "EXDOSU", "EXROUTE", "EXSTDTC", "EXENDTC"}),
    ):
        frame, meta = pyreadstat.read_xport(str(tmp_path / f"{name}.xpt"))
        assert must <= set(frame.columns)
        assert meta.table_name == name.upper()
        assert all(len(c) <= 8 for c in frame.columns)
        assert meta.column_labels == [LABELS[c][:40] for c in frame.columns]
        text = [c for c in frame.columns if frame[c].dtype.kind not in "fi"]
        assert all(len(str(v).encode()) <= 200 for col in text for v in frame[col])
        csv = pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        assert list(csv.columns) == list(frame.columns) and len(csv) == len(frame)
    ae, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert set(ae["DOMAIN"]) == {"AE"} and ae["AESEQ"].dtype.kind == "f"


def _one_event_study(engine, terms: list[str], contrt: str = "") -> None:  # type: ignore[no-untyped-def]
    dm = pd.DataFrame(
        {"STUDYID": ["S"], "USUBJID": ["S-1"], "ARM": ["Drug"], "ARMCD": ["D"], "SITEID": ["1"]}
    )
    ae = pd.DataFrame(
        {
            "USUBJID": ["S-1"] * len(terms),
            "AESEQ": [str(i + 1) for i in range(len(terms))],
            "AETERM": terms,
            "AEDECOD": ["Headache"] * len(terms),
            "AEBODSYS": ["Nervous system disorders"] * len(terms),
            "AESTDTC": ["2024-01"] * len(terms),
            "AECONTRT": [contrt] * len(terms),
        }
    )
    ex = pd.DataFrame({"USUBJID": ["S-1"], "EXTRT": ["Drug"], "EXSTDTC": ["2024-01-01"]})
    import_sdtm(engine=engine, actor=Actor.system("test"), dm=dm, ae=ae, ex=ex)


def test_long_text_is_cut_in_xpt_only(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _one_event_study(engine, ["x" * 150 + "y" * 150])
    export_sdtm(engine, study_id="S", out_dir=tmp_path)
    frame, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert frame["AETERM"][0] == "x" * 150 + "y" * 50  # 200 bytes
    csv = pd.read_csv(tmp_path / "ae.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert csv["AETERM"][0] == "x" * 150 + "y" * 150 and csv["AESTDTC"][0] == "2024-01"
    assert csv["AESTDY"][0] == ""  # partial date: no study day


def test_csv_keeps_chinese_with_a_bom_and_xpt_takes_the_english_term(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _one_event_study(engine, ["头痛（剧烈）", "Headache"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE adverseevent SET aeterm_en = 'Severe headache' "
                             "WHERE aeseq = 1"))  # fmt: skip
    export_sdtm(engine, study_id="S", out_dir=tmp_path)
    raw = (tmp_path / "ae.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the UTF-8 byte-order mark, once
    assert not raw[3:].startswith(b"\xef\xbb\xbf")
    csv = pd.read_csv(tmp_path / "ae.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(csv["AETERM"]) == ["头痛（剧烈）", "Headache"]
    assert "AETERM_EN" not in csv.columns  # not an SDTM variable
    frame, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert list(frame["AETERM"]) == ["Severe headache", "Headache"]
    assert all(str(v).isascii() for c in frame.columns for v in frame[c])
    # The importer reads the CSVs back, byte-order mark and all.
    back = import_sdtm_files(engine, tmp_path)
    assert back == ["头痛（剧烈）", "Headache"]


def test_xpt_is_refused_naming_every_record_without_english_text(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _one_event_study(engine, ["肺炎", "Headache", "带状疱疹"], contrt="甲泼尼龙")
    out = tmp_path / "sdtm"
    out.mkdir()
    (out / "ae.xpt").write_bytes(b"old")  # a stale file from an earlier export
    with pytest.raises(NotAscii) as caught:
        export_sdtm(engine, study_id="S", out_dir=out)
    problems = caught.value.problems
    assert [(p[2], p[3]) for p in problems] == [
        ("AESEQ=1", "AETERM"), ("AESEQ=1", "AECONTRT"), ("AESEQ=2", "AECONTRT"),
        ("AESEQ=3", "AETERM"), ("AESEQ=3", "AECONTRT"),
    ]  # fmt: skip
    assert all(p[0] == "AE" and p[1] == "S-1" for p in problems)
    assert "no English translation" in problems[0][4]
    assert sorted(p.name for p in out.iterdir()) == ["ae.csv", "dm.csv", "ex.csv"]
    csv = pd.read_csv(out / "ae.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(csv["AETERM"]) == ["肺炎", "Headache", "带状疱疹"]
    assert set(csv["AECONTRT"]) == {"甲泼尼龙"}


def test_one_relationship_and_action_per_event() -> None:
    assert one_relationship({"a": "NOT RELATED", "b": "POSSIBLY RELATED"}) == "POSSIBLY RELATED"
    assert one_relationship({"a": "REMOTE", "b": "REMOTE"}) == "REMOTE"
    assert one_relationship({}) == ""
    assert one_action({"a": "DOSE NOT CHANGED", "b": "DRUG WITHDRAWN"}) == "DRUG WITHDRAWN"
    assert one_action({"a": "DOSE REDUCED", "b": "DRUG INTERRUPTED"}) == "DRUG INTERRUPTED"


def import_sdtm_files(engine, folder):  # type: ignore[no-untyped-def]
    """Import the exported CSVs as a new study; its terms, in AESEQ order."""
    from pv.imports.sdtm import read_dataset

    frames = {n: read_dataset(folder / f"{n}.csv") for n in ("dm", "ae", "ex")}
    import_sdtm(engine=engine, actor=Actor.system("test"), study_id="S2", **frames)
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT aeterm FROM adverseevent WHERE study_id = 'S2' ORDER BY aeseq")
            ).scalars()
        )
