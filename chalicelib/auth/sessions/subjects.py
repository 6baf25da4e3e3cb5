"""The principal items a bearer token stands on (users, OAuth clients): what each such
item carries for its sessions, and how the guard reads it into a Principal.

Sessions: every token carries its principal's epoch at issuance (claim gh_ep, absent =
0); raising the epoch on the principal's item (a password change, a role taken away, a
deactivation) ends every token issued before, in the same second too. A revoked access
token (its jti) or session (its refresh family, sid) is a mark rv_<id> on the item,
kept until the tokens it ends have expired. Every authenticated request's one write on
the item checks all of it (see auth/guard.py).

Each kind's repository (users/repo.py, oauth/repo.py) subclasses TokenSubject with what
is its own (key, scopes) and registers it here: token issuance sits beneath both users
and OAuth clients, which both issue tokens, so it looks kinds up instead of importing
them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth import limiter
from chalicelib.core import clock
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import sandboxed
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store

SESSION_EPOCH = "sessionEpoch"
REVOKED_PREFIX = "rv_"


def session_epoch_of(claims: dict[str, Any]) -> int:
    try:
        return int(claims.get("gh_ep", 0))
    except (TypeError, ValueError):
        return -1


def epoch_condition(epoch: int) -> str:
    """Condition on #ep (the item's epoch attribute) against :ep."""
    return "(attribute_not_exists(#ep) OR #ep = :ep)" if epoch == 0 else "#ep = :ep"


def revocation_attr(ident: str) -> str:
    return f"{REVOKED_PREFIX}{ident}"


def stale_marks(item: dict[str, Any], now: float) -> set[str]:
    """Revocation marks whose tokens have all expired (removed by a later write)."""
    return {name for name, value in item.items()
            if name.startswith(REVOKED_PREFIX) and float(value) < now}


def kind_of(claims: dict[str, Any]) -> str:
    return str(claims.get("gh_kind", "client"))


def granted(claims: dict[str, Any]) -> frozenset[str]:
    return frozenset(str(claims.get("scope", "")).split())


class TokenSubject:
    """How one kind of principal item holds tokens. A subclass names its kind, keys its
    items and says what its tokens may do now; the session checks are common."""

    kind = ""
    # Clients carry their owner's standing (ownerActive): their tokens need it true.
    owner_bound = False
    owner_gone = "The principal's owner is no longer active."

    def key(self, ident: str) -> tuple[str, str]:
        raise NotImplementedError

    def read(self, ident: str) -> dict[str, Any] | None:
        """The subject's item, read consistently."""
        return store.get(*self.key(ident), consistent=True)

    def token_scopes(self, scopes: frozenset[str], item: dict[str, Any]) -> frozenset[str]:
        """What a token granted `scopes` may do now, by the subject's item (narrowing
        the subject narrows its tokens on their next request)."""
        raise NotImplementedError

    def refresh_scopes(self, item: dict[str, Any]) -> frozenset[str]:
        """What a refresh may grant now (expanded)."""
        raise NotImplementedError

    # -- the guard's one write: conditions, and why it refused -------------------------

    def charge_condition(self, claims: dict[str, Any]
                         ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition (with its names and values) under which a request with this
        token may count against the item: it exists, is active, the token and its
        session are not revoked, and the epoch is the token's."""
        epoch = session_epoch_of(claims)
        names = {"#active": "active", "#rj": revocation_attr(str(claims["jti"])),
                 "#ep": SESSION_EPOCH}
        condition = ("attribute_exists(PK) AND #active = :true AND attribute_not_exists(#rj) "
                     f"AND {epoch_condition(epoch)}")
        values: dict[str, Any] = {":true": True, ":ep": epoch}
        if self.owner_bound:
            names["#oa"] = "ownerActive"
            condition += " AND #oa = :true"
        if claims.get("sid"):
            names["#rs"] = revocation_attr(str(claims["sid"]))
            condition += " AND attribute_not_exists(#rs)"
        return condition, names, values

    def charge(self, claims: dict[str, Any]) -> limiter.Charge:
        """The request counted on the item, on `charge_condition` and the limits, in one
        write that answers the item (before it, when refused)."""
        pk, sk = self.key(str(claims["sub"]))
        condition, names, values = self.charge_condition(claims)
        charged = limiter.charge(pk, sk, hour_limit="hourLimit",
                                 burst_limit=get_settings().burst_limit, condition=condition,
                                 names=names, values=values)
        if charged.allowed:
            limiter.note_stale(pk, stale_marks(charged.item or {}, clock.now()))
        return charged

    def refusal(self, old: dict[str, Any] | None, claims: dict[str, Any]) -> str | None:
        """Why the write's condition failed, read from the item before it; None when the
        item stands (the limits refused it)."""
        if not self._session_stands(old, claims):
            return "The access token has been revoked."
        assert old is not None
        if self.owner_bound and old.get("ownerActive") is not True:
            return self.owner_gone
        return None

    def stands(self, item: dict[str, Any] | None, claims: dict[str, Any]) -> bool:
        """The token is still good on this item (introspection, a bearer caller of the
        token endpoints): active, not revoked, same session epoch, owner standing."""
        return self.refusal(item, claims) is None

    @staticmethod
    def _session_stands(item: dict[str, Any] | None, claims: dict[str, Any]) -> bool:
        if item is None or not item.get("active"):
            return False
        if revocation_attr(str(claims["jti"])) in item:
            return False
        if claims.get("sid") and revocation_attr(str(claims["sid"])) in item:
            return False
        return int(item.get(SESSION_EPOCH, 0)) == session_epoch_of(claims)

    def refreshable(self, item: dict[str, Any] | None, epoch: int) -> bool:
        """A refresh token of session epoch `epoch` may still be used on this item."""
        return (item is not None and bool(item.get("active", True))
                and int(item.get(SESSION_EPOCH, 0)) == epoch)

    def principal(self, claims: dict[str, Any], item: dict[str, Any],
                  hour_limit: int) -> Principal:
        """The caller a token on this item is, with its scopes as they stand now."""
        subject = str(claims["sub"])
        sandbox = bool(item.get("sandbox"))
        scopes = self.token_scopes(granted(claims), item)
        return Principal(kind=self.kind, id=subject, owner=str(item.get("owner") or subject),
                         scopes=sandboxed(scopes) if sandbox else scopes,
                         tier=str(item.get("tier", "free")), hour_limit=hour_limit,
                         sandbox=sandbox, claims=claims)


_KINDS: dict[str, TokenSubject] = {}


def register(subject: TokenSubject) -> TokenSubject:
    _KINDS[subject.kind] = subject
    return subject


def of_kind(kind: str) -> TokenSubject:
    """The registered kind; LookupError (a 500: nothing is let through) if its repository
    was never imported."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise LookupError(f"no token subject of kind {kind!r} is registered") from None


def of_claims(claims: dict[str, Any]) -> TokenSubject:
    """The kind of item a token of ours stands on."""
    return of_kind(kind_of(claims))


def registered() -> frozenset[str]:
    return frozenset(_KINDS)
