"""Command: audit verify (read only: it changes nothing and acts as nobody)."""

from __future__ import annotations

import argparse

from pv.i18n import gettext as _
from pv.i18n import ngettext


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help=_("the audit trail"))
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    ver = audit_sub.add_parser(
        "verify",
        help=_("check the audit trail's hash chain and report the first broken link"),
    )
    ver.set_defaults(func=_verify)


def describe(problem) -> str:  # type: ignore[no-untyped-def]
    """One sentence naming the entry and what is wrong with it."""
    kind, entry = problem.kind, problem.entry_id
    if kind == "changed":
        return _("entry %(id)s: content changed (it no longer matches its digest)", id=entry)
    if kind == "missing":
        return _(
            "entry %(id)s: an entry before it is missing (deleted, or rewritten with a new digest)",
            id=entry,
        )
    if kind == "inserted":
        return _("entry %(id)s: inserted (the entries around it link to each other)", id=entry)
    if kind == "reordered":
        return _(
            "entry %(id)s: reordered (it links to entry %(other)s, which comes after it)",
            id=entry,
            other=problem.other_id,
        )
    if kind == "time":
        return _(
            "entry %(id)s: time goes backwards (earlier than entry %(other)s)",
            id=entry,
            other=problem.other_id,
        )
    return _("entry %(id)s: digest missing", id=entry)


def _verify(args: argparse.Namespace) -> int:
    from pv.audit.verify import verify
    from pv.cli import CommandError, database
    from pv.migrate import current_revision, head_revision

    engine = database()  # read only: never migrates
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise CommandError(
            _(
                "the database is at revision %(current)s, not %(head)s: run `pvtracker db "
                "upgrade` first",
                current=current or "-",
                head=head,
            )
        )
    result = verify(engine)
    if result.problem is not None:
        print(_("audit trail BROKEN: %(problem)s", problem=describe(result.problem)))
        print(
            ngettext(
                "%(num)d entry before it is intact",
                "%(num)d entries before it are intact",
                result.count,
            )
        )
        return 1
    print(ngettext("audit trail intact: %(num)d entry", "audit trail intact: %(num)d entries",
                   result.count))  # fmt: skip
    if result.head_id is not None:
        print(_("last entry %(id)s, digest %(digest)s", id=result.head_id,
                digest=result.head_digest))  # fmt: skip
    return 0
