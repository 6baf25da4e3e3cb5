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
from chalicelib.store import table as store


def _key(key_id: str) -> tuple[str, str]:
    return principal_key("api_key", key_id)


def key_item(key_id: str) -> dict[str, Any] | None:
    pk, sk = _key(key_id)
    return store.get(pk, sk, consistent=True)


def create_key(item: dict[str, Any], count_op: dict[str, Any] | None,
               audit: dict[str, Any]) -> None:
    owners.create_credential(item, count_op, audit,
                             "An API key with this id already exists; try again.")


def update_key(item: dict[str, Any], changes: dict[str, Any], *, audit: dict[str, Any],
               remove: tuple[str, ...] = (), condition: str = "attribute_exists(PK)",
               values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    return owners.update_credential(item, changes, audit, remove=remove,
                                    condition=condition, values=values)


def list_keys(owner: str | None, cursor: str | None, limit: int,
              item_filter: Callable[[dict[str, Any]], bool] | None = None
              ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page("APIKEY", owner, cursor=cursor, limit=limit,
                            item_filter=item_filter)
