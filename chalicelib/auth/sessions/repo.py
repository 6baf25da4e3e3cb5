"""DynamoDB items of sessions: refresh tokens and their families, for users and clients
alike, and the revocation marks sessions leave on their subject's item.

  RT#<sha256(token)> / RT   a refresh token: family, subject, scopes, used flag (TTL 30 d)
  RTF#<family> / RTF        a revoked family (written only on revocation)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.auth.sessions.subjects import revocation_attr
from chalicelib.core import clock
from chalicelib.store import table as store


@dataclass(frozen=True)
class RefreshToken:
    family: str
    kind: str  # of its subject: client | user
    subject: str
    client_id: str
    scopes: list[str]
    ttl: int  # epoch seconds
    issuer: str | None = None  # absent on tokens issued before it was kept
    epoch: int = 0  # the subject's session epoch at issuance
    used: bool = False
    created_at: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RefreshToken:
        return cls(family=str(item["family"]), kind=str(item["kind"]),
                   subject=str(item["subject"]), client_id=str(item["clientId"]),
                   scopes=list(item["scopes"]), ttl=int(item["ttl"]),
                   issuer=item.get("issuer"), epoch=int(item.get("epoch", 0)),
                   used=bool(item.get("used")), created_at=str(item.get("createdAt", "")))

    def item(self, token_hash: str) -> dict[str, Any]:
        return {"PK": f"RT#{token_hash}", "SK": "RT", "family": self.family,
                "kind": self.kind, "subject": self.subject, "clientId": self.client_id,
                "scopes": list(self.scopes), "used": self.used, "issuer": self.issuer,
                "createdAt": self.created_at, "epoch": self.epoch, "ttl": self.ttl}


def put_refresh(token_hash: str, token: RefreshToken) -> None:
    store.put(token.item(token_hash))


def refresh_token(token_hash: str) -> RefreshToken | None:
    item = store.get(f"RT#{token_hash}", "RT", consistent=True)
    return RefreshToken.from_item(item) if item else None


def rotate(old_hash: str, new_hash: str, new: RefreshToken) -> bool:
    """Marks the old token used and stores its successor in one transaction; False if
    the old one was already used (a replay: the caller revokes the family)."""
    try:
        store.transact([
            {"Update": {"Key": {"PK": f"RT#{old_hash}", "SK": "RT"},
                        "UpdateExpression": "SET used = :t, usedAt = :now",
                        "ConditionExpression": "attribute_exists(PK) AND used = :f",
                        "ExpressionAttributeValues": {":t": True, ":f": False,
                                                      ":now": clock.iso()}}},
            {"Put": {"Item": new.item(new_hash)}}])
    except store.TransactionConflict:
        return False
    return True


def family_and_subject(family: str, subject_key: tuple[str, str]
                       ) -> tuple[bool, dict[str, Any] | None]:
    """Whether the family is revoked, and the subject's item, in one BatchGetItem."""
    family_key = (f"RTF#{family}", "RTF")
    found = store.batch_get([family_key, subject_key], consistent=True)
    return family_key in found, found.get(subject_key)


def revoke_family(family: str, subject_key: tuple[str, str], access_ttl: int) -> None:
    """The family's refresh tokens die (RTF item) and so do its access tokens (a
    revocation mark on the subject's item, which every request's write checks)."""
    now = clock.now_int()
    store.put({"PK": f"RTF#{family}", "SK": "RTF", "revokedAt": clock.iso(),
               "ttl": now + 31 * 86400})
    mark_revoked(subject_key, family, now + access_ttl + 60)


def mark_revoked(subject_key: tuple[str, str], ident: str, until: int) -> None:
    store.update(*subject_key, {revocation_attr(ident): until})
