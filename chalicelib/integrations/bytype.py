"""Integrations addressed by type (the TaskFlow brief's `POST /integrations/:type/connect`,
`GET /:type/status`, `POST /:type/sync`, `DELETE /:type`).

A connection is addressed by its id; where the caller names a connector type instead
(`/integrations/erp/sync`), it means the caller's own connection of that type in the
caller's namespace (live or sandbox), never someone else's, even for an admin. None is
a 404 saying how to connect one; several are a 409 listing their ids, since a type may
be connected more than once and guessing would act on the wrong one.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.principal import Principal
from chalicelib.integrations import repo, types
from chalicelib.integrations.models import CreateConnection, ReplaceConnection

PAGE = 100
MAX_PAGES = 20  # an owner's connections read to find a type's: 2,000 at most


def is_type(ref: str) -> bool:
    # An id never loads the connector modules (they are imported on first need).
    return not ref.startswith("int_") and ref in types.load_all()


def _own_of_type(actor: Principal, type_name: str) -> list[dict[str, Any]]:
    def mine(item: dict[str, Any]) -> bool:
        return item.get("type") == type_name and bool(item.get("sandbox")) == actor.sandbox

    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        items, cursor = repo.listing(actor.owner, cursor=cursor, limit=PAGE, item_filter=mine)
        found += items
        if cursor is None:
            break
    return found


def _one(actor: Principal, type_name: str) -> dict[str, Any] | None:
    found = _own_of_type(actor, type_name)
    if len(found) > 1:
        ids = ", ".join(str(i["id"]) for i in found[:10])
        raise Conflict(f"You have {len(found)} {type_name} integrations ({ids}); address "
                       "one by its id: /integrations/{id}.")
    return found[0] if found else None


def resolve(actor: Principal, ref: str) -> str:
    """The connection id `ref` stands for: itself, or the caller's one connection of the
    type it names (404 if none, 409 if several)."""
    if not is_type(ref):
        return ref
    item = _one(actor, ref)
    if item is None:
        raise NotFound(f"No {ref} integration is connected; connect one with POST "
                       f"/api/v1/integrations/{ref}/connect.")
    return str(item["id"])


def connect(actor: Principal, type_name: str, given: dict[str, Any]
            ) -> tuple[dict[str, Any], bool]:
    """Creates the caller's connection of this type, or reconfigures the one there is
    (`name`, `config` and `credentials` replaced as PUT does). Answers it and whether it
    is new."""
    from chalicelib.http.registry import validate
    from chalicelib.integrations import service

    kind = types.get(type_name)  # 422 naming `type` for an unknown one
    current = _one(actor, kind.type)
    if current is None:
        body = validate(CreateConnection, {"name": kind.title, **given, "type": kind.type})
        return service.create(actor, body), True
    # 422 in the contract's envelope for an empty change, as PUT answers it.
    change = validate(ReplaceConnection, given)
    return service.replace(actor, str(current["id"]), change), False
