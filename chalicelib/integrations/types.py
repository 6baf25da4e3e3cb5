"""The built-in connector types: the modules that register them, imported on first need.

Each module below registers its type(s) when imported (connector.register). They load
when the catalog, a connection's validation or a worker first needs the registry, not
at every cold start (a type may bring an HTTP client or an SDK with it). A new built-in
type is one more line here.
"""

from __future__ import annotations

import importlib

from chalicelib.integrations.connector import CONNECTORS, ConnectorType, connector_type

MODULES: tuple[str, ...] = (
    "chalicelib.integrations.s3drop",
    "chalicelib.integrations.messaging",
    "chalicelib.integrations.presets",  # rest, and the presets built on it
    "chalicelib.integrations.gateway",  # payment_gateway (inbound callbacks)
)

_loaded = False


def load_all() -> dict[str, ConnectorType]:
    """Every registered type by name (the built-ins imported once per container)."""
    global _loaded
    if not _loaded:
        for name in MODULES:
            importlib.import_module(name)
        _loaded = True
    return CONNECTORS


def get(name: str) -> ConnectorType:
    """The type of that name; 422 naming `type` if there is none."""
    load_all()
    return connector_type(name)
