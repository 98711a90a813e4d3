"""Issue 13 (7): every role, with and without the unblinded permission, walks the pages, the
API and the exports of a blinded study. Without the permission no arm label or code of the
blinded study appears anywhere (whatever the answer's status); with it, they do where the
data are shown by arm. The open-label demo study keeps showing its arms to everyone."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select

from pv.auth.models import User
from pv.auth.service import actor_for
from pv.db import write_session
from pv.icsr.versions import prepare_version
from tests.blinding.conftest import (
    ARM_CODES,
    ARM_LABELS,
    BLIND_ID,
    ROLES,
    found_secrets,
)
from tests.commands import Commands
from tests.icsr.pdftext import page_texts
from tests.web.webhelpers import login

MASKED = list(ROLES)  # investigator, officer, dsmb, admin without the permission
UNBLINDED = [f"{n}_u" for n in ROLES]
DEMO_ARM = "Combination therapy Group"  # an arm of the open-label demo study


def _pages(env, role: str) -> list[str]:
    s = [f"/subjects/{sid}" for sid, _ in env.subjects.values()]
    e = list(env.events.values())
    urls = ["/", "/subjects", *s, "/subjects/new", "/events", *(f"/events/{i}" for i in e),
            *(f"/events/{i}/history" for i in e), f"/review?study={BLIND_ID}",
            f"/review?study={BLIND_ID}&arm=1", *(f"/review/events/{i}" for i in e),
            f"/charts?study={BLIND_ID}", f"/reports?study={BLIND_ID}&table=AET01",
            f"/reports/table.csv?study={BLIND_ID}", f"/reports/table.json?study={BLIND_ID}",
            f"/reports/table.csv?study={BLIND_ID}&table=AET02",
            *(f"/review/events/{i}/e2b.xml" for i in e)]  # fmt: skip
    return urls


def _api(env) -> list[str]:
    usubjids = [u for _, u in env.subjects.values()]
    return ["/api/v1/subjects", f"/api/v1/subjects?study={BLIND_ID}",
            *(f"/api/v1/subjects/{u}" for u in usubjids),
            *(f"/api/v1/subjects?arm={c}" for c in ARM_CODES),
            *(f"/api/v1/subjects?arm={lab}" for lab in ARM_LABELS),
            "/api/v1/events", *(f"/api/v1/events/{i}" for i in env.events.values()),
            f"/api/v1/tables/AET01?study={BLIND_ID}"]  # fmt: skip


def _cioms_text(data: bytes) -> str:
    return "\n".join(page_texts(data))


@pytest.mark.parametrize("who", MASKED)
def test_without_the_permission_no_page_or_api_answer_names_an_arm(blind, who: str) -> None:
    client, _csrf = login(blind.app, who)
    seen_ok = []
    for url in _pages(blind, ROLES[who]):
        r = client.get(url)
        assert r.status_code < 500, (url, r.status_code, r.text[:300])
        text = r.text if not url.endswith(".pdf") else _cioms_text(r.content)
        assert found_secrets(text) == [], (who, url, r.status_code, found_secrets(text))
        if r.status_code == 200:
            seen_ok.append(url)
    for i in blind.events.values():  # the CIOMS form, as text
        r = client.get(f"/review/events/{i}/cioms.pdf")
        if r.status_code == 200:
            assert found_secrets(_cioms_text(r.content)) == [], who
            seen_ok.append("cioms")
    for url in _api(blind):
        r = blind.client.get(url, headers=blind.api(who))
        assert r.status_code < 500, (url, r.status_code)
        assert found_secrets(r.text) == [], (who, url, found_secrets(r.text))
    # Not vacuous: the pages this role may read were shown, with the arm masked.
    assert "/" in seen_ok
    if who != "dsmb":
        sid = blind.subjects[ARM_CODES[0]][0]
        page = client.get(f"/subjects/{sid}")
        assert page.status_code == 200
        assert "Blinded" in page.text
        event = client.get(f"/events/{blind.events[ARM_CODES[0]]}")
        assert event.status_code == 200 and "Blinded" in event.text
        api = blind.client.get(f"/api/v1/subjects?study={BLIND_ID}", headers=blind.api(who))
        assert api.status_code == 200
        assert {s["arm"] for s in api.json()["items"]} == {"BLINDED"}
        assert {s["arm_label"] for s in api.json()["items"]} == {"Blinded"}
        one = blind.client.get(f"/api/v1/events/{blind.events[ARM_CODES[1]]}",
                               headers=blind.api(who))  # fmt: skip
        assert one.status_code == 200 and one.json()["arm"] == "BLINDED"
        # a filter by arm would sort the subjects by arm: it matches nothing
        by_arm = blind.client.get(f"/api/v1/subjects?arm={ARM_CODES[0]}", headers=blind.api(who))
        assert by_arm.json()["total"] == 0
    if who in ("officer", "dsmb", "admin"):  # tables pooled across arms, nothing by arm
        r = client.get(f"/reports?study={BLIND_ID}&table=AET01")
        assert r.status_code == 200 and 'data-testid="tables-refused"' not in r.text
        assert "Pooled across arms: this study is blinded" in r.text
        csv = client.get(f"/reports/table.csv?study={BLIND_ID}")
        assert csv.status_code == 200 and found_secrets(csv.text) == []
        arms_in_csv = {line.split(",")[5] for line in csv.text.splitlines()[1:]}
        assert arms_in_csv == {"Total"}
        api = blind.client.get(f"/api/v1/tables/AET01?study={BLIND_ID}", headers=blind.api(who))
        assert api.status_code == 200 and found_secrets(api.text) == []
        got = api.json()
        assert got["pooled"] is True and got["arms"] == [] and got["columns"] == ["Total"]
        # The pooled numbers are the Total column an unblinded reader gets.
        full = blind.client.get(
            f"/api/v1/tables/AET01?study={BLIND_ID}", headers=blind.api("officer_u")
        ).json()
        assert got["total_N"] == sum(a["N"] for a in full["arms"]) > 0
        assert [r["cells"] for r in got["rows"]] == [
            {"Total": r["cells"]["Total"]} for r in full["rows"]
        ]
    if who in ("officer", "admin"):
        assert client.get(f"/review?study={BLIND_ID}&arm=1").status_code == 403
        review = client.get(f"/review/events/{blind.events[ARM_CODES[0]]}")
        assert review.status_code == 200 and "Blinded" in review.text
    # The open-label study still shows its arms to the same user.
    assert DEMO_ARM in client.get("/").text


@pytest.mark.parametrize("who", UNBLINDED)
def test_with_the_permission_the_arms_are_shown(blind, who: str) -> None:
    client, _csrf = login(blind.app, who)
    role = ROLES[who[:-2]]
    if role != "dsmb":
        for code, label in zip(ARM_CODES, ARM_LABELS, strict=True):
            sid, usubjid = blind.subjects[code]
            page = client.get(f"/subjects/{sid}")
            assert page.status_code == 200 and label in page.text and code in page.text
            assert label in client.get(f"/events/{blind.events[code]}").text
            api = blind.client.get(f"/api/v1/subjects/{usubjid}", headers=blind.api(who))
            assert api.json()["arm"] == code and api.json()["arm_label"] == label
            ev = blind.client.get(f"/api/v1/events/{blind.events[code]}", headers=blind.api(who))
            assert ev.json()["arm"] == code
        listed = client.get("/subjects").text
        assert all(label in listed for label in ARM_LABELS)
    if role in ("officer", "admin"):
        review = client.get(f"/review/events/{blind.events[ARM_CODES[0]]}")
        assert review.status_code == 200 and ARM_LABELS[0] in review.text
        queue = client.get(f"/review?study={BLIND_ID}")
        assert all(label in queue.text for label in ARM_LABELS)  # the filter by arm
    if role in ("officer", "dsmb", "admin"):
        table = client.get(f"/reports?study={BLIND_ID}&table=AET01")
        assert table.status_code == 200
        assert all(label in table.text for label in ARM_LABELS)
        api = blind.client.get(f"/api/v1/tables/AET01?study={BLIND_ID}", headers=blind.api(who))
        assert api.status_code == 200
        assert [a["label"] for a in api.json()["arms"]] == list(ARM_LABELS)
    assert all(label in client.get("/").text for label in ARM_LABELS)


@pytest.fixture
def cli(blind, db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    commands = Commands(monkeypatch, capsys, db_url)
    yield commands
    commands.close()


def _dm(path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((path / "dm.csv").read_text("utf-8-sig"))))


@pytest.mark.parametrize("who", [None, *MASKED, *UNBLINDED])
def test_exports_mask_the_arms_unless_as_names_an_unblinded_user(cli, blind, tmp_path,
                                                                 who) -> None:  # fmt: skip
    acting = ["--as", who] if who else []
    out = tmp_path / "sdtm"
    code, _, err = cli("export", "sdtm", "--study", BLIND_ID, "--out", str(out), *acting)
    assert code == 0, err
    dm = _dm(out)
    files = "".join((out / f).read_text("utf-8-sig") for f in ("dm.csv", "ae.csv", "ex.csv"))
    xpt = (out / "dm.xpt").read_bytes().decode("latin-1")
    results = tmp_path / "results.json"
    code_ct, _, err_ct = cli("export", "ctgov", "--study", BLIND_ID, "--out", str(results),
                             *acting)  # fmt: skip
    e2b = tmp_path / "case.xml"
    event_id = str(blind.events[ARM_CODES[0]])
    with write_session(blind.engine) as s:  # the report is a version the officer prepared
        officer = s.exec(select(User).where(User.username == "officer")).one()
        prepare_version(s, actor_for(officer), int(event_id))
    code_e2b, _, err_e2b = cli("report", "e2b", "--event", event_id, "--out", str(e2b), *acting)
    assert code_e2b == 0, err_e2b
    if who in UNBLINDED:
        assert sorted((r["ARMCD"], r["ARM"]) for r in dm) == sorted(
            zip(ARM_CODES, ARM_LABELS, strict=True)
        )
        assert code_ct == 0, err_ct
        assert all(label in results.read_text("utf-8") for label in ARM_LABELS)
        assert "BLINDED" not in e2b.read_text("utf-8")
    else:
        assert {(r["ARMCD"], r["ARM"], r["ACTARMCD"]) for r in dm} <= {
            ("BLINDED", "Blinded", "BLINDED"), ("BLINDED", "Blinded", "NOTTRT")}  # fmt: skip
        assert len(dm) == 2
        assert found_secrets(files) == [] and found_secrets(xpt) == []
        assert code_ct == 2 and not results.exists() and "blinded" in err_ct
        text = e2b.read_text("utf-8")
        assert found_secrets(text) == [] and "BLINDED" in text


def test_as_an_unknown_user_is_refused(cli, tmp_path) -> None:
    code, _, err = cli("export", "sdtm", "--study", BLIND_ID, "--out", str(tmp_path / "x"),
                       "--as", "nobody")  # fmt: skip
    assert code == 2 and "nobody" in err
    assert not (tmp_path / "x" / "dm.csv").exists()


def test_an_open_label_study_exports_its_arms_without_as(cli, tmp_path, monkeypatch) -> None:
    # PV_ACTOR naming nobody does not matter to an open-label study's read-only export
    monkeypatch.setenv("PV_ACTOR", "nobody")
    out = tmp_path / "demo"
    code, _, err = cli("export", "sdtm", "--study", "NCT04660565", "--out", str(out))
    assert code == 0, err
    # the demo study has no subject here: DM is empty but written; the arms are not masked
    assert "BLINDED" not in (out / "dm.csv").read_text("utf-8-sig")
    # ... but a blinded study's export is refused: the named user does not exist
    code, _, err = cli("export", "sdtm", "--study", BLIND_ID, "--out", str(tmp_path / "b"))
    assert code == 2 and "nobody" in err


@pytest.mark.parametrize("who", [None, "officer", "officer_u"])
def test_the_tables_command_pools_a_blinded_study_unless_as_names_an_unblinded_user(
    cli, who
) -> None:
    acting = ["--as", who] if who else []
    code, text, err = cli("tables", "--study", BLIND_ID, "--table", "all", *acting)
    assert code == 0, err
    code_csv, csv_text, err_csv = cli("tables", "--study", BLIND_ID, "--table", "AET01",
                                      "--format", "csv", *acting)  # fmt: skip
    assert code_csv == 0, err_csv
    arms = {row["arm"] for row in csv.DictReader(io.StringIO(csv_text))}
    if who == "officer_u":
        assert all(label in text for label in ARM_LABELS)
        assert arms == {*ARM_LABELS, "Total"}
    else:
        assert found_secrets(text) == [] and found_secrets(csv_text) == []
        assert "Pooled across arms: this study is blinded" in text
        assert arms == {"Total"}
        assert "Total (N=2)" in text  # both subjects are dosed: the safety population


@pytest.mark.parametrize("who", ["investigator", "investigator_u"])
def test_subject_add_sets_an_arm_only_for_a_user_who_may_see_arms(cli, blind, who) -> None:
    from sqlmodel import Session, select

    from pv.study.models import Subject

    code, _, err = cli("subject", "add", "--study", BLIND_ID, "--site", blind.site.code,
                       "--subjid", "B099", "--arm", ARM_CODES[0], "--as", who)  # fmt: skip
    with Session(blind.engine) as s:
        added = s.exec(select(Subject).where(Subject.subjid == "B099")).first()
    if who == "investigator":
        assert code == 2 and "blinded" in err and found_secrets(err) == []
        assert added is None
    else:
        assert code == 0, err
        assert added is not None and added.arm_id is not None
