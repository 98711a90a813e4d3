"""JSON request bodies that refuse duplicate keys.

`json.loads` keeps the last of two equal keys (`{"aetoxgr": 1, "aetoxgr": 5}` is grade 5),
so what a client's log shows and what is stored can differ. The API's routes use
`StrictJsonRoute`: its request parses the body with an `object_pairs_hook` that refuses a
repeated key at any depth, and the route answers 422 naming the key, in the API's error
format, before any validation or database work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from pv.i18n import gettext as _


class DuplicateKey(HTTPException):
    """An HTTPException, so that FastAPI's body reading lets it through (it turns any other
    error into a 400); `StrictJsonRoute` answers it in the API's error format."""

    def __init__(self, key: str) -> None:
        self.message = _("the key '%(key)s' appears twice in one object", key=key)
        super().__init__(422, self.message)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def loads_strict(data: bytes | str) -> Any:
    """`json.loads`, refusing a key repeated within one object (DuplicateKey)."""
    return json.loads(data, object_pairs_hook=_pairs)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute whose JSON body may not repeat a key: 422 naming it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            request = StrictJsonRequest(request.scope, request.receive)
            try:
                return await handler(request)
            except DuplicateKey as exc:
                return JSONResponse(
                    {"errors": [{"field": exc.key, "message": exc.message}]}, status_code=422
                )

        return strict
