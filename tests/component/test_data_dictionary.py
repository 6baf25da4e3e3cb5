"""The data dictionary that travels with every export describes each field: issue 9's
(field, type, description, example), the description coming from the resource's
representation (which the OpenAPI document shows too)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize("entity", ["products", "customers", "orders", "inventory",
                                    "tickets"])
def test_every_exported_field_is_described(api: Any, entity: str) -> None:
    # Imported in the test: the app (through the api fixture) declares the resources.
    from chalicelib.exchange.exports.sources import dictionary, field_names
    from chalicelib.resources.declaration import DECLARED

    res = DECLARED[entity]
    fields = dictionary(res, field_names(res, None))
    assert [f.name for f in fields if not f.description.strip()] == []
    assert all(f.type for f in fields)
