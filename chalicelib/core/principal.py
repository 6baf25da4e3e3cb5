"""Who is calling: one model for OAuth clients, users and API keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Principal:
    kind: str  # client | user | api_key | anonymous
    id: str
    owner: str  # the user on whose behalf it acts; "" for anonymous
    scopes: frozenset[str] = frozenset()
    tier: str = "free"
    hour_limit: int = 100
    sandbox: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    # What a key the principal is restricts it to (requireSignature, ipAllowlist,
    # expiresAtEpoch): whatever it creates or changes may be no looser.
    restrictions: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def can_see(self, owner: str) -> bool:
        return self.is_admin or (bool(owner) and owner == self.owner)

    def describe(self) -> str:
        return f"{self.kind}:{self.id}"
