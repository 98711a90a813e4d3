"""The DSMB safety workbook (issue 6; domain.md §9): cover, contents, the pack's tables
(enrolment and disposition DST01, demographics DMT01, exposure EXT01, then the adverse-event
tables: TABLE_SET), the AE listings, the SAE narratives (closed session), the deaths
listing (one row per subject who died: DM death flag or a fatal event), the exposure
summary, the charts and, last, the data checksum with its definition, for an open or
closed session.

Printing (issue 14): every sheet A4 landscape with the study, session and cut-off in its
header and footer and "Page x of y"; the font is 8-point Arial (styles.py); listings print
the columns that fit the page at 100% (the rest stay on screen, after them), tables are
fitted to the page width when wider; footnotes are merged, wrapped rows under the table;
every comparative p-value is marked "nominal, unadjusted for multiplicity"; zeros print
"0". scripts/dsmb_pdf.py (make dsmb-pdf) prints both sessions to PDF pages to look at.

    build_dsmb_workbook(engine, study_id="NCT04660565", cutoff=date(2021, 12, 31),
                        session="closed", mask_arms=True, out=Path("dsmb.xlsx"))

The study is loaded once (`pv.analysis.data.load_study`) and every table is built from
that one load with `build_from_data`, as `build_tables` does, so all sheets share the same
data and denominators; the same load gives the listings their scope (events up to the
cut-off) and TEAE flags. Nothing here computes a statistic.

The open session lists no patient (no AE, SAE, death or AESI listing, no per-subject
exposure summary) unless the study's DSMB charter allows it (Study.dsmb_open_listings, or
`open_listings`); its data checksum still covers every record in scope. Who may have
the closed session is pv.exports.firewall's rule, checked by the web route and the
command before they call this. The workbook is an openpyxl
write-only workbook whose sheets stream to temporary files, so memory stays flat for
100,000 events. Cells never hold formulas: the only formulas in the file are the
listings' conditional-format rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from pv.analysis import aesi as analysis_aesi
from pv.analysis.api import TABLES, build_from_data, table_language
from pv.analysis.data import StudyData, load_study
from pv.analysis.table import ArmInfo, Table
from pv.events.models import AdverseEvent
from pv.exports import exposure_sheet, firewall
from pv.exports import styles as st
from pv.exports.arms import ArmView, study_drugs
from pv.exports.book import SAFETY, Book, save, sheet_name
from pv.exports.charts_job import ChartJob
from pv.exports.charts_sheet import Charts, registry, select, write_charts
from pv.exports.checksum import Checksum, study_section
from pv.exports.cover import write_checksum, write_contents, write_cover
from pv.exports.listings import (
    _ACN_AT,
    _REL_AT,
    FIRST_FIELD,
    FatalEvent,
    ListingPlan,
    Scope,
    death_columns,
    death_rows,
    event_rows,
    narrative_columns,
    write_listings,
)
from pv.exports.table_sheets import write_table
from pv.i18n import N_, use
from pv.i18n import gettext as _
from pv.study.models import Arm, Study
from pv.timeutil import utcnow

# The pack's tables in the order a DSMB reads them: enrolment and disposition, baseline,
# exposure, then the adverse events.
TABLE_SET = (
    "DST01",
    "DMT01",
    "EXT01",
    "AET01",
    "AET01_AESI",
    "AET02",
    "AET02_SAE",
    "AET04",
    "AET05",
    "AET05_ALL",
    "DTHT01",
)
NO_ROWS = N_("No events in scope up to the data cut-off.")
ALL_EVENTS_SHEET = N_("All AEs")
SEPARATE_CHARTS_EVENTS = 20_000  # from this many events, charts are drawn by a child process


def build_dsmb_workbook(
    engine: Engine,
    *,
    study_id: str,
    cutoff: date,
    session: str,
    mask_arms: bool = False,
    out: Path | str | BinaryIO,
    charts: Mapping[str, bytes] | None = None,
    language: str = "en",
    open_listings: bool | None = None,
) -> dict[str, int]:
    """Write the workbook to `out`; returns the number of data rows of each sheet (by
    sheet name, in the workbook's language).

    `charts`: PNG images already drawn for this session (pooled for the open session);
    None draws them with pv.charts. `language` (en, zh-Hans): sheet names, headers,
    footnotes, captions and charts; the data (reported terms, narratives, terminology,
    arm labels) reach the cells as stored. `open_listings`: whether the open session
    lists patients; None takes the study's setting (Study.dsmb_open_listings). The closed
    session always does.
    """
    language = table_language(language)
    with use(language):
        job = (
            None
            if charts is not None
            else _start_charts(engine, study_id, cutoff, session, mask_arms, language)
        )
        try:
            return _write(
                engine, study_id, cutoff, session, mask_arms, out, charts, job, language,
                open_listings,
            )  # fmt: skip
        except BaseException:
            if job is not None:
                job.cancel()
            raise


def _write(
    engine: Engine,
    study_id: str,
    cutoff: date,
    session: str,
    mask_arms: bool,
    out: Path | str | BinaryIO,
    charts: Mapping[str, bytes] | None,
    job: ChartJob | None,
    language: str,
    open_listings: bool | None = None,
) -> dict[str, int]:
    columns: set[str] = {"id"}
    for name in TABLE_SET:
        columns |= TABLES[name].COLUMNS
    data = load_study(engine, study_id, columns=columns, cutoff=cutoff)
    tables = [build_from_data(data, name, language=language) for name in TABLE_SET]
    # The arms as the adverse-event tables have them (comparator flagged): the reference
    # of the view, the cover and the checksum; descriptive tables compare nothing.
    ref = next((t for t in tables if t.name == "AET01"), tables[0])
    view = ArmView.build(study_id, ref.arms, session=session, mask=mask_arms)
    groupings = analysis_aesi.groupings(data.events)
    scope = Scope.of(data, dict(groupings))
    generated = utcnow().replace(tzinfo=None)
    with engine.connect() as conn:
        study = conn.execute(sa.select(Study).where(col(Study.id) == study_id)).one()
    if open_listings is None:
        open_listings = firewall.open_listings(study)
    listed = view.by_arm or open_listings  # patient-level sheets
    if not view.by_arm:
        session_text = _("Open session (pooled across arms)")
    elif view.masked:
        session_text = _("Closed session (by arm, arms coded)")
    else:
        session_text = _("Closed session (by arm)")
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    names = [
        ("cover", _("Cover")),
        ("contents", _("Contents")),
        *[(t, t) for t in TABLE_SET],
        *(
            [
                ("all", _(ALL_EVENTS_SHEET)),
                ("sae", _("SAEs")),
                *([("narratives", _("SAE narratives"))] if view.by_arm else []),
                ("deaths", _("Deaths")),
                *[(f"aesi:{k}", _("AESI %(grouping)s", grouping=label)) for k, label in groupings],
                ("exposure", _("Exposure")),
            ]
            if listed
            else []
        ),
        ("charts", _("Charts")),
        ("checksum", _("Checksum")),  # the definition at the end (issue 14), not on page 2
    ]
    book = Book(
        wb=wb,
        styles=st.StyleBook(wb),
        sheets={key: wb.create_sheet(sheet_name(title, taken)) for key, title in names},
        subtitle=_(
            "%(study)s. %(population)s. Data cut-off %(cutoff)s. %(session)s.",
            study=study_id,
            population=_(SAFETY),
            cutoff=cutoff.isoformat(),
            session=session_text,
        ),
        head=_(
            "%(study)s  -  DSMB %(session)s  -  confidential", study=study_id, session=session_text
        ),
        foot=_("Data cut-off %(cutoff)s", cutoff=cutoff.isoformat()),
    )
    for table in tables:
        book.rows[table.name] = write_table(
            book.sheets[table.name],
            book.styles,
            table,
            view,
            # the table's own population (DST01: all randomized subjects)
            subtitle=book.subtitle.replace(_(SAFETY), table.population, 1),
            print_header=book.head,
            print_footer=book.foot,
        )
        book.described[table.name] = table.title
    checksum = Checksum()
    with engine.connect() as conn:
        study_section(conn, checksum, data, ref.arms)
        plan = _plan(conn, study_id, view, ref)
        if listed:
            _listings(conn, book, study_id, plan, scope, groupings, checksum, data)
        else:
            _events_checksum(conn, study_id, scope, checksum)
        subjects, rule = data.subjects, data.rule
        del data, scope  # the events frame is no longer needed: free it before the rest
        _exposure(conn, book, study_id, subjects, view, plan, cutoff, checksum, listed)
    found = (
        job.result()
        if job is not None
        else select(charts or {}, registry(), pooled=not view.by_arm)
    )
    book.rows["charts"] = write_charts(
        book.sheets["charts"],
        found,
        title=_("Charts"),
        print_header=book.head,
        print_footer=book.foot,
    )
    book.described["charts"] = _("Charts of the safety review")
    write_cover(
        book.sheets["cover"],
        study=study,
        view=view,
        tables=[ref, *tables],
        rule=rule,
        checksum=checksum,
        generated=generated,
        cutoff=cutoff,
        session_text=session_text,
        notes=found.notes,
        pooled_drugs=plan.pooled_drugs and listed,
        printed=(book.head, book.foot),
        listings=listed,
        checksum_sheet=book.sheets["checksum"].title,
    )
    write_checksum(book.sheets["checksum"], checksum, printed=(book.head, book.foot))
    book.described["checksum"] = _("Data checksum: value, coverage and definition")
    book.rows["checksum"] = 3  # the checksum, what it covers, its definition
    write_contents(
        book.sheets["contents"],
        [
            (book.sheets[k].title, book.described[k], book.rows.get(k))
            for k in book.sheets
            if k not in ("cover", "contents")
        ],
        printed=(book.head, book.foot),
    )
    save(wb, out)
    return {book.sheets[k].title: v for k, v in book.rows.items()}


def _start_charts(
    engine: Engine, study_id: str, cutoff: date, session: str, mask: bool, language: str = "en"
) -> ChartJob:
    """Start drawing the charts first: a large study's are drawn by a child process while
    this one loads the data and writes the listings (small studies: no process start-up)."""
    with engine.connect() as conn:
        arms = conn.execute(
            sa.select(col(Arm.id), col(Arm.label), col(Arm.code)).where(
                col(Arm.study_id) == study_id
            )
        ).all()
        events = conn.execute(
            sa.select(sa.func.count()).where(col(AdverseEvent.study_id) == study_id)
        ).scalar_one()
    view = ArmView.build(
        study_id, [ArmInfo(a.id, a.label, a.code, 0) for a in arms], session=session, mask=mask
    )
    return ChartJob(
        engine,
        study_id,
        cutoff=cutoff,
        view=view,
        separate_process=events >= SEPARATE_CHARTS_EVENTS,
        language=language,
    )


def _plan(conn: Connection, study_id: str, view: ArmView, table: Table) -> ListingPlan:
    drugs = study_drugs(conn, study_id, [a.id for a in table.arms])
    shown = view.drugs_shown(drugs)
    severity = conn.execute(
        sa.select(
            sa.exists().where(
                col(AdverseEvent.study_id) == study_id, col(AdverseEvent.aesev).is_not(None)
            )
        )
    ).scalar()
    return ListingPlan(view, shown, len(shown) < len(drugs), bool(severity))


def _listings(
    conn: Connection,
    book: Book,
    study_id: str,
    plan: ListingPlan,
    scope: Scope,
    groupings: list[tuple[str, str]],
    checksum: Checksum,
    data: StudyData,
) -> None:
    story = plan.view.by_arm  # narratives name the treatment: not in the open session
    streams = {
        "all": book.stream("all", _("Listing of all adverse events"), plan.columns()),
        "sae": book.stream("sae", _("Listing of serious adverse events"), plan.columns(story)),
        **{
            f"aesi:{k}": book.stream(
                f"aesi:{k}",
                _("Listing of adverse events of special interest: %(grouping)s", grouping=label),
                plan.columns(),
            )
            for k, label in groupings
        },
    }
    if story:
        streams["narratives"] = book.stream(
            "narratives",
            _("Narratives of serious adverse events"),
            narrative_columns(plan.view),
            autofilter=False,
        )
    fatal: dict[int, list[FatalEvent]] = {}
    write_listings(
        conn,
        study_id,
        plan,
        scope,
        all_events=streams["all"],
        serious=streams["sae"],
        aesi={k: streams[f"aesi:{k}"] for k, _label in groupings},
        checksum=checksum,
        narrative=story,
        narratives=streams.get("narratives"),
        fatal=fatal,
    )
    deaths = book.stream(
        "deaths",
        _("Listing of deaths (subjects who died: DM death flag or a fatal adverse event)"),
        death_columns(plan.view, story),
    )
    arm_labels = [str(a) for a in data.arms["label"]] if len(data.arms) else []
    for row in death_rows(data.subjects, arm_labels, plan, fatal, story):
        deaths.add(row)
    streams["deaths"] = deaths
    for key, stream in streams.items():
        book.rows[key] = stream.close([(_(NO_ROWS), "note")] if not stream.data_rows else [])


def _events_checksum(conn: Connection, study_id: str, scope: Scope, checksum: Checksum) -> None:
    """The checksum's events section without the listings (an open session that lists no
    patient): the same records as `write_listings` adds, in the same order."""
    for r in event_rows(conn, study_id):
        if r.id in scope.teae:
            record = [r.site, r.usubjid, *r[FIRST_FIELD:]]
            record[_REL_AT], record[_ACN_AT] = scope.json(r.aerel), scope.json(r.aeacn)
            checksum.add("events", record)


def _exposure(
    conn: Connection,
    book: Book,
    study_id: str,
    subjects: Any,
    view: ArmView,
    plan: ListingPlan,
    cutoff: date,
    checksum: Checksum,
    listed: bool = True,
) -> None:
    found = exposure_sheet.metrics(conn, study_id, plan.drugs, cutoff)
    if not listed:  # no sheet: the subjects and doses go into the checksum only
        for _row in exposure_sheet.rows(conn, study_id, subjects, view, found, cutoff, checksum):
            pass
        return
    title = _("Exposure summary per subject")
    stream = book.stream("exposure", title, exposure_sheet.columns(view, found))
    for values in exposure_sheet.rows(conn, study_id, subjects, view, found, cutoff, checksum):
        stream.add(values)
    book.rows["exposure"] = stream.close()


__all__ = ["ALL_EVENTS_SHEET", "TABLE_SET", "Charts", "build_dsmb_workbook", "save", "sheet_name"]
