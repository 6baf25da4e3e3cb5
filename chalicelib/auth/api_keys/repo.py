"""DynamoDB items of API keys, and what the guard reads and writes on them.

  APIKEY#key_<id part> / APIKEY   the key: keyHash (SHA-256 of the whole key), prevHash and
                                  prevHashExpiresAt during a rotation's grace period,
                                  secretEnc (the signing secret, encrypted; prevSecretEnc
                                  during a grace period), status, expiresAtEpoch, hourLimit,
                                  scopes, tier, owner, sandbox, requireSignature,
                                  ipAllowlist, lastUsedAt, what it carries of its owner
                                  (users/rights.py); also its rate-limit counters (rl_*),
                                  usage per day (u_<day>_r / u_<day>_e) and signature
                                  nonces (sg_*), written by every authenticated request.
  GSI1 = OWNER#<owner>#APIKEY / <createdAt>#<id>   the owner's keys
  GSI2 = APIKEY / <createdAt>#<id>                 every key (admin listing)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth import credentials, limiter
from chalicelib.auth.users import rights
from chalicelib.core import clock
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import sandboxed
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store

KIND = "APIKEY"
USAGE_KEEP_DAYS = 400


def _key(key_id: str) -> tuple[str, str]:
    return f"APIKEY#{key_id}", KIND


def new_item(key_id: str, owner: str, stamp: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new key's item: its keys and index keys around `fields`."""
    pk, sk = _key(key_id)
    return {"PK": pk, "SK": sk, "GSI1PK": f"OWNER#{owner}#{KIND}", "GSI1SK": f"{stamp}#{key_id}",
            "GSI2PK": KIND, "GSI2SK": f"{stamp}#{key_id}", "keyId": key_id, "owner": owner,
            **fields}


def key_item(key_id: str) -> dict[str, Any] | None:
    return store.get(*_key(key_id), consistent=True)


def create_key(item: dict[str, Any], count_op: dict[str, Any] | None,
               audit: dict[str, Any]) -> None:
    rights.create_credential(item, count_op, audit,
                             "An API key with this id already exists; try again.")


def update_key(item: dict[str, Any], changes: dict[str, Any], *, audit: dict[str, Any],
               remove: tuple[str, ...] = (), condition: str = "attribute_exists(PK)",
               values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    return rights.update_credential(item, changes, audit, remove=remove,
                                    condition=condition, values=values)


def list_keys(owner: str | None, cursor: str | None, limit: int,
              item_filter: Callable[[dict[str, Any]], bool] | None = None
              ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page(KIND, owner, cursor=cursor, limit=limit, item_filter=item_filter)


def _owned_by(owner_id: str) -> list[dict[str, Any]]:
    return list(store.query_all(f"OWNER#{owner_id}#{KIND}", index="GSI1"))


rights.register(rights.DelegatedKind("api_key", _owned_by))


# -- usage per day ----------------------------------------------------------------------

def _usage_attr(day: str, what: str) -> str:
    return f"u_{day}_{what}"


def usage_on(item: dict[str, Any], day: str) -> tuple[int, int]:
    """Requests and errors the key's item counted on a UTC day."""
    return int(item.get(_usage_attr(day, "r"), 0)), int(item.get(_usage_attr(day, "e"), 0))


def count_error(key_id: str) -> None:
    """Errors are known only after the response: a second write, off the answer's path."""
    pk, sk = _key(key_id)
    store.table().update_item(
        Key={"PK": pk, "SK": sk}, UpdateExpression="SET #e = if_not_exists(#e, :zero) + :one",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames={"#e": _usage_attr(clock.day(), "e")},
        ExpressionAttributeValues={":zero": 0, ":one": 1})


# -- the key as a principal: the guard's one write --------------------------------------

def charge(key_id: str, key_hash: str, now: float, nonce: str = "") -> limiter.Charge:
    """Counts a request on the key if its hash (or the previous one, in a rotation's grace
    period) matches, it is active, unexpired, its owner active, the signature `nonce` (of
    a signed request) unused, and the limits hold; records the nonce until the signature
    window ends, the day's usage and the time of use, all in one conditional write."""
    names = {"#st": "status", "#kh": "keyHash", "#ph": "prevHash", "#pe": "prevHashExpiresAt",
             "#ex": "expiresAtEpoch", "#oa": "ownerActive",
             "#ur": _usage_attr(clock.day(now), "r")}
    values: dict[str, Any] = {":active": "active", ":h": key_hash, ":now": int(now),
                              ":true": True}
    condition = ("attribute_exists(PK) AND #st = :active AND "
                 "(#kh = :h OR (#ph = :h AND #pe > :now)) AND #ex > :now AND #oa = :true")
    sets: dict[str, Any] = {"lastUsedAt": clock.iso(now)}
    if nonce:
        names["#sg"] = _nonce_attr(nonce)
        condition += " AND attribute_not_exists(#sg)"
        sets[_nonce_attr(nonce)] = int(now)
    pk, sk = _key(key_id)
    charged = limiter.charge(pk, sk, hour_limit="hourLimit",
                             burst_limit=get_settings().burst_limit, condition=condition,
                             names=names, values=values, sets=sets,
                             set_exprs=("#ur = if_not_exists(#ur, :zero) + :one",))
    if charged.allowed:
        limiter.note_stale(pk, _stale(charged.item or {}, now))
    return charged


def _nonce_attr(nonce: str) -> str:
    return "sg_" + nonce


def _stale(item: dict[str, Any], now: float) -> set[str]:
    """Nonces past their window and usage counters past their keeping (removed by a
    later write)."""
    window = get_settings().signature_window
    oldest_day = clock.day(now - USAGE_KEEP_DAYS * 86400)
    return {name for name, value in item.items()
            if (name.startswith("sg_") and float(value) < now - 2 * window)
            or (name.startswith("u_") and name[2:12] < oldest_day)}


def refusal(old: dict[str, Any] | None, key_hash: str, now: float, nonce: str = "") -> str | None:
    """Why `charge` refused, read from the item before it; None when the key stands (the
    limits refused it)."""
    if old is None or not _matches(old, key_hash, now):
        return "The API key is not valid."
    if old.get("status") != "active":
        return "The API key has been revoked."
    if int(old.get("expiresAtEpoch", 0)) <= now:
        return "The API key has expired."
    if old.get("ownerActive") is not True:
        return "The API key's owner is no longer active."
    if nonce and _nonce_attr(nonce) in old:
        return "This signature has already been used (replay)."
    return None


def _matches(item: dict[str, Any], key_hash: str, now: float) -> bool:
    if credentials.same(str(item.get("keyHash", "")), key_hash):
        return True
    return credentials.same(str(item.get("prevHash", "")), key_hash) and float(
        item.get("prevHashExpiresAt", 0)) > now


def signing_secret(item: dict[str, Any], key_hash: str) -> str:
    """The sealed signing secret of the key presented: during a rotation's grace period
    the old key signs with the old secret."""
    if item.get("prevSecretEnc") and not credentials.same(str(item.get("keyHash", "")),
                                                          key_hash):
        return str(item["prevSecretEnc"])
    return str(item["secretEnc"])


def principal(key_id: str, item: dict[str, Any], hour_limit: int) -> Principal:
    """The caller a key is: its scopes within its owner's (confined in the sandbox), and
    the restrictions whatever it makes must keep."""
    sandbox = bool(item.get("sandbox"))
    scopes = rights.delegated_scopes(item)
    return Principal(
        kind="api_key", id=key_id, owner=str(item.get("owner", "")),
        scopes=sandboxed(scopes) if sandbox else scopes, tier=str(item.get("tier", "free")),
        hour_limit=hour_limit, sandbox=sandbox, claims={"keyId": key_id},
        restrictions={"requireSignature": bool(item.get("requireSignature")),
                      "ipAllowlist": list(item.get("ipAllowlist") or []),
                      "expiresAtEpoch": int(item.get("expiresAtEpoch", 0))})
