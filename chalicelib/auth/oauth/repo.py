"""DynamoDB items of OAuth: clients, refresh tokens and their families.

  CLIENT#<client_id> / CLIENT   the client; also its rate-limit counters and revoked jtis
  RT#<sha256(token)> / RT       a refresh token: family, subject, scopes, used flag (TTL 30 d)
  RTF#<family> / RTF            a revoked family (written only on revocation)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.auth import owners
from chalicelib.core import clock
from chalicelib.store import table as store


def client_item(client_id: str) -> dict[str, Any] | None:
    return store.get(f"CLIENT#{client_id}", "CLIENT")


def create_client(item: dict[str, Any], count_op: dict[str, Any] | None,
                  audit: dict[str, Any]) -> None:
    owners.create_credential(item, count_op, audit,
                             "An OAuth client with this id already exists.")


def update_client(item: dict[str, Any], changes: dict[str, Any], *, audit: dict[str, Any],
                  remove: tuple[str, ...] = ()) -> dict[str, Any] | None:
    return owners.update_credential(item, changes, audit, remove=remove)


def set_client_secret(client_id: str, secret_hash: str) -> None:
    """Bootstrap: the admin client's secret is the configured one, and it is active."""
    store.update(f"CLIENT#{client_id}", "CLIENT", {"secretHash": secret_hash, "active": True,
                                                   "updatedAt": clock.iso()})


def delete_client(item: dict[str, Any], audit: dict[str, Any]) -> None:
    """The client goes, with its audit entry, and leaves its owner's count."""
    ops: list[dict[str, Any]] = [
        {"Delete": {"Key": {"PK": item["PK"], "SK": item["SK"]},
                    "ConditionExpression": "attribute_exists(PK)"}},
        {"Put": {"Item": audit}}]
    if item.get("owner") and store.get(*owners.user_key(str(item["owner"]))) is not None:
        ops.append(owners.uncount_op(str(item["owner"])))
    try:
        store.transact(ops)
    except store.TransactionConflict:
        pass  # deleted meanwhile (or its owner was): nothing left to do


def list_clients(owner: str | None, cursor: str | None, limit: int,
                 item_filter: Callable[[dict[str, Any]], bool] | None = None
                 ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page("CLIENT", owner, cursor=cursor, limit=limit,
                            item_filter=item_filter)


def put_refresh(token_hash: str, item: dict[str, Any]) -> None:
    store.put({"PK": f"RT#{token_hash}", "SK": "RT", **item})


def refresh_item(token_hash: str) -> dict[str, Any] | None:
    return store.get(f"RT#{token_hash}", "RT", consistent=True)


def rotate_refresh(old_hash: str, new_hash: str, new_item: dict[str, Any]) -> bool:
    """Marks the old token used and stores its successor in one transaction; False if
    the old one was already used (a replay: the caller revokes the family)."""
    from botocore.exceptions import ClientError

    from chalicelib.core.settings import get_settings

    table_name = get_settings().table_name
    ser = _serializer()
    try:
        store.client().transact_write_items(TransactItems=[
            {"Update": {"TableName": table_name,
                        "Key": {"PK": {"S": f"RT#{old_hash}"}, "SK": {"S": "RT"}},
                        "UpdateExpression": "SET used = :t, usedAt = :now",
                        "ConditionExpression": "attribute_exists(PK) AND used = :f",
                        "ExpressionAttributeValues": {":t": {"BOOL": True},
                                                      ":f": {"BOOL": False},
                                                      ":now": {"S": clock.iso()}}}},
            {"Put": {"TableName": table_name,
                     "Item": {k: ser.serialize(v) for k, v in
                              {"PK": f"RT#{new_hash}", "SK": "RT", **new_item}.items()}}},
        ])
    except ClientError as exc:
        if store.is_condition_failure(exc):
            return False
        raise
    return True


def family_key(family: str) -> tuple[str, str]:
    return f"RTF#{family}", "RTF"


def family_revoked(family: str) -> bool:
    return store.get(*family_key(family), consistent=True) is not None


def revoke_family(family: str, subject_pk: str, subject_sk: str, access_ttl: int) -> None:
    """The family's refresh tokens die (RTF item) and so do its access tokens (a
    revocation mark on the subject's item, which every request's write checks)."""
    now = clock.now_int()
    store.put({"PK": f"RTF#{family}", "SK": "RTF", "revokedAt": clock.iso(),
               "ttl": now + 31 * 86400})
    mark_revoked(subject_pk, subject_sk, family, now + access_ttl + 60)


def mark_revoked(pk: str, sk: str, ident: str, until: int) -> None:
    from chalicelib.auth.guard import revocation_attr

    store.update(pk, sk, {revocation_attr(ident): until})


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()
