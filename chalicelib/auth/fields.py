"""Field types shared by the auth models: their JSON Schema says exactly what is valid,
so the OpenAPI document (and any client or fuzzer reading it) knows too."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from chalicelib.core.scopes import SCOPES


def _known(value: str) -> str:
    if value not in SCOPES:
        raise ValueError(f"unknown scope: {value!r}")
    return value


class _ScopeEnum:
    """The enum as the schema is generated: resources add their scopes as they are
    declared, some after this module is imported."""

    def __get_pydantic_json_schema__(self, _core: Any, _handler: Any) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(SCOPES)}


Scope = Annotated[str, AfterValidator(_known), _ScopeEnum()]
# Sorted and without repeats, whatever order they came in.
ScopeList = Annotated[list[Scope], Field(min_length=1, max_length=50),
                      AfterValidator(lambda v: sorted(set(v)))]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IP (v4 or v6) or an IPv4 CIDR; IPv6 CIDRs are accepted too, the schema just can't
# say so without a pattern that generators choke on.
IpOrCidr = Annotated[str, Field(max_length=50), WithJsonSchema({"anyOf": [
    {"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"},
    {"type": "string", "pattern": rf"^{_OCTET}(\.{_OCTET}){{3}}/(3[0-2]|[12]?[0-9])$"}]})]
