"""htmx fragments for coding: the CTCAE typeahead (names, codes, synonyms, near spellings
and MedDRA LLTs, with why a term matched) and a chosen term's grade choices (which close
the list of matches)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import select

from pv.terminology.models import Term
from pv.terminology.search import current_release, search_terms
from pv.terminology.synonyms import has_cjk
from pv.web.deps import DB, WebAuth
from pv.web.templating import render

router = APIRouter()


@router.get("/terms/search")
def term_search(request: Request, auth: WebAuth, session: DB, q: str = "") -> Response:
    """Terms matching what was typed: by name, code or synonym; each hit found through a
    synonym shows why (the template). Two characters at least, or one Chinese character
    (a word of its own: 痒, 咳)."""
    wanted = len(q.strip()) >= 2 or has_cjk(q)
    hits = search_terms(session, q[:100], limit=15) if wanted else []
    return render(request, "events/_term_results.html", {"auth": auth, "hits": hits, "q": q})


def term_by_code(session: DB, code: str) -> Term | None:
    release = current_release(session)
    if release is None:
        return None
    return session.exec(
        select(Term).where(Term.release_id == release.id, Term.code == code)
    ).first()


@router.get("/terms/{code}/choose")
def term_choose(request: Request, auth: WebAuth, session: DB, code: str) -> Response:
    term = term_by_code(session, code)
    if term is None:
        raise HTTPException(404, "no such term")
    return render(
        request,
        "events/_term_block.html",
        {
            "auth": auth,
            "term": term,
            "values": {"aelltcd": term.code},
            "errors": {},
            "close_results": True,  # the list of matches closes on a choice
        },
    )
