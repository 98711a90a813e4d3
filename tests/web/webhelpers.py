"""Helpers for page tests: a form-encoded event and logging in through the log-in form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
IRR = {
    "aeterm": "shivers during infusion",
    "aelltcd": "10051792",
    "aetoxgr": "2",
    "aeser": "N",
    "aestdtc": "2021-03",
    "aeendtc": "2021-04-01",
    "aeout": "RECOVERED/RESOLVED",
    "aerel.belimumab": "RELATED",
    "aerel.prednisone": "NOT RELATED",
}


def _input(form):
    return {
        "aeterm": form["aeterm"],
        "aelltcd": form["aelltcd"],
        "aetoxgr": int(form["aetoxgr"]),
        "aeser": form["aeser"] == "Y",
        "aestdtc": form["aestdtc"],
        "aeendtc": form["aeendtc"],
        "aeout": form["aeout"],
        "aerel": {"belimumab": form["aerel.belimumab"], "prednisone": form["aerel.prednisone"]},
    }


def login(app, username) -> tuple[TestClient, str]:
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text).group(1)
    return client, csrf
