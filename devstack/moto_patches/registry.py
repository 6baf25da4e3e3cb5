"""Which of moto's functions the patches replaced, to put moto back for a comparison."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, name, moto's, ours)

_INHERITED = object()  # moto's was the base class's: restoring removes ours


def replace(owner: Any, name: str, ours: Any) -> None:
    _replaced.append((owner, name, vars(owner).get(name, _INHERITED), ours))
    setattr(owner, name, ours)


@contextmanager
def moto_as_shipped() -> Iterator[None]:
    """moto without these patches for the duration (tests compare the two; nothing
    else may run meanwhile)."""
    for owner, name, original, _ours in _replaced:
        if original is _INHERITED:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, _original, ours in _replaced:
            setattr(owner, name, ours)
