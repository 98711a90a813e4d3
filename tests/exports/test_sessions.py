"""What each DSMB session may show: the open session no arm at all (no label, code,
by-arm number or chart on any sheet), the masked closed session only coded arms."""

from __future__ import annotations

import re

from openpyxl.workbook import Workbook

from pv.exports.workbook import TABLE_SET
from tests.exports.conftest import LISTINGS, Demo, data_rows, headers


def arm_pattern(demo: Demo) -> re.Pattern[str]:
    names = sorted([*demo.arms, *demo.arms.values()], key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")


def every_text(wb: Workbook, skip: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    return [
        (ws.title, c.coordinate, str(c.value))
        for ws in wb.worksheets
        if ws.title not in skip
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    ]


def test_open_session_has_no_by_arm_content_after_the_cover(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["open"]
    pattern = arm_pattern(demo)
    leaks = [t for t in every_text(wb) if pattern.search(t[2])]  # the cover included
    assert leaks == []
    for name in TABLE_SET:
        groups = [v for v in headers(wb[name], 4) if v]
        assert len(groups) == 1 and groups[0].startswith("Total (N=")
        assert not {"RD (%)", "IRR", "p-value"} & set(headers(wb[name], 5))
    for name in (*LISTINGS, "Exposure"):
        head = headers(wb[name])
        assert "Arm" not in head
        assert not [h for h in head if h and "Belimumab" in h]  # a drug of one arm only
    assert "Narrative" not in headers(wb["SAEs"])
    assert len(wb["Charts"]._images) == 2  # the by-arm-only chart is left out
    closed = books["closed"][1]
    assert len(closed["Charts"]._images) == 3

    # Events tied to one arm's treatment stay listed, and the cover says what they imply.
    def notes(book: Workbook) -> list[str]:
        return [r[1] for r in book["Cover"].iter_rows(values_only=True) if r[0] == "Note"]

    assert [n for n in notes(wb) if n.startswith("Open session: every number is pooled")]
    assert not [n for n in notes(closed) if n.startswith("Open session")]
    terms = headers(wb["AESI Infusion reactions"]).index("Coded term")
    assert data_rows(wb["AESI Infusion reactions"]) and all(
        r[terms] for r in data_rows(wb["AESI Infusion reactions"])
    )


def test_masked_session_codes_the_arms_everywhere(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["masked"]
    pattern = arm_pattern(demo)
    assert [t for t in every_text(wb) if pattern.search(t[2])] == []
    arm_col = headers(wb["All AEs"]).index("Arm")
    assert {r[arm_col] for r in data_rows(wb["All AEs"])} == {"Arm A", "Arm B"}
    groups = [v for v in headers(wb["AET01"], 4) if v]
    assert {"Arm A (N=30)", "Arm B (N=30)"} <= set(groups)
    cover = [r[1] for r in wb["Cover"].iter_rows(values_only=True) if r[0] == "Arm"]
    assert sorted(c.split(":")[0] for c in cover) == ["Arm A", "Arm B"]
