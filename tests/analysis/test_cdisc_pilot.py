"""AET02 and AET02_SAE from the CDISC pilot's SDTM files against the published tables.

Source data: CDISC SDTM/ADaM Pilot Project (CDISCPILOT01), © CDISC,
https://github.com/cdisc-org/sdtm-adam-pilot-project (tests/data/cdiscpilot01, unmodified).

Published numbers: Table 14-5.01 "Incidence of Treatment Emergent Adverse Events by
Treatment Group" and Table 14-5.02 (serious TEAEs), transcribed cell by cell into
tests/analysis/published/ from atorus-research/CDISC_pilot_replication,
outputs/14-5.01.rtf and outputs/14-5.02.rtf (the 2020 run, commit
69b4fb6e24e9277b16e72cce71452e791483d295), the public re-creation of the pilot's
displays. The pilot's own report (cdiscpilot01.pdf) is not in the stored sources.

The tables are built from SDTM DM/AE/EX through the importer and the default TEAE rule,
not from ADaM; ADaM ADAE is used only for the flag cross-check at the end.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from pv.analysis.api import build_table
from pv.analysis.data import load_study

PUBLISHED = Path(__file__).parent / "published"
PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
ARMS = ("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")
# Published order: SOCs alphabetical; terms by descending high-dose count, then name.
ORDER = {"order": "arm:Xanomeline High Dose", "soc_order": "alpha"}
SHA256 = {
    "dm.xpt": "7327baea97fd532d02385248da0c7240402e770099507e2c3a88e2ac706c02a6",
    "ae.xpt": "05cf23dadadf1b6a11f4474c76724f870de389ba6a4312c825b30e299cb1e4d9",
    "ex.xpt": "37daacb3fdafba7b7ac7e254b51c43c4576f9ee45c87264da6b85e589ad7b8dc",
    "suppae.xpt": "97cad614024d0a9da646116505968952a7aa7eb4bcab2ae45ad15b18b9f5c1b9",
    "adae.xpt": "b8678e70946473a753bb01d002917f478bf51b59bdd0dc19587b97128059b6a0",
}


def published(name: str) -> list[dict]:
    rows = []
    for line in (PUBLISHED / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split("|")
        assert len(f) == 9, line
        rows.append({
            "label": f[0].strip(), "term": f[0].startswith("  "),
            "cells": [(f[1 + 2 * i].strip(), f[2 + 2 * i]) for i in range(3)],
            "p": [f[7].strip(), f[8].strip()],
        })  # fmt: skip
    return rows


def shown_count(cell) -> tuple[int, str | None]:  # type: ignore[no-untyped-def]
    """(n, pct text) as the published table prints them: '0' or 'n (pp.p%)'."""
    if cell.n == 0:
        return 0, None
    return cell.n, f"{100 * cell.n / cell.N:.1f}"


def shown_p(p: float) -> str:
    """The published p-value format: three decimals, '>.99' above 0.99, '*' below 0.15."""
    text = ">.99" if p > 0.99 else f"{p:.3f}"
    return text + ("*" if p < 0.15 else "")


def compare(table, expected: list[dict]) -> None:  # type: ignore[no-untyped-def]
    assert [a.label for a in table.arms] == list(ARMS)
    assert [a.N for a in table.arms] == [86, 84, 84]
    assert len(table.rows) == len(expected)
    for row, want in zip(table.rows, expected, strict=True):
        label = "ANY BODY SYSTEM" if row.row_type == "overall" else row.label
        assert (label, row.row_type == "term") == (want["label"], want["term"])
        for arm, (count_text, events_text) in zip(ARMS, want["cells"], strict=True):
            cell = row.cells[arm]
            n, pct = shown_count(cell)
            m = re.fullmatch(r"(\d+)(?: \(\s*([\d.]+)%\))?", count_text)
            assert m, count_text
            assert (n, pct) == (int(m.group(1)), m.group(2)), (want["label"], arm)
            assert cell.events == (int(events_text.strip("[]")) if events_text else 0)
        for arm, p_text in zip(ARMS[1:], want["p"], strict=True):
            cell = row.cells[arm]
            if p_text == "":  # not printed when neither arm has a case
                assert cell.n == 0 and row.cells["Placebo"].n == 0
            else:
                assert shown_p(cell.p_value) == p_text, (want["label"], arm)


@pytest.mark.parametrize("name", sorted(SHA256))
def test_the_shipped_pilot_files_are_unmodified(name: str) -> None:
    assert hashlib.sha256((PILOT / name).read_bytes()).hexdigest() == SHA256[name]


def test_aet02_reproduces_published_table_14_5_01(pilot_engine) -> None:  # type: ignore[no-untyped-def]
    table = build_table(pilot_engine, "CDISCPILOT01", "AET02", params=ORDER)
    assert table.control == "Placebo"  # the comparator arm found by the importer
    compare(table, published("t14-5.01.txt"))


def test_aet02_sae_reproduces_published_table_14_5_02(pilot_engine) -> None:  # type: ignore[no-untyped-def]
    table = build_table(pilot_engine, "CDISCPILOT01", "AET02_SAE", params=ORDER)
    compare(table, published("t14-5.02.txt"))


def test_sdtm_derived_teae_flags_match_adam_trtemfl(pilot_engine) -> None:  # type: ignore[no-untyped-def]
    """Every one of the 1,191 SDTM events gets the same TEAE flag as ADAE.TRTEMFL.

    This includes the 15 onsets with an unknown day, the 11 with only a year and the
    subject whose last EX record has no end date (dosing ongoing at the data end)."""
    data = load_study(pilot_engine, "CDISCPILOT01", columns={"aeseq"})
    ev = data.events
    ours = pd.DataFrame({
        "USUBJID": data.subjects["usubjid"].to_numpy()[ev["subj"].to_numpy()],
        "AESEQ": pd.to_numeric(ev["aeseq"]).astype(int).to_numpy(),
        "te": ev["te"].to_numpy(),
    })  # fmt: skip
    adae, _ = pyreadstat.read_xport(
        str(PILOT / "adae.xpt"), usecols=["USUBJID", "AESEQ", "TRTEMFL"]
    )
    merged = adae.assign(AESEQ=adae["AESEQ"].astype(int)).merge(ours, on=["USUBJID", "AESEQ"])
    assert len(merged) == len(adae) == 1191
    assert (merged["TRTEMFL"].eq("Y") == merged["te"]).all()
    assert merged["te"].sum() == 1126


def test_imported_sponsor_flags_agree_with_trtemfl(pilot_engine) -> None:  # type: ignore[no-untyped-def]
    """SUPPAE.AETRTEM, imported into sponsor_te_flag, agrees with ADAE.TRTEMFL."""
    from sqlalchemy import text

    with pilot_engine.connect() as conn:
        flags = conn.execute(
            text("SELECT s.usubjid, e.aeseq, e.sponsor_te_flag FROM adverseevent e "
                 "JOIN subject s ON s.id = e.subject_id WHERE e.study_id = 'CDISCPILOT01'")
        ).all()  # fmt: skip
    imported = {(u, int(q)): f for u, q, f in flags}
    adae, _ = pyreadstat.read_xport(
        str(PILOT / "adae.xpt"), usecols=["USUBJID", "AESEQ", "TRTEMFL"]
    )
    for u, q, f in adae.itertuples(index=False):
        assert imported[(u, int(q))] == f
