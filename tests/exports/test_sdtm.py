"""SDTM export: variable names and labels, and the CDISC pilot study round trip
(imported, exported, imported again: the same AET02 and AET02_SAE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest

from pv.analysis.api import build_tables
from pv.audit.service import Actor
from pv.exports.sdtm import LABELS, export_sdtm, one_action, one_relationship
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
        )
        for name in ("AET02", "AET02_SAE", "AET01"):
            (before,) = build_tables(pilot, "CDISCPILOT01", [name])
            (after,) = build_tables(pilot, study, [name])
            assert comparable(after) == comparable(before), (suffix, name)


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


def test_long_text_is_cut_in_xpt_only(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dm = pd.DataFrame(
        {"STUDYID": ["S"], "USUBJID": ["S-1"], "ARM": ["Drug"], "ARMCD": ["D"], "SITEID": ["1"]}
    )
    ae = pd.DataFrame(
        {
            "USUBJID": ["S-1"],
            "AESEQ": ["1"],
            "AETERM": ["é" * 150],
            "AEDECOD": ["Headache"],
            "AEBODSYS": ["Nervous system disorders"],
            "AESTDTC": ["2024-01"],
        }
    )
    ex = pd.DataFrame({"USUBJID": ["S-1"], "EXTRT": ["Drug"], "EXSTDTC": ["2024-01-01"]})
    import_sdtm(engine=engine, actor=Actor.system("test"), dm=dm, ae=ae, ex=ex)
    export_sdtm(engine, study_id="S", out_dir=tmp_path)
    frame, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert frame["AETERM"][0] == "é" * 100  # 200 bytes of UTF-8
    csv = pd.read_csv(tmp_path / "ae.csv", dtype=str, keep_default_na=False)
    assert csv["AETERM"][0] == "é" * 150 and csv["AESTDTC"][0] == "2024-01"
    assert csv["AESTDY"][0] == ""  # partial date: no study day


def test_one_relationship_and_action_per_event() -> None:
    assert one_relationship({"a": "NOT RELATED", "b": "POSSIBLY RELATED"}) == "POSSIBLY RELATED"
    assert one_relationship({"a": "REMOTE", "b": "REMOTE"}) == "REMOTE"
    assert one_relationship({}) == ""
    assert one_action({"a": "DOSE NOT CHANGED", "b": "DRUG WITHDRAWN"}) == "DRUG WITHDRAWN"
    assert one_action({"a": "DOSE REDUCED", "b": "DRUG INTERRUPTED"}) == "DRUG INTERRUPTED"
