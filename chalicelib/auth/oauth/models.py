"""OAuth request and response models."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from chalicelib.auth.fields import ScopeList
from chalicelib.http.models import Body

Tier = Literal["free", "pro", "enterprise"]


class NewCredential(Body):
    """What every new credential (OAuth client, API key) is given."""

    name: str = Field(min_length=1, max_length=100)
    # `permissions` is what one of the briefs calls them; accepted as written.
    scopes: ScopeList = Field(validation_alias=AliasChoices("scopes", "permissions"))
    tier: Tier | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000,
                                   description="Requests per hour; overrides the tier.")


class CreateClient(NewCredential):
    pass


class UpdateClient(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    scopes: ScopeList | None = None
    tier: Tier | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000)
    active: bool | None = None


class TokenRequest(Body):
    """RFC 6749 §4.4 and §6; form-encoded (JSON also accepted). Unknown parameters are
    ignored, as RFC 6749 §3.2 requires of token endpoints."""

    model_config = {**Body.model_config, "extra": "ignore"}

    grant_type: str | None = Field(None, alias="grant_type", max_length=100)
    scope: str | None = Field(None, alias="scope", max_length=2000)
    refresh_token: str | None = Field(None, alias="refresh_token", max_length=512)
    client_id: str | None = Field(None, alias="client_id", max_length=200)
    client_secret: str | None = Field(None, alias="client_secret", max_length=512)


class GrantRequest(TokenRequest):
    """The token endpoint proper: grant_type is required (the refresh-token endpoint
    implies it). Any string passes validation (an unknown grant answers
    unsupported_grant_type, as RFC 6749 §5.2 asks); the schema lists those supported."""

    grant_type: str = Field(alias="grant_type", max_length=100,
                            json_schema_extra={"enum": ["client_credentials",
                                                        "refresh_token"]})


class TokenOnly(Body):
    model_config = {**Body.model_config, "extra": "ignore"}

    token: str = Field(alias="token", min_length=1, max_length=8192)
    token_type_hint: str | None = Field(None, alias="token_type_hint", max_length=50)
    client_id: str | None = Field(None, alias="client_id", max_length=200)
    client_secret: str | None = Field(None, alias="client_secret", max_length=512)
