"""No credential exceeds what issued it: the checks shared by API keys and OAuth clients.

Whoever creates or changes a key or client (update, rotate, regenerate, revoke, delete,
activate) must hold every scope of the target as it is and as it will be, may not give
it a higher rate limit than its own, stays in its namespace (a sandbox principal sees
and makes only sandbox credentials) and, when it is itself an API key, may not make a
credential looser than itself (signing, IP allowlist, expiry). An admin may do all but
leave the sandbox.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from chalicelib.core.errors import Forbidden, NotFound
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import covers, expand


def hour_limit_for(tier: str, custom: int | None) -> int:
    """A key's or client's hourly limit: its own, else its tier's."""
    from chalicelib.core.settings import get_settings

    return int(custom) if custom else get_settings().tiers.get(tier, 100)


def visible(actor: Principal, item: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The item if the actor may see it: its owner's (or an admin's), and in the actor's
    namespace; anything else is simply not there (404)."""
    if (item is None or not actor.can_see(str(item.get("owner", "")))
            or (actor.sandbox and not item.get("sandbox"))):
        raise NotFound(f"No such {what}.")
    return item


def check_scopes(actor: Principal, scopes: Iterable[str], what: str) -> None:
    """The actor holds every one of these scopes (those of the target before and after
    the change)."""
    wanted = sorted(set(scopes))
    if actor.is_admin or covers(actor.scopes, wanted):
        return
    missing = sorted(expand(wanted) - expand(actor.scopes)) if "admin" not in wanted else [
        "admin"]
    raise Forbidden(f"{what} has scopes you lack; only a caller holding all of them can "
                    "create or change it.",
                    details=[{"field": "scopes", "message": ", ".join(missing)}])


def check_limit(actor: Principal, hour_limit: int | None, current: int, what: str) -> None:
    """No higher rate limit than the actor's own (or than the target already had)."""
    if actor.is_admin or hour_limit is None or hour_limit <= max(actor.hour_limit, current):
        return
    raise Forbidden(f"Only an admin can give {what} a higher rate limit than its "
                    "creator's.", details=[{"field": "rateLimit",
                                            "message": f"at most {actor.hour_limit}"}])


def check_activation(actor: Principal, item: dict[str, Any], active: bool | None,
                     what: str) -> None:
    """What an admin switched off, only an admin switches back on."""
    if active and not item.get("active", True) and item.get("deactivatedByAdmin") \
            and not actor.is_admin:
        raise Forbidden(f"An admin deactivated this {what}; only an admin can reactivate it.")


def check_key_restrictions(actor: Principal, result: dict[str, Any],
                           expiry: bool = True) -> None:
    """An API key may create or change keys only into ones no looser than itself: signed
    if it must sign, confined to (part of) its IP allowlist, and (when it sets the
    expiry: `expiry`) expiring no later."""
    if actor.kind != "api_key":
        return
    own = actor.restrictions
    problems = []
    if own.get("requireSignature") and not result.get("requireSignature"):
        problems.append({"field": "requireSignature",
                         "message": "must stay true: the calling key signs its requests"})
    if own.get("ipAllowlist") and not _within_networks(result.get("ipAllowlist") or [],
                                                       own["ipAllowlist"]):
        problems.append({"field": "ipAllowlist",
                         "message": "must lie within the calling key's allowlist"})
    if expiry and own.get("expiresAtEpoch") and int(result.get("expiresAtEpoch") or 0) > int(
            own["expiresAtEpoch"]):
        problems.append({"field": "expiresAt",
                         "message": "must not be later than the calling key's expiry"})
    if problems:
        raise Forbidden("An API key cannot make a key looser than itself.", details=problems)


def check_client_maker(actor: Principal) -> None:
    """A client has no IP allowlist and signs nothing: a key bound to either would
    escape them through a client."""
    own = actor.restrictions
    if actor.kind == "api_key" and (own.get("requireSignature") or own.get("ipAllowlist")):
        raise Forbidden("An API key that must sign or is bound to IP addresses cannot "
                        "create or change OAuth clients.")


def _within_networks(inner: list[str], outer: list[str]) -> bool:
    if not inner:
        return False
    nets = [_net(o) for o in outer]
    for entry in inner:
        net = _net(entry)
        if net is None or not any(o is not None and o.version == net.version
                                  and net.subnet_of(o) for o in nets):  # type: ignore[arg-type]
            return False
    return True


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
