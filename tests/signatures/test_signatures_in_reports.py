"""The signatures are printed where the record is printed (issue 13 point 5): the DSMB
workbook's event listings (a "Signatures" column) and the CIOMS I form (the sponsor's
comment lists who assessed and approved the case, and whether that signature is valid
for the case as it now stands)."""

from __future__ import annotations

from datetime import date

from openpyxl import load_workbook
from sqlmodel import col, select

from pv.db import read_session, write_session
from pv.events.service import to_input, update_event
from pv.exports.workbook import build_dsmb_workbook
from pv.icsr.build import build_case
from pv.icsr.cioms import build_cioms
from pv.review import service as review
from pv.review.models import ExpeditedReport
from pv.signatures.models import Signature
from pv.timeutil import today
from tests.exports.conftest import CHART_IMAGES, data_rows, headers
from tests.icsr.pdftext import norm, page_texts
from tests.review.conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World
from tests.review.sending import send_report


def _assessed(world: World, fields: dict) -> int:
    ev = world.report(fields)
    with write_session(world.engine) as s:
        s.get(type(world.users["officer"]), world.users["officer"].id).full_name = "Olivia Chen"
    officer = world.actor("officer")
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
        review.save_assessment(
            session=s, actor=officer, event_id=ev, expected_version=2,
            awareness_date=date(2021, 3, 4), seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"}, password=PASSWORD,
        )  # fmt: skip
    return ev


def _stamps(world: World) -> list[tuple[str, str]]:
    with read_session(world.engine) as s:
        return [
            (x.meaning, x.at.strftime("%Y-%m-%d %H:%M:%S"))
            for x in s.exec(select(Signature).order_by(col(Signature.id)))
        ]


def test_the_dsmb_listing_prints_each_events_signatures(world, tmp_path):
    signed = _assessed(world, SERIOUS_PNEUMONIA)
    world.report(MILD_HEADACHE)  # not reviewed: nothing signed
    with read_session(world.engine) as s:
        [report] = s.exec(
            select(ExpeditedReport.id).where(
                ExpeditedReport.event_id == signed, ExpeditedReport.kind == "initial_15"
            )
        ).all()
    with write_session(world.engine) as s:
        send_report(s, world.actor("officer"), report, today(), PASSWORD)  # fmt: skip
    (_, assessed_at), (_, approved_at) = _stamps(world)
    out = tmp_path / "closed.xlsx"
    build_dsmb_workbook(world.engine, study_id=world.study_id, cutoff=date(2021, 12, 31),
                        session="closed", out=out, charts=CHART_IMAGES)  # fmt: skip
    ws = load_workbook(out)["All AEs"]
    head = headers(ws)
    at, term = head.index("Signatures"), head.index("Verbatim term")
    cells = {row[term]: row[at] for row in data_rows(ws)}
    assert cells["pneumonia"] == (
        f"assessed: Olivia Chen, {assessed_at} UTC, event version 3\n"
        f"approved for submission: Olivia Chen, {approved_at} UTC, event version 3"
    )
    assert cells["headache"] is None
    # The SAE listing prints it too.
    sae = load_workbook(out)["SAEs"]
    assert [r[headers(sae).index("Signatures")] for r in data_rows(sae)] == [cells["pneumonia"]]


def test_the_cioms_form_prints_who_assessed_and_whether_it_still_holds(world):
    ev = _assessed(world, SERIOUS_PNEUMONIA)
    [(_, at)] = _stamps(world)
    with read_session(world.engine) as s:
        text = "".join(page_texts(build_cioms(build_case(s, ev))))
    assert norm(f"assessed: Olivia Chen, {at} UTC, event version 3") in text
    assert norm("(not valid for the current version)") not in text
    data = to_input(world.event(ev))
    data.aeendtc = "2021-03-25"
    with write_session(world.engine) as s:  # a follow-up: the case is now version 4
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, data=data,
                     expected_version=3, reason="discharge letter")  # fmt: skip
    with read_session(world.engine) as s:
        text = "".join(page_texts(build_cioms(build_case(s, ev))))
    assert (
        norm(
            f"assessed: Olivia Chen, {at} UTC, event version 3 (not valid for the current version)"
        )
        in text
    )
