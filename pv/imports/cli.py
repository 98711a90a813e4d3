"""`pvtracker import sdtm`: load an external study from SDTM datasets, as an admin
(`--as USERNAME` or PV_ACTOR), who is recorded as the actor of every row it writes."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from pv.cli import CommandError, add_actor_argument
from pv.i18n import gettext as _


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help=_("import data from files"))
    sub = p.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    sdtm = sub.add_parser(
        "sdtm",
        help=_("import a study from SDTM DM, AE, EX (and SUPPAE, DS, VS, DD) datasets"),
        description=_(
            "Import an external study from SDTM datasets (.xpt or .csv). "
            "The study gets its own id (DM.STUDYID unless --study-id); an existing id is "
            "refused."
        ),
    )
    sdtm.add_argument("--dm", required=True, help=_("DM dataset (.xpt or .csv)"))
    sdtm.add_argument("--ae", required=True, help=_("AE dataset (.xpt or .csv)"))
    sdtm.add_argument("--ex", required=True, help=_("EX dataset (.xpt or .csv)"))
    sdtm.add_argument(
        "--suppae",
        help=_(
            "SUPPAE dataset: the sponsor's TEAE flag (AETRTEM) and pre-existing events "
            "(AEITOXGR, AEPREEX, AEWRSDTC)"
        ),
    )
    sdtm.add_argument(
        "--ds", help=_("DS dataset: disposition, randomization and death (.xpt or .csv)")
    )
    sdtm.add_argument("--vs", help=_("VS dataset: baseline height and weight (.xpt or .csv)"))
    sdtm.add_argument("--dd", help=_("DD dataset: primary cause of death, PRCDTH (.xpt or .csv)"))
    sdtm.add_argument("--study-id", help=_("study id to create (default: DM.STUDYID)"))
    add_actor_argument(sdtm)
    sdtm.set_defaults(func=run_sdtm, roles=("admin",))


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second (TTY only)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty or (done < total and now - self._last < 0.1):
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {frac:4.0%} {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_sdtm(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.imports.sdtm import SDTMImportError, import_sdtm
    from pv.study.cli import acting_user

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    try:
        result = import_sdtm(
            engine=engine,
            actor=actor,
            dm=args.dm,
            ae=args.ae,
            ex=args.ex,
            suppae=args.suppae,
            ds=args.ds,
            vs=args.vs,
            dd=args.dd,
            study_id=args.study_id,
            progress=ProgressBar(_("Importing")),
        )
    except SDTMImportError as exc:
        raise CommandError(str(exc)) from exc
    for warning in result.warnings:
        print(_("warning: %(detail)s", detail=warning), file=sys.stderr)
    print(
        _(
            "Imported study %(study)s: %(subjects)s subjects (%(safety)s in the safety "
            "population), arms %(arms)s (control: %(control)s), %(sites)s sites, %(drugs)s "
            "drugs, %(exposures)s exposure records, %(events)s adverse events.",
            study=result.study_id,
            subjects=result.subjects,
            safety=result.safety,
            arms=", ".join(result.arms),
            control=result.control or _("none"),
            sites=result.sites,
            drugs=result.drugs,
            exposures=result.exposures,
            events=result.events,
        )
    )
    if result.preexisting or result.deaths or result.dispositions:
        print(
            _(
                "Pre-existing events: %(pre)s; deaths: %(deaths)s; subjects with a "
                "disposition: %(disp)s.",
                pre=result.preexisting,
                deaths=result.deaths,
                disp=result.dispositions,
            )
        )
    return 0
