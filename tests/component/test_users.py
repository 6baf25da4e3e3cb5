"""Users: login, refresh rotation, logout, users/roles/user-roles CRUD, BOLA, escalation."""

from __future__ import annotations

from tests.component.helpers import (
    assert_error,
    count_prefix,
    jwt_parts,
    raw_item,
    set_env,
    snapshot,
)
from tests.conftest import ADMIN_PASSWORD, make_user


def _login(api, username, password):
    return api.post("/api/v1/auth/login", {"username": username, "password": password},
                    headers={"Authorization": ""})


def test_login_token_shape(api):
    resp = _login(api, "admin", ADMIN_PASSWORD)
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    head, claims = jwt_parts(body["access_token"])
    assert head["typ"] == "at+jwt" and head["alg"] == "RS256"
    assert claims["gh_kind"] == "user" and "admin" in claims["scope"].split()
    me = api.as_bearer(body["access_token"]).get(f"/api/v1/users/{claims['sub']}")
    assert me.status_code == 200 and me.json["data"]["username"] == "admin"
    assert raw_item(f"USER#{claims['sub']}", "USER")["lastLoginAt"]


def test_wrong_password_and_unknown_user(api):
    for user, password in (("admin", "wrong-password"), ("ghost", "whatever")):
        resp = _login(api, user, password)
        err = assert_error(resp, 401, "AUTHENTICATION_ERROR")
        assert err["message"] == "Wrong username or password."
        assert "WWW-Authenticate" in resp.headers


def test_login_brute_force_stops_at_the_ip_limit(api, monkeypatch):
    set_env(monkeypatch, GATEHOUSE_ANONYMOUS_HOURLY_LIMIT="3")
    for _ in range(3):
        assert _login(api, "admin", "wrong-password").status_code == 401
    # over the limit, even the right password is not tried
    resp = _login(api, "admin", ADMIN_PASSWORD)
    err = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert err["retryAfter"] >= 1 and resp.headers["Retry-After"]


def test_user_refresh_rotation_and_reuse(api):
    first = _login(api, "admin", ADMIN_PASSWORD).json
    second = api.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.body
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert api.as_bearer(second["access_token"]).get("/api/v1/roles").status_code == 200
    replay = api.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert_error(replay, 401, "AUTHENTICATION_ERROR")
    newer = api.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert_error(newer, 401, "AUTHENTICATION_ERROR")
    assert_error(api.as_bearer(second["access_token"]).get("/api/v1/roles"), 401,
                 "AUTHENTICATION_ERROR")
    # a client's refresh token is not a user's
    from tests.conftest import client_token

    client_refresh = client_token(api)["refresh_token"]
    assert_error(api.post("/api/v1/auth/refresh", {"refresh_token": client_refresh}), 401,
                 "AUTHENTICATION_ERROR")


def test_logout_revokes(api):
    tok = _login(api, "admin", ADMIN_PASSWORD).json
    bearer = api.as_bearer(tok["access_token"])
    assert bearer.get("/api/v1/roles").status_code == 200
    resp = bearer.post("/api/v1/auth/logout", {"refresh_token": tok["refresh_token"]})
    assert resp.status_code == 200 and resp.json["data"]["loggedOut"] is True
    assert_error(bearer.get("/api/v1/roles"), 401, "AUTHENTICATION_ERROR")
    assert_error(api.post("/api/v1/auth/refresh", {"refresh_token": tok["refresh_token"]}),
                 401, "AUTHENTICATION_ERROR")


def test_users_crud(admin):
    resp = admin.post("/api/v1/users", {"username": "carol", "email": "carol@ex.com",
                                        "password": "carol-password", "roles": ["analyst"]})
    assert resp.status_code == 201, resp.body
    user = resp.json["data"]
    assert user["username"] == "carol" and user["roles"] == ["analyst"]
    assert "password" not in resp.body.decode() and "passwordHash" not in user
    item = raw_item(f"USER#{user['id']}", "USER")
    assert item["passwordHash"].startswith("scrypt$") and "carol-password" not in str(item)
    assert admin.get(f"/api/v1/users/{user['id']}").json["data"]["email"] == "carol@ex.com"
    listing = admin.get("/api/v1/users?search=car").json
    assert [u["username"] for u in listing["data"]] == ["carol"]
    upd = admin.put(f"/api/v1/users/{user['id']}", {"email": "c2@ex.com", "roles": ["viewer"]})
    assert upd.status_code == 200, upd.body
    assert upd.json["data"]["email"] == "c2@ex.com" and upd.json["data"]["roles"] == ["viewer"]
    assert admin.delete(f"/api/v1/users/{user['id']}").status_code == 204
    assert raw_item(f"USER#{user['id']}", "USER") is None
    assert raw_item("USERNAME#carol", "USERNAME") is None
    assert_error(admin.get(f"/api/v1/users/{user['id']}"), 404, "NOT_FOUND")


def test_duplicate_username_conflicts_and_writes_nothing(admin):
    make_user(admin, "dave", ["viewer"])
    before = snapshot()
    audits = count_prefix("AUDIT#")
    for name in ("dave", "DAVE"):
        resp = admin.post("/api/v1/users", {"username": name, "email": "x@ex.com",
                                            "password": "another-password"})
        assert_error(resp, 409, "CONFLICT")
    assert snapshot() == before
    assert count_prefix("AUDIT#") == audits


def test_user_validation(admin):
    before = snapshot()
    resp = admin.post("/api/v1/users", {"username": "eve", "email": "not-an-email",
                                        "password": "short", "roles": ["viewer"]})
    err = assert_error(resp, 422, "VALIDATION_ERROR")
    assert {d["field"] for d in err["details"]} == {"email", "password"}
    resp = admin.post("/api/v1/users", {"username": "eve", "email": "e@ex.com",
                                        "password": "long-enough", "roles": ["nope"]})
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert snapshot() == before


def test_viewer_cannot_manage_users(admin):
    viewer, me = make_user(admin, "vic", ["viewer"])
    before = snapshot()
    resp = viewer.post("/api/v1/users", {"username": "x1", "email": "x@ex.com",
                                         "password": "password-1"})
    err = assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert err["details"] == [{"requiredScopes": ["users:manage"]}]
    assert_error(viewer.get("/api/v1/users"), 403, "AUTHORIZATION_ERROR")
    assert_error(viewer.post("/api/v1/roles", {"name": "ops", "scopes": ["orders:read"]}),
                 403, "AUTHORIZATION_ERROR")
    assert_error(viewer.put(f"/api/v1/users/{me['id']}", {"roles": ["admin"]}), 403,
                 "AUTHORIZATION_ERROR")
    assert snapshot() == before
    assert viewer.get(f"/api/v1/users/{me['id']}").status_code == 200


def test_bola_other_user_is_404(admin):
    viewer, _ = make_user(admin, "vic", ["integrator"])
    _, other = make_user(admin, "wes", ["viewer"])
    before = snapshot()
    assert_error(viewer.get(f"/api/v1/users/{other['id']}"), 404, "NOT_FOUND")
    assert_error(viewer.put(f"/api/v1/users/{other['id']}", {"email": "pwn@ex.com"}), 404,
                 "NOT_FOUND")
    assert_error(viewer.get("/api/v1/users/usr_doesnotexist"), 404, "NOT_FOUND")
    assert snapshot() == before


def test_password_change_revokes_earlier_tokens(admin, api):
    alice, me = make_user(admin, "alice", ["viewer"])
    second = _login(api, "alice", "pw-alice-long").json
    # changing one's own password needs the current one
    before = snapshot()
    resp = alice.put(f"/api/v1/users/{me['id']}", {"password": "new-password-1"})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    resp = alice.put(f"/api/v1/users/{me['id']}", {"password": "new-password-1",
                                                   "currentPassword": "wrong-one"})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert snapshot() == before
    resp = alice.put(f"/api/v1/users/{me['id']}", {"password": "new-password-1",
                                                   "currentPassword": "pw-alice-long"})
    assert resp.status_code == 200, resp.body
    # every earlier token dies at once, in the same second too, refresh tokens included
    assert_error(alice.get(f"/api/v1/users/{me['id']}"), 401, "AUTHENTICATION_ERROR")
    assert_error(api.as_bearer(second["access_token"]).get(f"/api/v1/users/{me['id']}"), 401,
                 "AUTHENTICATION_ERROR")
    assert_error(api.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}),
                 401, "AUTHENTICATION_ERROR")
    assert_error(_login(api, "alice", "pw-alice-long"), 401, "AUTHENTICATION_ERROR")
    fresh = _login(api, "alice", "new-password-1")
    assert fresh.status_code == 200
    assert api.as_bearer(fresh.json["access_token"]).get(
        f"/api/v1/users/{me['id']}").status_code == 200


def test_admin_resets_password_without_current(admin, api):
    _, me = make_user(admin, "bob", ["viewer"])
    resp = admin.put(f"/api/v1/users/{me['id']}", {"password": "reset-by-admin"})
    assert resp.status_code == 200, resp.body
    assert _login(api, "bob", "reset-by-admin").status_code == 200


def test_deactivated_user_is_locked_out(admin, api):
    bob, me = make_user(admin, "bob", ["viewer"])
    tok = _login(api, "bob", "pw-bob-long").json
    assert admin.put(f"/api/v1/users/{me['id']}", {"active": False}).status_code == 200
    assert_error(bob.get(f"/api/v1/users/{me['id']}"), 401, "AUTHENTICATION_ERROR")
    assert_error(api.post("/api/v1/auth/refresh", {"refresh_token": tok["refresh_token"]}),
                 401, "AUTHENTICATION_ERROR")
    assert_error(_login(api, "bob", "pw-bob-long"), 401, "AUTHENTICATION_ERROR")


def test_roles_crud_and_builtins_immutable(admin):
    roles = admin.get("/api/v1/roles").json["data"]
    assert {r["name"] for r in roles} >= {"admin", "integrator", "analyst", "viewer"}
    assert all(r["builtIn"] for r in roles)
    resp = admin.post("/api/v1/roles", {"name": "support", "description": "Helps",
                                        "scopes": ["tickets:read", "tickets:write"]})
    assert resp.status_code == 201, resp.body
    assert resp.json["data"] == {"name": "support", "description": "Helps",
                                 "scopes": ["tickets:read", "tickets:write"],
                                 "builtIn": False}
    assert_error(admin.post("/api/v1/roles", {"name": "support", "scopes": ["orders:read"]}),
                 409, "CONFLICT")
    upd = admin.put("/api/v1/roles/support", {"scopes": ["tickets:read"]})
    assert upd.status_code == 200 and upd.json["data"]["scopes"] == ["tickets:read"]
    assert admin.get("/api/v1/roles/support").json["data"]["scopes"] == ["tickets:read"]
    before = snapshot()
    assert_error(admin.post("/api/v1/roles", {"name": "admin", "scopes": ["orders:read"]}),
                 409, "CONFLICT")
    assert_error(admin.put("/api/v1/roles/viewer", {"scopes": ["admin"]}), 409, "CONFLICT")
    assert_error(admin.delete("/api/v1/roles/admin"), 409, "CONFLICT")
    assert_error(admin.put("/api/v1/roles/nope", {"scopes": ["orders:read"]}), 404,
                 "NOT_FOUND")
    assert snapshot() == before
    assert admin.delete("/api/v1/roles/support").status_code == 204
    assert_error(admin.get("/api/v1/roles/support"), 404, "NOT_FOUND")


def test_user_roles_assign_list_remove(admin, api):
    _, me = make_user(admin, "ann", ["viewer"])
    admin.post("/api/v1/roles", {"name": "support", "scopes": ["tickets:read"]})
    resp = admin.post("/api/v1/user-roles", {"userId": me["id"], "role": "support"})
    assert resp.status_code == 201, resp.body
    assert resp.json["data"] == {"userId": me["id"], "username": "ann", "role": "support"}
    listing = admin.get(f"/api/v1/user-roles?userId={me['id']}").json["data"]
    assert sorted(p["role"] for p in listing) == ["support", "viewer"]
    tok = _login(api, "ann", "pw-ann-long").json
    assert "tickets:read" in jwt_parts(tok["access_token"])[1]["scope"].split()
    assert_error(admin.post("/api/v1/user-roles", {"userId": me["id"], "role": "nope"}),
                 422, "VALIDATION_ERROR")
    assert_error(admin.post("/api/v1/user-roles", {"userId": "usr_x", "role": "viewer"}),
                 404, "NOT_FOUND")
    assert admin.delete(f"/api/v1/user-roles/{me['id']}/support").status_code == 204
    assert raw_item(f"USER#{me['id']}", "USER")["roles"] == ["viewer"]
    assert_error(admin.delete(f"/api/v1/user-roles/{me['id']}/support"), 404, "NOT_FOUND")
    # a role taken away ends the sessions that carried it
    assert_error(api.as_bearer(tok["access_token"]).get(f"/api/v1/users/{me['id']}"), 401,
                 "AUTHENTICATION_ERROR")


def test_user_manager_cannot_escalate(admin, api):
    admin.post("/api/v1/roles", {"name": "usermgr", "scopes": ["users:manage", "users:read",
                                                               "tickets:read"]})
    admin.post("/api/v1/roles", {"name": "helpdesk", "scopes": ["tickets:read"]})
    admin.post("/api/v1/roles", {"name": "root", "scopes": ["admin"]})
    mgr, me = make_user(admin, "mgr", ["usermgr"])
    admin_id = raw_item("USERNAME#admin", "USERNAME")["userId"]
    before = snapshot()
    for role in ("admin", "root"):
        assert_error(mgr.post("/api/v1/user-roles", {"userId": me["id"], "role": role}), 403,
                     "AUTHORIZATION_ERROR")
        assert_error(mgr.put(f"/api/v1/users/{me['id']}", {"roles": ["usermgr", role]}), 403,
                     "AUTHORIZATION_ERROR")
        assert_error(mgr.post("/api/v1/users", {"username": f"sock-{role}",
                                                "email": "s@ex.com", "password": "password-1",
                                                "roles": [role]}),
                     403, "AUTHORIZATION_ERROR")
    # nor take over the admin account
    assert_error(mgr.put(f"/api/v1/users/{admin_id}", {"password": "hijacked-pw"}), 403,
                 "AUTHORIZATION_ERROR")
    assert_error(mgr.put(f"/api/v1/users/{admin_id}", {"email": "me@evil.com"}), 403,
                 "AUTHORIZATION_ERROR")
    assert_error(mgr.delete(f"/api/v1/user-roles/{admin_id}/admin"), 403,
                 "AUTHORIZATION_ERROR")
    assert_error(mgr.delete(f"/api/v1/users/{admin_id}"), 403, "AUTHORIZATION_ERROR")
    assert snapshot() == before
    assert _login(api, "admin", ADMIN_PASSWORD).status_code == 200
    # within its own scopes it works
    resp = mgr.post("/api/v1/users", {"username": "newbie", "email": "n@ex.com",
                                      "password": "password-1", "roles": ["helpdesk"]})
    assert resp.status_code == 201, resp.body
    # viewer reads orders, which the manager cannot: granting it would be an escalation
    resp = mgr.post("/api/v1/users", {"username": "newbie2", "email": "n@ex.com",
                                      "password": "password-1", "roles": ["viewer"]})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")


def test_ending_sessions_never_overwrites_a_concurrent_bump(admin, api, monkeypatch):
    """Two changes that each end the sessions, from the same read: the second must not
    write back the epoch the first already wrote (a token minted in between would live
    on). It answers 409 and the epoch stays where the first put it."""
    from chalicelib.auth.sessions.subjects import SESSION_EPOCH
    from chalicelib.auth.users import service
    from chalicelib.store import table as store

    _, me = make_user(admin, "eve", ["viewer", "integrator"])
    stale = raw_item(f"USER#{me['id']}", "USER")
    seen = int(stale.get(SESSION_EPOCH, 0))
    store.update(f"USER#{me['id']}", "USER", {SESSION_EPOCH: seen + 1})  # the first bump
    tok = _login(api, "eve", "pw-eve-long").json["access_token"]  # minted in between
    monkeypatch.setattr(service, "user_item", lambda _uid: dict(stale))  # the stale read
    assert_error(admin.delete(f"/api/v1/user-roles/{me['id']}/integrator"), 409, "CONFLICT")
    monkeypatch.undo()
    assert int(raw_item(f"USER#{me['id']}", "USER")[SESSION_EPOCH]) == seen + 1
    assert sorted(raw_item(f"USER#{me['id']}", "USER")["roles"]) == ["integrator", "viewer"]
    # Retried with a fresh read, the change lands and ends the token minted in between.
    assert admin.delete(f"/api/v1/user-roles/{me['id']}/integrator").status_code == 204
    assert_error(api.as_bearer(tok).get(f"/api/v1/users/{me['id']}"), 401,
                 "AUTHENTICATION_ERROR")
