"""The command line end to end on a fresh database: demo, status, users and tokens."""

from __future__ import annotations

import json

import pytest

from tests.commands import Commands


@pytest.fixture
def cli(db_url, monkeypatch, capsys):
    commands = Commands(monkeypatch, capsys, db_url)
    yield commands
    commands.close()


def test_demo_then_status_json(cli):
    code, out, _ = cli("demo", "--no-serve", "--seed", "7")
    assert code == 0
    for username in ("investigator", "officer", "dsmb", "admin"):
        assert username in out
    code, out, _ = cli("status", "--json")
    data = json.loads(out)
    study = data["studies"][0]
    assert study["id"] == "NCT04660565" and len(study["arms"]) == 2
    assert study["subjects"] == 60 and sum(a["subjects"] for a in study["arms"]) == 60
    assert study["events"] > 0
    assert {"name": "CTCAE", "version": "5.0", "terms": 837} in data["terminologies"]
    # a second run adds nothing
    cli("demo", "--no-serve", "--seed", "7")
    assert json.loads(cli("status", "--json")[1]) == data


def test_site_and_user_commands(cli):
    cli("demo", "--no-serve")  # sites 01-03
    site = ("site", "add", "--study", "NCT04660565", "--id", "04")
    code, _, err = cli(*site, "--name", "Second")  # no --as: refused, nothing written
    assert code == 2 and "--as USERNAME" in err
    assert cli(*site, "--name", "Second", "--as", "admin")[0] == 0  # the demo's admin
    code, _, err = cli(*site, "--name", "Again", "--as", "admin")
    assert code == 2 and "already exists" in err
    # user commands act as an administrator (--as), the demo's seeded admin
    code, _, err = cli(
        "user", "add", "inv2", "--role", "investigator", "--site", "04",
        "--password-stdin", stdin="a long enough password\n",
    )  # fmt: skip
    assert code == 2 and "--as USERNAME" in err
    code, out, _ = cli(
        "user", "add", "inv2", "--role", "investigator", "--site", "04", "--as", "admin",
        "--password-stdin", stdin="a long enough password\n",
    )  # fmt: skip
    assert code == 0
    code, _, err = cli(
        "user", "add", "nobody", "--role", "investigator", "--as", "admin",
        "--password-stdin", stdin="a long enough password\n",
    )  # fmt: skip
    assert code == 2 and "at least one site" in err
    code, _, err = cli(
        "user", "add", "weak", "--role", "officer", "--as", "admin",
        "--password-stdin", stdin="short\n",
    )  # fmt: skip
    assert code == 2 and "12 characters" in err
    code, _, err = cli("user", "token", "inv2", "--as", "inv2")  # not an admin
    assert code == 2 and "may not do this" in err
    code, out, _ = cli("user", "token", "inv2", "--as", "admin")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("pvt_") and len(token) > 30
    assert cli("user", "disable", "inv2")[0] == 2  # no --as
    assert cli("user", "disable", "inv2", "--as", "admin")[0] == 0
    code, _, err = cli("user", "token", "inv2", "--as", "admin")
    assert code == 2 and "disabled" in err


def test_study_language_sets_the_default_and_is_audited(cli, db_url, monkeypatch):
    from pathlib import Path

    from sqlmodel import select

    import pv.demo
    from pv.audit.models import AuditEntry
    from pv.db import make_engine, read_session
    from pv.study.models import Study
    from tests.cli.actors import seed_admin

    monkeypatch.setenv("PV_ACTOR", seed_admin(db_url))  # the commands act as this admin
    record = Path(pv.demo.__file__).parent / "NCT04660565.json"
    assert cli("study", "import", str(record))[0] == 0
    code, out, _ = cli("study", "language", "--study", "NCT04660565", "zh_CN")
    assert code == 0 and "zh-Hans" in out
    code, _, err = cli("study", "language", "--study", "NCT04660565", "klingon")
    assert code == 2 and "'klingon' is not a language of pv-tracker" in err
    code, _, err = cli("study", "language", "--study", "NCT0000", "en")
    assert code == 2 and "no study 'NCT0000'" in err
    engine = make_engine(db_url)
    try:
        with read_session(engine) as s:
            assert s.get(Study, "NCT04660565").language == "zh-Hans"
            q = select(AuditEntry).where(
                AuditEntry.entity_type == "study", AuditEntry.action == "update"
            )
            entries = s.exec(q).all()
            assert [e.changes for e in entries] == [{"language": ["en", "zh-Hans"]}]
            assert [e.actor for e in entries] == ["admin"] and entries[0].actor_id is not None
    finally:
        engine.dispose()
    # The command speaks the language of its environment.
    monkeypatch.setenv("PV_LANGUAGE", "zh-Hans")
    code, _, err = cli("study", "language", "--study", "NCT0000", "en")
    assert code == 2 and "没有" in err
