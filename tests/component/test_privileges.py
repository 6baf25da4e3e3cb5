"""Privilege boundaries between credentials: no key, client, role or sandbox principal
exceeds what issued it, and losing a right ends what was handed out (issue 7, 1-3)."""

from __future__ import annotations

from typing import Any

from tests.component.helpers import (
    assert_error,
    assert_oauth_error,
    client_grant,
    make_client,
    refresh_with,
)
from tests.conftest import Api, make_user

V = "/api/v1"
VALIDATE = f"{V}/oauth/token/validate"


def new_key(api: Api, scopes: list[str], **fields: Any) -> dict[str, Any]:
    resp = api.post(f"{V}/api-keys", {"name": "k", "scopes": scopes, **fields})
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def new_client(api: Api, scopes: list[str]) -> dict[str, Any]:
    resp = api.post(f"{V}/oauth/clients", {"name": "c", "scopes": scopes})
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def token_of(api: Api, client: dict[str, Any]) -> str:
    resp = client_grant(api, client["client_id"], client["client_secret"])
    assert resp.status_code == 200, resp.body
    return str(resp.json["access_token"])


# -- 1. delegation -----------------------------------------------------------------------

def test_a_narrow_key_cannot_touch_a_broader_key_of_its_owner(admin: Api) -> None:
    user, _ = make_user(admin, "ivy", ["integrator"])
    broad = new_key(user, ["keys:manage", "orders:read", "orders:write"],
                    ipAllowlist=["10.1.2.3"], requireSignature=True)
    narrow = new_key(user, ["keys:manage"])
    as_narrow = user.as_key(narrow["key"])
    target = f"{V}/api-keys/{broad['id']}"
    for resp in (as_narrow.post(f"{target}/rotate", {}), as_narrow.post(f"{target}/regenerate"),
                 as_narrow.put(target, {"ipAllowlist": [], "requireSignature": False}),
                 as_narrow.put(target, {"scopes": ["keys:manage", "orders:write"]}),
                 as_narrow.delete(target)):
        err = assert_error(resp, 403, "AUTHORIZATION_ERROR")
        assert "key" not in (resp.json or {}).get("data", {}), resp.body
        assert "orders" in str(err["details"])
    # Nothing changed: the broad key still has its restrictions and works as before.
    got = user.get(target).json["data"]
    assert got["ipAllowlist"] == ["10.1.2.3/32"] and got["requireSignature"] is True
    assert got["status"] == "active" and got["rotatedAt"] is None
    # Its own scopes it may widen on a sibling no further than it holds itself.
    sibling = new_key(user, ["keys:manage"])
    bad = as_narrow.put(f"{V}/api-keys/{sibling['id']}", {"scopes": ["keys:manage",
                                                                     "orders:read"]})
    assert_error(bad, 403, "AUTHORIZATION_ERROR")
    assert as_narrow.post(f"{V}/api-keys/{sibling['id']}/rotate", {}).status_code == 200


def test_a_restricted_key_makes_nothing_looser_than_itself(admin: Api) -> None:
    user, _ = make_user(admin, "rex", ["integrator"])
    bound = new_key(user, ["keys:manage", "clients:manage", "orders:read"],
                    ipAllowlist=["127.0.0.0/8"])
    as_bound = user.as_key(bound["key"])
    free = as_bound.post(f"{V}/api-keys", {"name": "x", "scopes": ["orders:read"]})
    assert_error(free, 403, "AUTHORIZATION_ERROR")
    inside = as_bound.post(f"{V}/api-keys", {"name": "x", "scopes": ["orders:read"],
                                            "ipAllowlist": ["127.0.0.1"]})
    assert inside.status_code == 201, inside.body
    assert inside.json["data"]["expiresAt"] <= bound["expiresAt"]
    later = as_bound.put(f"{V}/api-keys/{inside.json['data']['id']}",
                         {"expiresAt": "2029-06-01T00:00:00Z"})
    assert_error(later, 403, "AUTHORIZATION_ERROR")
    wider = as_bound.put(f"{V}/api-keys/{inside.json['data']['id']}",
                         {"ipAllowlist": ["0.0.0.0/0"]})
    assert_error(wider, 403, "AUTHORIZATION_ERROR")
    # A client has no allowlist: a bound key cannot escape through one.
    assert_error(as_bound.post(f"{V}/oauth/clients", {"name": "c", "scopes": ["orders:read"]}),
                 403, "AUTHORIZATION_ERROR")


def test_a_short_lived_key_gets_no_longer_lived_secret(admin: Api) -> None:
    from chalicelib.core import clock

    user, _ = make_user(admin, "sue", ["integrator"])
    lasting = new_key(user, ["orders:read"])  # a year
    brief = new_key(user, ["keys:manage", "orders:read"],
                    expiresAt=clock.iso(clock.now() + 86400))
    as_brief = user.as_key(brief["key"])
    # A key it rotates (and so whose new secret it receives) expires with it.
    for path in ("rotate", "regenerate"):
        resp = as_brief.post(f"{V}/api-keys/{lasting['id']}/{path}", {})
        assert resp.status_code == 200, resp.body
        assert resp.json["data"]["expiresAt"][:19] == brief["expiresAt"][:19]  # to the second
    after = user.get(f"{V}/api-keys/{lasting['id']}").json["data"]["expiresAt"]
    assert after[:19] == brief["expiresAt"][:19]
    shorter = new_key(user, ["orders:read"], expiresAt=clock.iso(clock.now() + 3600))
    assert as_brief.post(f"{V}/api-keys/{shorter['id']}/rotate", {}).status_code == 200
    assert as_brief.post(f"{V}/api-keys/{brief['id']}/rotate", {}).status_code == 200


def test_a_narrow_client_cannot_touch_the_admin_client(admin: Api) -> None:
    # The bootstrap admin client belongs to the admin user; a clients:manage-only
    # credential of that same owner must not change, deactivate or delete it.
    key = new_key(admin, ["clients:manage"])
    as_key = admin.as_key(key["key"])
    for resp in (as_key.put(f"{V}/oauth/clients/admin", {"scopes": ["clients:manage"]}),
                 as_key.put(f"{V}/oauth/clients/admin", {"active": False}),
                 as_key.delete(f"{V}/oauth/clients/admin")):
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
    cid, secret = make_client(admin, ["clients:manage"])
    as_client = admin.as_bearer(token_of(admin, {"client_id": cid, "client_secret": secret}))
    assert_error(as_client.delete(f"{V}/oauth/clients/admin"), 403, "AUTHORIZATION_ERROR")
    assert client_grant(admin, "admin", "admin-secret-for-tests").status_code == 200


def test_tier_and_activation_need_a_caller_as_powerful_as_the_change(admin: Api) -> None:
    admin.post(f"{V}/roles", {"name": "people", "scopes": ["users:manage", "users:read",
                                                           "clients:manage", "orders:read"]})
    manager, me = make_user(admin, "mia", ["people"])
    _, other = make_user(admin, "oli", ["viewer"])
    for uid in (me["id"], other["id"]):
        assert_error(manager.put(f"{V}/users/{uid}", {"tier": "enterprise"}), 403,
                     "AUTHORIZATION_ERROR")
    assert admin.get(f"{V}/users/{other['id']}").json["data"]["tier"] == "pro"
    # A client the admin deactivated stays off for a manager of the same owner.
    client = new_client(manager, ["orders:read"])
    cid = client["client_id"]
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert_error(manager.put(f"{V}/oauth/clients/{cid}", {"active": True}), 403,
                 "AUTHORIZATION_ERROR")
    # Switching it off again does not wash the admin's switch-off away.
    assert manager.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert_error(manager.put(f"{V}/oauth/clients/{cid}", {"active": True}), 403,
                 "AUTHORIZATION_ERROR")
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": True}).status_code == 200
    # ... and a user the admin deactivated too.
    assert admin.put(f"{V}/users/{other['id']}", {"active": False}).status_code == 200
    assert_error(manager.put(f"{V}/users/{other['id']}", {"active": True}), 403,
                 "AUTHORIZATION_ERROR")


def test_a_key_never_changes_its_owners_account(admin: Api) -> None:
    user, me = make_user(admin, "kim", ["integrator"])
    key = new_key(user, ["keys:manage", "users:read"])
    as_key = user.as_key(key["key"])
    assert as_key.get(f"{V}/users/{me['id']}").status_code == 200
    for body in ({"email": "evil@ex.com"}, {"password": "another-long-pw",
                                             "currentPassword": "pw-kim-long"}):
        assert_error(as_key.put(f"{V}/users/{me['id']}", body), 403, "AUTHORIZATION_ERROR")
    # The user itself changes its email only with its current password.
    assert_error(user.put(f"{V}/users/{me['id']}", {"email": "new@ex.com"}), 403,
                 "AUTHORIZATION_ERROR")
    ok = user.put(f"{V}/users/{me['id']}", {"email": "new@ex.com",
                                            "currentPassword": "pw-kim-long"})
    assert ok.status_code == 200 and ok.json["data"]["email"] == "new@ex.com"
    # Nor its roles, even an admin's key: it would demote (or promote) its own owner.
    admin_id = admin.get(f"{V}/oauth/userinfo").json["owner"]
    admin_key = admin.as_key(new_key(admin, ["admin"])["key"])
    for resp in (admin_key.delete(f"{V}/user-roles/{admin_id}/admin"),
                 admin_key.post(f"{V}/user-roles", {"userId": admin_id, "role": "viewer"}),
                 admin_key.put(f"{V}/users/{admin_id}", {"roles": ["viewer"]})):
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert admin.get(f"{V}/users/{admin_id}").json["data"]["roles"] == ["admin"]
    # A key without users:read does not read its owner's profile either.
    bare = user.as_key(new_key(user, ["orders:read"])["key"])
    assert_error(bare.get(f"{V}/users/{me['id']}"), 403, "AUTHORIZATION_ERROR")


def test_every_route_declares_its_scopes_or_why_not() -> None:
    """Authenticated routes without a scope are a decision, listed here with why."""
    import app  # noqa: F401  (registers the routes)
    from chalicelib.http import registry

    any_principal = {
        ("/oauth/token/validate", "GET"),  # about the caller's own credential
        ("/oauth/userinfo", "GET"),  # about the caller itself
        ("/webhooks/events", "GET"),  # the event catalog: documentation, no data
        ("/integrations/catalog", "GET"),  # the connector types: documentation, no data
    }
    loose = {(path, method) for (path, method), spec in registry.REGISTRY.items()
             if spec.auth == "required" and not spec.scopes
             and spec.version in ("", "v1")}
    loose = {(p.replace("/api/v1", ""), m) for p, m in loose}
    assert loose <= any_principal, sorted(loose - any_principal)


# -- 2. sandbox ----------------------------------------------------------------------------

def test_sandbox_principals_never_reach_live(admin: Api) -> None:
    live = new_key(admin, ["keys:manage", "orders:read"])
    sandbox = new_key(admin, ["admin"], sandbox=True)
    as_sb = admin.as_key(sandbox["key"])
    listed = as_sb.get(f"{V}/api-keys?perPage=100").json["data"]
    assert listed and all(k["sandbox"] for k in listed), listed
    assert_error(as_sb.post(f"{V}/api-keys/{live['id']}/rotate", {}), 404, "NOT_FOUND")
    assert_error(as_sb.get(f"{V}/api-keys/{live['id']}"), 404, "NOT_FOUND")
    assert_error(as_sb.post(f"{V}/api-keys", {"name": "x", "scopes": ["orders:read"],
                                             "sandbox": False}), 403, "AUTHORIZATION_ERROR")
    made = as_sb.post(f"{V}/api-keys", {"name": "x", "scopes": ["orders:read"]})
    assert made.status_code == 201 and made.json["data"]["key"].startswith("gate_test_")
    # Users, roles, signing keys: refused.
    for resp in (as_sb.get(f"{V}/users"), as_sb.post(f"{V}/roles", {"name": "r",
                                                                    "scopes": []}),
                 as_sb.post(f"{V}/users", {"username": "sbx", "email": "s@ex.com",
                                          "password": "long-password-1", "roles": ["viewer"]}),
                 as_sb.post(f"{V}/oauth/keys/rotate")):
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
    # Its clients are sandbox clients whose tokens see sandbox data only.
    product = admin.post(f"{V}/products", {"sku": "LIVE-1", "name": "live", "price": "1.00"})
    assert product.status_code == 201, product.body
    client = new_client(as_sb, ["products:read"])
    assert client["sandbox"] is True
    # It lists sandbox clients only (the live admin client is not there for it).
    listed = as_sb.get(f"{V}/oauth/clients?perPage=100").json["data"]
    assert [c["client_id"] for c in listed] == [client["client_id"]], listed
    as_client = admin.as_bearer(token_of(admin, client))
    seen = as_client.get(f"{V}/products").json["data"]
    assert all(p["sku"] != "LIVE-1" for p in seen), seen
    assert_error(as_client.get(f"{V}/products/{product.json['data']['id']}"), 404, "NOT_FOUND")
    # The live owner still sees (and manages) its sandbox client.
    assert admin.get(f"{V}/oauth/clients/{client['client_id']}").status_code == 200


# -- 3. losing rights ----------------------------------------------------------------------

def test_keys_and_clients_follow_their_owner_at_once(admin: Api) -> None:
    user, me = make_user(admin, "dan", ["integrator"])
    key = new_key(user, ["keys:manage", "orders:read"])
    client = new_client(user, ["keys:manage", "orders:read"])
    as_key = user.as_key(key["key"])
    as_client = user.as_bearer(token_of(user, client))
    # Demoted: keys:manage is gone from the key and the client's token at once.
    assert admin.put(f"{V}/users/{me['id']}", {"roles": ["viewer"]}).status_code == 200
    for caller in (as_key, as_client):
        assert_error(caller.post(f"{V}/api-keys", {"name": "n", "scopes": ["orders:read"]}),
                     403, "AUTHORIZATION_ERROR")
        assert caller.get(f"{V}/orders").status_code == 200
    # A new token of the client carries only what is left.
    fresh = client_grant(user, client["client_id"], client["client_secret"])
    assert fresh.json["scope"] == "orders:read"
    # Deactivated: 401 for both, and the client cannot get a token.
    assert admin.put(f"{V}/users/{me['id']}", {"active": False}).status_code == 200
    assert as_key.get(VALIDATE).status_code == 401
    assert as_client.get(VALIDATE).status_code == 401
    assert client_grant(user, client["client_id"], client["client_secret"]).status_code == 401
    # Reactivated: the key works again; the client's old tokens stay dead.
    assert admin.put(f"{V}/users/{me['id']}", {"active": True}).status_code == 200
    assert as_key.get(VALIDATE).status_code == 200
    assert as_client.get(VALIDATE).status_code == 401
    # Deleted: everything it handed out stops.
    again = user.as_bearer(token_of(user, client))
    assert again.get(VALIDATE).status_code == 200
    assert admin.delete(f"{V}/users/{me['id']}").status_code == 204
    assert as_key.get(VALIDATE).status_code == 401
    assert again.get(VALIDATE).status_code == 401


def test_deleting_an_owner_reaches_a_key_the_index_does_not_show_yet(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.store import table as store

    user, me = make_user(admin, "lag", ["integrator"])
    as_key = user.as_key(new_key(user, ["orders:read"])["key"])
    query_all, reads = store.query_all, []

    def lagging(pk: str, **kw: Any) -> list[dict[str, Any]]:
        reads.append(pk)  # the owner index's first pass does not list the new key yet
        return [] if len(reads) <= 2 else query_all(pk, **kw)

    # A key made after the deleter read the user (its count) makes the delete a 409.
    from chalicelib.auth.users import service as users

    read_user = users.user_item
    monkeypatch.setattr(users, "user_item",
                        lambda uid: {**(read_user(uid) or {}), "delegatedCount": 0})
    assert_error(admin.delete(f"{V}/users/{me['id']}"), 409, "CONFLICT")
    monkeypatch.setattr(users, "user_item", read_user)
    monkeypatch.setattr(store, "query_all", lagging)
    assert admin.delete(f"{V}/users/{me['id']}").status_code == 204
    assert as_key.get(VALIDATE).status_code == 401


def test_narrowing_a_client_or_a_role_takes_effect_at_once(admin: Api) -> None:
    cid, secret = make_client(admin, ["orders:read", "products:read"])
    token = token_of(admin, {"client_id": cid, "client_secret": secret})
    as_client = admin.as_bearer(token)
    assert as_client.get(f"{V}/products").status_code == 200
    assert admin.put(f"{V}/oauth/clients/{cid}", {"scopes": ["orders:read"]}).status_code == 200
    assert_error(as_client.get(f"{V}/products"), 403, "AUTHORIZATION_ERROR")
    assert as_client.get(f"{V}/orders").status_code == 200
    assert as_client.get(VALIDATE).json["data"]["scope"] == "orders:read"

    assert admin.post(f"{V}/roles", {"name": "reader", "scopes": [
        "orders:read", "products:read", "keys:manage"]}).status_code == 201
    user, _ = make_user(admin, "rob", ["reader"])
    key = user.as_key(new_key(user, ["products:read", "keys:manage"])["key"])
    assert user.get(f"{V}/products").status_code == 200
    assert admin.put(f"{V}/roles/reader", {"scopes": ["orders:read"]}).status_code == 200
    for caller in (user, key):
        assert_error(caller.get(f"{V}/products"), 403, "AUTHORIZATION_ERROR")
    assert user.get(f"{V}/orders").status_code == 200
    # Deleting the role takes the rest.
    assert admin.delete(f"{V}/roles/reader").status_code in (200, 204)
    assert_error(user.get(f"{V}/orders"), 403, "AUTHORIZATION_ERROR")


def test_a_role_change_reaches_holders_changed_meanwhile(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.auth.users import repo
    from chalicelib.store import table as store

    assert admin.post(f"{V}/roles", {"name": "stale", "scopes": [
        "orders:read", "products:read"]}).status_code == 201
    user, me = make_user(admin, "sam", ["stale"])
    listing = repo.holding

    def changed_after_listing(role: str) -> list[dict[str, Any]]:
        found = listing(role)
        for u in found:  # another change to the holder lands between listing and writing
            store.update(f"USER#{u['userId']}", "USER", {"rightsRev": 41})
        return found

    monkeypatch.setattr(repo, "holding", changed_after_listing)
    assert admin.put(f"{V}/roles/stale", {"scopes": ["orders:read"]}).status_code == 200
    assert_error(user.get(f"{V}/products"), 403, "AUTHORIZATION_ERROR")
    assert admin.delete(f"{V}/roles/stale").status_code in (200, 204)
    assert_error(user.get(f"{V}/orders"), 403, "AUTHORIZATION_ERROR")
    assert admin.get(f"{V}/users/{me['id']}").json["data"]["roles"] == []


def test_a_holder_changing_at_every_attempt_ends_the_role_change_in_409(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.auth.users import roles, service
    from chalicelib.store.optimistic import LostRace

    assert admin.post(f"{V}/roles", {"name": "busy", "scopes": [
        "orders:read", "products:read"]}).status_code == 201
    make_user(admin, "bo", ["busy"])
    tries: list[str] = []

    def always_lost(user: dict[str, Any], *_a: Any, **_k: Any) -> None:
        tries.append(str(user["userId"]))
        raise LostRace

    monkeypatch.setattr(service, "write_user", always_lost)
    resp = admin.put(f"{V}/roles/busy", {"scopes": ["orders:read"]})
    err = assert_error(resp, 409, "CONFLICT")
    assert err["message"] == "The user changed meanwhile; try again."
    assert len(tries) == roles.HOLDER_ATTEMPTS  # read again before each attempt


def test_deactivation_ends_sessions_for_good(admin: Api) -> None:
    password = "pw-eve-long"
    _, me = make_user(admin, "eve", ["viewer"])
    login = admin.post(f"{V}/auth/login", {"username": "eve", "password": password},
                       headers={"Authorization": ""})
    refresh = login.json["refresh_token"]
    assert admin.put(f"{V}/users/{me['id']}", {"active": False}).status_code == 200
    assert admin.put(f"{V}/users/{me['id']}", {"active": True}).status_code == 200
    again = admin.post(f"{V}/auth/refresh", {"refresh_token": refresh},
                       headers={"Authorization": ""})
    assert again.status_code == 401, again.body
    old = admin.as_bearer(login.json["access_token"])
    assert old.get(VALIDATE).status_code == 401


def test_deactivating_a_client_ends_its_sessions_for_good(admin: Api) -> None:
    user, _ = make_user(admin, "cleo", ["integrator"])
    client = new_client(user, ["orders:read"])
    cid, secret = client["client_id"], client["client_secret"]
    tokens = client_grant(user, cid, secret).json
    assert user.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert user.put(f"{V}/oauth/clients/{cid}", {"active": True}).status_code == 200
    # The client works again, with new tokens only.
    assert admin.as_bearer(tokens["access_token"]).get(VALIDATE).status_code == 401
    assert_oauth_error(refresh_with(user, tokens["refresh_token"], cid, secret), 400,
                       "invalid_grant")
    assert admin.as_bearer(token_of(user, client)).get(VALIDATE).status_code == 200


def test_a_client_refresh_keeps_only_what_is_left(admin: Api) -> None:
    cid, secret = make_client(admin, ["orders:read", "products:read"])
    tokens = client_grant(admin, cid, secret).json
    assert admin.put(f"{V}/oauth/clients/{cid}", {"scopes": ["orders:read"]}).status_code == 200
    rotated = refresh_with(admin, tokens["refresh_token"], cid, secret)
    assert rotated.status_code == 200 and rotated.json["scope"] == "orders:read"


# -- 6. introspection ----------------------------------------------------------------------

def _introspect(api: Api, token: str, auth: str) -> dict[str, Any]:
    from tests.component.helpers import FORM

    resp = api.post(f"{V}/oauth/introspect", raw=f"token={token}",
                    headers={"Content-Type": FORM, "Authorization": auth})
    assert resp.status_code == 200, resp.body
    return dict(resp.json)


def test_introspection_answers_only_the_tokens_own_client(admin: Api) -> None:
    from tests.conftest import ADMIN_SECRET, basic, client_token

    admin_tokens = client_token(admin)
    viewer, _ = make_user(admin, "vic", ["viewer"])
    viewer_bearer = viewer.headers["Authorization"]
    # A viewer learns nothing of the admin's tokens, access or refresh.
    for token in (admin_tokens["access_token"], admin_tokens["refresh_token"]):
        assert _introspect(admin, token, viewer_bearer) == {"active": False}
    # Another client learns nothing either; its own tokens it may introspect.
    cid, secret = make_client(admin, ["orders:read"])
    own = client_grant(admin, cid, secret).json
    assert _introspect(admin, admin_tokens["access_token"], basic(cid, secret)) == {
        "active": False}
    mine = _introspect(admin, own["access_token"], basic(cid, secret))
    assert mine["active"] is True and mine["scope"] == "orders:read"
    # tokens:introspect (or admin) learns about any token.
    auditor, auditor_secret = make_client(admin, ["tokens:introspect"])
    seen = _introspect(admin, own["access_token"], basic(auditor, auditor_secret))
    assert seen["active"] is True and seen["client_id"] == cid
    assert _introspect(admin, own["access_token"], basic("admin", ADMIN_SECRET))["active"]
    # A refresh token reflects its subject as it is now.
    assert admin.put(f"{V}/oauth/clients/{cid}", {"scopes": ["orders:read", "products:read"]}
                     ).status_code == 200
    assert _introspect(admin, own["refresh_token"], basic(cid, secret))["scope"] == "orders:read"
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert _introspect(admin, own["refresh_token"], basic("admin", ADMIN_SECRET)) == {
        "active": False}


def test_roles_change_only_within_the_editors_scopes(admin: Api) -> None:
    assert admin.post(f"{V}/roles", {"name": "ops", "scopes": [
        "monitoring:read", "logs:read"]}).status_code == 201
    assert admin.post(f"{V}/roles", {"name": "hr", "scopes": [
        "users:manage", "logs:read"]}).status_code == 201
    manager, _ = make_user(admin, "hal", ["hr"])
    # Narrowing or deleting a role holding scopes the editor lacks is changing it too.
    assert_error(manager.put(f"{V}/roles/ops", {"scopes": ["logs:read"]}), 403,
                 "AUTHORIZATION_ERROR")
    assert_error(manager.delete(f"{V}/roles/ops"), 403, "AUTHORIZATION_ERROR")
    assert_error(manager.post(f"{V}/roles", {"name": "more", "scopes": ["monitoring:read"]}),
                 403, "AUTHORIZATION_ERROR")
    assert admin.get(f"{V}/roles/ops").json["data"]["scopes"] == ["logs:read",
                                                                  "monitoring:read"]


def test_an_owner_holds_a_bounded_number_of_keys_and_clients(admin: Api,
                                                              monkeypatch: Any) -> None:
    from chalicelib.auth.users import rights

    monkeypatch.setattr(rights, "MAX_DELEGATED", 3)
    user, me = make_user(admin, "cap", ["integrator"])
    client = new_client(user, ["orders:read"])
    new_key(user, ["orders:read"])
    new_key(user, ["orders:read"])
    assert_error(user.post(f"{V}/api-keys", {"name": "k", "scopes": ["orders:read"]}), 409,
                 "CONFLICT")
    # A deleted client frees its place; propagation then writes every one of them.
    assert user.delete(f"{V}/oauth/clients/{client['client_id']}").status_code in (200, 204)
    new_key(user, ["orders:read"])
    from chalicelib.store import table as store

    user_item = store.get(f"USER#{me['id']}", "USER", consistent=True)
    assert rights.propagate(me["id"], user_item, end_sessions=False) == 3


def test_a_sandbox_key_reads_no_live_logs(admin: Api) -> None:
    """The access and audit logs record live requests and changes: a sandbox key with
    logs:read neither lists them nor exports them."""
    admin.post(f"{V}/products", {"sku": "LIVE-1", "name": "Secret live product",
                                 "price": "999"})
    sandbox = admin.as_key(new_key(admin, ["logs:read", "exports:run"], sandbox=True)["key"])
    for path in ("/audit-logs", "/api-access-logs"):
        resp = sandbox.get(f"{V}{path}")
        assert resp.status_code == 403, (path, resp.body)
    for entity in ("audit_logs", "access_logs"):
        resp = sandbox.post(f"{V}/exports", {"entity": entity, "format": "json"})
        assert resp.status_code == 403, (entity, resp.body)
