"""Personal data in the event trail. An event that carries a person's data (a customer's
own events, an order with its shipping address) names that person as its subject; every
copy made of it (the outbox event, each webhook delivery) is linked to the subject, so
erasing the person rewrites those copies too (the delivery API shows payloads):

  SUBJECT#<ns>#<customer id> / <prefix><copy id>    kept as long as the copy

The module that holds a kind of copy registers its rewrite under the link's prefix
(`register`); privacy knows none of them. The event names what to rewrite (`personal`:
field -> replacement, None to remove), so erasure needs no knowledge of the resource
that raised it. Answers the receivers gave (in the attempt log) are theirs and are left
as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.store import table as store

Rewrite = Callable[[str], int]  # the copy's id -> 1 if rewritten, 0 if there is none

# prefix -> (rewrite, origin); see register
_REWRITES: dict[str, tuple[Rewrite, bool]] = {}


def register(prefix: str, rewrite: Rewrite, *, origin: bool = False) -> None:
    """`rewrite(copy id)` rewrites the subject's data in the copy linked as
    `prefix + copy id`. `origin`: the copy the others are made from (the outbox event):
    rewritten first, so a copy made later is made clean, and its link is dropped even
    when it is gone (it is written with its link, so it expired). Another copy's link
    whose copy does not exist yet is kept (it is being made: a repeated erasure catches
    it), and so is every link of a prefix nobody registered."""
    _REWRITES[prefix] = (rewrite, origin)


def subject_pk(subject: str) -> str:
    return f"SUBJECT#{subject}"


def link_item(subject: str, target: str, ttl: int) -> dict[str, Any]:
    """target: a registered prefix and the copy's id."""
    return {"PK": subject_pk(subject), "SK": target, "ttl": ttl}


def scrub(data: Any, personal: dict[str, Any]) -> Any:
    """The event data with its personal fields replaced (or removed)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, replacement in personal.items():
        if name in out:
            if replacement is None:
                del out[name]
            else:
                out[name] = replacement
    return out


class UnregisteredCopies(RuntimeError):
    """Links to copies whose kind no module registered a rewrite for: erasure cannot
    finish in this process (fail closed rather than report a person erased)."""


def erase(subject: str) -> int:
    """Rewrites every linked copy of the subject's data; answers how many it rewrote.
    Safe to repeat. Links are removed once their copy is clean (see register). Raises
    UnregisteredCopies, after rewriting what it can, if a link names a kind of copy no
    module registered (the links stay for a repeated erasure)."""
    count = 0
    ordered = sorted(_REWRITES.items(), key=lambda entry: not entry[1][1])  # origins first
    for prefix, (rewrite, origin) in ordered:
        for link in store.query_all(subject_pk(subject), sk_prefix=prefix, forward=True):
            done = rewrite(str(link["SK"]).removeprefix(prefix))
            count += done
            if done or origin:
                store.delete(str(link["PK"]), str(link["SK"]))
    left = store.query_all(subject_pk(subject), forward=True)
    strays = sorted({str(link["SK"]).split("#", 1)[0] + "#" for link in left} - set(_REWRITES))
    if strays:
        raise UnregisteredCopies(f"no rewrite registered for {', '.join(strays)}")
    return count
