"""Rate limits: both header families, custom client limits, burst, anonymous per IP,
window rollover, and exactness under concurrency."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.component.helpers import assert_error, client_grant, make_client, raw_item
from tests.conftest import ADMIN_SECRET, client_token

PROBE = "/api/v1/oauth/token/validate"
ROOT = Path(__file__).resolve().parents[2]


def _parse_rl(value):
    """'"hour";r=9;t=10, "burst";r=99;t=5' -> {"hour": {"r": 9, "t": 10}, ...}"""
    out = {}
    for item in value.split(","):
        name, *params = item.strip().split(";")
        out[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return out


def test_both_header_families(api, admin):
    from chalicelib.core import clock

    resp = admin.get(PROBE)
    h = resp.headers
    assert h["X-RateLimit-Limit"] == "10000"
    assert h["X-RateLimit-Remaining"] == "9998"  # the token request counted too
    reset = int(h["X-RateLimit-Reset"])
    assert clock.now_int() < reset <= clock.now_int() + 3600 and reset % 3600 == 0
    assert h["RateLimit-Policy"] == '"hour";q=10000;w=3600, "burst";q=100;w=60'
    rl = _parse_rl(h["RateLimit"])
    assert rl["hour"]["r"] == 9998 and rl["burst"]["r"] == 98
    assert 0 < rl["hour"]["t"] <= 3600 and 0 < rl["burst"]["t"] <= 60
    assert re.fullmatch(r'"hour";r=\d+;t=\d+, "burst";r=\d+;t=\d+', h["RateLimit"])
    again = admin.get(PROBE).headers
    assert int(again["X-RateLimit-Remaining"]) == 9997


def test_client_rate_limit_n_plus_one_is_429(admin, api):
    cid, secret = make_client(admin, ["orders:read"], rateLimit=5)
    tok = client_grant(api, cid, secret).json["access_token"]  # request 1 of 5
    bearer = api.as_bearer(tok)
    for remaining in (3, 2, 1, 0):
        resp = bearer.get(PROBE)
        assert resp.status_code == 200
        assert resp.headers["X-RateLimit-Limit"] == "5"
        assert resp.headers["X-RateLimit-Remaining"] == str(remaining)
    resp = bearer.get(PROBE)
    err = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert int(resp.headers["Retry-After"]) == err["retryAfter"] >= 1
    assert err["retryAfter"] <= 3600
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert resp.headers["RateLimit-Policy"].startswith('"hour";q=5;w=3600')
    # refused requests are not counted, the token endpoint is limited too
    assert raw_item(f"CLIENT#{cid}", "CLIENT")[
        next(k for k in raw_item(f"CLIENT#{cid}", "CLIENT") if k.startswith("rl_h"))] == 5
    resp = client_grant(api, cid, secret)
    assert resp.status_code == 429
    # the next hour lets it in again
    from chalicelib.core import clock

    clock.advance(3600)
    assert bearer.get(PROBE).status_code == 200


def test_tier_limits(admin, api):
    cid, secret = make_client(admin, ["orders:read"], tier="free")
    tok = client_grant(api, cid, secret).json["access_token"]
    assert api.as_bearer(tok).get(PROBE).headers["X-RateLimit-Limit"] == "100"
    cid, secret = make_client(admin, ["orders:read"], tier="pro")
    tok = client_grant(api, cid, secret).json["access_token"]
    assert api.as_bearer(tok).get(PROBE).headers["X-RateLimit-Limit"] == "1000"


def test_burst_limit_100_per_minute(api):
    from chalicelib.core import clock

    # start at the top of a minute so the 100 requests share one window
    clock.advance(60 - clock.now() % 60 + 0.01)
    token = client_token(api)["access_token"]  # the token request is the first
    bearer = api.as_bearer(token)
    for _ in range(99):
        assert bearer.get(PROBE).status_code == 200
    resp = bearer.get(PROBE)
    err = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= err["retryAfter"] <= 60
    assert _parse_rl(resp.headers["RateLimit"])["burst"]["r"] == 0
    assert int(resp.headers["X-RateLimit-Remaining"]) == 10000 - 100
    clock.advance(60)
    assert bearer.get(PROBE).status_code == 200


def test_anonymous_limit_per_ip_and_rollover(api):
    from chalicelib.core import clock

    clock.advance(3600 - clock.now() % 3600 + 0.01)
    token = client_token(api)["access_token"]  # a success costs the IP nothing
    for i in range(100):
        resp = api.get(PROBE)
        assert resp.status_code == 401, (i, resp.body)
        if i == 0:
            assert resp.headers["X-RateLimit-Limit"] == "100"
            assert resp.headers["X-RateLimit-Remaining"] == "99"
        # spread over the hour so the burst limit is not what stops it
        clock.advance(30)
    resp = api.get(PROBE)
    err = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["X-RateLimit-Limit"] == "100"
    assert 1 <= err["retryAfter"] <= 3600
    # a bad token from the same IP is refused by the limit too
    assert api.as_bearer("garbage").get(PROBE).status_code == 429
    # a valid principal is not an anonymous caller
    assert api.as_bearer(token).get(PROBE).status_code == 200
    # but the IP gets no more secrets checked, right or wrong
    assert client_grant(api, "admin", "wrong").status_code == 429
    assert client_grant(api, "admin", ADMIN_SECRET).status_code == 429
    clock.advance(3600)
    assert api.get(PROBE).status_code == 401


def test_anonymous_limit_is_per_ip(api, monkeypatch):
    from chalice.local import LambdaEventConverter

    from chalicelib.auth import limiter
    from chalicelib.core.settings import get_settings

    ip = "203.0.113.7"
    limit = get_settings().anonymous_hourly_limit
    for _ in range(limit):
        limiter.charge_ip(ip, limit, 1000)
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)
    assert api.get(PROBE).status_code == 429
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.1")
    assert api.get(PROBE).status_code == 401


def test_charge_is_exact_under_concurrency():
    """Many threads charging the same item at once over HTTP: exactly the limit is admitted.

    In a process of its own: in this one an active in-process moto mock would answer
    the calls instead of the (atomic) emulator server.
    """
    code = ("import json; from bench import limiter; "
            "print(json.dumps(limiter.run(threads=16, per_thread=6, limit=40)))")
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["admitted"] == 40, result  # 96 attempts
    assert result["overAdmissions"] == 0 and result["underAdmissions"] == 0


def test_stale_windows_are_cleaned(api):
    from chalicelib.auth import limiter
    from chalicelib.core import clock
    from chalicelib.store import table as store

    store.put({"PK": "CLIENT#old", "SK": "CLIENT", "hourLimit": 10, "active": True})
    limiter.charge("CLIENT#old", "CLIENT", hour_limit="hourLimit", burst_limit=10)
    clock.advance(7200)
    limiter.charge("CLIENT#old", "CLIENT", hour_limit="hourLimit", burst_limit=10)
    limiter.charge("CLIENT#old", "CLIENT", hour_limit="hourLimit", burst_limit=10)
    counters = [k for k in raw_item("CLIENT#old", "CLIENT") if k.startswith("rl_")]
    assert len(counters) == 2  # this hour and this minute only
