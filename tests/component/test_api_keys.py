"""API keys: the real app in-process against moto."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.conftest import Api, client_token, make_user

BASE = "/api/v1/api-keys"
VALIDATE = "/api/v1/oauth/token/validate"


def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "test key", "scopes": ["keys:manage", "orders:read"], **fields}
    resp = api.post(BASE, body)
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def all_items() -> list[dict[str, Any]]:
    from chalicelib.store import table as store

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        resp = store.table().scan(**kwargs)
        items.extend(resp["Items"])
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def key_item(key_id: str) -> dict[str, Any]:
    from chalicelib.store import table as store

    item = store.get(f"APIKEY#{key_id}", "APIKEY", consistent=True)
    assert item is not None
    return item


def signed(api: Api, secret: str, method: str, path: str, body: Any = None,
           ts: int | None = None, signature: str | None = None) -> Any:
    from chalicelib.core import clock

    raw = json.dumps(body).encode() if body is not None else b""
    stamp = str(clock.now_int() if ts is None else ts)
    message = f"{stamp}.{method}.{path}.".encode() + raw
    sig = signature or "sha256=" + hmac.new(secret.encode(), message,
                                            hashlib.sha256).hexdigest()
    headers = {"X-Timestamp": stamp, "X-API-Signature": sig}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return api.call(method, path, headers=headers, raw=raw or None)


def assert_401(resp: Any) -> None:
    assert resp.status_code == 401, resp.body
    assert resp.json["error"]["code"] == "AUTHENTICATION_ERROR"
    assert resp.headers.get("WWW-Authenticate")
    assert resp.json["error"]["requestId"]


def assert_422(resp: Any) -> None:
    assert resp.status_code == 422, resp.body
    assert resp.json["error"]["code"] == "VALIDATION_ERROR"


# -- creation and storage ------------------------------------------------------------

def test_create_shows_key_and_secret_once_and_stores_no_plaintext(admin: Api) -> None:
    from chalicelib.auth import keyring

    resp = admin.post(BASE, {"name": "billing sync", "scopes": ["orders:read"],
                             "rateLimit": 500, "ipAllowlist": ["10.1.2.3", "192.168.0.0/16"]})
    assert resp.status_code == 201, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    data = resp.json["data"]
    assert resp.headers["Location"] == f"/api/v1/api-keys/{data['id']}"
    key, secret = data["key"], data["secret"]
    assert key.startswith("gate_live_") and len(key) == len("gate_live_") + 44
    assert data["prefix"] == key[:len("gate_live_") + 12]
    assert data["id"] == "key_" + key[len("gate_live_"):len("gate_live_") + 12]
    assert data["status"] == "active" and data["sandbox"] is False
    assert data["scopes"] == ["orders:read"] and data["rateLimit"] == 500
    assert data["hourLimit"] == 500 and data["requireSignature"] is False
    assert data["ipAllowlist"] == ["10.1.2.3/32", "192.168.0.0/16"]
    assert data["lastUsedAt"] is None and data["createdAt"] and data["expiresAt"]

    got = admin.get(f"{BASE}/{data['id']}")
    assert got.status_code == 200
    assert "key" not in got.json["data"] and "secret" not in got.json["data"]
    assert got.json["data"]["prefix"] == data["prefix"]
    listed = admin.get(BASE)
    assert [k["id"] for k in listed.json["data"]] == [data["id"]]
    assert "key" not in listed.json["data"][0] and "secret" not in listed.json["data"][0]

    # Nothing in the whole table holds the key or the secret in plain text.
    dump = json.dumps(all_items(), default=str)
    assert key not in dump and secret not in dump
    assert key[len(data["prefix"]):] not in dump
    item = key_item(data["id"])
    assert item["keyHash"] == hashlib.sha256(key.encode()).hexdigest()
    assert item["secretEnc"].startswith("enc:v1:")
    assert keyring.decrypt(item["secretEnc"]) == secret
    audits = [i for i in all_items() if i.get("action") == "api_key.create"]
    assert len(audits) == 1 and audits[0]["targetId"] == data["id"]


def test_default_expiry_is_a_year_and_v2_path_works(admin: Api) -> None:
    from chalicelib.core import clock

    resp = admin.post("/api/v2/api-keys", {"name": "v2", "scopes": ["orders:read"]})
    assert resp.status_code == 201, resp.body
    data = resp.json["data"]
    assert resp.headers["Location"] == f"/api/v2/api-keys/{data['id']}"
    ahead = clock.parse_iso(data["expiresAt"]) - clock.now()
    assert 364 * 86400 < ahead <= 365 * 86400
    assert admin.get(f"/api/v2/api-keys/{data['id']}").status_code == 200


# -- authenticating with a key ---------------------------------------------------------

def test_key_authenticates_requests(admin: Api) -> None:
    user, info = make_user(admin, "alice", ["integrator"])
    data = create(user)
    as_key = user.as_key(data["key"])
    resp = as_key.get(VALIDATE)
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["token_type"] == "api_key"
    assert resp.json["data"]["keyId"] == data["id"]
    assert resp.json["data"]["sandbox"] is False
    assert resp.headers["X-RateLimit-Limit"] == str(data["hourLimit"])
    # keys:manage through the key itself: it sees its owner's keys.
    listed = as_key.get(BASE)
    assert listed.status_code == 200, listed.body
    assert [k["id"] for k in listed.json["data"]] == [data["id"]]
    assert listed.json["data"][0]["owner"] == info["id"]
    assert listed.json["data"][0]["lastUsedAt"]
    # A key made through a key belongs to the same owner, and no more than its scopes.
    child = as_key.post(BASE, {"name": "child", "scopes": ["orders:read"]})
    assert child.status_code == 201, child.body
    assert child.json["data"]["owner"] == info["id"]
    refused = as_key.post(BASE, {"name": "wider", "scopes": ["orders:write"]})
    assert refused.status_code == 403
    # A scope the key lacks is refused on routes too.
    narrow = create(user, scopes=["orders:read"])
    assert user.as_key(narrow["key"]).get(BASE).status_code == 403


def test_unknown_malformed_revoked_and_expired_keys_answer_401(admin: Api) -> None:
    from chalicelib.core import clock

    data = create(admin)
    assert_401(admin.as_key("gate_live_" + "a" * 12 + "B" * 32).get(VALIDATE))
    assert_401(admin.as_key("not-a-key").get(VALIDATE))
    assert_401(admin.as_key(data["key"][:-1] + ("x" if data["key"][-1] != "x" else "y"))
               .get(VALIDATE))
    assert admin.as_key(data["key"]).get(VALIDATE).status_code == 200

    assert admin.delete(f"{BASE}/{data['id']}").status_code == 204
    assert_401(admin.as_key(data["key"]).get(VALIDATE))
    got = admin.get(f"{BASE}/{data['id']}").json["data"]
    assert got["status"] == "revoked" and got["revokedAt"]
    assert admin.delete(f"{BASE}/{data['id']}").status_code == 204  # idempotent
    assert admin.post(f"{BASE}/{data['id']}/rotate", {}).status_code == 409
    assert admin.put(f"{BASE}/{data['id']}", {"name": "x"}).status_code == 409

    # Two minutes: the admin's own token (an hour) must outlive the moved clock, however
    # slowly this runs.
    soon = clock.iso(clock.now() + 120)
    short = create(admin, expiresAt=soon)
    assert admin.as_key(short["key"]).get(VALIDATE).status_code == 200
    clock.advance(121)
    resp = admin.as_key(short["key"]).get(VALIDATE)
    assert_401(resp)
    assert "expired" in resp.json["error"]["message"]
    assert admin.get(f"{BASE}/{short['id']}").json["data"]["status"] == "expired"
    listed = admin.get(f"{BASE}?status=expired").json["data"]
    assert [k["id"] for k in listed] == [short["id"]]


# -- signed requests -------------------------------------------------------------------

def test_signed_requests(admin: Api) -> None:
    from chalicelib.core import clock

    data = create(admin, requireSignature=True)
    as_key = admin.as_key(data["key"])
    secret = data["secret"]
    assert data["requireSignature"] is True

    assert_401(as_key.get(VALIDATE))  # headers missing
    assert signed(as_key, secret, "GET", VALIDATE).status_code == 200
    path = f"{BASE}?perPage=5&status=active"
    ok = signed(as_key, secret, "GET", path)
    assert ok.status_code == 200, ok.body
    # A key that must sign makes only keys that must sign too (no looser than itself).
    body = {"name": "made signed", "scopes": ["orders:read"]}
    looser = signed(as_key, secret, "POST", BASE, body)
    assert looser.status_code == 403, looser.body
    made = signed(as_key, secret, "POST", BASE, {**body, "requireSignature": True})
    assert made.status_code == 201, made.body

    assert_401(signed(as_key, "gks_wrong", "GET", VALIDATE))
    # A signature made for another query string does not fit this one.
    other = signed_value(secret, clock.now_int(), "GET", f"{BASE}?perPage=5")
    assert_401(signed(as_key, secret, "GET", f"{BASE}?perPage=6", signature=other))
    assert_401(signed(as_key, secret, "GET", VALIDATE, ts=clock.now_int() - 301))
    assert_401(signed(as_key, secret, "GET", VALIDATE, ts=clock.now_int() + 301))
    assert_401(signed(as_key, secret, "GET", VALIDATE, signature="sha256=abc"))
    assert_401(as_key.get(VALIDATE, headers={"X-Timestamp": "yesterday",
                                             "X-API-Signature": "sha256=" + "0" * 64}))

    # The same signed request twice: the second is a replay.
    # (A query of its own: an identical request earlier in the same second would be one.)
    stamp, once = clock.now_int(), f"{VALIDATE}?nonce=replay"
    first = signed(as_key, secret, "GET", once, ts=stamp)
    assert first.status_code == 200, first.body
    replay = signed(as_key, secret, "GET", once, ts=stamp)
    assert_401(replay)
    assert "replay" in replay.json["error"]["message"]


def signed_value(secret: str, ts: int, method: str, path: str, raw: bytes = b"") -> str:
    message = f"{ts}.{method}.{path}.".encode() + raw
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# -- rotation ---------------------------------------------------------------------------

def test_rotate_with_grace_period(admin: Api) -> None:
    from chalicelib.core import clock

    old = create(admin)
    # Shorter than the admin's token lives (an hour), however slow the machine: the
    # last read below is the admin's, after the clock moved past the grace period.
    resp = admin.post(f"{BASE}/{old['id']}/rotate", {"gracePeriodSeconds": 600})
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    new = resp.json["data"]
    assert new["id"] == old["id"] and new["prefix"] == old["prefix"]
    assert new["key"] != old["key"] and new["secret"] != old["secret"]
    assert new["key"].startswith(old["prefix"])
    assert new["previousKeyExpiresAt"] and new["rotatedAt"]
    assert admin.as_key(old["key"]).get(VALIDATE).status_code == 200
    assert admin.as_key(new["key"]).get(VALIDATE).status_code == 200
    dump = json.dumps(all_items(), default=str)
    assert new["key"] not in dump and new["secret"] not in dump
    clock.advance(601)
    assert_401(admin.as_key(old["key"]).get(VALIDATE))
    assert admin.as_key(new["key"]).get(VALIDATE).status_code == 200
    assert admin.get(f"{BASE}/{old['id']}").json["data"]["previousKeyExpiresAt"] is None


def test_rotate_signed_key_keeps_old_secret_during_grace(admin: Api) -> None:
    old = create(admin, requireSignature=True)
    new = admin.post(f"{BASE}/{old['id']}/rotate", {"gracePeriodSeconds": 60}).json["data"]
    assert signed(admin.as_key(old["key"]), old["secret"], "GET", VALIDATE).status_code == 200
    assert signed(admin.as_key(new["key"]), new["secret"], "GET", VALIDATE).status_code == 200
    assert_401(signed(admin.as_key(new["key"]), old["secret"], "GET", VALIDATE))


@pytest.mark.parametrize("body", [None, {}, {"gracePeriodSeconds": 0}])
def test_rotate_without_grace_kills_old_key_at_once(admin: Api, body: Any) -> None:
    old = create(admin)
    resp = admin.post(f"{BASE}/{old['id']}/rotate", body)
    assert resp.status_code == 200, resp.body
    new = resp.json["data"]
    assert new["previousKeyExpiresAt"] is None
    assert_401(admin.as_key(old["key"]).get(VALIDATE))
    assert admin.as_key(new["key"]).get(VALIDATE).status_code == 200


def test_regenerate_revokes_old_key_and_answers_a_new_one(admin: Api) -> None:
    old = create(admin, sandbox=True)
    resp = admin.post(f"{BASE}/{old['id']}/regenerate")
    assert resp.status_code == 200, resp.body
    new = resp.json["data"]
    assert new["id"] == old["id"] and new["key"].startswith("gate_test_")
    assert new["secret"] and new["secret"] != old["secret"]
    assert_401(admin.as_key(old["key"]).get(VALIDATE))
    assert admin.as_key(new["key"]).get(VALIDATE).status_code == 200
    actions = {i.get("action") for i in all_items()}
    assert "api_key.regenerate" in actions


def test_rotate_grace_is_bounded(admin: Api) -> None:
    data = create(admin)
    assert_422(admin.post(f"{BASE}/{data['id']}/rotate", {"gracePeriodSeconds": 7 * 86400 + 1}))
    assert_422(admin.post(f"{BASE}/{data['id']}/rotate", {"gracePeriodSeconds": -1}))
    assert admin.as_key(data["key"]).get(VALIDATE).status_code == 200


# -- restrictions on use ------------------------------------------------------------------

def test_ip_allowlist(admin: Api) -> None:
    far = create(admin, ipAllowlist=["10.0.0.0/8"])
    resp = admin.as_key(far["key"]).get(VALIDATE)
    assert resp.status_code == 403, resp.body
    assert resp.json["error"]["code"] == "AUTHORIZATION_ERROR"
    near = create(admin, ipAllowlist=["10.0.0.0/8", "127.0.0.1/32"])
    assert admin.as_key(near["key"]).get(VALIDATE).status_code == 200
    # Emptying the list lifts the restriction.
    assert admin.put(f"{BASE}/{far['id']}", {"ipAllowlist": []}).status_code == 200
    assert admin.as_key(far["key"]).get(VALIDATE).status_code == 200


def test_custom_rate_limit(admin: Api) -> None:
    data = create(admin, rateLimit=3)
    as_key = admin.as_key(data["key"])
    for i in range(3):
        resp = as_key.get(VALIDATE)
        assert resp.status_code == 200, resp.body
        assert resp.headers["X-RateLimit-Limit"] == "3"
        assert resp.headers["X-RateLimit-Remaining"] == str(2 - i)
    resp = as_key.get(VALIDATE)
    assert resp.status_code == 429, resp.body
    assert resp.json["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["X-RateLimit-Limit"] == "3"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert resp.headers["X-RateLimit-Reset"]
    # Raising the limit (by an admin) lets it through again.
    assert admin.put(f"{BASE}/{data['id']}", {"rateLimit": 10}).status_code == 200
    assert as_key.get(VALIDATE).status_code == 200


def test_usage_per_day(admin: Api) -> None:
    from chalicelib.core import clock

    data = create(admin)
    as_key = admin.as_key(data["key"])
    for _ in range(3):
        assert as_key.get(VALIDATE).status_code == 200
    assert as_key.get(f"{BASE}/key_000000000000").status_code == 404
    clock.advance(86400)
    assert as_key.get(VALIDATE).status_code == 200
    assert as_key.get(f"{BASE}/key_000000000000").status_code == 404
    assert as_key.get(f"{BASE}/key_000000000000").status_code == 404

    admin = admin.as_bearer(client_token(admin)["access_token"])  # the old one expired
    resp = admin.get(f"{BASE}/{data['id']}/usage?days=7")
    assert resp.status_code == 200, resp.body
    usage = resp.json["data"]
    assert len(usage["days"]) == 7
    today, yesterday = usage["days"][-1], usage["days"][-2]
    assert today["date"] == clock.day() and yesterday["date"] == clock.day(clock.now() - 86400)
    assert (yesterday["requests"], yesterday["errors"]) == (4, 1)
    assert (today["requests"], today["errors"]) == (3, 2)
    assert usage["totals"] == {"requests": 7, "errors": 3}
    assert usage["lastUsedAt"]
    assert all(d["requests"] == 0 for d in usage["days"][:-2])
    assert len(admin.get(f"{BASE}/{data['id']}/usage").json["data"]["days"]) == 30
    assert admin.get(f"{BASE}/{data['id']}/usage?days=0").status_code == 400
    assert admin.get(f"{BASE}/{data['id']}/usage?days=many").status_code == 400


def test_sandbox_key(admin: Api) -> None:
    data = create(admin, sandbox=True)
    assert data["key"].startswith("gate_test_") and data["prefix"].startswith("gate_test_")
    assert data["sandbox"] is True
    resp = admin.as_key(data["key"]).get(VALIDATE)
    assert resp.status_code == 200
    assert resp.json["data"]["sandbox"] is True
    # A sandbox key makes sandbox keys only.
    as_key = admin.as_key(data["key"])
    child = as_key.post(BASE, {"name": "child", "scopes": ["orders:read"]})
    assert child.status_code == 201 and child.json["data"]["sandbox"] is True
    live = as_key.post(BASE, {"name": "live", "scopes": ["orders:read"], "sandbox": False})
    assert live.status_code == 403


# -- ownership and escalation ---------------------------------------------------------------

def test_other_owners_key_answers_404_everywhere(admin: Api) -> None:
    alice, _ = make_user(admin, "alice", ["integrator"])
    bob, bob_info = make_user(admin, "bob", ["integrator"])
    key = create(bob)
    path = f"{BASE}/{key['id']}"
    attempts = [alice.get(path), alice.put(path, {"name": "mine now"}), alice.delete(path),
                alice.post(f"{path}/rotate", {"gracePeriodSeconds": 0}),
                alice.post(f"{path}/regenerate"), alice.get(f"{path}/usage")]
    for resp in attempts:
        assert resp.status_code == 404, resp.body
        assert resp.json["error"]["code"] == "NOT_FOUND"
    # Through alice's own key, too.
    alice_key = create(alice)
    assert alice.as_key(alice_key["key"]).get(path).status_code == 404
    assert alice.as_key(alice_key["key"]).delete(path).status_code == 404
    assert [k["id"] for k in alice.get(BASE).json["data"]] == [alice_key["id"]]
    # Bob's key is untouched and still works.
    assert bob.get(path).json["data"]["name"] == "test key"
    assert bob.as_key(key["key"]).get(VALIDATE).status_code == 200
    # The admin sees and manages every key.
    every = {k["id"] for k in admin.get(BASE).json["data"]}
    assert {key["id"], alice_key["id"]} <= every
    assert admin.get(path).json["data"]["owner"] == bob_info["id"]
    assert admin.get(f"{path}/usage").status_code == 200
    assert admin.put(path, {"name": "renamed by admin"}).status_code == 200
    assert admin.delete(path).status_code == 204
    assert_401(bob.as_key(key["key"]).get(VALIDATE))
    bob_audit = [i for i in all_items() if i.get("action") == "api_key.revoke"]
    assert bob_audit and bob_audit[0]["owner"] == bob_info["id"]


def test_scope_and_rate_limit_escalation_refused(admin: Api) -> None:
    user, _ = make_user(admin, "carol", ["integrator"])
    for body in ({"name": "x", "scopes": ["admin"]},
                 {"name": "x", "scopes": ["orders:read", "users:manage"]},
                 {"name": "x", "scopes": ["orders:read"], "rateLimit": 5000},
                 {"name": "x", "scopes": ["orders:read"], "tier": "enterprise"}):
        resp = user.post(BASE, body)
        assert resp.status_code == 403, (body, resp.body)
        assert resp.json["error"]["code"] == "AUTHORIZATION_ERROR"
    assert user.get(BASE).json["data"] == []
    data = create(user, scopes=["orders:read"], rateLimit=10)
    path = f"{BASE}/{data['id']}"
    assert user.put(path, {"scopes": ["admin"]}).status_code == 403
    assert user.put(path, {"rateLimit": 100000}).status_code == 403
    assert user.put(path, {"scopes": ["orders:read", "orders:write"],
                           "rateLimit": 500}).status_code == 200
    got = user.get(path).json["data"]
    assert got["scopes"] == ["orders:read", "orders:write"] and got["hourLimit"] == 500
    # An admin may go beyond: a key with a higher limit than the user's.
    assert admin.put(path, {"rateLimit": 100000}).status_code == 200
    # ... and the user may then lower it, or leave it, but not raise it further.
    assert user.put(path, {"name": "renamed"}).status_code == 200
    assert user.put(path, {"rateLimit": 200000}).status_code == 403
    # A viewer lacks keys:manage.
    viewer, _ = make_user(admin, "dave", ["viewer"])
    assert viewer.post(BASE, {"name": "x", "scopes": ["orders:read"]}).status_code == 403
    assert viewer.get(BASE).status_code == 403


@pytest.mark.parametrize("body", [
    {"name": "x", "scopes": ["orders:read"], "unknown": 1},
    {"name": "x", "scopes": "orders:read"},
    {"name": "x", "scopes": []},
    {"name": "x", "scopes": ["orders:fly"]},
    {"name": "", "scopes": ["orders:read"]},
    {"scopes": ["orders:read"]},
    {"name": "x", "scopes": ["orders:read"], "rateLimit": "many"},
    {"name": "x", "scopes": ["orders:read"], "rateLimit": 0},
    {"name": "x", "scopes": ["orders:read"], "tier": "platinum"},
    {"name": "x", "scopes": ["orders:read"], "expiresAt": "2001-01-01T00:00:00Z"},
    {"name": "x", "scopes": ["orders:read"], "expiresAt": "2999-01-01T00:00:00Z"},
    {"name": "x", "scopes": ["orders:read"], "expiresAt": "2030-01-01T00:00:00"},
    {"name": "x", "scopes": ["orders:read"], "expiresAt": "tomorrow"},
    {"name": "x", "scopes": ["orders:read"], "ipAllowlist": ["10.0.0.0/33"]},
    {"name": "x", "scopes": ["orders:read"], "ipAllowlist": ["not-an-ip"]},
    {"name": "x", "scopes": ["orders:read"], "ipAllowlist": "10.0.0.0/8"},
    {"name": "x", "scopes": ["orders:read"], "requireSignature": "maybe"},
    {"name": "x", "scopes": ["orders:read"], "sandbox": []},
])
def test_bad_bodies_answer_422_and_create_nothing(admin: Api, body: dict[str, Any]) -> None:
    assert_422(admin.post(BASE, body))
    assert admin.get(BASE).json["data"] == []
    assert not [i for i in all_items() if str(i.get("PK", "")).startswith("APIKEY#")]


def test_bad_updates_answer_422(admin: Api) -> None:
    data = create(admin)
    path = f"{BASE}/{data['id']}"
    for body in ({"nmae": "typo"}, {"expiresAt": "2001-01-01T00:00:00Z"},
                 {"ipAllowlist": ["300.1.1.1"]}, {"scopes": ["nope"]}, {"status": "active"}):
        assert_422(admin.put(path, body))
    assert admin.get(path).json["data"]["name"] == "test key"
    assert admin.get(f"{BASE}/nonsense").status_code == 404


def test_update_fields(admin: Api) -> None:
    from chalicelib.core import clock

    data = create(admin, rateLimit=50)
    path = f"{BASE}/{data['id']}"
    later = clock.iso(clock.now() + 30 * 86400)
    resp = admin.put(path, {"name": "renamed", "scopes": ["orders:read"], "tier": "free",
                            "rateLimit": None, "expiresAt": later, "requireSignature": True,
                            "ipAllowlist": ["127.0.0.1"]})
    assert resp.status_code == 200, resp.body
    got = resp.json["data"]
    assert got["name"] == "renamed" and got["scopes"] == ["orders:read"]
    assert got["tier"] == "free" and got["rateLimit"] is None and got["hourLimit"] == 100
    assert got["requireSignature"] is True and got["ipAllowlist"] == ["127.0.0.1/32"]
    assert abs(clock.parse_iso(got["expiresAt"]) - clock.parse_iso(later)) < 1
    assert_401(admin.as_key(data["key"]).get(VALIDATE))  # now needs a signature
    assert signed(admin.as_key(data["key"]), data["secret"], "GET", VALIDATE).status_code == 200
    changes = [i for i in all_items() if i.get("action") == "api_key.update"][0]["changes"]
    assert changes["signedRequests"] is True and changes["name"] == "renamed"


def test_list_paginates(admin: Api) -> None:
    made = [create(admin, name=f"k{i}")["id"] for i in range(5)]
    first = admin.get(f"{BASE}?perPage=2")
    assert first.json["pagination"]["hasMore"] is True
    seen = [k["id"] for k in first.json["data"]]
    cursor = first.json["pagination"]["nextCursor"]
    while cursor:
        nxt = admin.get(f"{BASE}?perPage=2&cursor={cursor}").json
        seen += [k["id"] for k in nxt["data"]]
        cursor = nxt["pagination"]["nextCursor"]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    assert admin.get(f"{BASE}?status=bogus").status_code == 400


def test_idempotent_create_replays_the_key_without_keeping_it_in_plain(admin: Api) -> None:
    body = {"name": "idem", "scopes": ["orders:read"]}
    resp = admin.post(BASE, body, headers={"Idempotency-Key": "create-once"})
    assert resp.status_code == 201, resp.body
    again = admin.post(BASE, body, headers={"Idempotency-Key": "create-once"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["data"]["key"] == resp.json["data"]["key"]
    assert len(admin.get(BASE).json["data"]) == 1
    dump = json.dumps(all_items(), default=str)
    assert resp.json["data"]["key"] not in dump and resp.json["data"]["secret"] not in dump


def test_second_rotation_ends_the_first_grace(admin: Api) -> None:
    first = create(admin)
    second = admin.post(f"{BASE}/{first['id']}/rotate",
                        {"gracePeriodSeconds": 600}).json["data"]
    third = admin.post(f"{BASE}/{first['id']}/rotate",
                       {"gracePeriodSeconds": 600}).json["data"]
    assert_401(admin.as_key(first["key"]).get(VALIDATE))
    assert admin.as_key(second["key"]).get(VALIDATE).status_code == 200
    assert admin.as_key(third["key"]).get(VALIDATE).status_code == 200


def test_expiry_with_offset_and_limits(admin: Api) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from chalicelib.core import clock

    at = (datetime.fromtimestamp(clock.now(), tz=UTC) + timedelta(days=10)).astimezone(
        timezone(timedelta(hours=2)))
    data = create(admin, expiresAt=at.isoformat())
    assert abs(clock.parse_iso(data["expiresAt"]) - at.timestamp()) < 1
    assert data["expiresAt"].endswith("Z")
    far = datetime.fromtimestamp(clock.now(), tz=UTC) + timedelta(days=3 * 365 + 2)
    assert_422(admin.post(BASE, {"name": "x", "scopes": ["orders:read"],
                                 "expiresAt": far.isoformat()}))


def test_default_expiry_follows_its_setting(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from tests.component.helpers import set_env

    set_env(monkeypatch, GATEHOUSE_API_KEY_DEFAULT_TTL_DAYS="2")
    resp = admin.post("/api/v2/api-keys", {"name": "short", "scopes": ["orders:read"]})
    assert resp.status_code == 201, resp.body
    ahead = clock.parse_iso(resp.json["data"]["expiresAt"]) - clock.now()
    assert 86400 < ahead <= 2 * 86400
