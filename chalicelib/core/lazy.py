"""A module imported by its first use, not at cold start (Lambda's import time is paid on
every new container, for every function, whichever route it serves)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType


def on_first_call(module: str) -> Callable[[], ModuleType]:
    """`service = on_first_call("chalicelib.x.service")`; handlers call `service().f(...)`.
    After the first call it is the interpreter's module cache, a dict lookup."""
    def load() -> ModuleType:
        return importlib.import_module(module)
    return load
