"""Presets: the generic REST connector with a named starting mapping for the kinds of
system the briefs name (EMIS, HR, finance, CRM, ERP, accounting).

Each is `template = True`: a plausible field layout for that kind of system, to adapt
to the real API (its paths, field names and auth), not a certified adapter for any
vendor's product. Every default can be overridden in the connection's config; the sync,
push and SSRF rules are the REST connector's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from chalicelib.integrations.connector import register
from chalicelib.integrations.rest import RestConnector
from chalicelib.integrations.rest_models import PullConfig, RestConfig

_TEMPLATE = (" A template to adapt to your system's API (paths, field names, auth): not a "
             "certified adapter for any vendor's product.")


def _config(name: str, resource: str, path: str, mapping: dict[str, str],
            updated: str | None) -> type[BaseModel]:
    """RestConfig with this preset's defaults (each can be given otherwise)."""
    fields: dict[str, Any] = {
        "resource": (str, Field(resource, min_length=1, max_length=50)),
        "mapping": (dict[str, str], Field(default_factory=lambda: dict(mapping),
                                          min_length=1, max_length=100)),
        "pull": (PullConfig | None, Field(default_factory=lambda: PullConfig(path=path))),
        "updated_at_field": (str | None, Field(updated, max_length=200)),
    }
    return create_model(f"{name.title()}Config", __base__=RestConfig, **fields)


class Preset(RestConnector):
    template = True


def preset(name: str, title: str, what: str, resource: str, path: str,
           mapping: dict[str, str], updated: str | None = "updatedAt") -> Preset:
    cls = type(f"{name.title()}Preset", (Preset,), {
        "type": name, "title": title, "description": what + _TEMPLATE,
        "config_model": _config(name, resource, path, mapping, updated)})
    kind = register(cls())
    assert isinstance(kind, Preset)
    return kind


EMIS = preset(
    "emis", "EMIS (template)",
    "An education or health management information system's people records "
    "(students, guardians, patients) as customers, matched by email.",
    "customers", "/people",
    {"email": "contact.email", "name": "displayName", "phone": "contact.phone"})
HR = preset(
    "hr", "HR system (template)",
    "An HR system's employee directory as customers (staff who also buy), matched by "
    "work email.",
    "customers", "/employees",
    {"email": "workEmail", "name": "fullName", "phone": "workPhone"}, "lastModified")
FINANCE = preset(
    "finance", "Finance system (template)",
    "A finance system's price list as products, matched by sku (its item code).",
    "products", "/price-list",
    {"sku": "itemCode", "name": "description", "price": "unitPrice",
     "category": "costCentre"})
CRM = preset(
    "crm", "CRM (template)",
    "A CRM's contacts as customers, matched by email.",
    "customers", "/contacts",
    {"email": "properties.email", "name": "properties.fullName",
     "phone": "properties.phone"})
ERP = preset(
    "erp", "ERP (template)",
    "An ERP's item master as products, matched by sku (its item number).",
    "products", "/items",
    {"sku": "itemNumber", "name": "itemName", "price": "salesPrice",
     "category": "itemGroup", "description": "longDescription"})
ACCOUNTING = preset(
    "accounting", "Accounting system (template)",
    "An accounting system's inventory items as products, matched by sku (the item "
    "code).",
    "products", "/items",
    {"sku": "code", "name": "name", "price": "salesDetails.unitPrice",
     "description": "description"}, "updatedDateUtc")
