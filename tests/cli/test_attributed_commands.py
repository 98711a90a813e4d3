"""Attributed commands (issue 13, point 4): every `pvtracker` command that changes data
acts as a person named by `--as USERNAME` (or PV_ACTOR), an active user with a role the
command allows; it refuses anyone else (exit 2, nothing written) and the audit trail
records that user. Read-only commands need no one.

The command tree is walked: a new command must either be listed read-only here (and in
the README's table) or take --as, so a data-changing command without it fails a test.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, col, select

import pv.demo
import pv.models  # noqa: F401  (every table in SQLModel.metadata)
from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.models import Role, User
from pv.cli import build_parser, main
from pv.db import _engines, make_engine, read_session, write_session
from pv.settings import get_settings
from pv.study.ctgov import parse_ctgov
from pv.study.models import Study
from pv.study.service import add_site, import_ctgov
from tests.cli.actors import seed_user, user_id
from tests.commands import Commands
from tests.conftest import PG_URL, _pg_admin, _pg_drop

README = Path(__file__).resolve().parents[2] / "README.md"
RECORD = Path(pv.demo.__file__).parent / "NCT04660565.json"
STUDY = "NCT04660565"

# Commands that change no data, and why (the README's table says the same). Some take an
# optional --as to say who reads (a blinded study's arms), never to change data.
READ_ONLY = {
    ("db", "upgrade"): "the schema, not data; it runs before any user exists",
    ("status",): "prints counts",
    ("terminology", "search"): "prints terms",
    ("serve",): "runs the web app, where users log in",
    ("tables",): "prints or writes tables",
    ("dsmb-report",): "writes a workbook file",
    ("export", "ctgov"): "writes a file",
    ("export", "sdtm"): "writes files",
    ("sae-clocks",): "prints the clocks",
    ("report", "cioms"): "writes a file",
    ("report", "e2b"): "writes a file",
    ("dsur",): "writes a workbook file",
    ("backup",): "copies the database to a file",
    ("user", "list"): "prints the users",
    ("user", "tokens"): "prints API tokens (never their secrets)",
    ("blinding", "show"): "prints the blinded studies and permissions",
    ("audit", "verify"): "checks the audit trail's hash chain",
}
# Changes data without --as: the demo seeds its own admin first and acts as its seeded users
# (tests/cli/test_demo_and_read_only.py).
SELF_ATTRIBUTED = {("demo",)}
NO_AS = set(READ_ONLY) | SELF_ATTRIBUTED
ROLES = tuple(Role.__members__)


def leaves() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command of `pvtracker`: its words and its parser."""
    found: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((path, parser))
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return found


def takes_as(parser: argparse.ArgumentParser) -> bool:
    return any("--as" in a.option_strings for a in parser._actions)


LEAVES = leaves()


def test_the_tree_is_read_only_or_attributed() -> None:
    """Every command is listed read-only or takes --as: a new data-changing command without
    --as fails here."""
    paths = {path for path, _ in LEAVES}
    assert ("study", "import") in paths and ("notify",) in paths  # the walk finds them
    missing = [" ".join(p) for p, parser in LEAVES if p not in NO_AS and not takes_as(parser)]
    assert missing == [], f"data-changing commands without --as: {missing}"
    for path, parser in LEAVES:
        roles = parser.get_default("roles")
        if roles is not None:  # the roles a command allows are real roles
            assert path not in NO_AS and roles and set(roles) <= set(ROLES), path


def test_the_readme_lists_every_command_with_who_may_run_it() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("### Commands and who may run them") :]
    table = table[: table.index("\n#", 1)]
    for path, parser in LEAVES:
        row = next((r for r in table.splitlines() if f"`pvtracker {' '.join(path)}`" in r), None)
        assert row is not None, f"README: no row for pvtracker {' '.join(path)}"
        if path in READ_ONLY:
            assert "read-only" in row, row
        for role in parser.get_default("roles") or ():
            assert role in row, (row, role)


# --- a database with users of every kind -------------------------------------------------


@dataclass
class World:
    engine: Engine
    url: str
    tmp: Path
    run: Callable[..., tuple[int, str, str]]


@pytest.fixture
def world(engine: Engine, db_url: str, tmp_path: Path, monkeypatch, capsys) -> Iterator[World]:  # type: ignore[no-untyped-def]
    system = Actor.system("tests")
    with write_session(engine) as s:
        spec = parse_ctgov(json.loads(RECORD.read_text("utf-8")))
        study, _ = import_ctgov(session=s, actor=system, spec=spec)
        add_site(session=s, actor=system, study_id=study.id, code="02", name="Second Site")
    seed_user(engine, "admin", "admin")
    seed_user(engine, "officer", "officer")
    seed_user(engine, "inv1", "investigator", sites=((STUDY, "01"),))
    seed_user(engine, "dsmb", "dsmb")
    seed_user(engine, "someone", "dsmb")  # whose address notify-email sets
    seed_user(engine, "gone", "admin", disabled=True)
    seed_user(engine, "held", "admin", locked=True)
    commands = Commands(monkeypatch, capsys, db_url)
    yield World(engine=engine, url=db_url, tmp=tmp_path, run=commands)
    commands.close()


def snapshot(engine: Engine) -> dict[str, object]:
    """The number of rows of every table, and the users' addresses and studies' languages
    (changed in place): equal snapshots mean nothing was written."""
    out: dict[str, object] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = conn.execute(sa_select(func.count()).select_from(table)).scalar()
        out["emails"] = sorted(conn.execute(sa_select(User.username, User.email)).all())
        out["studies"] = conn.execute(sa_select(Study).order_by(Study.id)).all()
    return out


def last_audit_id(engine: Engine) -> int:
    with read_session(engine) as s:
        return int(s.exec(select(func.coalesce(func.max(AuditEntry.id), 0))).one())


def entries_since(engine: Engine, after: int) -> list[AuditEntry]:
    with read_session(engine) as s:
        return list(s.exec(select(AuditEntry).where(col(AuditEntry.id) > after)))


# --- the data-changing commands of this project's domains --------------------------------


def _study_import(w: World, n: int) -> list[str]:
    record = copy.deepcopy(json.loads(RECORD.read_text("utf-8")))
    ident = record["protocolSection"]["identificationModule"]
    ident["briefTitle"] = f"{ident['briefTitle']} (edition {n})"  # an update to audit
    path = w.tmp / f"record{n}.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return ["study", "import", str(path)]


def _load_meddra(w: World, n: int) -> list[str]:
    from tests.terminology.test_meddra import _write

    folder = w.tmp / f"meddra{n}"
    folder.mkdir()
    return ["terminology", "load-meddra", str(_write(folder)), "--version", f"99.{n}"]


def _import_sdtm(w: World, n: int) -> list[str]:
    from tests.imports.test_sdtm import small_study

    files = []
    for name, frame in small_study().items():
        path = w.tmp / f"{name}{n}.csv"
        frame.to_csv(path, index=False)
        files.append(f"--{name}={path}")
    return ["import", "sdtm", *files, "--study-id", f"X{n}"]


# command -> (the arguments of a run that succeeds, the n-th; the roles allowed; whether a
# successful run writes audit entries)
COMMANDS: dict[tuple[str, ...], tuple[Callable[[World, int], list[str]], tuple[str, ...], bool]] = {
    ("study", "import"): (_study_import, ("admin",), True),
    ("study", "language"): (
        lambda w, n: ["study", "language", "--study", STUDY, ("en", "zh-Hans")[n % 2]],
        ("admin",), True),
    ("site", "add"): (
        lambda w, n: ["site", "add", "--study", STUDY, "--id", f"9{n}", "--name", f"Site {n}"],
        ("admin",), True),
    ("subject", "add"): (
        lambda w, n: ["subject", "add", "--study", STUDY, "--site", "01", "--subjid", f"90{n}",
                      "--consent", "2021-02-01"],
        ("admin", "investigator"), True),
    # CTCAE 5.0 is in every test database already: loading it again writes nothing (its
    # first load is attributed in test_load_ctcae_on_a_new_database_is_attributed).
    ("terminology", "load-ctcae"): (lambda w, n: ["terminology", "load-ctcae"], ("admin",), False),
    ("terminology", "load-meddra"): (_load_meddra, ("admin",), True),
    ("import", "sdtm"): (_import_sdtm, ("admin",), True),
    # No report is due: no digest (tests/notify asserts the digest's attribution).
    ("notify",): (lambda w, n: ["notify"], ("admin", "officer"), False),
    ("notify-email",): (
        lambda w, n: ["notify-email", "someone", f"someone{n}@example.org"], ("admin",), True),
}  # fmt: skip
USERS = {"admin": "admin", "officer": "officer", "investigator": "inv1", "dsmb": "dsmb"}


def test_the_table_covers_this_projects_own_data_changing_commands() -> None:
    """Each command of COMMANDS exists and allows exactly the roles its parser names."""
    parsers = dict(LEAVES)
    for path, (_args, roles, _writes) in COMMANDS.items():
        assert path in parsers and takes_as(parsers[path]), path
        assert tuple(parsers[path].get_default("roles")) == roles, path


@pytest.mark.parametrize("path", list(COMMANDS), ids=[" ".join(p) for p in COMMANDS])
def test_refused_without_an_active_user_of_the_right_role(world: World, path) -> None:  # type: ignore[no-untyped-def]
    build, roles, writes = COMMANDS[path]
    args = build(world, 0)
    refusals: list[tuple[list[str], str]] = [
        ([], "--as USERNAME"),
        (["--as", "nobody"], "--as nobody: no active user of that name"),
        (["--as", "gone"], "--as gone: no active user of that name"),  # disabled
        (["--as", "held"], "--as held: no active user of that name"),  # locked
    ]
    for role in ROLES:
        if role not in roles:
            refusals.append((["--as", USERS[role]], "may not do this"))
    before = snapshot(world.engine)
    for extra, says in refusals:
        code, _out, err = world.run(*args, *extra)
        assert code == 2, (extra, err)
        assert says in err, (extra, err)
        assert snapshot(world.engine) == before, (extra, "something was written")
    # PV_ACTOR is --as's default, and is checked the same way
    for name in ("nobody", "gone"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PV_ACTOR", name)
            code, _out, err = world.run(*args)
        assert code == 2 and f"--as {name}: no active user" in err
        assert snapshot(world.engine) == before


@pytest.mark.parametrize("path", list(COMMANDS), ids=[" ".join(p) for p in COMMANDS])
def test_the_audit_trail_names_the_user_it_acts_as(world: World, path) -> None:  # type: ignore[no-untyped-def]
    build, roles, writes = COMMANDS[path]
    for n, role in enumerate(roles, start=1):
        username = USERS[role]
        after = last_audit_id(world.engine)
        code, out, err = world.run(*build(world, n), "--as", username)
        assert code == 0, (role, out, err)
        entries = entries_since(world.engine, after)
        if writes:
            assert entries, "nothing was audited"
        me = (username, user_id(world.engine, username))
        assert {(e.actor, e.actor_id) for e in entries} <= {me}, [
            (e.actor, e.action) for e in entries
        ]
    # and through PV_ACTOR
    username = USERS[roles[0]]
    after = last_audit_id(world.engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PV_ACTOR", username)
        code, out, err = world.run(*build(world, len(roles) + 1))
    assert code == 0, (out, err)
    entries = entries_since(world.engine, after)
    assert not writes or entries
    assert {e.actor for e in entries} <= {username}


def test_an_investigator_adds_subjects_at_their_own_sites_only(world: World) -> None:
    before = snapshot(world.engine)
    code, _, err = world.run("subject", "add", "--study", STUDY, "--site", "02", "--subjid",
                             "801", "--as", "inv1")  # fmt: skip
    assert code == 2 and "site: no site '02' in study 'NCT04660565'" in err
    assert snapshot(world.engine) == before
    assert world.run("subject", "add", "--study", STUDY, "--site", "02", "--subjid", "801",
                     "--as", "admin")[0] == 0  # fmt: skip


def test_anyone_active_sets_their_own_address_an_admin_anyones(world: World) -> None:
    after = last_audit_id(world.engine)
    assert world.run("notify-email", "dsmb", "dsmb@example.org", "--as", "dsmb")[0] == 0
    [entry] = entries_since(world.engine, after)
    assert (entry.actor, entry.action, entry.changes) == (
        "dsmb", "set_email", {"email": [None, "dsmb@example.org"]})  # fmt: skip
    code, _, err = world.run("notify-email", "officer", "x@example.org", "--as", "dsmb")
    assert code == 2 and "may not do this (needs: admin)" in err


def test_every_data_changing_command_refuses_without_as(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """All of them, those of other domains too (user ..., blinding ...): run with
    placeholder arguments and no --as, none exits 0 or writes anything."""
    before = snapshot(world.engine)
    for path, parser in LEAVES:
        # a command that asks for a password gets one (getpass reads stdin without a tty)
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n" * 2))
        if path in NO_AS:
            continue
        args: list[str] = list(path)
        for action in parser._actions:
            if action.option_strings and not action.required:
                continue
            if isinstance(action, argparse._HelpAction) or action.dest == "acting_as":
                continue
            value = "1" if action.type in (int, float) else "x"
            value = str(next(iter(action.choices))) if action.choices else value
            if action.option_strings:
                args += [action.option_strings[-1], value]
            elif action.nargs not in ("?", "*"):
                args.append(value)
        code, _out, err = world.run(*args)
        assert code == 2, (args, err)
        assert snapshot(world.engine) == before, (args, "something was written")


# --- first loads on a new database --------------------------------------------------------


@pytest.fixture
def new_db_url(tmp_path: Path) -> Iterator[str]:
    """A new, EMPTY database (no tables)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'new.sqlite'}"
        return
    name = f"pvt_new_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        eng = _engines.pop(make_url(PG_URL).set(database=name).render_as_string(
            hide_password=False), None)  # fmt: skip
        if eng is not None:
            eng.dispose()
        _pg_drop(name)


def test_load_ctcae_on_a_new_database_is_attributed(new_db_url: str, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PV_DATABASE_URL", new_db_url)
    monkeypatch.delenv("PV_ACTOR", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0  # the schema: no user exists yet
        assert main(["terminology", "load-ctcae"]) == 2  # no one to act as
        assert "--as USERNAME" in capsys.readouterr().err
        engine = make_engine(new_db_url)
        try:
            seed_user(engine, "root", "admin")
            assert main(["terminology", "load-ctcae", "--as", "root"]) == 0
            with read_session(engine) as s:
                [entry] = s.exec(select(AuditEntry).where(AuditEntry.action == "load")).all()
                root = s.exec(select(User).where(User.username == "root")).one()
            assert (entry.actor, entry.actor_id, entry.entity_type) == ("root", root.id,
                                                                        "terminology")  # fmt: skip
            assert entry.changes == {"name": [None, "CTCAE"], "version": [None, "5.0"],
                                     "terms": [None, 837]}  # fmt: skip
            # a second load finds the release there: nothing loaded, nothing audited
            assert main(["terminology", "load-ctcae", "--as", "root"]) == 0
            with read_session(engine) as s:
                assert len(s.exec(select(AuditEntry).where(AuditEntry.action == "load")).all()) == 1
        finally:
            engine.dispose()
    finally:
        get_settings.cache_clear()
        eng = _engines.pop(new_db_url, None)
        if eng is not None:
            eng.dispose()
