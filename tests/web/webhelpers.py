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


def upload_and_wait(client, csrf, study_id, filename, data, *, timeout=60.0):
    """POST a file to /upload (as htmx does), follow its job to the end.

    Returns (the POST reply, the job's final JSON, the final result fragment as htmx
    swaps it in). A refusal answered at once (no job) gives (reply, None, reply.text)."""
    import time

    r = client.post("/upload", data={"csrf_token": csrf, "study_id": study_id},
                    files={"file": (filename, data, "application/octet-stream")},
                    headers={"HX-Request": "true"})  # fmt: skip
    if r.status_code != 202:
        return r, None, r.text
    location = r.headers["location"]
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(location, headers={"Accept": "application/json"}).json()
        if state["finished"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert state["finished"], f"the upload job did not finish in {timeout} s: {state}"
    fragment = client.get(location, headers={"HX-Request": "true"}).text
    return r, state, fragment
