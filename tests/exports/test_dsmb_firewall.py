"""The DSMB firewall (issue 13, point 7): the closed-session (by-arm) workbook only for DSMB
members and unblinded users, the open session by default for everyone else, on the web and
from the command; the open session without patient-level listings unless the study's DSMB
charter setting allows them, and the cover says which. Also in a blinded study."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from pv.app import create_app
from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import create_user, set_password
from pv.db import write_session
from pv.exports.workbook import build_dsmb_workbook
from pv.settings import Settings
from pv.study.models import Site, Study, Subject
from tests.commands import Commands
from tests.exports.conftest import CHART_IMAGES, CUTOFF, STUDY, Demo
from tests.web.webhelpers import PASSWORD, login

LISTING_SHEETS = ("All AEs", "SAEs", "Deaths", "Exposure")
CLOSED = "Closed session (by arm)"
CODED = "Closed session (by arm, arms coded)"
OPEN = "Open session (pooled across arms)"
REFUSED = "only for DSMB members and users with the unblinded permission"
# name -> (role, unblinded, the session they get by default)
PEOPLE = {
    "fw-dsmb": ("dsmb", False, CLOSED),
    "fw-officer": ("officer", False, OPEN),
    "fw-officer-unblinded": ("officer", True, CLOSED),
    "fw-admin": ("admin", False, OPEN),
    "fw-admin-unblinded": ("admin", True, CLOSED),
}


@pytest.fixture(scope="module")
def people(demo: Demo) -> Demo:
    system = Actor.system("test")
    with write_session(demo.engine) as s:
        for name, (role, unblinded, _) in PEOPLE.items():
            user = create_user(session=s, actor=system, username=name, role=role,
                               full_name=name)  # fmt: skip
            user.unblinded = unblinded
            s.add(user)
            set_password(session=s, actor=system, user=user, password=PASSWORD)
        site = s.exec(select(Subject.site_id).where(Subject.study_id == STUDY)).first()
        inv = create_user(session=s, actor=system, username="fw-investigator",
                          role="investigator", sites=[s.get(Site, site)],
                          full_name="Investigator")  # fmt: skip
        set_password(session=s, actor=system, user=inv, password=PASSWORD)
    return demo


@contextmanager
def study_setting(demo: Demo, **values: Any) -> Iterator[None]:
    """Study settings for one block (the module's database is shared by its tests)."""
    with write_session(demo.engine) as s:
        study = s.get(Study, STUDY)
        assert study is not None
        before = {k: getattr(study, k) for k in values}
        for k, v in values.items():
            setattr(study, k, v)
        s.add(study)
    try:
        yield
    finally:
        with write_session(demo.engine) as s:
            study = s.get(Study, STUDY)
            for k, v in before.items():
                setattr(study, k, v)
            s.add(study)


def cover(wb: Any) -> dict[str, Any]:
    return {r[0]: r[1] for r in wb["Cover"].iter_rows(values_only=True) if r and len(r) > 1}


def notes(wb: Any) -> list[str]:
    return [r[1] for r in wb["Cover"].iter_rows(values_only=True) if r and r[0] == "Note"]


def usubjids(demo: Demo) -> set[str]:
    with write_session(demo.engine) as s:
        return set(s.exec(select(Subject.usubjid).where(Subject.study_id == STUDY)))


def every_text(wb: Any) -> str:
    return "\n".join(
        str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row if c
    )


# --- the workbook itself -------------------------------------------------------------------


def test_open_session_lists_no_patient_by_default(people: Demo, tmp_path: Path) -> None:
    out = tmp_path / "open.xlsx"
    rows = build_dsmb_workbook(people.engine, study_id=STUDY, cutoff=CUTOFF, session="open",
                               out=out, charts=CHART_IMAGES)  # fmt: skip
    wb = load_workbook(out)
    assert not set(LISTING_SHEETS) & set(wb.sheetnames)
    assert not [n for n in wb.sheetnames if n.startswith("AESI ")]
    assert {"Cover", "Contents", "AET01", "AET02", "DTHT01", "Charts"} <= set(wb.sheetnames)
    assert set(rows) == set(wb.sheetnames) - {"Cover", "Contents"}
    info = cover(wb)
    assert info["Session"] == OPEN
    assert info["Patient-level listings"] == "None (tables and charts only)"
    assert [n for n in notes(wb) if n.startswith("Open session without patient-level listings")]
    assert not [n for n in notes(wb) if n.startswith("Open session: every number is pooled")]
    # No subject is named anywhere in the workbook.
    text = every_text(wb)
    assert [u for u in usubjids(people) if u in text] == []
    # The data checksum does not depend on the session: the same as the closed workbook's.
    closed = tmp_path / "closed.xlsx"
    build_dsmb_workbook(people.engine, study_id=STUDY, cutoff=CUTOFF, session="closed",
                        out=closed, charts=CHART_IMAGES)  # fmt: skip
    closed_info = cover(load_workbook(closed))
    assert info["Data checksum (SHA-256)"] == closed_info["Data checksum (SHA-256)"]
    assert info["Checksum covers"] == closed_info["Checksum covers"]
    assert "Patient-level listings" not in closed_info


def test_open_session_lists_patients_when_the_charter_allows(people: Demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "open.xlsx"
    with study_setting(people, dsmb_open_listings=True):
        build_dsmb_workbook(people.engine, study_id=STUDY, cutoff=CUTOFF, session="open",
                            out=out, charts=CHART_IMAGES)  # fmt: skip
    wb = load_workbook(out)
    assert set(LISTING_SHEETS) <= set(wb.sheetnames)
    info = cover(wb)
    assert info["Session"] == OPEN
    assert info["Patient-level listings"] == "Included (DSMB charter setting)"
    assert (
        "Patient-level listings are included in this open session because the study's DSMB "
        "charter setting allows them."
    ) in notes(wb)
    listed = {r[1] for r in wb["All AEs"].iter_rows(min_row=5, values_only=True) if r[1]}
    assert listed and listed <= usubjids(people)


# --- the web -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(people: Demo):  # type: ignore[no-untyped-def]
    return create_app(Settings(database_url=people.url, upload_worker="thread"), people.engine)


def _download(client: Any, **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"study": STUDY, "cutoff": "2021-12-31",
                                              **params}.items())  # fmt: skip
    return client.get(f"/reports/dsmb.xlsx?{query}")


@pytest.mark.parametrize("name", list(PEOPLE))
def test_each_role_gets_its_session_on_the_web(app, name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("pv.exports.workbook.SEPARATE_CHARTS_EVENTS", 10**9)
    role, unblinded, expected = PEOPLE[name]
    client, _ = login(app, name)
    r = _download(client)  # no session asked for: the default
    assert r.status_code == 200, r.text[:300]
    assert cover(load_workbook(io.BytesIO(r.content)))["Session"] == expected
    page = client.get(f"/reports?study={STUDY}")
    assert page.status_code == 200
    form = page.text[page.text.index('action="/reports/dsmb.xlsx"') :]
    form = form[: form.index("</form>")]
    closed = _download(client, report="closed")
    if expected == CLOSED:
        assert closed.status_code == 200
        assert '<option value="closed">' in form
    else:
        assert closed.status_code == 403
        assert REFUSED in closed.text and "open session (pooled across arms)" in closed.text
        assert closed.headers["content-type"].startswith("text/html")
        assert '<option value="closed">' not in form and 'value="closed"' not in form
        assert '<input type="hidden" name="report" value="open">' in form
        masked = _download(client, report="closed", mask="true")
        assert masked.status_code == 403
    opened = _download(client, report="open")
    assert opened.status_code == 200
    assert cover(load_workbook(io.BytesIO(opened.content)))["Session"] == OPEN


def test_an_investigator_gets_no_workbook(app) -> None:  # type: ignore[no-untyped-def]
    client, _ = login(app, "fw-investigator")
    assert _download(client, report="open").status_code == 403
    assert _download(client).status_code == 403


def test_the_rule_holds_in_a_blinded_study(app, people: Demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("pv.exports.workbook.SEPARATE_CHARTS_EVENTS", 10**9)
    with study_setting(people, blinded=True):
        dsmb, _ = login(app, "fw-dsmb")
        r = _download(dsmb)
        assert r.status_code == 200
        # The closed session still, its arms coded for a member without the unblinded
        # permission (pv.blinding); an unblinded user's shows the arms.
        assert cover(load_workbook(io.BytesIO(r.content)))["Session"] == CODED
        unblinded, _ = login(app, "fw-officer-unblinded")
        r = _download(unblinded)
        assert r.status_code == 200
        assert cover(load_workbook(io.BytesIO(r.content)))["Session"] == CLOSED
        officer, _ = login(app, "fw-officer")
        assert _download(officer, report="closed").status_code == 403
        r = _download(officer)
        assert r.status_code == 200
        wb = load_workbook(io.BytesIO(r.content))
        assert cover(wb)["Session"] == OPEN
        assert not set(LISTING_SHEETS) & set(wb.sheetnames)


def test_a_locked_or_disabled_dsmb_member_gets_no_closed_session(people: Demo) -> None:
    from pv.exports.firewall import closed_session_allowed, default_session

    with write_session(people.engine) as s:
        user = s.exec(select(User).where(User.username == "fw-dsmb")).one()
        assert closed_session_allowed(user) and default_session(user) == "closed"
        user.locked_at = datetime.now(UTC)
        assert not closed_session_allowed(user)
        user.locked_at, user.disabled = None, True
        assert not closed_session_allowed(user) and default_session(user) == "open"
        s.rollback()


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli(people: Demo, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("pv.exports.workbook.SEPARATE_CHARTS_EVENTS", 10**9)
    commands = Commands(monkeypatch, capsys, people.url)
    yield commands
    commands.close()


def _report(cli, tmp_path: Path, session: str, *more: str) -> tuple[int, str, str, Path]:  # type: ignore[no-untyped-def]
    out = tmp_path / f"{session}-{len(more)}.xlsx"
    code, text, err = cli("dsmb-report", "--study", STUDY, "--cutoff", "2021-12-31",
                          "--session", session, "--out", str(out), *more)  # fmt: skip
    return code, text, err, out


@pytest.mark.parametrize("name", list(PEOPLE))
def test_the_command_writes_the_closed_session_only_for_the_dsmb_and_unblinded(  # type: ignore[no-untyped-def]
    cli, tmp_path, name
) -> None:
    _, _, expected = PEOPLE[name]
    code, text, err, out = _report(cli, tmp_path, "closed", "--as", name)
    if expected == CLOSED:
        assert code == 0 and "closed session" in text
        assert cover(load_workbook(out))["Session"] == CLOSED
    else:
        assert code == 2 and REFUSED in err and not out.exists()


def test_the_command_needs_a_person_for_the_closed_session(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, _, err, out = _report(cli, tmp_path, "closed")
    assert code == 2 and REFUSED in err and "--as USERNAME" in err and not out.exists()
    code, _, err, out = _report(cli, tmp_path, "closed", "--as", "nobody")
    assert code == 2 and "no active user" in err and not out.exists()
    monkeypatch.setenv("PV_ACTOR", "fw-dsmb")
    code, _, _, out = _report(cli, tmp_path, "closed")
    assert code == 0 and cover(load_workbook(out))["Session"] == CLOSED


def test_the_command_writes_the_open_session_for_anyone(cli, people, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, text, _, out = _report(cli, tmp_path, "open")
    assert code == 0 and "no patient-level listings" in text
    wb = load_workbook(out)
    assert cover(wb)["Session"] == OPEN
    assert not set(LISTING_SHEETS) & set(wb.sheetnames)
    with study_setting(people, dsmb_open_listings=True):
        code, text, _, out = _report(cli, tmp_path, "open", "--lang", "en")
    assert code == 0 and "adverse events listed" in text
    wb = load_workbook(out)
    assert set(LISTING_SHEETS) <= set(wb.sheetnames)
    assert cover(wb)["Patient-level listings"] == "Included (DSMB charter setting)"


def test_the_rule_is_the_same_in_a_blinded_study_from_the_command(cli, people, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with study_setting(people, blinded=True):
        code, _, _, out = _report(cli, tmp_path, "closed", "--as", "fw-dsmb")
        assert code == 0 and cover(load_workbook(out))["Session"] == CODED
        code, _, _, out = _report(cli, tmp_path, "closed", "--as", "fw-admin-unblinded")
        assert code == 0 and cover(load_workbook(out))["Session"] == CLOSED
        code, _, err, _ = _report(cli, tmp_path, "closed", "--as", "fw-officer")
        assert code == 2 and REFUSED in err


def test_the_charter_setting_is_an_admins_and_audited(cli, people, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pv.audit.models import AuditEntry

    args = ("dsmb-charter", "--study", STUDY, "--open-listings")
    code, _, err = cli(*args, "yes")
    assert code == 2 and "--as USERNAME" in err
    code, _, err = cli(*args, "yes", "--as", "fw-officer")
    assert code == 2 and "needs: admin" in err
    code, _, err = cli(*args, "yes", "--as", "fw-dsmb")
    assert code == 2 and "needs: admin" in err
    try:
        code, text, _ = cli(*args, "yes", "--reason", "charter v2 §4", "--as", "fw-admin")
        assert code == 0 and "lists patients" in text
        with write_session(people.engine) as s:
            study = s.get(Study, STUDY)
            assert study is not None and study.dsmb_open_listings
            entry = s.exec(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "study", AuditEntry.action == "update")
                .order_by(AuditEntry.id.desc())  # type: ignore[union-attr]
            ).first()
            assert entry is not None and entry.actor == "fw-admin"
            assert entry.changes == {"dsmb_open_listings": [False, True]}
            assert entry.reason == "charter v2 §4"
        code, text, _, out = _report(cli, tmp_path, "open")
        assert code == 0 and "adverse events listed" in text
        assert "All AEs" in load_workbook(out).sheetnames
    finally:
        code, text, _ = cli(*args, "no", "--as", "fw-admin")
    assert code == 0 and "lists no patients" in text


def test_the_study_settings_are_back(people: Demo) -> None:
    """The settings changed by the tests above are back (they share the database)."""
    with write_session(people.engine) as s:
        study = s.get(Study, STUDY)
        assert study is not None and not study.blinded and not study.dsmb_open_listings
