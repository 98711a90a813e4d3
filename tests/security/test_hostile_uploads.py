"""Hostile uploads through POST /upload (an investigator, with the CSRF token): an entity
bomb, a zip bomb (>= 1 GB unpacked), a 1,048,576-row sheet, an .xlsm with a VBA project
and a CSV renamed .xlsx. Each is refused with a clear 4xx within 5 s, with < 200 MB of
extra memory, and nothing is stored.

Memory is the resident set size (it counts lxml's and zlib's C allocations, which
tracemalloc does not see), sampled every 5 ms during the request, minus the size before."""

from __future__ import annotations

import io
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from tests.web.webhelpers import login

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE"]  # fmt: skip
SHEET = "xl/worksheets/sheet1.xml"
SHEET_OPEN = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              b"<sheetData>")  # fmt: skip
SHEET_CLOSE = b"</sheetData></worksheet>"
MB = 1024 * 1024
TIME_LIMIT_S = 5.0
MEMORY_LIMIT = 200 * MB
PAGE = os.sysconf("SC_PAGE_SIZE")


def _skeleton() -> dict[str, bytes]:
    """The parts of a plain, valid workbook with the upload header in row 1."""
    wb = Workbook()
    wb.active.append(HEADER)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write_book(path: Path, sheet_writer, extra: dict[str, bytes] | None = None,
                content_types: bytes | None = None) -> Path:  # fmt: skip
    """A workbook whose sheet1 is written by `sheet_writer(fh)` streaming into the zip."""
    parts = _skeleton()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            if name == SHEET:
                with z.open(name, "w", force_zip64=True) as fh:
                    sheet_writer(fh)
            elif name == "[Content_Types].xml" and content_types is not None:
                z.writestr(name, content_types)
            else:
                z.writestr(name, data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def entity_bomb(tmp: Path) -> tuple[str, Path]:
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    ]
    doctype = f"<!DOCTYPE lolz [{''.join(lol)}]>".encode()

    def sheet(fh):
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?>' + doctype)
        fh.write(SHEET_OPEN.split(b"\n", 1)[1])
        fh.write(b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>')
        fh.write(SHEET_CLOSE)

    return "billion-laughs.xlsx", _write_book(tmp / "bomb.xlsx", sheet)


def zip_bomb(tmp: Path) -> tuple[str, Path]:
    """1 GiB of sheet XML (whitespace inside sheetData), written 1 MiB at a time."""
    chunk = b" " * MB

    def sheet(fh):
        fh.write(SHEET_OPEN)
        for _ in range(1024):
            fh.write(chunk)
        fh.write(SHEET_CLOSE)

    path = _write_book(tmp / "zipbomb.xlsx", sheet)
    with zipfile.ZipFile(path) as z:
        assert sum(i.file_size for i in z.infolist()) >= 1024 * MB
    return "zipbomb.xlsx", path


def million_rows(tmp: Path) -> tuple[str, Path]:
    """1,048,576 rows (Excel's maximum), no <dimension>: the reader must count, not trust."""

    def sheet(fh):
        fh.write(SHEET_OPEN)
        batch = []
        for r in range(1, 1_048_577):
            batch.append(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>S{r}</t></is></c></row>')
            if len(batch) == 10_000:
                fh.write("".join(batch).encode())
                batch = []
        fh.write("".join(batch).encode())
        fh.write(SHEET_CLOSE)

    return "million.xlsx", _write_book(tmp / "million.xlsx", sheet)


def macro_book(tmp: Path) -> tuple[str, Path]:
    ct = _skeleton()["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ).replace(b"</Types>", b'<Default Extension="bin" '
              b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')  # fmt: skip
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Attribute VB_Name = "AutoOpen"' * 20

    def sheet(fh):
        fh.write(_skeleton()[SHEET])

    path = _write_book(tmp / "macro.xlsm", sheet, {"xl/vbaProject.bin": vba}, ct)
    return "events.xlsm", path


def csv_renamed(tmp: Path) -> tuple[str, Path]:
    path = tmp / "renamed.xlsx"
    path.write_bytes((",".join(HEADER) + "\nNCT04660565-01-own-1,fever\n").encode())
    return "events.xlsx", path


CASES = {
    "entity bomb": (entity_bomb, ("DOCTYPE", "ENTITY")),
    "zip bomb": (zip_bomb, ("unpacks",)),
    "1,048,576 rows": (million_rows, ("rows",)),
    "xlsm with macros": (macro_book, ("macro",)),
    "csv renamed xlsx": (csv_renamed, ("zip", "xlsx")),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, tuple[str, bytes]]:
    tmp = tmp_path_factory.mktemp("hostile")
    out = {}
    for label, (build, _) in CASES.items():
        name, path = build(tmp)
        out[label] = (name, path.read_bytes())
    return out


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class _PeakRss(threading.Thread):
    """Samples the resident set size every 5 ms while the request runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._done = _rss(), threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return max(self.peak, _rss())


def _count(env) -> int:
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(AdverseEvent)).one()


@pytest.mark.parametrize("label", list(CASES))
def test_a_hostile_upload_is_refused_quickly_in_bounded_memory(world, hostile_files, label):
    name, data = hostile_files[label]
    words = CASES[label][1]
    client, csrf = login(world.app, "inv1")
    before = _count(world)
    baseline = _rss()
    sampler = _PeakRss()
    sampler.start()
    started = time.perf_counter()
    try:
        r = client.post(
            "/upload",
            data={"csrf_token": csrf, "study_id": world.study_id},
            files={"file": (name, data, "application/octet-stream")},
            headers={"HX-Request": "true"},
        )
    finally:
        elapsed = time.perf_counter() - started
        peak_rss = sampler.stop()
    extra = peak_rss - baseline
    print(f"\n{label}: {len(data) / MB:.2f} MB file -> {r.status_code} in {elapsed:.2f} s, "
          f"+{extra / MB:.1f} MB peak RSS")  # fmt: skip
    assert 400 <= r.status_code < 500, r.text[:500]
    assert 'data-testid="upload-refused"' in r.text and "Nothing was stored" in r.text
    assert any(w.lower() in r.text.lower() for w in words), r.text[:500]
    assert elapsed < TIME_LIMIT_S
    assert extra < MEMORY_LIMIT
    assert _count(world) == before
