"""Products: sku unique, searchable, sortable by price."""

from __future__ import annotations

from pydantic import Field

from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources.declaration import Money, Out, Resource, register_events


class ProductIn(Body):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str = Field(min_length=1, max_length=200)
    price: Money
    category: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)


class ProductUpdate(ChangeBody):
    sku: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str | None = Field(None, min_length=1, max_length=200)
    price: Money | None = None
    category: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)


class Product(Out):
    id: str = Field(description="The product's id (prd_...).")
    sku: str = Field(description="Stock keeping unit: unique, letters, digits and . _ -.")
    name: str = Field(description="The product's name.")
    price: str = Field(description="Decimal string.")
    category: str | None = Field(None, description="Free-text category (a list filter).")
    description: str | None = Field(None, description="Free text, up to 5,000 characters.")
    created_at: str
    updated_at: str


PRODUCTS = Resource(
    name="products", kind="PRODUCT", singular="product", id_prefix="prd",
    model=Product, create=ProductIn, update=ProductUpdate, id_param="product_id",
    example={"id": "prd_01example", "sku": "MUG-01", "name": "Mug", "price": "12.50",
             "category": "kitchen", "createdAt": "2026-01-01T00:00:00.000Z",
             "updatedAt": "2026-01-01T00:00:00.000Z"},
    unique=("sku",), money=("price",), enums={"category": ()}, ranges=("price",),
    sort2="price", search=("name", "sku", "category", "description"),
    events={"created": "product.created", "updated": "product.updated",
            "deleted": "product.deleted"})

register_events(PRODUCTS, {})
