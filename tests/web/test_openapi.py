"""The OpenAPI document holds the JSON API only, and /api/docs is Swagger UI served by the
app itself (npm swagger-ui-dist, the version pinned in package-lock.json) under the CSP."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pv.app import CSP
from tests.web.conftest import AppEnv

ROOT = Path(__file__).resolve().parents[2]
# Pages and downloads that exist in the app, and were listed in the document before.
HTML_ROUTES = ("/events", "/reports", "/reports/dsmb.xlsx", "/upload", "/login", "/review")


def test_every_path_of_the_openapi_document_is_under_api(app_env: AppEnv) -> None:
    r = app_env.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert [p for p in paths if not p.startswith("/api/")] == []
    # The JSON API is all there: events, subjects and tables, with their methods.
    assert {"/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/subjects",
            "/api/v1/tables/{name}"} <= set(paths)  # fmt: skip
    assert {"get", "post"} <= set(paths["/api/v1/events"])
    for page in HTML_ROUTES:
        assert page not in paths
        assert app_env.client.get(page, follow_redirects=False).status_code != 404, page
    # Every schema the document defines is one an API operation uses (no HTML form bodies).
    text = json.dumps(paths)
    schemas = r.json()["components"]["schemas"]
    assert not [n for n in schemas if n.startswith("Body_")]
    assert "EventOut" in schemas and "#/components/schemas/EventPage" in text


def test_the_docs_page_loads_only_its_own_files_under_the_csp(app_env: AppEnv) -> None:
    client = app_env.client
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    page = r.text
    scripts = re.findall(r"<script\b([^>]*)>", page)
    assert scripts and all('src="/' in s for s in scripts)  # no inline script, no other host
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", page)
    assert 'data-openapi-url="/openapi.json"' in page
    for url, kind in (("/vendor/swagger-ui/swagger-ui-bundle.js", "javascript"),
                      ("/vendor/swagger-ui/swagger-ui.css", "text/css"),
                      ("/static/api-docs.js", "javascript")):  # fmt: skip
        assert f'"{url}"' in page
        got = client.get(url)
        assert got.status_code == 200 and kind in got.headers["content-type"], url
        assert len(got.content) > 200
    # Only the two files are served from the package, not its other files.
    assert client.get("/vendor/swagger-ui/package.json").status_code == 404
    assert client.get("/vendor/swagger-ui/index.html").status_code == 404
    # htmx is still served from /vendor.
    assert client.get("/vendor/htmx.min.js").status_code == 200


def test_swagger_ui_is_the_version_pinned_in_the_lock_file(app_env: AppEnv) -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text("utf-8"))
    pinned = lock["packages"]["node_modules/swagger-ui-dist"]
    declared = json.loads((ROOT / "package.json").read_text("utf-8"))["dependencies"]
    assert declared["swagger-ui-dist"] == pinned["version"]  # an exact version
    assert pinned["integrity"].startswith("sha512-")
    installed = ROOT / "node_modules" / "swagger-ui-dist" / "package.json"
    assert json.loads(installed.read_text("utf-8"))["version"] == pinned["version"]
    served = app_env.client.get("/vendor/swagger-ui/swagger-ui-bundle.js").content
    assert served == (installed.parent / "swagger-ui-bundle.js").read_bytes()
