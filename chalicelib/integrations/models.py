"""Request models of the connections' management. `config` and `credentials` are JSON
objects here; the service validates them against the type's own models (the catalog's
configSchema and credentialsSchema), since which model applies depends on `type`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from chalicelib.http.models import Body, ChangeBody, PageQuery

TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
MAX_OBJECT_KEYS = 100

CONFIG = ("The type's settings, as its catalog entry's `configSchema` describes; every "
          "URL in it must be a public http(s) address.")
CREDENTIALS = ("The type's secrets, as its `credentialsSchema` describes; stored encrypted, "
               "never shown again (answers say only which fields are set).")
VERSION = "The version you read: if the connection changed since, 409 and nothing changes."


class CreateConnection(Body):
    type: str = Field(min_length=1, max_length=50, pattern=TYPE_PATTERN, description=(
        "A connector type of GET /integrations/catalog."))
    name: str = Field(min_length=1, max_length=100, description="A label of your choosing.")
    config: dict[str, Any] = Field(default_factory=dict, max_length=MAX_OBJECT_KEYS,
                                   description=CONFIG)
    credentials: dict[str, Any] | None = Field(None, max_length=MAX_OBJECT_KEYS,
                                               description=CREDENTIALS)


class ReplaceConnection(ChangeBody):
    """PUT: the given parts are replaced whole. `credentials` replaces every credential
    (a rotation: the old ones are gone); absent or null keeps the current ones."""

    name: str | None = Field(None, min_length=1, max_length=100)
    config: dict[str, Any] | None = Field(None, max_length=MAX_OBJECT_KEYS,
                                          description=CONFIG)
    credentials: dict[str, Any] | None = Field(None, max_length=MAX_OBJECT_KEYS,
                                               description=CREDENTIALS)
    version: int | None = Field(None, ge=1, description=VERSION)

    @model_validator(mode="after")
    def _something(self) -> ReplaceConnection:
        if self.name is None and self.config is None and self.credentials is None:
            raise ValueError("give at least one of name, config, credentials")
        return self


class ChangeConnection(ChangeBody):
    """PATCH: rename, pause or resume."""

    name: str | None = Field(None, min_length=1, max_length=100)
    status: Literal["active", "paused"] | None = Field(None, description=(
        "paused: no syncs, pushes or inbound events until active again."))
    version: int | None = Field(None, ge=1, description=VERSION)

    @model_validator(mode="after")
    def _something(self) -> ChangeConnection:
        if self.name is None and self.status is None:
            raise ValueError("give name or status")
        return self


class ListConnections(PageQuery):
    type: str | None = Field(None, max_length=50, pattern=TYPE_PATTERN,
                             description="Only connections of this type.")
    status: Literal["active", "paused"] | None = None
