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
