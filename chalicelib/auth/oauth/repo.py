"""DynamoDB items of OAuth clients, and what the guard and the token endpoint read and
write on them. (Refresh tokens and their families, of clients and users alike:
sessions/repo.py.)

  CLIENT#<client_id> / CLIENT   the client: secretHash, scopes, tier, hourLimit, owner,
                                active, sandbox, what it carries of its owner
                                (users/rights.py); also its rate-limit counters, session
                                epoch and revocation marks (sessions/subjects.py)
  GSI1 = OWNER#<owner>#CLIENT / <createdAt>#<id>   the owner's clients
  GSI2 = CLIENT / <createdAt>#<id>                 every client (admin listing)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth import limiter
from chalicelib.auth.sessions import subjects
from chalicelib.auth.users import repo as users
from chalicelib.auth.users import rights
from chalicelib.core import clock
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import expand, within
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store

KIND = "CLIENT"


def _key(client_id: str) -> tuple[str, str]:
    return f"CLIENT#{client_id}", KIND


def new_item(client_id: str, owner: str, stamp: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new client's item: its keys and index keys around `fields`."""
    pk, sk = _key(client_id)
    return {"PK": pk, "SK": sk, "GSI1PK": f"OWNER#{owner}#{KIND}",
            "GSI1SK": f"{stamp}#{client_id}", "GSI2PK": KIND, "GSI2SK": f"{stamp}#{client_id}",
            "clientId": client_id, "owner": owner, **fields}


def client_item(client_id: str) -> dict[str, Any] | None:
    return store.get(*_key(client_id))


def create_client(item: dict[str, Any], count_op: dict[str, Any] | None,
                  audit: dict[str, Any]) -> None:
    rights.create_credential(item, count_op, audit,
                             "An OAuth client with this id already exists.")


def update_client(item: dict[str, Any], changes: dict[str, Any], *, audit: dict[str, Any],
                  remove: tuple[str, ...] = ()) -> dict[str, Any] | None:
    return rights.update_credential(item, changes, audit, remove=remove)


def set_client_secret(client_id: str, secret_hash: str) -> None:
    """Bootstrap: the admin client's secret is the configured one, and it is active."""
    store.update(*_key(client_id), {"secretHash": secret_hash, "active": True,
                                    "updatedAt": clock.iso()})


def delete_client(item: dict[str, Any], audit: dict[str, Any]) -> None:
    """The client goes, with its audit entry, and leaves its owner's count."""
    ops: list[dict[str, Any]] = [
        {"Delete": {"Key": {"PK": item["PK"], "SK": item["SK"]},
                    "ConditionExpression": "attribute_exists(PK)"}},
        {"Put": {"Item": audit}}]
    if item.get("owner") and users.get(str(item["owner"])) is not None:
        ops.append(users.uncount_op(str(item["owner"])))
    try:
        store.transact(ops)
    except store.TransactionConflict:
        pass  # deleted meanwhile (or its owner was): nothing left to do


def list_clients(owner: str | None, cursor: str | None, limit: int,
                 item_filter: Callable[[dict[str, Any]], bool] | None = None
                 ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page(KIND, owner, cursor=cursor, limit=limit, item_filter=item_filter)


def _owned_by(owner_id: str) -> list[dict[str, Any]]:
    return list(store.query_all(f"OWNER#{owner_id}#{KIND}", index="GSI1"))


# A client's tokens end with its owner's sessions (deactivation, deletion).
rights.register(rights.DelegatedKind("client", _owned_by, holds_sessions=True))


# -- the client as a principal ----------------------------------------------------------

def effective_scopes(client: dict[str, Any]) -> frozenset[str]:
    """What the client may do now: nothing while switched off, else its scopes within
    its owner's current ones."""
    return rights.delegated_scopes(client) if client.get("active") else frozenset()


def charge_with_secret(client_id: str, secret_hash: str) -> limiter.Charge:
    """Counts a request of the token endpoint on the client if it exists, is active, its
    secret is this one and the limits hold: a wrong secret never spends the client's
    quota. Answers the item (before the write, when refused)."""
    pk, sk = _key(client_id)
    return limiter.charge(pk, sk, hour_limit="hourLimit",
                          burst_limit=get_settings().burst_limit,
                          condition="attribute_exists(PK) AND active = :true "
                                    "AND secretHash = :sh",
                          values={":true": True, ":sh": secret_hash})


def authenticated(client: dict[str, Any]) -> Principal:
    """The caller a client is on the token endpoints (authenticated by its secret)."""
    return Principal(kind="client", id=client["clientId"], owner=str(client.get("owner", "")),
                     scopes=frozenset(client["scopes"]), tier=client["tier"],
                     hour_limit=int(client["hourLimit"]))


class ClientSubject(subjects.TokenSubject):
    """A client's item as its access tokens stand on it."""

    kind = "client"
    owner_bound = True
    owner_gone = "The client's owner is no longer active."

    def key(self, ident: str) -> tuple[str, str]:
        return _key(ident)

    def token_scopes(self, scopes: frozenset[str], item: dict[str, Any]) -> frozenset[str]:
        # Within its client's current scopes and that client's owner's.
        return within(within(scopes, item.get("scopes") or []), item.get("ownerScopes") or [])

    def refresh_scopes(self, item: dict[str, Any]) -> frozenset[str]:
        return expand(effective_scopes(item))


CLIENT = subjects.register(ClientSubject())
