"""A study is blinded or open label from its ClinicalTrials.gov masking, and an admin can
change it (and who may see arms) with audited commands."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import create_user
from pv.blinding.policy import arms_visible, blinded_from_masking
from pv.db import write_session
from pv.study.ctgov import parse_ctgov
from pv.study.models import Study
from pv.study.service import import_ctgov
from tests.blinding.conftest import DEMO_RECORD, blinded_record
from tests.commands import Commands

SEED_RECORD = "../shared/seed/NCT04660565-record.txt"


@pytest.mark.parametrize(
    ("masking", "blinded"),
    [(None, False), ("", False), ("NONE", False), ("SINGLE", True), ("DOUBLE", True),
     ("TRIPLE", True), ("QUADRUPLE", True), ("double", True)],
)  # fmt: skip
def test_the_masking_mapping(masking, blinded) -> None:
    assert blinded_from_masking(masking) is blinded


def _import(engine, record) -> Study:
    with write_session(engine) as s:
        study, _ = import_ctgov(session=s, actor=Actor.system("tests"), spec=parse_ctgov(record))
        return study


def test_the_demo_study_is_open_label_and_a_double_blind_record_is_blinded(engine) -> None:
    # The seed says so in words ("Masking: None (Open Label)"); the JSON record says NONE.
    from pathlib import Path

    seed = Path(__file__).resolve().parents[2] / SEED_RECORD
    if seed.exists():
        assert "Masking: None (Open Label)" in seed.read_text("utf-8")
    demo = json.loads(DEMO_RECORD.read_text("utf-8"))
    assert demo["protocolSection"]["designModule"]["designInfo"]["maskingInfo"] == {
        "masking": "NONE"
    }
    assert _import(engine, demo).blinded is False
    assert _import(engine, blinded_record()).blinded is True
    no_masking = blinded_record()
    del no_masking["protocolSection"]["designModule"]["designInfo"]["maskingInfo"]
    no_masking["protocolSection"]["identificationModule"]["nctId"] = "NCT09990018"
    assert _import(engine, no_masking).blinded is False


def test_a_reimport_keeps_an_admins_choice_unless_the_masking_changed(engine) -> None:
    record = json.loads(DEMO_RECORD.read_text("utf-8"))
    _import(engine, record)
    with write_session(engine) as s:
        from pv.blinding.service import set_blinded

        set_blinded(session=s, actor=Actor.system("tests"), study_id="NCT04660565", blinded=True)
    assert _import(engine, record).blinded is True  # same masking: the admin's choice stays
    record["protocolSection"]["designModule"]["designInfo"]["maskingInfo"]["masking"] = "SINGLE"
    assert _import(engine, record).blinded is True
    record["protocolSection"]["designModule"]["designInfo"]["maskingInfo"]["masking"] = "NONE"
    assert _import(engine, record).blinded is False  # the record changed: it decides


@pytest.fixture
def cli(engine, db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    commands = Commands(monkeypatch, capsys, db_url)
    _import(engine, json.loads(DEMO_RECORD.read_text("utf-8")))
    with write_session(engine) as s:
        system = Actor.system("tests")
        create_user(session=s, actor=system, username="boss", role="admin")
        create_user(session=s, actor=system, username="safety", role="officer")

    yield commands
    commands.close()


def _audit(engine, entity_type: str) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.entity_type == entity_type)
                           .order_by(col(AuditEntry.id))))  # fmt: skip


def test_blinding_commands_act_as_an_admin_and_are_audited(cli, engine) -> None:
    study = "NCT04660565"
    code, _, err = cli("blinding", "set", "--study", study, "--blinded", "yes")
    assert code == 2 and "--as" in err  # a data-changing command names its user
    code, _, err = cli("blinding", "set", "--study", study, "--blinded", "yes", "--as", "safety")
    assert code == 2 and "admin" in err  # an officer may not
    code, out, err = cli("blinding", "set", "--study", study, "--blinded", "yes", "--as", "boss",
                         "--reason", "the sponsor masks outcome assessors")  # fmt: skip
    assert code == 0, err
    assert "blinded" in out
    with Session(engine) as s:
        assert s.get(Study, study).blinded is True
    last = _audit(engine, "study")[-1]
    assert (last.actor, last.action, last.changes, last.reason) == (
        "boss",
        "update",
        {"blinded": [False, True]},
        "the sponsor masks outcome assessors",
    )

    code, _, err = cli("blinding", "grant", "safety", "--as", "boss")
    assert code == 0, err
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == "safety")).one()
        assert user.unblinded is True
        assert arms_visible(user, s.get(Study, study))
    grant = _audit(engine, "user")[-1]
    assert (grant.actor, grant.changes) == ("boss", {"unblinded": [False, True]})

    code, _, err = cli("blinding", "revoke", "safety", "--as", "boss")
    assert code == 0, err
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == "safety")).one()
        assert user.unblinded is False
        assert not arms_visible(user, s.get(Study, study))
    assert _audit(engine, "user")[-1].changes == {"unblinded": [True, False]}

    code, out, _ = cli("blinding", "show")
    assert code == 0 and f"{study}: blinded" in out
    code, _, err = cli("blinding", "set", "--study", study, "--blinded", "maybe", "--as", "boss")
    assert code == 2 and "maybe" in err
    code, _, err = cli("blinding", "grant", "ghost", "--as", "boss")
    assert code == 2 and "ghost" in err
