"""DynamoDB items of API keys.

  APIKEY#key_<id part> / APIKEY   the key: keyHash (SHA-256 of the whole key), prevHash and
                                  prevHashExpiresAt during a rotation's grace period,
                                  secretEnc (the signing secret, encrypted), status,
                                  expiresAtEpoch, hourLimit, scopes, tier, owner, sandbox,
                                  requireSignature, ipAllowlist, lastUsedAt; also its rate-limit
                                  counters (rl_*), usage per day (u_<day>_r / u_<day>_e) and
                                  signature nonces (sg_*), all written by the auth guard.
  GSI1 = OWNER#<owner>#APIKEY / <createdAt>#<id>   the owner's keys
  GSI2 = APIKEY / <createdAt>#<id>                 every key (admin listing)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth import owners
from chalicelib.auth.guard import principal_key
from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.store import table as store


def _key(key_id: str) -> tuple[str, str]:
    return principal_key("api_key", key_id)


def key_item(key_id: str) -> dict[str, Any] | None:
    pk, sk = _key(key_id)
    return store.get(pk, sk, consistent=True)


def create_key(item: dict[str, Any], owner_check: dict[str, Any] | None,
               audit: dict[str, Any]) -> None:
    """The key, its audit entry and (when the owner is a user) the check that the owner's
    rights are still those copied onto the key, in one transaction."""
    ops: list[dict[str, Any]] = [
        {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
           {"Put": {"Item": audit}}]
    if owner_check is not None:
        ops.append(owner_check)
    try:
        store.transact(ops)
    except store.TransactionConflict as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            raise Conflict("An API key with this id already exists; try again.") from exc
        raise owners.refused_count(str(item["owner"])) from exc


def update_key(item: dict[str, Any], changes: dict[str, Any], *, audit: dict[str, Any],
               remove: tuple[str, ...] = (), condition: str = "attribute_exists(PK)",
               values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Changes the key and writes its audit entry in one transaction; answers the key as
    written, or None when the condition failed (removed or changed meanwhile)."""
    changes = {**changes, "updatedAt": clock.iso()}
    update = store.update_request(str(item["PK"]), str(item["SK"]), changes, remove=remove,
                                  condition=condition, values=values)
    try:
        store.transact([{"Update": update}, {"Put": {"Item": audit}}])
    except store.TransactionConflict:
        return None
    return {k: v for k, v in {**item, **changes}.items() if k not in remove}


def list_keys(owner: str | None, cursor: str | None, limit: int,
              item_filter: Callable[[dict[str, Any]], bool] | None = None
              ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page("APIKEY", owner, cursor=cursor, limit=limit,
                            item_filter=item_filter)
