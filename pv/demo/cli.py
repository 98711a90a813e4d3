"""Command: demo — the NCT04660565 demo trial on the configured database, then the web app."""

from __future__ import annotations

import argparse

DEMO_USERS = (
    # username, role, password: printed at start-up; a demo is not a production system.
    ("investigator", "investigator", "investigator-demo"),
    ("officer", "officer", "officer-demo-pass"),
    ("dsmb", "dsmb", "dsmb-demo-pass"),
    ("admin", "admin", "admin-demo-pass"),
)


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="create the demo trial (NCT04660565) and serve it")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--no-serve", action="store_true", help="build the data only")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo)


def ensure_demo_users(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from pv.audit.service import Actor
    from pv.auth.service import create_user, get_user
    from pv.db import write_session
    from pv.study.models import Site

    with write_session(engine) as session:
        site = session.exec(
            select(Site).where(Site.study_id == "NCT04660565", Site.code == "01")
        ).one()
        for username, role, password in DEMO_USERS:
            if get_user(session, username) is None:
                create_user(
                    session=session,
                    actor=Actor.system("demo"),
                    username=username,
                    role=role,
                    password=password,
                    sites=[site] if role == "investigator" else None,
                )


def _demo(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.demo.generate import build_demo

    engine = database(upgrade=True)
    summary = build_demo(engine, seed=args.seed)
    ensure_demo_users(engine)
    subjects = sum(summary.subjects_per_arm.values())
    print(
        f"Demo trial {summary.study_id}: {subjects} subjects, {summary.events} "
        f"adverse events ({summary.serious} serious, {summary.deaths} death)."
    )
    print("Log in with (username / password):")
    for username, role, password in DEMO_USERS:
        print(f"  {username:<13} {password:<18} {role}")
    if args.no_serve:
        return 0
    from pv.web.cli import run_server

    print(f"Open http://{args.host}:{args.port}/ (Ctrl-C stops the server)")
    run_server(args.host, args.port)
    return 0
