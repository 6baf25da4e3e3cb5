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
  credentialFields (the credentials' field names, presentable), credentialsUpdatedAt
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


def listing(owner: str | None, *, cursor: str | None, limit: int,
            item_filter: Callable[[dict[str, Any]], bool] | None = None
            ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page(KIND, owner, cursor=cursor, limit=limit, item_filter=item_filter)
