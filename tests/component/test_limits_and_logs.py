"""Issue 7, limits and logs: credential checks charged before they run, 429s logged and
counted under verified principals only, access-log entries nobody can
overwrite, idempotent replays that match the request and the original answer, and the
password hash's cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.component.helpers import (
    assert_error,
    assert_oauth_error,
    b64u,
    client_grant,
    make_client,
    raw_item,
    set_env,
    token_form,
)
from tests.component.test_log_lines import captured
from tests.conftest import ADMIN_PASSWORD, ADMIN_SECRET, basic, client_token

ROOT = Path(__file__).resolve().parents[2]
IP = "127.0.0.1"  # chalice's test client's source address
PROBE = "/api/v1/oauth/token/validate"


def _exhaust_ip(ip: str = IP) -> None:
    from chalicelib.auth import limiter
    from chalicelib.core.settings import get_settings

    limit = get_settings().anonymous_hourly_limit
    while limiter.charge_ip(ip, limit, 10**6).allowed:
        pass


def _ip_count(ip: str = IP) -> int:
    from chalicelib.auth import limiter
    from chalicelib.core import clock

    item = raw_item(*limiter.ip_key(ip)) or {}
    return int(item.get(limiter.window_names(clock.now())[0], 0))


def _login(api: Any, username: str, password: str) -> Any:
    return api.post("/api/v1/auth/login", {"username": username, "password": password})


# -- 5. guessing stops at the limit ------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/oauth/token", "/api/v1/oauth/refresh-token"])
def test_token_endpoints_refuse_even_the_right_secret_once_the_ip_is_spent(api, path):
    refresh = client_token(api)["refresh_token"]
    _exhaust_ip()
    for secret in ("wrong-secret", ADMIN_SECRET):  # no answer tells a right guess apart
        form = ("grant_type=client_credentials" if path.endswith("/token")
                else f"refresh_token={refresh}")
        resp = token_form(api, form, basic("admin", secret), path=path)
        assert_oauth_error(resp, 429, "slow_down")
        assert 1 <= int(resp.headers["Retry-After"]) <= 3600
        assert resp.headers["X-RateLimit-Limit"] == "100"
        assert resp.headers["X-RateLimit-Remaining"] == "0"
        assert resp.headers["RateLimit"].startswith('"hour";r=0;')


def test_token_endpoint_charges_the_ip_before_checking_the_secret(api, monkeypatch):
    from chalicelib.auth import limiter

    seen: list[int] = []
    real = limiter.charge

    def spy(pk: str, *args: Any, **kwargs: Any) -> Any:
        if pk.startswith("CLIENT#"):  # the write that checks the secret
            seen.append(_ip_count())
        return real(pk, *args, **kwargs)

    monkeypatch.setattr(limiter, "charge", spy)
    assert client_grant(api, "admin", "wrong-secret").status_code == 401
    assert seen == [1] and _ip_count() == 1  # charged first, and a failure stays counted
    assert client_grant(api, "admin", ADMIN_SECRET).status_code == 200
    assert seen == [1, 2] and _ip_count() == 1  # a success is given back


def test_login_charges_the_ip_before_checking_the_password(api, monkeypatch):
    from chalicelib.auth import credentials

    seen: list[int] = []
    real = credentials.check_password

    def spy(password: str, stored: str) -> bool:
        seen.append(_ip_count())
        return real(password, stored)

    monkeypatch.setattr(credentials, "check_password", spy)
    assert_error(_login(api, "admin", "wrong-password"), 401, "AUTHENTICATION_ERROR")
    assert_error(_login(api, "nobody", "wrong-password"), 401, "AUTHENTICATION_ERROR")
    assert seen == [1, 2] and _ip_count() == 2
    assert _login(api, "admin", ADMIN_PASSWORD).status_code == 200
    assert seen == [1, 2, 3] and _ip_count() == 2  # attempts count; a success is given back
    _exhaust_ip()
    resp = _login(api, "admin", ADMIN_PASSWORD)
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["Retry-After"] and resp.headers["X-RateLimit-Remaining"] == "0"
    assert len(seen) == 3  # refused before the password was looked at


def guess_race(threads: int, per_thread: int) -> dict[str, int]:
    """In a process of its own, against the atomic emulator (see test below): every thread
    guesses a user's password and a client's secret at once. Answers how many guesses
    were actually checked, and how many were refused unchecked."""
    import time

    from chalicelib.auth import credentials, limiter
    from chalicelib.auth.oauth import service as oauth
    from chalicelib.auth.users import service as users
    from chalicelib.core.errors import AuthenticationFailed, OAuthError, RateLimited
    from chalicelib.store import table as store
    from devstack.emulator import provisioned, race

    lock = threading.Lock()
    checked = {"password": 0, "secret": 0}
    real_check, real_charge = credentials.check_password, limiter.charge

    def check(password: str, stored: str) -> bool:
        with lock:
            checked["password"] += 1
        time.sleep(0.05)  # what scrypt costs in production (n=2**17: about 0.5 s)
        return real_check(password, stored)

    def charge(pk: str, *args: Any, **kwargs: Any) -> Any:
        if pk.startswith("CLIENT#"):
            with lock:
                checked["secret"] += 1
        return real_charge(pk, *args, **kwargs)

    credentials.check_password = check  # type: ignore[assignment]
    limiter.charge = charge  # type: ignore[assignment]
    with provisioned("guessrace"):
        store.put({"PK": "USERNAME#victim", "SK": "USERNAME", "userId": "usr_victim"})
        store.put({"PK": "USER#usr_victim", "SK": "USER", "userId": "usr_victim",
                   "username": "victim", "active": True, "roles": [],
                   "passwordHash": credentials.hash_password("the-right-password")})
        store.put({"PK": "CLIENT#victim", "SK": "CLIENT", "clientId": "victim", "active": True,
                   "hourLimit": 1000, "secretHash": credentials.hash_secret("right")})

        def attempt(guess: Any) -> bool:
            try:
                guess()
            except RateLimited:
                return False
            except (AuthenticationFailed, OAuthError):
                return True
            raise AssertionError("a wrong guess was let in")

        password = race(threads, per_thread, lambda: attempt(
            lambda: users.login("victim", "wrong", "http://x", "203.0.113.1")))
        secret = race(threads, per_thread, lambda: attempt(
            lambda: oauth.authenticate_client(("victim", "wrong"), "203.0.113.2")))
    return {"passwordsChecked": checked["password"], "passwordsRefused": password[1],
            "secretsChecked": checked["secret"], "secretsRefused": secret[1]}


def test_concurrent_guesses_never_exceed_the_budget():
    """16 threads guess at once against the emulator (atomic per item, as DynamoDB is):
    exactly the IP's budget of guesses is checked, the rest refused unchecked."""
    code = ("import json; from tests.component.test_limits_and_logs import guess_race; "
            "print(json.dumps(guess_race(16, 2)))")
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["GATEHOUSE_ANONYMOUS_HOURLY_LIMIT"] = "5"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"passwordsChecked": 5, "passwordsRefused": 27,
                      "secretsChecked": 5, "secretsRefused": 27}, result


def _forged_bearer(sub: str) -> str:
    head = b64u(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": "x"}).encode())
    body = b64u(json.dumps({"sub": sub, "gh_kind": "user"}).encode())
    return f"Bearer {head}.{body}.{b64u(b'not-a-signature')}"


@pytest.fixture
def printed(capsys: Any) -> Any:
    """What the app prints meanwhile (EMF metric lines). The app's logger is made first:
    it writes to the sys.stdout of its creation, which must not be this test's capture."""
    from chalicelib.core import metrics
    from chalicelib.core.logging import get_logger

    get_logger()
    metrics.flush()  # nothing left from another test
    capsys.readouterr()
    return capsys


def _breach_kinds(out: str) -> list[str]:
    lines = [json.loads(line) for line in out.splitlines()
             if line.startswith("{") and '"_aws"' in line]
    return [line["kind"] for line in lines if "RateLimitBreach" in line]


def test_breaches_never_name_an_unverified_caller(api, admin, printed):
    """A 429 is logged under whom it counts against (a verified principal, else the masked
    IP, never a name the caller merely claimed) and counted as a RateLimitBreach metric
    by that caller's kind."""
    _exhaust_ip()
    with captured() as got:
        for i in range(15):
            assert api.get(PROBE, headers={"Authorization": _forged_bearer(f"forged-{i}")}
                           ).status_code == 429
            assert client_grant(api, f"made-up-{i}", "x").status_code == 429
            assert api.get(PROBE, headers={"X-API-Key": f"gate_live_{'a' * 12}{i:032d}"}
                           ).status_code == 429
        # a verified principal over its own limit is named
        cid, _secret = make_client(admin, ["orders:read"], rateLimit=1)
        bearer = api.as_bearer(token_for(cid))
        assert bearer.get(PROBE).status_code == 200
        assert bearer.get(PROBE).status_code == 429
        # ... and so is an API key over its own limit
        made = admin.post("/api/v1/api-keys", {"name": "one", "scopes": ["orders:read"],
                                               "rateLimit": 1})
        assert made.status_code == 201, made.body
        as_key = api.as_key(made.json["data"]["key"])
        assert as_key.get(PROBE).status_code == 200
        assert as_key.get(PROBE).status_code == 429
    named = [g["principal"] for g in got if g["message"] == "rate limit exceeded"]
    key_id = made.json["data"]["id"]
    assert named == ["ip:127.0.0.0"] * 45 + [f"client:{cid}", f"api_key:{key_id}"]
    assert _breach_kinds(printed.readouterr().out) == ["ip"] * 45 + ["client", "api_key"]


def token_for(cid: str) -> str:
    """A token for a client, issued directly (the test's IP is spent)."""
    from chalicelib.auth.oauth import service
    from chalicelib.store import table as store

    client = store.get(f"CLIENT#{cid}", "CLIENT")
    assert client is not None
    return str(service.client_credentials_grant(client, None, "http://testserver")
               ["access_token"])


# -- 6a. access-log entries nobody can overwrite ---------------------------------------------

def test_a_callers_request_id_never_keys_an_entry(admin, api):
    from chalicelib.store import table as store

    rid = "shared-" + uuid.uuid4().hex
    mine = admin.get("/api/v1/roles", headers={"X-Request-Id": rid})
    assert mine.status_code == 200 and mine.headers["X-Request-Id"] == rid
    theirs = api.get("/api/v1/roles", headers={"X-Request-Id": rid})
    err = assert_error(theirs, 401, "AUTHENTICATION_ERROR")
    assert err["requestId"] == rid == theirs.headers["X-Request-Id"]
    entries = [store.plain(i) for i in store.table().scan()["Items"]
               if str(i["PK"]).startswith("ALOG#") and i.get("clientRequestId") == rid]
    assert sorted(e["status"] for e in entries) == [200, 401]
    assert all(e["id"].startswith("req_") and e["PK"] == f"ALOG#{e['id']}" for e in entries)
    admins = next(e for e in entries if e["status"] == 200)
    assert admins["principal"] == "client:admin"
    listed = admin.get("/api/v1/api-access-logs?path=/api/v1/roles").json["data"]
    assert {e["clientRequestId"] for e in listed} == {rid}


def test_audit_entries_name_the_servers_request_id(admin):
    """An audit entry's requestId is what the server chose, the key of the request's
    access-log entry, never a caller's X-Request-Id (anyone could name another
    request's id there)."""
    from chalicelib.store import table as store

    rid = "req_" + uuid.uuid4().hex  # looks like a server id
    made = admin.post("/api/v1/roles", {"name": "auditors", "scopes": ["orders:read"]},
                      headers={"X-Request-Id": rid})
    assert made.status_code == 201 and made.headers["X-Request-Id"] == rid
    logged = [store.plain(i) for i in store.table().scan()["Items"]
              if str(i["PK"]).startswith("ALOG#") and i.get("clientRequestId") == rid]
    assert len(logged) == 1 and logged[0]["id"] != rid
    audits = [e for e in admin.get("/api/v1/audit-logs?perPage=100").json["data"]
              if e["action"] == "role.create" and e["targetId"] == "auditors"]
    assert [e["requestId"] for e in audits] == [logged[0]["id"]]


def test_an_entry_is_never_overwritten(api):
    from chalicelib.core.errors import Conflict
    from chalicelib.http import accesslog
    from chalicelib.http.context import RequestContext

    ctx = RequestContext(request_id="req_fixed", method="GET", path="/api/v1/x", resource="",
                         ip=IP, user_agent="", headers={}, query={}, query_pairs=[],
                         raw_body=b"", started=0.0)
    accesslog.record(ctx, 200, 1.0)
    with pytest.raises(Conflict):
        accesslog.record(ctx, 500, 1.0)
    assert (raw_item("ALOG#req_fixed", "ALOG") or {})["status"] == 200


def test_local_gateway_uses_the_edges_full_match_rule():
    from devstack.server import request_id_for

    assert request_id_for({"X-Request-Id": "abc-123"}) == "abc-123"
    for bad in ("ok\r\nSet-Cookie: a=b", "ok\n", "ok id", "x" * 129):
        assert request_id_for({"x-request-id": bad}).startswith("req_"), bad


# -- 6c. idempotent replays --------------------------------------------------------------

ROLE = {"name": "support", "scopes": ["tickets:read"]}


def test_same_key_other_query_or_media_type_is_422(admin):
    first = admin.post("/api/v1/roles?x=1", ROLE, headers={"Idempotency-Key": "q-1"})
    assert first.status_code == 201, first.body
    again = admin.post("/api/v1/roles?x=1", ROLE, headers={"Idempotency-Key": "q-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_error(admin.post("/api/v1/roles?x=2", ROLE, headers={"Idempotency-Key": "q-1"}),
                 422, "VALIDATION_ERROR")
    assert_error(admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "q-1"}),
                 422, "VALIDATION_ERROR")
    other_type = admin.post("/api/v1/roles?x=1", raw=json.dumps(ROLE), headers={
        "Idempotency-Key": "q-1", "Content-Type": "application/json; charset=utf-8"})
    assert_error(other_type, 422, "VALIDATION_ERROR")


def test_replayed_secrets_are_not_stored_by_caches(admin):
    body = {"name": "crm", "scopes": ["orders:read"]}
    first = admin.post("/api/v1/oauth/clients", body, headers={"Idempotency-Key": "c-1"})
    assert first.status_code == 201 and first.headers["Cache-Control"] == "no-store"
    again = admin.post("/api/v1/oauth/clients", body, headers={"Idempotency-Key": "c-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["data"]["client_secret"] == first.json["data"]["client_secret"]
    assert again.headers["Cache-Control"] == "no-store"
    assert again.headers["Pragma"] == "no-cache"
    assert again.headers["Location"] == first.headers["Location"]


# -- 6e. password hashing cost ------------------------------------------------------------

def test_default_password_hash_is_scrypt_n_2_17(monkeypatch):
    from chalicelib.auth import credentials
    from chalicelib.core.settings import reset_settings

    monkeypatch.delenv("GATEHOUSE_PASSWORD_HASH_N", raising=False)
    reset_settings()
    try:
        stored = credentials.hash_password("correct horse")
        assert stored.startswith("scrypt$131072$8$1$")
        assert credentials.check_password("correct horse", stored)
        assert not credentials.check_password("wrong horse", stored)
        assert not credentials.needs_rehash(stored)
        assert credentials.dummy_password_hash().startswith("scrypt$131072$8$1$")
    finally:
        monkeypatch.undo()
        reset_settings()
    # hashlib needs 128 MiB for it: the functions have at least 512 MB
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    sizes = [config["lambda_memory_size"]] + [
        scope.get("lambda_memory_size", 512)
        for scope in [*config["stages"].values(), *config.get("lambda_functions", {}).values()]]
    assert min(sizes) >= 512


def test_an_old_hash_verifies_and_is_rewritten_at_login(api, admin, monkeypatch):
    from chalicelib.auth import credentials
    from chalicelib.store import table as store

    user = admin.post("/api/v1/users", {"username": "olga", "email": "olga@ex.com",
                                        "password": "olga-password", "roles": ["viewer"]})
    key = (f"USER#{user.json['data']['id']}", "USER")
    set_env(monkeypatch, GATEHOUSE_PASSWORD_HASH_N=str(2**14))
    old = credentials.hash_password("olga-password")
    store.update(*key, {"passwordHash": old})
    set_env(monkeypatch, GATEHOUSE_PASSWORD_HASH_N=str(2**17))
    assert credentials.needs_rehash(old)
    assert _login(api, "olga", "wrong-password").status_code == 401
    assert (raw_item(*key) or {})["passwordHash"] == old  # a failure rewrites nothing
    assert _login(api, "olga", "olga-password").status_code == 200
    item = raw_item(*key) or {}
    assert item["passwordHash"].startswith("scrypt$131072$8$1$") and item["lastLoginAt"]
    assert _login(api, "olga", "olga-password").status_code == 200
    assert (raw_item(*key) or {})["passwordHash"] == item["passwordHash"]  # once only
