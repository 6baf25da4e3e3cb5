"""Webhook management: the real app in-process against moto."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest

from tests.component.helpers import assert_error, set_env, snapshot
from tests.component.test_ssrf import NUMERIC_TRICKS, UNSAFE_ADDRESSES
from tests.conftest import Api, client_token, make_user

BASE = "/api/v1/webhooks"
URL = "https://hooks.example.com/gatehouse"


def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"url": URL, "events": ["webhook.test", "webhook.disabled"], **fields}
    resp = api.post(BASE, body)
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def item(webhook_id: str) -> dict[str, Any]:
    from chalicelib.webhooks import service

    found = service.get_webhook(webhook_id)
    assert found is not None
    return found


def subs(webhook_id: str) -> dict[str, bool]:
    """The webhook's subscription index items: {"<ns>#<type>": active}."""
    return {pk[len("SUB#"):]: bool(attrs["active"]) for (pk, sk), attrs in snapshot().items()
            if pk.startswith("SUB#") and sk == webhook_id}


def webhook_items() -> int:
    return sum(1 for pk, _ in snapshot() if pk.startswith(("WEBHOOK#", "SUB#")))


def outbox_events() -> list[dict[str, Any]]:
    return [json.loads(attrs["event"]) for (pk, _), attrs in snapshot().items()
            if pk.startswith("OUTBOX#")]


def assert_422(resp: Any) -> dict[str, Any]:
    return assert_error(resp, 422, "VALIDATION_ERROR")


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: Any) -> None:
    """hooks.example.com resolves to a public address; other names do not resolve."""
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host.endswith("example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        if host in ("private.example.net",):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


# -- catalog -------------------------------------------------------------------------

def test_catalog_lists_platform_events_with_schema_and_example(admin: Api) -> None:
    resp = admin.get(f"{BASE}/events")
    assert resp.status_code == 200, resp.body
    events = {e["type"]: e for e in resp.json["data"]}
    for name in ("webhook.test", "webhook.disabling", "webhook.disabled"):
        entry = events[name]
        assert entry["platform"] is True and entry["description"]
        assert entry["schema"]["type"] == "object" and entry["schema"]["properties"]
        assert entry["example"]["event"] == name and entry["example"]["data"]
        # the example's data matches its own schema's fields
        assert set(entry["example"]["data"]) <= set(entry["schema"]["properties"])
    assert resp.json["meta"]["count"] == len(events)
    # each type says which scope reads it (and so which a subscriber needs)
    assert events["webhook.test"]["requiredScope"] == "webhooks:manage"
    assert events["customer.created"]["requiredScope"] == "customers:read"
    assert events["payment.received"]["requiredScope"] == "orders:read"
    assert all(e["requiredScope"] for e in events.values())


# -- create, read, list, update, delete ---------------------------------------------

def test_create_answers_secret_once_and_stores_it_encrypted(admin: Api) -> None:
    from chalicelib.auth import keyring
    from chalicelib.webhooks import service

    resp = admin.post(BASE, {"url": URL, "events": ["webhook.test"], "description": "ERP",
                             "headers": {"Authorization": "Bearer receiver-token-123",
                                         "X-Tenant": "tenant-secret-456"},
                             "retrySchedule": [5, 10], "timeoutSeconds": 10,
                             "payloadFields": ["id", "customer.email"]})
    assert resp.status_code == 201, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    data = resp.json["data"]
    assert resp.headers["Location"] == f"{BASE}/{data['id']}"
    secret = data["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert data["id"].startswith("whk_") and data["status"] == "active" and data["active"]
    assert data["headers"] == {"Authorization": "********", "X-Tenant": "********"}
    assert data["retrySchedule"] == [5, 10] and data["retryCount"] == 2
    assert data["timeoutSeconds"] == 10 and data["payloadFields"] == ["id", "customer.email"]

    got = admin.get(f"{BASE}/{data['id']}")
    assert got.status_code == 200
    assert "secret" not in got.json["data"]
    assert got.json["data"]["headers"] == {"Authorization": "********", "X-Tenant": "********"}

    # nowhere in the table (webhook, subscriptions, audit, outbox) in plaintext
    dump = json.dumps([list(k) + [v] for k, v in snapshot().items()], default=str)
    for plain in (secret, secret[6:], "receiver-token-123", "tenant-secret-456"):
        assert plain not in dump
    raw = item(data["id"])
    assert keyring.decrypt(raw["secretEnc"]) == secret
    assert service.secrets_for_signing(raw) == [secret]
    assert service.custom_headers(raw) == {"Authorization": "Bearer receiver-token-123",
                                           "X-Tenant": "tenant-secret-456"}


def test_item_format_for_the_delivery_side(admin: Api) -> None:
    data = create(admin, description="d")
    raw = item(data["id"])
    assert raw["PK"] == f"WEBHOOK#{data['id']}" and raw["SK"] == "WEBHOOK"
    assert raw["GSI1PK"] == f"OWNER#{raw['owner']}#WEBHOOK"
    assert raw["GSI1SK"] == raw["GSI2SK"] == f"{raw['createdAt']}#{data['id']}"
    assert raw["GSI2PK"] == "WEBHOOK"
    assert raw["active"] is True and raw["status"] == "active"
    assert raw["events"] == ["webhook.disabled", "webhook.test"]
    assert raw["retrySchedule"] is None and "retryCount" not in raw
    assert raw["timeoutSeconds"] == 10 and raw["payloadFields"] is None
    assert raw["sandbox"] is False and raw["consecutiveFailures"] == 0
    assert data["retryCount"] == 3  # the default schedule's length
    assert subs(data["id"]) == {"live#webhook.disabled": True, "live#webhook.test": True}


def test_given_secret_is_kept_and_validated(admin: Api) -> None:
    good = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert create(admin, secret=good)["secret"] == good
    longest = "whsec_" + base64.b64encode(b"k" * 64).decode()
    assert create(admin, secret=longest)["secret"] == longest
    before = snapshot()
    for bad in ("whsec_" + base64.b64encode(b"k" * 23).decode(),
                "whsec_" + base64.b64encode(b"k" * 65).decode(),
                base64.b64encode(b"k" * 32).decode(),
                "whsec_" + "!" * 40, "whsec_" + base64.urlsafe_b64encode(b"\xff" * 30).decode()):
        assert_422(admin.post(BASE, {"url": URL, "events": ["*"], "secret": bad}))
    assert snapshot() == before


def test_generated_secret_works_with_standardwebhooks(admin: Api) -> None:
    from standardwebhooks import Webhook

    secret = create(admin)["secret"]
    from datetime import UTC, datetime

    hook = Webhook(secret)
    now = datetime.now(tz=UTC)
    sig = hook.sign("msg_1", now, '{"a":1}')
    assert hook.verify('{"a":1}', {"webhook-id": "msg_1",
                                   "webhook-timestamp": str(int(now.timestamp())),
                                   "webhook-signature": sig}) == {"a": 1}


def test_list_is_paged_and_filtered(admin: Api) -> None:
    ids = [create(admin)["id"] for _ in range(3)]
    admin.put(f"{BASE}/{ids[0]}", {"active": False})
    first = admin.get(f"{BASE}?perPage=2")
    assert first.status_code == 200
    assert [w["id"] for w in first.json["data"]] == ids[::-1][:2]
    assert first.json["pagination"]["hasMore"] is True
    cursor = first.json["pagination"]["nextCursor"]
    second = admin.get(f"{BASE}?perPage=2&cursor={cursor}")
    assert [w["id"] for w in second.json["data"]] == [ids[0]]
    assert second.json["pagination"] == {"perPage": 2, "nextCursor": None, "hasMore": False}
    paused = admin.get(f"{BASE}?status=paused")
    assert [w["id"] for w in paused.json["data"]] == [ids[0]]
    assert all("secret" not in w for w in first.json["data"] + second.json["data"])
    assert admin.get(f"{BASE}?status=gone").status_code == 400


def test_update_changes_given_fields_and_resyncs_subscriptions(admin: Api) -> None:
    data = create(admin, headers={"Authorization": "Bearer a"})
    wid = data["id"]
    resp = admin.put(f"{BASE}/{wid}", {"events": ["webhook.disabling", "*"],
                                       "description": "new", "timeoutSeconds": 5,
                                       "retryCount": 7, "payloadFields": ["id"],
                                       "url": "https://other.example.com/x"})
    assert resp.status_code == 200, resp.body
    out = resp.json["data"]
    assert out["events"] == ["*"] and out["description"] == "new"
    assert out["timeoutSeconds"] == 5 and out["retryCount"] == 7
    assert out["url"] == "https://other.example.com/x" and out["payloadFields"] == ["id"]
    assert out["headers"] == {"Authorization": "********"}  # untouched
    assert subs(wid) == {"live#*": True}
    assert admin.get(f"{BASE}/{wid}").json["data"] == out

    resp = admin.put(f"{BASE}/{wid}", {"headers": None, "retryCount": None,
                                       "payloadFields": None, "description": None,
                                       "events": ["webhook.disabling"]})
    out = resp.json["data"]
    assert out["headers"] == {} and out["retryCount"] == 3 and out["payloadFields"] is None
    assert out["description"] is None
    assert subs(wid) == {"live#webhook.disabling": True}
    assert "headersEnc" not in item(wid)


def test_pause_and_resume(admin: Api) -> None:
    wid = create(admin)["id"]
    resp = admin.put(f"{BASE}/{wid}", {"active": False})
    assert resp.json["data"]["status"] == "paused" and resp.json["data"]["active"] is False
    assert set(subs(wid).values()) == {False}
    # events changed while paused stay inactive
    admin.put(f"{BASE}/{wid}", {"events": ["webhook.disabling"]})
    assert subs(wid) == {"live#webhook.disabling": False}
    resp = admin.put(f"{BASE}/{wid}", {"active": True})
    assert resp.json["data"]["status"] == "active"
    assert subs(wid) == {"live#webhook.disabling": True}
    # created paused
    paused = create(admin, active=False)
    assert paused["status"] == "paused" and set(subs(paused["id"]).values()) == {False}


def test_delete_removes_webhook_and_subscriptions(admin: Api) -> None:
    wid = create(admin)["id"]
    keep = create(admin)["id"]
    resp = admin.delete(f"{BASE}/{wid}")
    assert resp.status_code == 204 and resp.body in (b"", "")
    assert subs(wid) == {}
    assert subs(keep)
    assert_error(admin.get(f"{BASE}/{wid}"), 404, "NOT_FOUND")
    assert_error(admin.delete(f"{BASE}/{wid}"), 404, "NOT_FOUND")


def test_sandbox_key_makes_sandbox_webhooks(admin: Api) -> None:
    key = admin.post("/api/v1/api-keys", {"name": "sbx", "scopes": ["webhooks:manage"],
                                          "sandbox": True})
    assert key.status_code == 201, key.body
    sandbox = admin.as_key(key.json["data"]["key"])
    data = create(sandbox, events=["*"])
    assert data["sandbox"] is True
    assert subs(data["id"]) == {"sandbox#*": True}


def test_sandbox_key_sees_only_sandbox_webhooks(admin: Api) -> None:
    live = create(admin, events=["*"])
    key = admin.post("/api/v1/api-keys", {"name": "sbx", "scopes": ["webhooks:manage"],
                                          "sandbox": True})
    sandbox = admin.as_key(key.json["data"]["key"])
    mine = create(sandbox, events=["*"])
    assert [w["id"] for w in sandbox.get(BASE).json["data"]] == [mine["id"]]
    assert_error(sandbox.get(f"{BASE}/{live['id']}"), 404, "NOT_FOUND")
    assert_error(sandbox.delete(f"{BASE}/{live['id']}"), 404, "NOT_FOUND")
    assert admin.get(f"{BASE}/{live['id']}").status_code == 200  # untouched
    assert {w["id"] for w in admin.get(BASE).json["data"]} == {live["id"], mine["id"]}


# -- test event, rotation ----------------------------------------------------------

def test_test_endpoint_emits_an_event_for_this_webhook_only(admin: Api) -> None:
    wid = create(admin)["id"]
    before = len(outbox_events())
    resp = admin.post(f"{BASE}/{wid}/test")
    assert resp.status_code == 202, resp.body
    event_id = resp.json["data"]["eventId"]
    events = outbox_events()
    assert len(events) == before + 1
    event = next(e for e in events if e["id"] == event_id)
    assert event["event"] == "webhook.test" and event["webhookId"] == wid
    assert event["data"]["webhookId"] == wid
    assert event["owner"] == item(wid)["owner"]


def test_rotate_secret_overlap(admin: Api) -> None:
    from chalicelib.core import clock
    from chalicelib.webhooks import service

    data = create(admin)
    wid, old = data["id"], data["secret"]
    resp = admin.post(f"{BASE}/{wid}/rotate-secret", {})
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    new = resp.json["data"]["secret"]
    assert new != old and new.startswith("whsec_")
    assert resp.json["data"]["previousSecretExpiresAt"]
    raw = item(wid)
    assert service.secrets_for_signing(raw) == [new, old]
    assert raw["prevSecretExpiresAt"] == pytest.approx(clock.now() + 24 * 3600, abs=5)
    assert "secret" not in admin.get(f"{BASE}/{wid}").json["data"]
    clock.advance(24 * 3600 + 10)
    admin = admin.as_bearer(client_token(admin)["access_token"])  # the old token expired
    assert service.secrets_for_signing(item(wid)) == [new]
    assert admin.get(f"{BASE}/{wid}").json["data"]["previousSecretExpiresAt"] is None

    # overlap 2h, then a rotation with no overlap forgets the previous one at once
    second = admin.post(f"{BASE}/{wid}/rotate-secret", {"overlapHours": 2}).json["data"]
    assert service.secrets_for_signing(item(wid)) == [second["secret"], new]
    given = "whsec_" + base64.b64encode(b"z" * 32).decode()
    third = admin.post(f"{BASE}/{wid}/rotate-secret", {"overlapHours": 0, "secret": given})
    assert third.json["data"]["secret"] == given
    assert service.secrets_for_signing(item(wid)) == [given]
    for bad in ({"overlapHours": 169}, {"overlapHours": -1}, {"overlapHours": "2"},
                {"secret": "whsec_short"}, {"grace": 1}):
        assert_422(admin.post(f"{BASE}/{wid}/rotate-secret", bad))
    assert service.secrets_for_signing(item(wid)) == [given]


# -- the delivery side's helpers ---------------------------------------------------

def test_outcomes_warning_and_disable(admin: Api) -> None:
    from chalicelib.core import clock
    from chalicelib.webhooks import service

    wid = create(admin)["id"]
    assert service.record_outcome(wid, False)["consecutiveFailures"] == 1
    first = item(wid)["failingSince"]
    clock.advance(60)
    after = service.record_outcome(wid, False)
    assert after["consecutiveFailures"] == 2 and after["failingSince"] == first
    assert service.record_outcome(wid, True) is None
    assert item(wid)["consecutiveFailures"] == 0 and "failingSince" not in item(wid)
    assert service.record_outcome("whk_missing", False) is None

    service.record_outcome(wid, False)
    assert service.warn_disabling(wid, clock.now() + 86400) is True
    assert service.warn_disabling(wid, clock.now() + 86400) is False  # once per run
    assert service.disable(wid, "endpoint answered 410 Gone") is True
    assert service.disable(wid, "again") is False
    raw = item(wid)
    assert raw["status"] == "disabled" and raw["active"] is False and raw["disabledAt"]
    assert set(subs(wid).values()) == {False}
    kinds = [e for e in outbox_events() if e["event"].startswith("webhook.disabl")]
    assert sorted(e["event"] for e in kinds) == ["webhook.disabled", "webhook.disabling"]
    assert all(e["owner"] == raw["owner"] and e["data"]["webhookId"] == wid for e in kinds)
    assert all(e["webhookId"] == "" for e in kinds)  # to the owner's webhooks, not this one

    shown = admin.get(f"{BASE}/{wid}").json["data"]
    assert shown["status"] == "disabled" and shown["disabledReason"]
    resumed = admin.put(f"{BASE}/{wid}", {"active": True}).json["data"]
    assert resumed["status"] == "active" and resumed["consecutiveFailures"] == 0
    assert resumed["disabledAt"] is None and resumed["failingSince"] is None
    assert set(subs(wid).values()) == {True}
    assert "disablingWarnedAt" not in item(wid)


def test_a_paused_webhook_stays_paused_when_disabled_then_paused_again(admin: Api) -> None:
    from chalicelib.webhooks import service

    wid = create(admin)["id"]
    service.disable(wid, "failing")
    resp = admin.put(f"{BASE}/{wid}", {"active": False})
    assert resp.json["data"]["status"] == "disabled"


def test_malformed_webhook_id_reads_as_none():
    from chalicelib.webhooks import service

    assert service.get_webhook("nonsense") is None


# -- validation ----------------------------------------------------------------------

BAD_BODIES = [
    {"events": ["*"]},
    {"url": URL},
    {"url": URL, "events": []},
    {"url": URL, "events": ["order.teleported"]},
    {"url": URL, "events": ["Not An Event"]},
    {"url": URL, "events": "webhook.test"},
    {"url": URL, "events": ["*"], "surprise": 1},
    {"url": URL, "events": ["*"], "timeoutSeconds": 0},
    {"url": URL, "events": ["*"], "timeoutSeconds": 31},
    {"url": URL, "events": ["*"], "timeoutSeconds": "10"},
    {"url": URL, "events": ["*"], "retryCount": -1},
    {"url": URL, "events": ["*"], "retryCount": 21},
    {"url": URL, "events": ["*"], "retrySchedule": [0]},
    {"url": URL, "events": ["*"], "retrySchedule": []},
    {"url": URL, "events": ["*"], "retrySchedule": [60] * 21},
    {"url": URL, "events": ["*"], "payloadFields": ["a..b"]},
    {"url": URL, "events": ["*"], "payloadFields": []},
    {"url": URL, "events": ["*"], "active": "yes"},
    {"url": URL, "events": ["*"], "description": "x" * 501},
    {"url": URL, "events": ["*"], "headers": {"Host": "evil.example.com"}},
    {"url": URL, "events": ["*"], "headers": {"Content-Length": "1"}},
    {"url": URL, "events": ["*"], "headers": {"Transfer-Encoding": "chunked"}},
    {"url": URL, "events": ["*"], "headers": {"Connection": "close"}},
    {"url": URL, "events": ["*"], "headers": {"webhook-id": "x"}},
    {"url": URL, "events": ["*"], "headers": {"Webhook-Signature": "v1,x"}},
    {"url": URL, "events": ["*"], "headers": {"X-Webhook-Signature": "sha256=x"}},
    {"url": URL, "events": ["*"], "headers": {"Bad Header": "x"}},
    {"url": URL, "events": ["*"], "headers": {"X-Ok": "a\r\nInjected: 1"}},
    {"url": URL, "events": ["*"], "headers": {"X-A": "1", "x-a": "2"}},
    {"url": URL, "events": ["*"], "headers": {f"X-H{i}": "v" for i in range(21)}},
    {"url": URL, "events": ["*"], "headers": {"X-Num": 1}},
    {"url": "ftp://example.com/x", "events": ["*"]},
    {"url": "/relative", "events": ["*"]},
    {"url": "https://user:pw@hooks.example.com/x", "events": ["*"]},
    {"url": "https://hooks.example.com/" + "a" * 2048, "events": ["*"]},
    {"url": "https://private.example.net/x", "events": ["*"]},
    {"url": "https://localhost/x", "events": ["*"]},
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_invalid_create_is_422_and_writes_nothing(admin: Api, body: dict[str, Any]) -> None:
    before = snapshot()
    err = assert_422(admin.post(BASE, body))
    assert err["details"]
    assert snapshot() == before


def test_authorization_header_and_twenty_headers_allowed(admin: Api) -> None:
    headers = {"Authorization": "Basic abc", **{f"X-H{i}": "v" for i in range(19)}}
    assert len(create(admin, headers=headers)["headers"]) == 20


def test_invalid_update_is_422_and_changes_nothing(admin: Api) -> None:
    wid = create(admin)["id"]
    before = snapshot()
    for body in ({"url": "http://10.0.0.1/x"}, {"events": ["nope.nope"]}, {"secret": "x"},
                 {"timeoutSeconds": 99}, {"headers": {"Host": "x"}}, {"active": 0},
                 {"url": "https://[::ffff:127.0.0.1]/x"}):
        assert_422(admin.put(f"{BASE}/{wid}", body))
    assert snapshot() == before


@pytest.mark.parametrize("address", [a for a, _ in UNSAFE_ADDRESSES]
                         + [h for h, _ in NUMERIC_TRICKS])
def test_ssrf_table_refused_at_registration(admin: Api, address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    before = webhook_items()
    err = assert_422(admin.post(BASE, {"url": f"https://{host}/hook", "events": ["*"]}))
    assert err["details"][0]["field"] == "url"
    assert webhook_items() == before


@pytest.mark.parametrize("host,address", [("private.example.net", "10.1.2.3"),
                                          ("loop.example.net", "127.0.0.53")])
def test_a_refused_name_never_reveals_what_it_resolves_to(admin: Api, monkeypatch: Any,
                                                          host: str, address: str) -> None:
    """Registration says which rule refused, never the address DNS answered (no oracle
    for internal names), on create and on PUT."""
    real = socket.getaddrinfo

    def fake(name: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    rule = "a private address" if address.startswith("10.") else "a loopback address"
    wid = create(admin)["id"]
    for resp in (admin.post(BASE, {"url": f"https://{host}/hook", "events": ["*"]}),
                 admin.put(f"{BASE}/{wid}", {"url": f"https://{host}/hook"})):
        err = assert_422(resp)
        assert f"{host} resolves to {rule}" in err["message"]
        assert err["details"][0]["field"] == "url"
        text = json.dumps(resp.json)
        assert address not in text and address.rsplit(".", 1)[0] not in text, text
        assert "/8" not in text


def test_https_required_when_deployed_unless_allow_listed(admin: Api, monkeypatch: Any
                                                          ) -> None:
    set_env(monkeypatch, GATEHOUSE_STAGE="prod", GATEHOUSE_RESOURCE_PREFIX="gatehouse-test",
            GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost")
    assert_422(admin.post(BASE, {"url": "http://hooks.example.com/x", "events": ["*"]}))
    assert create(admin, url="http://127.0.0.1:9000/x")["url"] == "http://127.0.0.1:9000/x"
    assert create(admin, url="https://hooks.example.com/x")
    assert_422(admin.post(BASE, {"url": "http://169.254.169.254/", "events": ["*"]}))


# -- who may ---------------------------------------------------------------------------

def test_another_owner_gets_404_everywhere_and_admin_sees_all(admin: Api) -> None:
    alice, _ = make_user(admin, "alice", ["integrator"])
    bob, _ = make_user(admin, "bob", ["integrator"])
    wid = create(alice)["id"]
    mine = create(bob)["id"]
    before = snapshot()
    for resp in (bob.get(f"{BASE}/{wid}"), bob.put(f"{BASE}/{wid}", {"active": False}),
                 bob.put(f"{BASE}/{wid}", {"url": "https://x.example.com/"}),
                 bob.delete(f"{BASE}/{wid}"), bob.post(f"{BASE}/{wid}/test"),
                 bob.post(f"{BASE}/{wid}/rotate-secret", {})):
        assert_error(resp, 404, "NOT_FOUND")
    assert snapshot() == before
    assert [w["id"] for w in bob.get(BASE).json["data"]] == [mine]
    assert [w["id"] for w in alice.get(BASE).json["data"]] == [wid]
    # an unknown id answers the same as another owner's
    missing = bob.get(f"{BASE}/whk_00000000000000000000000000")
    assert missing.json["error"]["message"] == bob.get(f"{BASE}/{wid}").json["error"]["message"]
    # the admin sees and manages all
    assert {w["id"] for w in admin.get(BASE).json["data"]} >= {wid, mine}
    assert admin.get(f"{BASE}/{wid}").status_code == 200
    assert admin.put(f"{BASE}/{wid}", {"description": "by admin"}).status_code == 200
    assert admin.post(f"{BASE}/{wid}/test").status_code == 202
    assert admin.delete(f"{BASE}/{wid}").status_code == 204


def test_scope_required(admin: Api) -> None:
    viewer, _ = make_user(admin, "vera", ["viewer"])
    wid = create(admin)["id"]
    assert_error(viewer.get(BASE), 403, "AUTHORIZATION_ERROR")
    assert_error(viewer.post(BASE, {"url": URL, "events": ["*"]}), 403, "AUTHORIZATION_ERROR")
    assert_error(viewer.get(f"{BASE}/{wid}"), 403, "AUTHORIZATION_ERROR")
    assert_error(viewer.post(f"{BASE}/{wid}/rotate-secret", {}), 403, "AUTHORIZATION_ERROR")
    assert viewer.get(f"{BASE}/events").status_code == 200  # the catalog is public reading
    assert_error(admin.get(BASE, headers={"Authorization": ""}), 401, "AUTHENTICATION_ERROR")
