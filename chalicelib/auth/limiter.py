"""Rate limits enforced in DynamoDB, exact under concurrency, in one round trip.

The counters live on the principal's own item (client, user, API key) or on an
IP item for anonymous callers. One conditional UpdateItem checks that the principal
exists and is not revoked (the caller's condition), that neither the hourly quota nor
the burst window is exhausted, and increments both; it answers the whole item, so the
same round trip also authenticates. Counters are named by window (rl_h<hour>,
rl_m<minute>), so a new window needs no read-then-reset; stale counters seen in one
answer are removed by the next update on that item.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from chalicelib.core import clock, metrics
from chalicelib.store import table as store

HOUR = 3600
MINUTE = 60
_MAX_REMOVE = 25

_stale_lock = threading.Lock()
_stale: dict[str, set[str]] = {}


@dataclass
class Quota:
    hour_limit: int
    burst_limit: int
    hour_used: int = 0
    burst_used: int = 0
    hour_reset: int = 0
    burst_reset: int = 0
    exceeded: str = ""  # "", "hour" or "burst"

    @property
    def retry_after(self) -> int:
        reset = self.burst_reset if self.exceeded == "burst" else self.hour_reset
        return max(1, reset - clock.now_int())

    def headers(self) -> dict[str, str]:
        now = clock.now_int()
        hour_left = max(0, self.hour_limit - self.hour_used)
        burst_left = max(0, self.burst_limit - self.burst_used)
        return {
            "X-RateLimit-Limit": str(self.hour_limit),
            "X-RateLimit-Remaining": str(hour_left),
            "X-RateLimit-Reset": str(self.hour_reset),
            "RateLimit-Policy": (f'"hour";q={self.hour_limit};w={HOUR}, '
                                 f'"burst";q={self.burst_limit};w={MINUTE}'),
            "RateLimit": (f'"hour";r={hour_left};t={max(0, self.hour_reset - now)}, '
                          f'"burst";r={burst_left};t={max(0, self.burst_reset - now)}'),
        }


@dataclass
class Charge:
    item: dict[str, Any] | None  # the item after (success) or before (refusal)
    quota: Quota
    allowed: bool  # False: the caller's condition failed or a limit is exhausted


def window_names(now: float) -> tuple[str, str, int, int]:
    hour = int(now // HOUR)
    minute = int(now // MINUTE)
    return f"rl_h{hour}", f"rl_m{minute}", (hour + 1) * HOUR, (minute + 1) * MINUTE


def note_stale(pk: str, names: set[str]) -> None:
    if names:
        with _stale_lock:
            _stale.setdefault(pk, set()).update(names)


def _take_stale(pk: str, keep: set[str]) -> list[str]:
    with _stale_lock:
        names = _stale.pop(pk, set()) - keep
        chosen = sorted(names)[:_MAX_REMOVE]
        rest = names - set(chosen)
        if rest:
            _stale[pk] = rest
    return chosen


def stale_counters(item: dict[str, Any], hour_name: str, minute_name: str) -> set[str]:
    return {k for k in item if (k.startswith("rl_h") and k != hour_name)
            or (k.startswith("rl_m") and k != minute_name)}


def charge(pk: str, sk: str, *, hour_limit: int | str, burst_limit: int,
           condition: str = "", names: dict[str, str] | None = None,
           values: dict[str, Any] | None = None, sets: dict[str, Any] | None = None,
           set_exprs: tuple[str, ...] = (), upsert: bool = False) -> Charge:
    """Count one request against the item's windows if `condition` and the limits hold.

    `hour_limit` is a number, or the name of the item's own attribute holding it (the
    limit of a key or client is only known once its item is read: this compares inside
    the same write). `sets` are plain assignments made in the same write (last used,
    TTL); `set_exprs` are raw SET clauses using `names`/`values` placeholders.
    """
    from botocore.exceptions import ClientError

    now = clock.now()
    hour_name, minute_name, hour_reset, minute_reset = window_names(now)
    attr_names = {"#h": hour_name, "#m": minute_name, **(names or {})}
    attr_values = {":one": 1, ":zero": 0, ":ml": burst_limit, **(values or {})}
    if isinstance(hour_limit, str):
        attr_names["#hl"] = hour_limit
        hour_ref = "#hl"
    else:
        attr_values[":hl"] = hour_limit
        hour_ref = ":hl"
    clauses = ["#h = if_not_exists(#h, :zero) + :one", "#m = if_not_exists(#m, :zero) + :one",
               *set_exprs]
    for i, (attr, value) in enumerate((sets or {}).items()):
        attr_names[f"#x{i}"] = attr
        attr_values[f":x{i}"] = value
        clauses.append(f"#x{i} = :x{i}")
    expr = "SET " + ", ".join(clauses)
    removals = _take_stale(pk, {hour_name, minute_name, *attr_names.values()})
    if removals:
        for i, attr in enumerate(removals):
            attr_names[f"#d{i}"] = attr
        expr += " REMOVE " + ", ".join(f"#d{i}" for i in range(len(removals)))
    limits = (f"(attribute_not_exists(#h) OR #h < {hour_ref}) AND "
              "(attribute_not_exists(#m) OR #m < :ml)")
    base = condition or ("" if upsert else "attribute_exists(PK)")
    full = f"({base}) AND {limits}" if base else limits
    def limit_of(found: dict[str, Any]) -> int:
        return int(found.get(hour_limit, 0)) if isinstance(hour_limit, str) else hour_limit

    quota = Quota(0 if isinstance(hour_limit, str) else hour_limit, burst_limit,
                  hour_reset=hour_reset, burst_reset=minute_reset)
    try:
        resp = store.table().update_item(
            Key={"PK": pk, "SK": sk}, UpdateExpression=expr, ConditionExpression=full,
            ExpressionAttributeNames=attr_names, ExpressionAttributeValues=attr_values,
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ClientError as exc:
        if not store.is_condition_failure(exc):
            raise
        old = _old_item(exc)
        if old is not None:
            quota.hour_limit = limit_of(old)
            quota.hour_used = int(old.get(hour_name, 0))
            quota.burst_used = int(old.get(minute_name, 0))
            if quota.burst_used >= burst_limit:
                quota.exceeded = "burst"
            if quota.hour_used >= quota.hour_limit:
                quota.exceeded = "hour"
        return Charge(old, quota, False)
    item = store.plain(resp["Attributes"])
    quota.hour_limit = limit_of(item)
    quota.hour_used = int(item.get(hour_name, 0))
    quota.burst_used = int(item.get(minute_name, 0))
    note_stale(pk, stale_counters(item, hour_name, minute_name))
    return Charge(item, quota, True)


def _old_item(exc: Exception) -> dict[str, Any] | None:
    raw = getattr(exc, "response", {}).get("Item")
    if not raw:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    return store.plain({k: des.deserialize(v) for k, v in raw.items()})


def ip_key(ip: str) -> tuple[str, str]:
    return f"LIMIT#IP#{ip}", "LIMIT"


def charge_ip(ip: str, hour_limit: int, burst_limit: int) -> Charge:
    """Anonymous callers: a counter item per IP, expiring after its window."""
    pk, sk = ip_key(ip)
    return charge(pk, sk, hour_limit=hour_limit, burst_limit=burst_limit,
                  upsert=True, sets={"ttl": clock.now_int() + 2 * HOUR})


def refund_ip(ip: str, quota: Quota) -> None:
    """Gives back an attempt `charge_ip` counted (in the windows it counted it in, never
    below zero): a credential check that succeeded costs the IP nothing, so only wrong
    guesses use up its budget. At most the budget's worth of checks is ever in flight,
    since each is charged before it runs."""
    from botocore.exceptions import ClientError

    pk, sk = ip_key(ip)
    # The windows it was counted in: the charged minute's start lies in the charged hour.
    hour_name, minute_name, _, _ = window_names(quota.burst_reset - MINUTE)
    try:
        store.table().update_item(
            Key={"PK": pk, "SK": sk}, UpdateExpression="ADD #h :minus, #m :minus",
            ConditionExpression="#h > :zero AND #m > :zero",
            ExpressionAttributeNames={"#h": hour_name, "#m": minute_name},
            ExpressionAttributeValues={":minus": -1, ":zero": 0})
    except ClientError as exc:
        if not store.is_condition_failure(exc):
            raise
        # A window already gone (the check straddled its end): the attempt stays counted.


# The metric's dimension: few values, never a name (each value is a metric of its own).
BREACH_KINDS = frozenset({"client", "user", "api_key", "anonymous", "ip"})


def record_breach(who: str) -> None:
    """Counts a refused request (429) for monitoring: the CloudWatch metric
    RateLimitBreach by the kind of caller (client, user, api_key, ip); `who` itself is
    only logged (the edge's warning), never a dimension."""
    kind = who.partition(":")[0]
    metrics.count("RateLimitBreach", kind=kind if kind in BREACH_KINDS else "other")
