"""What other capabilities ask of an owner (a user): its current scopes, the one measure
of everything it handed out (webhooks deliver only what their owner may read now).

The user item and what its scopes are: users/repo.py; what its keys and clients carry
of it: users/rights.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.auth.users import repo


def user_key(owner_id: str) -> tuple[str, str]:
    """The owner's item, for callers that read it in a BatchGetItem of their own."""
    return repo.user_key(owner_id)


def scopes_in(found: dict[tuple[str, str], dict[str, Any]],
              owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes from items read (consistently) by the caller."""
    return {o: repo.user_scopes(found.get(repo.user_key(o)))
            for o in dict.fromkeys(owner_ids) if o}


def current_scopes(owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes in one BatchGetItem; a deleted or inactive owner (or
    one that is not a user) has none."""
    return repo.owners_scopes(owner_ids)


def ended(principal_ref: str) -> str | None:
    """For what a principal set up to go on without it (a schedule, a connection's
    syncs, payments and sends): why that principal has ended, or None while it stands.
    An API key ("api_key:<id>"): revoked, expired or deleted; an OAuth client
    ("client:<id>"): deleted, or disabled (switched off). Other kinds (a user) answer
    None: their owner's current scopes are the check. What a credential set up ends
    with it."""
    kind, _, ident = principal_ref.partition(":")
    if kind == "api_key":
        from chalicelib.auth.api_keys.service import ended as key_ended

        return key_ended(principal_ref)
    if kind == "client":
        from chalicelib.auth.oauth.repo import client_item

        found = client_item(ident) if ident else None
        if found is None:
            return "deleted"
        return None if found.get("active") else "disabled"
    return None
