"""Scopes come from declarations: each business resource registers its read and write
scopes (and the built-in roles follow); a route naming a scope that does not exist fails
as its module is imported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import app  # noqa: F401 - every routes module imported, as the Lambda does
from chalicelib.core import scopes
from chalicelib.http import registry
from chalicelib.http.models import Body
from chalicelib.resources.customers import CUSTOMERS
from chalicelib.resources.declaration import Resource
from chalicelib.resources.inventory import INVENTORY
from chalicelib.resources.orders import ORDERS
from chalicelib.resources.products import PRODUCTS
from chalicelib.resources.tickets import TICKETS

DECLARED = (ORDERS, PRODUCTS, CUSTOMERS, INVENTORY, TICKETS)


@pytest.fixture
def restored() -> Iterator[None]:
    """Puts the registered scopes and roles back as they were (they are process-wide)."""
    names, known, roles = (list(scopes.RESOURCE_NAMES), dict(scopes.SCOPES),
                           dict(scopes.BUILTIN_ROLES))
    yield
    scopes.RESOURCE_NAMES[:] = names
    scopes.SCOPES.clear()
    scopes.SCOPES.update(known)
    scopes.BUILTIN_ROLES.clear()
    scopes.BUILTIN_ROLES.update(roles)


def test_resource_names_are_the_declared_resources() -> None:
    assert sorted(scopes.RESOURCE_NAMES) == sorted(r.name for r in DECLARED)
    for res in DECLARED:
        assert {f"{res.name}:read", f"{res.name}:write"} <= set(scopes.SCOPES)
        assert f"{res.name}:read" in scopes.BUILTIN_ROLES["viewer"]
        assert f"{res.name}:write" in scopes.BUILTIN_ROLES["integrator"]
        assert f"{res.name}:write" not in scopes.BUILTIN_ROLES["analyst"]
    assert scopes.BUILTIN_ROLES["admin"] == frozenset(scopes.SCOPES)
    assert scopes.expand({"admin"}) == frozenset(scopes.SCOPES)


def test_scopes_of_capabilities_not_built_are_gone() -> None:
    for gone in ("backups:run",):
        assert gone not in scopes.SCOPES
        assert not any(gone in role for role in scopes.BUILTIN_ROLES.values())


class _Widget(BaseModel):
    id: str


class _WidgetIn(Body):
    name: str


def test_a_new_declaration_registers_its_scopes_in_the_roles(restored: None) -> None:
    assert "widgets:read" not in scopes.SCOPES
    Resource(name="widgets", kind="WIDGET", singular="widget", id_prefix="wdg",
             model=_Widget, create=_WidgetIn, update=None, example={"id": "wdg_1"})
    assert scopes.RESOURCE_NAMES[-1] == "widgets"
    assert {"widgets:read", "widgets:write"} <= set(scopes.SCOPES)
    assert "widgets:read" in scopes.BUILTIN_ROLES["viewer"]
    assert "widgets:write" in scopes.BUILTIN_ROLES["integrator"]
    assert "widgets:write" in scopes.BUILTIN_ROLES["admin"]
    # declared again (a module imported twice): nothing changes
    before = dict(scopes.SCOPES)
    scopes.register_resource("widgets")
    assert scopes.SCOPES == before and scopes.RESOURCE_NAMES.count("widgets") == 1


def test_a_route_with_an_unknown_scope_fails_at_declaration() -> None:
    api = registry.ApiBlueprint(__name__, "Test")
    before = dict(registry.REGISTRY)
    with pytest.raises(ValueError, match="unknown scope.*widgets:raed"):
        @api.route("/widgets-typo", scopes=("widgets:raed",))
        def _typo(ctx: object) -> None:
            raise AssertionError("never declared, never called")
    with pytest.raises(ValueError, match="unknown scope"):
        api.route("/widgets-typo", "POST", scopes=("orders:write", "backups:run"))
    assert registry.REGISTRY == before


def test_the_scope_enum_of_auth_bodies_includes_every_resource() -> None:
    """The auth models are imported before the resources (app.py's order): their JSON
    Schema still lists the resources' scopes, read when the schema is generated."""
    from pydantic import TypeAdapter

    from chalicelib.auth.fields import Scope

    assert TypeAdapter(Scope).json_schema()["enum"] == sorted(scopes.SCOPES)
