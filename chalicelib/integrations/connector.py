"""What a connector type provides, and the registry the catalog and the workers read.

A connector type is a class registered once (at import of its module). A *connection* is
one configured instance of a type: its config (public), its credentials (encrypted at
rest, decrypted only for a worker's call, never presented) and its owner.

    kind = connector_type(connection.type)
    kind.test(connection)                      # can it reach the other side?
    page = kind.pull(connection, cursor)       # records from the other side, page by page
    kind.push(connection, record)              # one record (an event's data) out
    kind.push_event(connection, event)         # one subscribed event out (push_worker)
    kind.map_in(connection, record)            # the other side's record -> our fields
    kind.verify_inbound(connection, headers, body)   # an inbound callback's signature

A type implements the directions it supports (`directions`); the others raise
Unsupported. Presets are types too (a generic REST type with named mappings); they say
`template = True` so the catalog does not present them as certified vendor adapters.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from chalicelib.core.errors import Unprocessable

PULL, PUSH, SEND, INBOUND = "pull", "push", "send", "inbound"


class Unsupported(Unprocessable):
    """This connector type does not do that (a push to a pull-only type, a sync of a
    send-only one)."""


@dataclass(frozen=True)
class Connection:
    id: str                       # "int_..."
    type: str                     # a registered connector type
    name: str
    owner: str                    # the user it belongs to
    sandbox: bool                 # made by a sandbox principal: sandbox data only
    config: dict[str, Any]        # validated by the type's config_model; presentable
    # decrypted; never presented, logged or put in errors (nor in a repr)
    credentials: dict[str, Any] = field(repr=False)
    status: str = "active"        # active | paused
    created_by: str = ""          # the principal, "kind:id"
    scopes: tuple[str, ...] = ()  # the ceiling of its syncs, payments and sends: the scopes
    ceiling_by: str = ""          # of this principal, the last to set config or credentials
    created_at: str = ""
    updated_at: str = ""
    version: int = 1


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]   # the other side's records, as it sent them
    cursor: str | None              # None: the last page


class ConnectorType(ABC):
    type: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    directions: ClassVar[frozenset[str]]
    # builtins.type: `type` is this class's own attribute (the connector type's name)
    config_model: ClassVar[builtins.type[BaseModel]]
    credentials_model: ClassVar[builtins.type[BaseModel] | None] = None
    template: ClassVar[bool] = False   # a preset: a starting mapping, not a certified adapter

    def urls(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """(field path, URL) of every address in a config that the platform will call:
        each passes the SSRF guard at create and update. By default every string that
        starts with a scheme ("https://", "ftp://", ...), at any depth; a type whose
        config names hosts another way overrides this."""
        return list(_scheme_strings(config, ""))

    def check(self, config: dict[str, Any], owner: str) -> None:
        """The type's own checks of a validated config for its owner, beyond its model
        (an allow-list the operator sets); raises Unprocessable naming the field."""
        return None

    def test(self, connection: Connection) -> TestResult:
        return TestResult(True, "Nothing to check for this type.")

    def pull(self, connection: Connection, cursor: str | None) -> Page:
        raise Unsupported(f"A {self.type} connector does not pull records.")

    def map_in(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        """The other side's record as the target resource's fields."""
        raise Unsupported(f"A {self.type} connector does not map records in.")

    def push(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        raise Unsupported(f"A {self.type} connector does not push records.")

    def push_event(self, connection: Connection, event: dict[str, Any]) -> dict[str, Any]:
        """One event of its push subscription (config.push.events) out, tried once;
        raises RemoteError or a client error to be retried (push_worker.py)."""
        raise Unsupported(f"A {self.type} connector does not push events.")

    def verify_inbound(self, connection: Connection, headers: dict[str, str],
                       body: bytes) -> dict[str, Any]:
        """The callback's event, once its signature and timestamp hold; raises otherwise."""
        raise Unsupported(f"A {self.type} connector receives no callbacks.")

    def catalog_entry(self) -> dict[str, Any]:
        creds = self.credentials_model
        return {
            "type": self.type, "title": self.title, "description": self.description,
            "directions": sorted(self.directions), "template": self.template,
            "configSchema": self.config_model.model_json_schema(),
            "credentialsSchema": creds.model_json_schema() if creds else None,
        }


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path of a JSON value (a number picks a list item); None
    where it is absent. The empty path is the value itself."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isascii() and part.isdigit() \
                and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, as a browser's origin: where credentials go."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: the whole authority, as given
        return scheme, parts.netloc.lower(), -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, -1)


def origins(kind: ConnectorType, config: dict[str, Any]) -> frozenset[tuple[str, str, int]]:
    """The origins of every address a config makes the platform call."""
    return frozenset(origin(url) for _path, url in kind.urls(config))


def _scheme_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if _SCHEME.match(value.strip()):
            yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _scheme_strings(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _scheme_strings(inner, f"{path}.{i}")


CONNECTORS: dict[str, ConnectorType] = {}


def register(kind: ConnectorType) -> ConnectorType:
    if kind.type in CONNECTORS and type(CONNECTORS[kind.type]) is not type(kind):
        raise ValueError(f"connector type {kind.type} declared twice")
    CONNECTORS[kind.type] = kind
    return kind


def connector_type(name: str) -> ConnectorType:
    try:
        return CONNECTORS[name]
    except KeyError:
        raise Unprocessable(f"Unknown connector type '{name}'.", details=[
            {"field": "type", "message": f"One of: {', '.join(sorted(CONNECTORS))}."}]) from None
