"""User, role and role-assignment models."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from chalicelib.auth.fields import ScopeList
from chalicelib.http.models import Body, PageQuery

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,62}$"
ROLE_NAME = r"^[a-z][a-z0-9_-]{1,39}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


NAME_PART = Field(None, min_length=1, max_length=100)
# The ticket-tracking brief's field names (first_name, is_active) are accepted as written.
ACTIVE = AliasChoices("active", "isActive", "is_active")


class CreateUser(Body):
    username: str = Field(pattern=USERNAME)
    email: str = Field(pattern=EMAIL, max_length=254)
    password: str = Field(min_length=8, max_length=256)
    roles: list[str] = Field(default_factory=lambda: ["viewer"], max_length=20)
    tier: Literal["free", "pro", "enterprise"] | None = None
    first_name: str | None = NAME_PART
    last_name: str | None = NAME_PART
    active: bool = Field(True, validation_alias=ACTIVE,
                         description="Created inactive when false (a manager activates it).")


class UpdateUser(Body):
    email: str | None = Field(None, pattern=EMAIL, max_length=254)
    password: str | None = Field(None, min_length=8, max_length=256)
    current_password: str | None = Field(
        None, max_length=256, description="Needed to change your own email or password.")
    roles: list[str] | None = Field(None, max_length=20)
    active: bool | None = Field(None, validation_alias=ACTIVE)
    tier: Literal["free", "pro", "enterprise"] | None = None
    first_name: str | None = NAME_PART
    last_name: str | None = NAME_PART


class Login(Body):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)


class RefreshBody(Body):
    refresh_token: str = Field(alias="refresh_token", min_length=1, max_length=512,
                               validation_alias=AliasChoices("refresh_token", "refresh",
                                                             "refreshToken"))


class LogoutBody(Body):
    refresh_token: str | None = Field(None, alias="refresh_token", max_length=512)


class RoleBody(Body):
    name: str = Field(pattern=ROLE_NAME)
    description: str = Field("", max_length=500)
    scopes: ScopeList


class UpdateRole(Body):
    description: str | None = Field(None, max_length=500)
    scopes: ScopeList | None = None


class AssignRole(Body):
    user_id: str = Field(min_length=1, max_length=100,
                         validation_alias=AliasChoices("userId", "user_id"))
    role: str = Field(pattern=ROLE_NAME,
                      validation_alias=AliasChoices("role", "roleId", "role_id"))
    system: str | None = Field(None, max_length=50,
                               description="Accepted for the ticket-tracking brief's clients "
                                           "and ignored: roles hold across the platform.")


class UserQuery(PageQuery):
    search: str | None = Field(None, max_length=100, description="Username prefix.")


class UserRoleQuery(PageQuery):
    user_id: str | None = Field(None, max_length=100)
    role: str | None = Field(None, max_length=40)
