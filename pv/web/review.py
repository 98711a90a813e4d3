"""The safety review workspace: the review queue here; the other screens in review_*.py,
whose routers this module's `router` includes (create_app registers this one).

The queue (officers, admins) lists urgent work first (pv.review.queue: overdue and due
expedited reports, then new serious events not yet assessed, then the rest), or newest
change first, or by status (`sort`), with htmx filters, counts per status and keyset
pagination: the "next page" link carries the last row's sort key as an opaque cursor; a
cursor that is not one of the order's is a 422.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlmodel import Session, col, select

from pv import i18n
from pv.blinding.policy import NO_ARMS, arms_visible
from pv.db import read_session, run_db
from pv.events.models import Status
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.inputs import parse_id
from pv.labels import label
from pv.review.queue import (
    PRIORITY,
    SORTS,
    QueueFilters,
    QueueRow,
    queue_page,
    status_counts,
)
from pv.study.models import Arm, Site, Study
from pv.terminology.aesi import load_aesi
from pv.web import (
    case_data,
    case_versions,
    review_charts,
    review_clocks,
    review_event,
    review_icsr,
    review_queries,
    review_rsi,
    submissions,
)
from pv.web.deps import Auth, SessionToken, engine, require, sign_in_check, touch_when_due
from pv.web.review_common import REVIEWERS
from pv.web.templating import render, templates

router = APIRouter()
for _module in (review_event, review_queries, review_clocks, review_rsi, review_charts,
                review_icsr, case_data, case_versions, submissions):  # fmt: skip
    router.include_router(_module.router)

FILTERS = ("site", "arm", "aesi", "serious", "grade3", "status", "overdue", "sort")
SORT_LABELS = {
    "urgency": N_("Most urgent first"),
    "newest": N_("Newest change first"),
    "status": N_("By status"),
}
SORT_HELP = {
    "urgency": N_(
        "Overdue expedited reports first (most overdue first), then reports due soonest, "
        "then new serious events not yet assessed (oldest receipt first), then the rest "
        "by status."
    ),
    "newest": N_("Most recently changed first."),
    "status": N_(
        "New reports and answered queries first, then the rest of the workflow; newest "
        "change first within each status."
    ),
}
STATUSES = [s.value for s in PRIORITY if s != Status.draft]
BAD_CURSOR = N_(
    "This page link is damaged or was altered (its cursor is not valid). "
    "Start again from the first page of the queue."
)


@lru_cache(maxsize=1)
def aesi_choices() -> tuple[tuple[str, str], ...]:
    """(key, label) of the AESI groupings, and the flag the infusion rule adds."""
    catalog = load_aesi()
    rule = catalog.rules.get("possible_infusion_reaction", {})
    flag = (("possible_infusion_reaction", str(rule.get("label", "possible infusion reaction"))),)
    return tuple((g.key, g.label) for g in catalog.groupings) + (flag if rule else ())


@lru_cache(maxsize=256)
def aesi_tags(value: str, language: str) -> Markup:
    """The AESI groupings of an event as tags, in `language` (the current one: the argument
    keys the cache; a few distinct values: rendered once)."""
    keys = [k for k in value.split(",") if k]
    return Markup(" ").join(
        Markup('<span class="tag">{}</span>').format(label("aesi", k, k.replace("_", " ")))
        for k in keys
    )


def _int(value: str) -> int | None:
    return parse_id(value)  # ASCII digits, 1 to 2^31-1: no 500 on 99999999999999999999


def filters_from(f: dict[str, str]) -> QueueFilters:
    return QueueFilters(
        site_id=_int(f["site"]),
        arm_id=_int(f["arm"]),
        aesi=f["aesi"] or None,
        serious={"Y": True, "N": False}.get(f["serious"]),
        grade3=f["grade3"] == "1",
        status=f["status"] if f["status"] in STATUSES else None,
        overdue=f["overdue"] == "1",
    )


T = TypeVar("T")


class TtlCache:
    """Values kept for `ttl` seconds. Shared by the worker's threads: a race only
    computes a value twice; the oldest entries go first beyond `size`."""

    def __init__(self, ttl: float, size: int = 512):
        self.ttl, self.size = ttl, size
        self._data: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]  # type: ignore[no-any-return]
        value = make()
        self._data[key] = (now, value)
        if len(self._data) > self.size:
            for old in sorted(self._data, key=lambda k: self._data[k][0])[: self.size // 4]:
                self._data.pop(old, None)
        return value


class SiteChoice(NamedTuple):
    id: int
    code: str
    city: str | None


class ArmChoice(NamedTuple):
    id: int
    label: str


# Studies, sites and arms change a few times in a trial: a minute's delay in the filter
# lists is harmless. The per-status counts (a GROUP BY over the tally, the costliest part
# of the page at 10^6 events) are at most COUNTS_TTL seconds old; the rows are always live.
CHOICES = TtlCache(ttl=60.0)
COUNTS = TtlCache(ttl=5.0, size=2048)
COUNTS_TTL = COUNTS.ttl


def _choices(session: Session, study_id: str) -> tuple[list[SiteChoice], list[ArmChoice]]:
    sites = session.exec(
        select(Site.id, Site.code, Site.city)
        .where(Site.study_id == study_id)
        .order_by(col(Site.code))
    )
    arms = session.exec(
        select(Arm.id, Arm.label).where(Arm.study_id == study_id).order_by(col(Arm.position))
    )
    return [SiteChoice(*r) for r in sites], [ArmChoice(*r) for r in arms]


def _study_ids(session: Session) -> list[str]:
    return list(session.exec(select(Study.id).order_by(col(Study.id))))


# Rendered HTML kept between requests. A queue row is a pure function of its QueueRow
# (every field it shows, the version and change time among them), the site's code and the
# language (a key of both caches: `render` runs in the language of the request), so
# a kept row is never stale; the newest events head every officer's queue, page after
# page. The filter form is a pure function of the key FORMS keeps it under.
FORMS = TtlCache(ttl=60.0, size=1024)


@lru_cache(maxsize=8192)
def queue_row_html(row: QueueRow, site_code: str, language: str) -> Markup:
    """One row, rendered in `language` (the current one: the argument keys the cache)."""
    template = templates.get_template("review/_queue_row.html")
    return Markup(
        template.render(r=row, site_code=site_code, aesi_tags=aesi_tags(row.aesi, language))
    )


def filters_html(
    study_id: str,
    f: dict[str, str],
    filters: QueueFilters,
    sites: list[SiteChoice],
    arms: list[ArmChoice],
) -> Markup:
    template = templates.get_template("review/_queue_filters.html")
    return Markup(
        template.render(
            study=study_id,
            f=f,
            sites=sites,
            site_id=filters.site_id,
            arms=arms,
            arm_id=filters.arm_id,
            aesi_choices=aesi_choices(),
            sorts=[(k, _(v)) for k, v in SORT_LABELS.items()],
        )
    )


@router.get("/review")
async def review_queue(
    request: Request,
    token: SessionToken,
    study: str = "",
    site: str = "",
    arm: str = "",
    aesi: str = "",
    serious: str = "",
    grade3: str = "",
    status: str = "",
    overdue: str = "",
    sort: str = "",
    cursor: str = "",
) -> Response:
    sort = sort if sort in SORTS else ""  # "" : the default order, urgency
    f = {"site": site, "arm": arm, "aesi": aesi, "serious": serious, "grade3": grade3,
         "status": status, "overdue": overdue, "sort": sort}  # fmt: skip
    filters = filters_from(f)
    eng = engine(request)
    url = str(eng.url)

    # One session for the sign-in check and the queue (a GET: no CSRF token to check),
    # opened here, not as a dependency: the connection goes back to the pool before the
    # page is rendered. run_db: on the event loop for SQLite (reads of about a millisecond
    # at 10^6 events, less than a thread hand-off under load), in the thread pool for
    # PostgreSQL (the loop serves others while the server answers).
    def queue_reads(session: Session, auth: Auth) -> tuple[Any, ...] | None:
        require(auth, *REVIEWERS)
        studies = CHOICES.get((url, "studies"), lambda: _study_ids(session))
        if study and study not in studies:
            raise HTTPException(404, _("no such study"))
        study_id = study or (studies[0] if studies else None)
        if study_id is None:
            return None
        arms_shown = arms_visible(auth.user, session.get(Study, study_id))  # pv.blinding
        if not arms_shown and filters.arm_id is not None:
            raise HTTPException(403, _(NO_ARMS))
        try:
            page = queue_page(session, study_id=study_id, filters=filters,
                              cursor=cursor or None, site_ids=auth.sites,
                              sort=sort or SORTS[0])  # fmt: skip
        except ValueError as exc:
            raise HTTPException(422, _(BAD_CURSOR)) from exc
        scope = None if auth.sites is None else frozenset(auth.sites)
        counts = COUNTS.get(
            (url, study_id, filters, scope),
            lambda: status_counts(
                session, study_id=study_id, filters=filters, site_ids=auth.sites
            ),  # fmt: skip
        )
        sites, arms = CHOICES.get((url, study_id), lambda: _choices(session, study_id))
        return studies, study_id, page, counts, sites, arms if arms_shown else []

    def read() -> tuple[Auth, tuple[Any, ...] | None]:
        with read_session(eng) as session:
            auth, signed_in = sign_in_check(session, request, token)
            found = queue_reads(session, auth)
        touch_when_due(request, signed_in)
        return auth, found

    auth, found = await run_db(eng, read)
    if found is None:
        return render(request, "review/queue.html", {"auth": auth, "studies": []})
    studies, study_id, page, counts, sites, arms = found
    base = {"study": study_id, **{k: v for k, v in f.items() if v and k != "status"}}
    site_codes = {s.id: s.code for s in sites}
    language = i18n.current()
    ctx: dict[str, Any] = {
        "auth": auth,
        "studies": studies,
        "study": study_id,
        "f": f,
        "page": page,
        "counts": counts,
        "total": sum(counts.values()),
        "statuses": STATUSES,
        "filters_html": FORMS.get(
            (url, study_id, tuple(f.items()), tuple(sites), tuple(arms), language),
            lambda: filters_html(study_id, f, filters, sites, arms),
        ),
        "row_html": lambda r: queue_row_html(r, site_codes.get(r.site_id, ""), language),
        "qs_all": urlencode(base),
        "qs": urlencode({**base, "status": f["status"]} if f["status"] else base),
        "first_page": bool(cursor),
        "sort_help": _(SORT_HELP[sort or SORTS[0]]),
    }
    return render(request, "review/queue.html", ctx, partial="review/_queue_table.html")
