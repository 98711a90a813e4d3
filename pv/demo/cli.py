"""Command: demo — the NCT04660565 demo trial on the configured database, then the web app.

The demo takes no --as: it seeds its own admin first and acts as its users (DEMO_USERS):
the admin loads CTCAE, imports the study and creates the other users, the investigator
enters the data, the safety officer reviews (pv.demo.generate, pv.review.demo)."""

from __future__ import annotations

import argparse

from pv.i18n import gettext as _
from pv.i18n import ngettext

DEMO_USERS = (
    # username, role, password: printed at start-up; a demo is not a production system.
    ("investigator", "investigator", "quiet harbour lantern"),
    ("investigator2", "investigator", "copper willow teapot"),
    ("investigator3", "investigator", "maple ferry whistle"),
    ("officer", "officer", "amber river compass"),
    ("dsmb", "dsmb", "silver meadow beacon"),
    ("admin", "admin", "granite orchard violin"),
)
# Each demo investigator is bound to one site (code) and enters that site's subjects.
DEMO_INVESTIGATOR_SITES = {"investigator": "01", "investigator2": "02", "investigator3": "03"}


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help=_("create the demo trial (NCT04660565) and serve it"))
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--no-serve", action="store_true", help=_("build the data only"))
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from pv.cli import CommandError, database
    from pv.demo.generate import DemoError, build_demo

    engine = database(upgrade=True)
    try:
        summary = build_demo(engine, seed=args.seed)  # seeds DEMO_USERS, admin first
    except (DemoError, LookupError) as exc:
        raise CommandError(str(exc)) from exc
    subjects = sum(summary.subjects_per_arm.values())
    print(
        ngettext(
            "Demo trial %(study)s: %(subjects)s subjects, %(events)s adverse events "
            "(%(serious)s serious, %(num)d death).",
            "Demo trial %(study)s: %(subjects)s subjects, %(events)s adverse events "
            "(%(serious)s serious, %(num)d deaths).",
            summary.deaths,
            study=summary.study_id,
            subjects=subjects,
            events=summary.events,
            serious=summary.serious,
        )
    )
    print(_("Log in with (username / password):"))
    for username, role, password in DEMO_USERS:
        site = DEMO_INVESTIGATOR_SITES.get(username)
        who = _("%(role)s, site %(site)s", role=role, site=site) if site else role
        print(f"  {username:<13} {password:<22} {who}")
    if args.no_serve:
        return 0
    from pv.web.cli import run_server

    print(
        _(
            "Open %(url)s (Ctrl-C stops the server)",
            url=f"http://{args.host}:{args.port}/",
        )
    )
    run_server(args.host, args.port)
    return 0
