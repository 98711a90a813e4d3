"""A Chinese reported term, its English translation, a Chinese narrative and treatment go in
through the form, a spreadsheet upload (CSV with a byte-order mark, as Excel saves it, and
xlsx) and the JSON API, and come out unchanged: on the pages, in the API, in the DSMB
workbook's listings and in the SDTM CSV files (the SAS transport files take the English)."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select

from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.exports.sdtm import NotAscii, export_sdtm
from pv.exports.workbook import build_dsmb_workbook
from tests.icsr.pdftext import norm, page_texts
from tests.web.webhelpers import IRR, login, upload_and_wait

# Chinese text as a site writes it: full-width punctuation, a CJK extension B character
# (U+20BB7), and a rare but valid character.
TERM = "输液后寒战、发热（𠮷）"
TERM_EN = "Chills and fever after infusion"
NARRATIVE = "患者于输注贝利尤单抗约20分钟后出现寒战，体温38.6℃。\n停止输注后缓解。"
TREATMENT = "对乙酰氨基酚 500 mg 口服"
HEADER = ["USUBJID", "AETERM", "AETERM_EN", "AELLTCD", "AETOXGR", "AESER", "AESTDTC",
          "AEENDTC", "AEOUT", "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "AECONTRT", "NARRATIVE",
          "CONFIRM_DUPLICATE"]  # fmt: skip


def _row(usubjid: str, term: str, onset: str) -> list[str]:
    return [usubjid, term, TERM_EN, "10051792", "2", "N", onset, "", "RECOVERED/RESOLVED",
            "RELATED", "NOT RELATED", TREATMENT, NARRATIVE, "Y"]  # fmt: skip


def _stored(engine, term: str) -> list[AdverseEvent]:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        return list(s.exec(select(AdverseEvent).where(AdverseEvent.aeterm == term)).all())


def test_chinese_text_round_trips_through_every_input_and_output(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = world
    subject_id, _, usubjid = env.ids["own"]
    client, csrf = login(env.app, "inv1")
    zh = {"Accept-Language": "zh-CN"}

    # 1. The form.
    form = {**IRR, "aestdtc": "2021-05-01", "aeendtc": "2021-05-09", "aeterm": TERM + "1",
            "aeterm_en": TERM_EN, "aecontrt": TREATMENT,
            "narrative": NARRATIVE, "subject_id": subject_id, "action": "submit",
            "csrf_token": csrf, "confirm_duplicate": "Y"}  # fmt: skip
    r = client.post("/events", data=form, headers=zh, follow_redirects=False)
    assert r.status_code in (200, 303), r.text
    (by_form,) = _stored(env.engine, TERM + "1")
    assert (by_form.aeterm_en, by_form.narrative, by_form.aecontrt) == (
        TERM_EN, NARRATIVE, TREATMENT)  # fmt: skip
    page = client.get(f"/events/{by_form.id}", headers=zh).text
    assert TERM + "1" in page and TERM_EN in page and TREATMENT in page

    # 2. Uploads: a CSV as Excel saves "CSV UTF-8" (with a byte-order mark), and an xlsx.
    lines = [",".join(HEADER), ",".join(_row(usubjid, TERM + "2", "2021-05-02"))]
    csv_bytes = ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
    csv_bytes = csv_bytes.replace(NARRATIVE.encode(), ('"' + NARRATIVE + '"').encode())
    _, state, fragment = upload_and_wait(client, csrf, env.study_id, "中文.csv", csv_bytes)
    assert state is not None and state["status"] == "stored", fragment
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(_row(usubjid, TERM + "3", "2021-05-03"))
    buf = io.BytesIO()
    wb.save(buf)
    _, state, fragment = upload_and_wait(client, csrf, env.study_id, "中文.xlsx", buf.getvalue())
    assert state is not None and state["status"] == "stored", fragment
    for n in ("2", "3"):
        (ev,) = _stored(env.engine, TERM + n)
        assert (ev.aeterm_en, ev.narrative, ev.aecontrt) == (TERM_EN, NARRATIVE, TREATMENT)

    # 3. The JSON API, in and out.
    body = {"usubjid": usubjid, "aeterm": TERM + "4", "aeterm_en": TERM_EN,
            "aelltcd": "10051792", "aetoxgr": 3, "aeser": "Y", "aeshosp": "Y",
            "aestdtc": "2021-05-04", "aeawaredtc": "2021-05-04",
            "aeout": "RECOVERED/RESOLVED", "aeongo": "N",
            "aerel": {"belimumab": "RELATED", "prednisone": "NOT RELATED"},
            "aecontrt": TREATMENT, "narrative": NARRATIVE, "confirm_duplicate": True}  # fmt: skip
    r = env.client.post("/api/v1/events", json=body, headers=env.auth("inv1"))
    assert r.status_code == 201, r.text
    got = env.client.get(f"/api/v1/events/{r.json()['id']}", headers=env.auth("inv1")).json()
    assert (got["aeterm"], got["aeterm_en"], got["narrative"], got["aecontrt"]) == (
        TERM + "4", TERM_EN, NARRATIVE, TREATMENT)  # fmt: skip
    terms = {TERM + n for n in "1234"}

    # 4. The DSMB workbook (closed session: the serious events' listing has narratives), in
    # both languages.
    for language in ("en", "zh-Hans"):
        out = tmp_path / f"dsmb-{language}.xlsx"
        build_dsmb_workbook(env.engine, study_id=env.study_id, cutoff=date(2021, 12, 31),
                            session="closed", out=out, charts={}, language=language)  # fmt: skip
        book = load_workbook(out, read_only=True)
        cells = {c for s in book.worksheets for row in s.iter_rows(values_only=True)
                 for c in row if isinstance(c, str)}  # fmt: skip
        assert terms <= cells, f"{language}: {sorted(terms - cells)}"
        assert NARRATIVE in cells and TREATMENT in cells

    # 5. The expedited report of the serious one: the E2B(R3) ICSR, downloaded by the
    # officer and read back by an independent parser (e2br3): the native term with its
    # language, the English term, the narrative and treatment as written.
    import e2br3

    serious_id = r.json()["id"]
    officer, _ = login(env.app, "officer")
    xml = officer.get(f"/review/events/{serious_id}/e2b.xml")
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
    (tmp_path / "icsr.xml").write_bytes(xml.content)
    icsr = e2br3.parse(tmp_path / "icsr.xml").icsrs[0]
    (reaction,) = icsr.reactions
    assert (reaction.native_term, reaction.native_language, reaction.translated_term) == (
        TERM + "4", "chi", TERM_EN)  # fmt: skip
    assert icsr.narrative.startswith(NARRATIVE) and TREATMENT in icsr.narrative
    assert "&#" not in xml.text  # the Chinese is written as UTF-8, not as entities

    # The CIOMS I form, English labels and Chinese labels: the data as written in both, the
    # CJK font embedded, the text read back from the PDF.
    for lang in ("en", "zh-Hans"):
        pdf = officer.get(f"/review/events/{serious_id}/cioms.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        text = "".join(page_texts(pdf.content))
        for value in (TERM + "4", TERM_EN, NARRATIVE, TREATMENT, usubjid):
            assert norm(value) in text, (lang, value)
        assert b"NotoSansCJK" in pdf.content or b"Noto Sans CJK" in pdf.content
    assert officer.get(f"/review/events/{serious_id}/cioms.pdf?lang=xx").status_code == 422
    assert officer.get(f"/review/events/{by_form.id}/e2b.xml").status_code == 404  # not serious

    # 6. SDTM: the CSV keeps the Chinese (UTF-8 with a BOM). SAS transport is ASCII only:
    # the terms have an English translation, the Chinese treatment has none, so the .xpt
    # files are refused naming those four records' AECONTRT.
    with pytest.raises(NotAscii) as refused:
        export_sdtm(env.engine, study_id=env.study_id, out_dir=tmp_path / "sdtm")
    assert {p[3] for p in refused.value.problems} == {"AECONTRT"}
    assert len(refused.value.problems) == 4
    ae = pd.read_csv(tmp_path / "sdtm" / "ae.csv", dtype=str, keep_default_na=False,
                     encoding="utf-8-sig")  # fmt: skip
    assert terms <= set(ae["AETERM"]) and set(ae["AECONTRT"]) >= {TREATMENT}
    assert set(ae.loc[ae["AETERM"].isin(terms), "NARRATIVE"] if "NARRATIVE" in ae else []) <= {
        NARRATIVE}  # fmt: skip
    # Without the Chinese treatment, the .xpt files are written with the English terms.
    with write_session(env.engine) as s:
        for ev in s.exec(select(AdverseEvent).where(AdverseEvent.aecontrt == TREATMENT)):
            ev.aecontrt = "paracetamol 500 mg PO"
            s.add(ev)
    export_sdtm(env.engine, study_id=env.study_id, out_dir=tmp_path / "sdtm")
    xpt, _ = pyreadstat.read_xport(str(tmp_path / "sdtm" / "ae.xpt"))
    assert list(xpt["AETERM"]).count(TERM_EN) == 4 and not terms & set(xpt["AETERM"])


def test_a_chinese_term_in_an_upload_error_report_is_intact(world) -> None:  # type: ignore[no-untyped-def]
    env = world
    _, _, usubjid = env.ids["own"]
    client, csrf = login(env.app, "inv1")
    bad = _row(usubjid, TERM, "2021-13-45")  # no such date
    data = ("\ufeff" + ",".join(HEADER) + "\r\n" + ",".join(bad).replace(NARRATIVE, "x") +
            "\r\n").encode("utf-8")  # fmt: skip
    _, state, fragment = upload_and_wait(
        client,
        csrf,
        env.study_id,
        "坏.csv",
        data,
    )
    assert state is not None and state["status"] == "rejected"
    report = client.get(state["report"])
    assert report.status_code == 200
    # The download keeps its Chinese name (RFC 8187), with an ASCII fallback.
    disposition = report.headers["content-disposition"]
    assert "filename*=UTF-8''%E5%9D%8F.csv-errors.csv" in disposition
    assert 'filename="csv-errors.csv"' in disposition
    raw = report.content
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the report's Chinese correctly
    text = raw.decode("utf-8-sig")
    assert re.search(r"AESTDTC", text)
    assert _stored(env.engine, TERM) == []  # nothing half-written
