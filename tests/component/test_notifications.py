"""Notifications: email through SES and SMS through SNS (checked in moto's backends), the
templates, the send records, the in-app inbox, and in-app notifications raised from
platform events through the events queue's handler (app.py's fan_out)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, resolve_example_com_publicly
from tests.conftest import Api, make_user

V1, V2 = "/api/v1", "/api/v2"
SEND = f"{V2}/notifications/send"
INBOX = f"{V2}/notifications/inapp"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _providers_emptied() -> None:
    """moto's SES and SNS outlive a test (the mock is the session's): each test counts
    only what it sent, whatever ran before it in this worker."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages.clear()
    sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.clear()


def ses_sent(to: str) -> list[Any]:
    """Messages moto's SES accepted for this address."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [m for m in sent if to in m.destinations.get("ToAddresses", [])]


def sms_sent(number: str) -> list[str]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    sms = sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages
    return [text for phone, text in sms.values() if phone == number]


def key_with(api: Api, scopes: list[str], **extra: Any) -> Api:
    resp = api.post(f"{V1}/api-keys", {"name": "k", "scopes": scopes, **extra})
    assert resp.status_code == 201, resp.body
    return api.as_key(resp.json["data"]["key"])


@pytest.fixture
def integrator(admin: Api) -> tuple[Api, dict[str, Any]]:
    return make_user(admin, "nina", ["integrator"])


# -- email and SMS ---------------------------------------------------------------------

def test_email_through_ses_one_message_per_recipient(integrator: Any) -> None:
    api, user = integrator
    resp = api.post(SEND, {"channel": "email", "to": ["ann@example.com", "bob@example.com",
                                                      "ANN@example.com"],
                           "template": "ticket_created",
                           "variables": {"ticket_id": "tkt_1", "subject": "Parcel <late>",
                                         "priority": "high"}})
    assert resp.status_code == 200, resp.body
    data = resp.json["data"]
    assert data["status"] == "sent" and data["channel"] == "email"
    assert [r["to"] for r in data["recipients"]] == ["ann@example.com", "bob@example.com"]
    assert all(r["status"] == "sent" and r["messageId"] for r in data["recipients"])
    for who in ("ann@example.com", "bob@example.com"):
        [msg] = ses_sent(who)
        assert msg.destinations["ToAddresses"] == [who]  # nobody sees the others
        assert msg.subject == "Ticket tkt_1 opened: Parcel <late>"
        assert "Parcel &lt;late&gt;" in msg.body and "<late>" not in msg.body  # HTML escaped
    # recorded, and listed for its owner
    listed = api.get(f"{V2}/notifications").json["data"]
    assert [n["id"] for n in listed] == [data["id"]]
    assert listed[0]["owner"] == user["id"] and listed[0]["template"] == "ticket_created"
    assert api.get(f"{V2}/notifications/{data['id']}").json["data"]["status"] == "sent"


def test_the_briefs_example_with_an_api_key_and_trailing_slash(admin: Api) -> None:
    key = key_with(admin, ["notifications:send"])
    resp = key.post(f"{V1}/notifications/send/", {
        "user_email": "user@example.com", "user_name": "John Doe",
        "notification_type": "task_assignment",
        "context_data": {"task_id": "T-456", "task_title": "Network Issue",
                         "role_name": "L2 Support"}})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["status"] == "sent"
    [msg] = ses_sent("user@example.com")
    assert msg.subject == "New Task Assignment"
    assert "John Doe" in msg.body and "T-456" in msg.body and "L2 Support" in msg.body


def test_sms_through_sns(integrator: Any) -> None:
    api, _ = integrator
    resp = api.post(SEND, {"channel": "sms", "to": "+14155550123",
                           "body": "Your code is {{code}}", "variables": {"code": 4711}})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["status"] == "sent"
    assert sms_sent("+14155550123") == ["Your code is 4711"]


def test_a_from_name_is_a_valid_header_whatever_it_holds(stack: None) -> None:
    """Non-ASCII as an RFC 2047 encoded word (SES refuses raw UTF-8 in a header),
    punctuation quoted, control characters and quotes dropped: one From address, ours."""
    from email.policy import default

    from chalicelib.notifications.channels import _source

    for name, shown in (("Zoë & Co", "Zoë & Co"), ("Acme, Inc.", "Acme, Inc."),
                        ('x" <evil@example.com>', "x <evil@example.com>"),
                        ("a\r\nBcc: v@example.com", "aBcc: v@example.com")):
        source = _source(name)
        assert source.isascii() and "\r" not in source and "\n" not in source, source
        [address] = default.header_factory("From", source).addresses
        assert address.addr_spec == "webhooks@gatehouse.local", source
        assert address.display_name == shown, source


def test_sms_only_to_the_allowed_countries_when_set(integrator: Any,
                                                    monkeypatch: Any) -> None:
    from tests.component.helpers import set_env

    api, _user = integrator
    set_env(monkeypatch, GATEHOUSE_SMS_ALLOWED_PREFIXES="+44, +1")
    refused = api.post(SEND, {"channel": "sms", "to": "+33612345678", "body": "b"})
    assert refused.status_code == 422 and sms_sent("+33612345678") == []
    sent = api.post(SEND, {"channel": "sms", "to": "+447700900124", "body": "b"})
    assert sent.status_code == 200 and sms_sent("+447700900124") == ["b"]


@pytest.mark.parametrize("body, field", [
    ({"channel": "sms", "to": "4155550123", "body": "hi"}, "to"),
    ({"channel": "sms", "to": "+0155550123", "body": "hi"}, "to"),
    ({"channel": "sms", "to": "+19005550123", "body": "hi"}, "to"),     # premium rate
    ({"channel": "sms", "to": "+88213500123", "body": "hi"}, "to"),     # intl. network
    ({"channel": "email", "to": "not-an-address", "template": "ticket_created"}, "to"),
    ({"channel": "email", "to": [f"u{i}@example.com" for i in range(21)], "subject": "s",
      "body": "b"}, "to"),
    ({"channel": "email", "to": [], "subject": "s", "body": "b"}, "to"),
    ({"channel": "email", "to": "a@example.com", "template": "nope"}, "template"),
    ({"channel": "email", "to": "a@example.com", "template": "ticket_created",
      "variables": {"ticket_id": "1", "subject": "s"}}, "variables.priority"),
    ({"channel": "email", "to": "a@example.com", "body": "no subject"}, "subject"),
    ({"channel": "email", "to": "a@example.com", "subject": "two\nlines", "body": "b"},
     "subject"),
    ({"channel": "sms", "to": "+14155550123", "body": "x" * 1601}, "body"),
    ({"channel": "email", "to": "a@example.com", "subject": "s", "body": "{{a.b}}",
      "variables": {"a": {"c": 1}}}, "variables.a.b"),
    ({"channel": "email", "to": "a@example.com", "subject": "s", "body": "{{x}}",
      "variables": {"x": [1, 2]}}, "variables.x"),
])
def test_bad_requests_answer_422_naming_the_field(integrator: Any, body: dict,
                                                   field: str) -> None:
    api, _ = integrator
    err = assert_error(api.post(SEND, body), 422, "VALIDATION_ERROR")
    assert field in [d.get("field") for d in err["details"]], err
    assert api.get(f"{V2}/notifications").json["data"] == []  # nothing recorded or sent


def test_malformed_and_unknown_fields(integrator: Any) -> None:
    api, _ = integrator
    assert_error(api.post(SEND, raw="{not json", headers={"Content-Type": "application/json"}),
                 400, "VALIDATION_ERROR")
    err = assert_error(api.post(SEND, {"to": "a@example.com", "subject": "s", "body": "b",
                                       "cc": "x@example.com"}), 422, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "cc"
    assert_error(api.post(SEND, {"channel": "fax", "to": "1", "body": "b"}), 422,
                 "VALIDATION_ERROR")
    assert_error(api.post(SEND, {"to": 5, "subject": "s", "body": "b"}), 422,
                 "VALIDATION_ERROR")


def test_scopes_and_owners(admin: Api, integrator: Any) -> None:
    api, _ = integrator
    viewer, _ = make_user(admin, "vic", ["viewer"])  # notifications:read, not send
    err = assert_error(viewer.post(SEND, {"to": "a@example.com", "subject": "s", "body": "b"}),
                       403, "AUTHORIZATION_ERROR")
    assert err["details"] == [{"requiredScopes": ["notifications:send"]}]
    reader_key = key_with(admin, ["orders:read"])
    assert_error(reader_key.get(INBOX), 403, "AUTHORIZATION_ERROR")
    sent = api.post(SEND, {"to": "c@example.com", "subject": "s", "body": "b"}).json["data"]
    other, _ = make_user(admin, "olga", ["integrator"])
    assert_error(other.get(f"{V2}/notifications/{sent['id']}"), 404, "NOT_FOUND")
    assert other.get(f"{V2}/notifications").json["data"] == []
    assert [n["id"] for n in admin.get(f"{V2}/notifications").json["data"]] == [sent["id"]]


def test_a_sandbox_key_sends_nothing(admin: Api) -> None:
    key = key_with(admin, ["notifications:send"], sandbox=True)
    resp = key.post(SEND, {"to": "sandboxed@example.com", "subject": "s", "body": "b"})
    assert resp.status_code == 200, resp.body
    data = resp.json["data"]
    assert data["status"] == "sandbox" and data["sandbox"] is True
    assert data["recipients"] == [{"to": "sandboxed@example.com", "status": "sandbox",
                                   "error": "sandbox: not sent"}]
    assert ses_sent("sandboxed@example.com") == []
    # still checked as a live send would be
    assert_error(key.post(SEND, {"channel": "sms", "to": "12", "body": "b"}), 422,
                 "VALIDATION_ERROR")
    # the live namespace does not see it, nor it the live sends
    assert admin.get(f"{V2}/notifications").json["data"] == []


def _failing_provider(monkeypatch: Any, code: str) -> None:
    from botocore.exceptions import ClientError

    from chalicelib.core import aws

    real = aws.client

    class Refusing:
        def send_email(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": "refused x@example.com"}},
                              "SendEmail")

        def verify_email_identity(self, **_: Any) -> Any:
            return {}

    monkeypatch.setattr(aws, "client",
                        lambda service: Refusing() if service == "ses" else real(service))


@pytest.mark.parametrize("code, status, error", [
    ("MessageRejected", 422, "VALIDATION_ERROR"),
    ("Throttling", 503, "SERVICE_UNAVAILABLE"),
    ("AccountSendingPausedException", 503, "SERVICE_UNAVAILABLE"),
])
def test_provider_errors_are_recorded_and_mapped(integrator: Any, monkeypatch: Any, code: str,
                                                 status: int, error: str) -> None:
    api, _ = integrator
    _failing_provider(monkeypatch, code)
    err = assert_error(api.post(SEND, {"to": ["x@example.com", "y@example.com"],
                                       "subject": "s", "body": "b"}), status, error)
    assert "x@example.com" not in err["details"][0]["message"].split(": ", 1)[1]
    [record] = api.get(f"{V2}/notifications").json["data"]
    assert record["status"] == "failed"
    assert {r["status"] for r in record["recipients"]} == {"failed"}


def test_daily_quota(integrator: Any, monkeypatch: Any) -> None:
    from chalicelib.notifications import service

    api, _ = integrator
    monkeypatch.setattr(service, "DAILY_RECIPIENTS", 3)
    ok = api.post(SEND, {"to": ["q1@example.com", "q2@example.com"], "subject": "s",
                         "body": "b"})
    assert ok.status_code == 200, ok.body
    resp = api.post(SEND, {"to": ["q3@example.com", "q4@example.com"], "subject": "s",
                           "body": "b"})
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert 0 < int(resp.headers["Retry-After"]) <= 86400
    assert ses_sent("q3@example.com") == []


def test_templates_listed(integrator: Any) -> None:
    api, _ = integrator
    found = {t["name"]: t for t in api.get(f"{V2}/notifications/templates").json["data"]}
    assert found["task_assignment"]["variables"] == ["role_name", "task_id", "task_title",
                                                     "user_name"]
    assert {"ticket_created", "ticket_updated", "export_completed",
            "webhook_disabled"} <= set(found)


def test_renderer_is_one_pass_and_escapes_only_html() -> None:
    from chalicelib.notifications import templates

    t = templates.inline("Hi {{ name }}", "Dear {{name}}, {{note}}", "<b>{{name}}</b>")
    out = templates.render(t, {"name": "<Ann & {{note}}>", "note": "x"})
    assert out.subject == "Hi <Ann & {{note}}>"
    assert out.text == "Dear <Ann & {{note}}>, x"
    assert out.html == "<b>&lt;Ann &amp; {{note}}&gt;</b>"
    # the default HTML of a text template: escaped, paragraphs kept
    out = templates.render(templates.named("task_assignment"), {
        "user_name": "<i>", "task_id": 1, "task_title": "t", "role_name": "r"})
    assert out.html.startswith("<p>Hello &lt;i&gt;,</p><p>")


# -- in-app ----------------------------------------------------------------------------

def fan_out(api: Api, *events: dict[str, Any]) -> dict[str, Any]:
    """The events through app.py's events-queue handler, as Lambda would call it."""
    from chalicelib.core.settings import get_settings

    client = api.client
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(e) for e in events],
        queue_name=get_settings().queue_name("events"))
    return dict(client.lambda_.invoke("fan_out", event).payload)


def platform_event(name: str, data: dict[str, Any], owner: str, **kw: Any) -> dict[str, Any]:
    """A platform event a few ms after the last (ids order by the millisecond; within one,
    randomly)."""
    from chalicelib.core import clock
    from chalicelib.events import catalog, outbox

    clock.advance(0.005)
    return outbox.new_event(name, catalog.payload(name, data), owner=owner, **kw)


def export_done(owner: str, export_id: str = "exp_1", **kw: Any) -> dict[str, Any]:
    return platform_event("export.completed", {
        "exportId": export_id, "entity": "products", "format": "csv", "rows": 12, "bytes": 99,
        "createdAt": "2026-01-01T00:00:00.000Z", "finishedAt": "2026-01-01T00:00:01.000Z",
        "download": f"/api/v2/exports/{export_id}/download"}, owner, **kw)


def test_platform_events_notify_their_owner_once(admin: Api, integrator: Any) -> None:
    import app  # noqa: F401 - registers the catalog's export events

    api, user = integrator
    other, other_user = make_user(admin, "otto", ["integrator"])
    done = export_done(user["id"])
    failed = platform_event("export.failed", {
        "exportId": "exp_2", "entity": "orders", "format": "xlsx", "processedRows": 3,
        "error": {"code": "AUTHORIZATION_ERROR", "message": "lost orders:read"},
        "createdAt": "2026-01-01T00:00:00.000Z", "finishedAt": "2026-01-01T00:00:01.000Z"},
        user["id"])
    theirs = export_done(other_user["id"], "exp_3")
    unrelated = platform_event("webhook.test", {"webhookId": "whk_1", "message": "m",
                                                 "requestedBy": "user:x"}, user["id"])
    assert fan_out(api, done, failed, theirs, unrelated) == {"batchItemFailures": []}
    assert fan_out(api, done, failed) == {"batchItemFailures": []}  # redelivered

    body = api.get(INBOX).json
    assert body["count"] == 2 and body["unread_count"] == 2
    assert [n["type"] for n in body["data"]] == ["export.failed", "export.completed"]
    first = body["data"][1]
    assert first["subject"] == "Export exp_1 is ready" and first["is_read"] is False
    assert "12 rows" in first["message"] and first["read_at"] is None
    assert first["data"] == {"exportId": "exp_1", "download": "/api/v2/exports/exp_1/download"}
    assert "lost orders:read" in body["data"][0]["message"]
    assert [n["id"] for n in other.get(INBOX).json["data"]] != [first["id"]]
    assert other.get(INBOX).json["count"] == 1


def test_inbox_read_filter_paging_and_isolation(admin: Api, integrator: Any) -> None:
    api, user = integrator
    other, other_user = make_user(admin, "oscar", ["integrator"])
    events = [export_done(user["id"], f"exp_{i}") for i in range(3)]
    fan_out(api, *events, export_done(other_user["id"], "exp_x"))
    notes = api.get(INBOX).json["data"]
    newest = notes[0]["id"]

    resp = api.patch(f"{INBOX}/{newest}/", {"is_read": True})  # the brief's path and body
    assert resp.status_code == 200, resp.body
    marked = resp.json["data"]
    assert marked["is_read"] is True and marked["read_at"]
    again = api.patch(f"{INBOX}/{newest}", {"isRead": True}).json["data"]
    assert again["read_at"] == marked["read_at"]  # the first read time holds

    unread = api.get(f"{INBOX}/?is_read=false").json
    assert [n["id"] for n in unread["data"]] == [n["id"] for n in notes[1:]]
    assert unread["count"] == 2 and unread["unread_count"] == 2
    read = api.get(f"{INBOX}?is_read=true").json
    assert [n["id"] for n in read["data"]] == [newest] and read["unread_count"] == 2

    # cursor paging and the brief's page numbers
    first = api.get(f"{INBOX}?perPage=2").json
    assert len(first["data"]) == 2 and first["pagination"]["hasMore"] is True
    rest = api.get(f"{INBOX}?perPage=2&cursor={first['pagination']['nextCursor']}").json
    assert [n["id"] for n in first["data"] + rest["data"]] == [n["id"] for n in notes]
    assert rest["pagination"] == {"perPage": 2, "nextCursor": None, "hasMore": False}
    page2 = api.get(f"{INBOX}?page=2&page_size=2").json
    assert [n["id"] for n in page2["data"]] == [notes[2]["id"]]
    assert page2["next"] is None and page2["previous"].endswith("?page_size=2&page=1")
    page1 = api.get(f"{INBOX}?page=1&page_size=2").json
    assert page1["previous"] is None and page1["next"].endswith("?page_size=2&page=2")
    assert_error(api.get(f"{INBOX}?page=600&page_size=2"), 400, "VALIDATION_ERROR")
    assert_error(api.get(f"{INBOX}?cursor=garbage!"), 400, "VALIDATION_ERROR")
    assert_error(other.get(f"{INBOX}?cursor={first['pagination']['nextCursor']}"), 400,
                 "VALIDATION_ERROR")

    # another's notification: 404 to read or mark, admin included
    theirs = other.get(INBOX).json["data"][0]["id"]
    for who in (api, admin):
        assert_error(who.patch(f"{INBOX}/{theirs}", {"is_read": True}), 404, "NOT_FOUND")
        assert_error(who.get(f"{INBOX}/{theirs}"), 404, "NOT_FOUND")
    assert other.get(INBOX).json["unread_count"] == 1
    assert_error(api.patch(f"{INBOX}/{newest}", {"is_read": "yes"}), 422, "VALIDATION_ERROR")
    assert_error(api.patch(f"{INBOX}/{newest}", {}), 422, "VALIDATION_ERROR")

    # unread again, then all read
    assert api.patch(f"{INBOX}/{newest}", {"is_read": False}).json["data"]["read_at"] is None
    done = api.post(f"{INBOX}/read-all")
    assert done.status_code == 200 and done.json["data"] == {"updated": 3}
    assert api.get(INBOX).json["unread_count"] == 0
    assert other.get(INBOX).json["unread_count"] == 1

    # v1 serves it too, deprecated as every v1 path
    old = api.get(f"{V1}/notifications/inapp")
    assert old.status_code == 200 and old.json["count"] == 3 and "Deprecation" in old.headers


def test_sandbox_inbox_is_apart(admin: Api, integrator: Any) -> None:
    api, user = integrator
    fan_out(api, export_done(user["id"], "exp_live"),
            export_done(user["id"], "exp_sbx", sandbox=True))
    key = key_with(api, ["notifications:read"], sandbox=True)
    assert [n["data"]["exportId"] for n in key.get(INBOX).json["data"]] == ["exp_sbx"]
    assert [n["data"]["exportId"] for n in api.get(INBOX).json["data"]] == ["exp_live"]


def test_a_disabled_webhook_reaches_the_inbox_through_the_events_queue(
        integrator: Any, monkeypatch: Any) -> None:
    """The real path: the webhook service raises webhook.disabled through the outbox; the
    events queue's messages go to app.py's handler."""
    import boto3

    from chalicelib.core.aws import queue_url
    from chalicelib.webhooks import service as webhooks

    resolve_example_com_publicly(monkeypatch)
    api, _ = integrator
    hook = api.post(f"{V1}/webhooks", {"url": "https://hooks.example.com/x",
                                       "events": ["webhook.test"]}).json["data"]
    assert webhooks.disable(hook["id"], "failing for 5 days")
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while got := sqs.receive_message(QueueUrl=queue_url("events"),
                                     MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=queue_url("events"), ReceiptHandle=m["ReceiptHandle"])
    assert fan_out(api, *bodies) == {"batchItemFailures": []}
    [note] = api.get(INBOX).json["data"]
    assert note["type"] == "webhook.disabled" and note["data"] == {"webhookId": hook["id"]}
    assert "failing for 5 days" in note["message"]


def test_a_failed_write_reports_only_its_message(integrator: Any, monkeypatch: Any) -> None:
    from chalicelib.notifications import inapp, repo

    api, user = integrator
    good, bad = export_done(user["id"], "exp_ok"), export_done(user["id"], "exp_bad")
    real = repo.put_note

    def flaky(owner: str, sandbox: bool, note: dict[str, Any]) -> bool:
        if note["data"].get("exportId") == "exp_bad":
            raise RuntimeError("DynamoDB down")
        return real(owner, sandbox, note)

    monkeypatch.setattr(repo, "put_note", flaky)
    batch = {"Records": [{"messageId": "m1", "body": json.dumps(good)},
                         {"messageId": "m2", "body": json.dumps(bad)},
                         {"messageId": "m3", "body": "not json"}]}
    assert inapp.from_events(batch) == ["m2"]
    merged = inapp.merge_failures({"batchItemFailures": [{"itemIdentifier": "m3"}]}, ["m2"])
    assert merged == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m2"}]}
    assert [n["data"]["exportId"] for n in api.get(INBOX).json["data"]] == ["exp_ok"]


# -- the connector types -----------------------------------------------------------------

def connection(owner: str, kind: str, config: dict[str, Any], *, sandbox: bool = False,
               scopes: tuple[str, ...] = ("notifications:send",)) -> Any:
    from chalicelib.integrations.connector import Connection

    return Connection(id="int_1", type=kind, name="n", owner=owner, sandbox=sandbox,
                      config=config, credentials={}, scopes=scopes)


def test_email_and_sms_connectors_send_through_the_channels(integrator: Any) -> None:
    from chalicelib.integrations import messaging
    from chalicelib.integrations.connector import SEND, connector_type

    api, user = integrator
    email = connector_type("email_ses")
    assert isinstance(email, messaging.EmailSes) and email.directions == {SEND}
    assert email.catalog_entry()["credentialsSchema"] is None
    out = email.push(connection(user["id"], "email_ses", {"fromName": "Acme Support",
                                                          "replyTo": "help@example.com"}),
                     {"to": "conn@example.com", "template": "ticket_updated",
                      "variables": {"ticket_id": "t1", "subject": "s", "status": "closed"}})
    assert out["status"] == "sent" and out["createdBy"] == "integration:int_1"
    [msg] = ses_sent("conn@example.com")
    assert msg.source == 'Acme Support <webhooks@gatehouse.local>'
    sms = connector_type("sms_sns")
    sms.push(connection(user["id"], "sms_sns", {"senderId": "Acme"}),
             {"to": ["+447700900123"], "body": "Ticket {{id}} closed", "variables": {"id": 7}})
    assert sms_sent("+447700900123") == ["Ticket 7 closed"]
    # recorded as the owner's sends
    assert len(api.get(f"{V2}/notifications").json["data"]) == 2


def test_connectors_keep_to_their_owners_rights_and_namespace(admin: Api) -> None:
    from chalicelib.core.errors import Forbidden, Unprocessable
    from chalicelib.integrations import messaging  # noqa: F401 - registers the types
    from chalicelib.integrations.connector import connector_type

    _, viewer = make_user(admin, "vera", ["viewer"])
    _, owner = make_user(admin, "ivan", ["integrator"])
    email = connector_type("email_ses")
    msg = {"to": "nope@example.com", "subject": "s", "body": "b"}
    with pytest.raises(Forbidden):  # the owner lacks notifications:send
        email.push(connection(viewer["id"], "email_ses", {}), msg)
    with pytest.raises(Forbidden):  # whoever made it lacked it
        email.push(connection(owner["id"], "email_ses", {}, scopes=("orders:read",)), msg)
    with pytest.raises(Unprocessable):
        email.push(connection(owner["id"], "email_ses", {}), {"body": "no recipient"})
    out = email.push(connection(owner["id"], "email_ses", {}, sandbox=True), msg)
    assert out["status"] == "sandbox"
    assert ses_sent("nope@example.com") == []
    with pytest.raises(Unprocessable):
        email.check({"replyTo": "not an address"}, owner["id"])
    with pytest.raises(Exception, match="from_?[Nn]ame|fromName"):
        email.check({"fromName": 'x" <evil@example.com>'}, owner["id"])


def test_send_with_a_connections_settings(admin: Api, integrator: Any) -> None:
    api, _ = integrator
    catalog = {t["type"]: t for t in api.get(f"{V1}/integrations/catalog").json["data"]}
    assert catalog["email_ses"]["directions"] == ["send"]
    assert catalog["sms_sns"]["credentialsSchema"] is None

    def connect(who: Api, kind: str, config: dict[str, Any]) -> str:
        resp = who.post(f"{V1}/integrations", {"type": kind, "name": kind, "config": config})
        assert resp.status_code == 201, resp.body
        return str(resp.json["data"]["id"])

    mail = connect(api, "email_ses", {"fromName": "Acme Desk"})
    text = connect(api, "sms_sns", {"senderId": "Acme"})
    resp = api.post(SEND, {"to": "viaconn@example.com", "subject": "s", "body": "b",
                           "connectionId": mail})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["connectionId"] == mail
    [msg] = ses_sent("viaconn@example.com")
    assert msg.source == 'Acme Desk <webhooks@gatehouse.local>'
    # the other channel's type, another's connection, a paused one, a bad id
    err = assert_error(api.post(SEND, {"to": "a@example.com", "subject": "s", "body": "b",
                                       "connectionId": text}), 422, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "connectionId"
    other, _ = make_user(admin, "omar", ["integrator"])
    assert_error(other.post(SEND, {"to": "a@example.com", "subject": "s", "body": "b",
                                   "connectionId": mail}), 404, "NOT_FOUND")
    assert_error(api.post(SEND, {"channel": "sms", "to": "+14155550999", "body": "b",
                                 "connectionId": "int_nope"}), 404, "NOT_FOUND")
    paused = api.patch(f"{V1}/integrations/{text}", {"status": "paused"})
    assert paused.status_code == 200, paused.body
    assert_error(api.post(SEND, {"channel": "sms", "to": "+14155550999", "body": "b",
                                 "connectionId": text}), 409, "CONFLICT")
    assert sms_sent("+14155550999") == []
    # config the types refuse
    bad = api.post(f"{V1}/integrations", {"type": "sms_sns", "name": "x",
                                          "config": {"senderId": "123"}})
    assert_error(bad, 422, "VALIDATION_ERROR")
    bad = api.post(f"{V1}/integrations", {"type": "email_ses", "name": "x",
                                          "config": {"fromAddress": "ceo@bank.example"}})
    assert_error(bad, 422, "VALIDATION_ERROR")
    bad = api.post(f"{V1}/integrations", {"type": "email_ses", "name": "x", "config": {},
                                          "credentials": {"key": "k"}})
    assert_error(bad, 422, "VALIDATION_ERROR")


def test_an_inbox_keeps_its_newest_and_its_counts_hold(integrator: Any,
                                                        monkeypatch: Any) -> None:
    from chalicelib.notifications import repo

    api, user = integrator
    monkeypatch.setattr(repo, "INBOX_CAP", 3)
    fan_out(api, *[export_done(user["id"], f"exp_{i}") for i in range(2)])
    first = api.get(INBOX).json["data"]
    assert api.patch(f"{INBOX}/{first[1]['id']}", {"is_read": True}).status_code == 200
    fan_out(api, *[export_done(user["id"], f"exp_{i}") for i in range(2, 5)])
    body = api.get(INBOX).json
    assert [n["data"]["exportId"] for n in body["data"]] == ["exp_4", "exp_3", "exp_2"]
    assert body["count"] == 3 and body["unread_count"] == 3
    assert api.get(f"{INBOX}?is_read=true").json["count"] == 0
