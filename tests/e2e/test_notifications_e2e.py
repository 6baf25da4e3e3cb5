"""Notifications on the running local stack (what `make run` starts): an email sent over
real HTTP reaches the emulator's SES, and a finished export reaches its owner's in-app
inbox through the events queue, which the local poller feeds to app.py's handler."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(admin_http: httpx.Client) -> httpx.Client:
    return admin_http


def test_email_reaches_the_emulators_ses(api: httpx.Client, local_stack: Any) -> None:
    import boto3

    ses = boto3.client("ses", endpoint_url=local_stack.aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    before = ses.get_send_quota()["SentLast24Hours"]
    resp = api.post("/api/v2/notifications/send", json={
        "to": ["e2e-a@example.com", "e2e-b@example.com"], "template": "ticket_created",
        "variables": {"ticket_id": "tkt_1", "subject": "Parcel late", "priority": "high"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["status"] == "sent"
    assert ses.get_send_quota()["SentLast24Hours"] == before + 2


def test_a_finished_export_lands_in_the_inbox(api: httpx.Client) -> None:
    job = api.post("/api/v2/exports", json={"entity": "products", "format": "json"})
    assert job.status_code == 202, job.text
    export_id = job.json()["data"]["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        notes = api.get("/api/v2/notifications/inapp").json()
        found = [n for n in notes["data"] if n["data"].get("exportId") == export_id]
        if found:
            assert found[0]["type"] == "export.completed" and found[0]["is_read"] is False
            assert notes["unread_count"] >= 1
            return
        time.sleep(0.2)
    raise AssertionError(f"no in-app notification for export {export_id}")
