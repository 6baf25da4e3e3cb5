"""DynamoDB items of connections: the only module that knows their keys.

Connection
  PK = INTEGRATION#<id> (id "int_..."), SK = INTEGRATION
  GSI1PK = OWNER#<owner>#INTEGRATION, GSI1SK = <createdAt>#<id>   the owner's connections
  GSI2PK = INTEGRATION,               GSI2SK = <createdAt>#<id>   every connection (admin)
  id, type, name, owner, sandbox, config (map), credentialsEnc (keyring.encrypt of the
  credentials' JSON; absent = none), status (active | paused), createdBy, scopes (the
  ceiling of what it does), ceilingBy (the principal whose scopes those are: the last to
  set its config or credentials; absent on older items = createdBy), createdAt,
  updatedAt, version (int, bumped by every change: optimistic locking),
  credentialFields (the credentials' field names, presentable), credentialsUpdatedAt,
  lastPushError ({eventId, eventType, message, at}: the latest push given up on)

Push subscription index (one item per pattern of config.push.events; written and
removed in the same transaction as the connection: push_ops)
  PK = PUSHSUB#<live|sandbox>#<event type | family.* | *>, SK = <connection id>
  connectionId, owner, active (bool: false while the connection is paused)
  Fan-out queries the event's type, its family ("order.*") and "*": three Query calls
  per event type and batch, never a scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.auth import keyring
from chalicelib.integrations.connector import Connection
from chalicelib.store import table as store

SK = "INTEGRATION"
KIND = "INTEGRATION"


def pk(connection_id: str) -> str:
    return f"INTEGRATION#{connection_id}"


def new_item(c: Connection) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": pk(c.id), "SK": SK,
        "GSI1PK": f"OWNER#{c.owner}#{KIND}", "GSI1SK": f"{c.created_at}#{c.id}",
        "GSI2PK": KIND, "GSI2SK": f"{c.created_at}#{c.id}",
        "id": c.id, "type": c.type, "name": c.name, "owner": c.owner, "sandbox": c.sandbox,
        "config": c.config, "status": c.status, "createdBy": c.created_by,
        "scopes": list(c.scopes), "ceilingBy": c.ceiling_by or c.created_by,
        "createdAt": c.created_at, "updatedAt": c.updated_at,
        "version": c.version,
    }
    if c.credentials:
        item.update(credential_attrs(c.credentials, c.updated_at or c.created_at))
    return item


def credential_attrs(credentials: dict[str, Any], stamp: str) -> dict[str, Any]:
    """The stored form of credentials: encrypted, with their field names (presentable:
    which ones are set) and when they were set."""
    return {"credentialsEnc": keyring.encrypt(json.dumps(credentials)),
            "credentialFields": sorted(credentials), "credentialsUpdatedAt": stamp}


CREDENTIAL_ATTRS = ("credentialsEnc", "credentialFields", "credentialsUpdatedAt")


def of_item(item: dict[str, Any], *, decrypt: bool = False) -> Connection:
    """The connection; its credentials decrypted only when a worker asks (`decrypt`)."""
    item = store.plain(item)
    creds: dict[str, Any] = {}
    if decrypt and item.get("credentialsEnc"):
        creds = dict(json.loads(keyring.decrypt(str(item["credentialsEnc"]))))
    return Connection(
        id=item["id"], type=item["type"], name=item["name"], owner=item["owner"],
        sandbox=bool(item.get("sandbox")), config=dict(item.get("config") or {}),
        credentials=creds, status=item.get("status", "active"),
        created_by=item.get("createdBy", ""), scopes=tuple(item.get("scopes") or ()),
        ceiling_by=str(item.get("ceilingBy") or item.get("createdBy") or ""),
        created_at=item.get("createdAt", ""), updated_at=item.get("updatedAt", ""),
        version=int(item.get("version", 1)))


def get_item(connection_id: str, consistent: bool = False) -> dict[str, Any] | None:
    return store.get(pk(connection_id), SK, consistent=consistent)


def load(connection_id: str) -> Connection | None:
    """For a worker or the inbound endpoint: the connection with its credentials."""
    item = get_item(connection_id, consistent=True)
    return of_item(item, decrypt=True) if item else None


def create(c: Connection) -> None:
    store.put_new(new_item(c), "This connection already exists.")


def put_op(c: Connection) -> dict[str, Any]:
    """A new connection as an operation of `store.transact` (beside its audit entry)."""
    return {"Put": {"Item": new_item(c), "ConditionExpression": "attribute_not_exists(PK)"}}


def update_op(item: dict[str, Any], changes: dict[str, Any],
              remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Changes to a connection as read, on condition that its version is still the one
    read (optimistic locking); bumps the version."""
    seen = int(item.get("version", 1))
    return {"Update": store.update_request(
        pk(str(item["id"])), SK, {**changes, "version": seen + 1}, remove=remove,
        condition="attribute_exists(PK) AND #ver = :seen", values={":seen": seen},
        names={"#ver": "version"})}


def delete_op(connection_id: str) -> dict[str, Any]:
    return {"Delete": {"Key": {"PK": pk(connection_id), "SK": SK},
                       "ConditionExpression": "attribute_exists(PK)"}}


PUSHSUB = "PUSHSUB#"


def push_sub_pk(sandbox: bool, pattern: str) -> str:
    return f"{PUSHSUB}{'sandbox' if sandbox else 'live'}#{pattern}"


def _push_subs(item: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    """The index items a connection's item calls for, by key."""
    if not item:
        return {}
    from chalicelib.integrations.push_config import events_of

    active = item.get("status", "active") == "active"
    out = {}
    for pattern in events_of(dict(item.get("config") or {})):
        sub = {"PK": push_sub_pk(bool(item.get("sandbox")), str(pattern)), "SK": item["id"],
               "connectionId": item["id"], "owner": item["owner"], "active": active}
        out[(sub["PK"], sub["SK"])] = sub
    return out


def push_ops(before: dict[str, Any] | None, after: dict[str, Any] | None
             ) -> list[dict[str, Any]]:
    """Transaction ops that turn the index of the connection as it was (`before`, None:
    new) into the index of the connection as it will be (`after`, None: deleted)."""
    old, new = _push_subs(before), _push_subs(after)
    ops: list[dict[str, Any]] = [{"Delete": {"Key": {"PK": k[0], "SK": k[1]}}}
                                 for k in old if k not in new]
    ops += [{"Put": {"Item": sub}} for k, sub in new.items() if old.get(k) != sub]
    return ops


def push_subscribers(sandbox: bool, pattern: str) -> list[dict[str, Any]]:
    """The index items of one pattern in one namespace."""
    return list(store.query_all(push_sub_pk(sandbox, pattern), forward=True))


def note_push_error(connection_id: str, error: dict[str, Any]) -> None:
    """The latest push given up on, on the connection (not a change of it: no version
    bump; absent connection: nothing)."""
    store.update(pk(connection_id), SK, {"lastPushError": error}, returns=False)


def listing(owner: str | None, *, cursor: str | None, limit: int,
            item_filter: Callable[[dict[str, Any]], bool] | None = None
            ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page(KIND, owner, cursor=cursor, limit=limit, item_filter=item_filter)
