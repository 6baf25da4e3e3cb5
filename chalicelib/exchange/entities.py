"""The resources data exchange moves, as exports and imports both see them: which
entity a request names, the scope its owner needs, and a field's type in the data
dictionary (from the model's JSON Schema). Light: no writers or readers imported here."""

from __future__ import annotations

from typing import Any

from chalicelib.core.errors import Forbidden, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import allows
from chalicelib.resources.declaration import DECLARED, Resource

_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number",
               "boolean": "boolean", "object": "object", "array": "array"}


def entity(name: str) -> Resource:
    """The declared resource of this name; 422 naming the known ones otherwise."""
    res = DECLARED.get(name)
    if res is None:
        raise Unprocessable(f"Unknown entity {name!r}.", details=[
            {"field": "entity", "message": f"one of {', '.join(DECLARED)}"}])
    return res


def require(actor: Principal, entity_name: str, access: str, doing: str) -> None:
    """403 unless the actor holds `<entity>:<access>` (read to export, write to import)."""
    scope = f"{entity_name}:{access}"
    if not allows(actor.scopes, [scope]):
        raise Forbidden(f"{doing} {entity_name} needs the scope {scope}.",
                        details=[{"field": "entity", "message": f"needs {scope}"}])


def field_type(prop: dict[str, Any]) -> str:
    """A JSON Schema property's type in the data dictionary: the first non-null option;
    references are objects; date-time and date strings are datetimes and dates."""
    for option in prop.get("anyOf") or [prop]:
        if option.get("type") == "null":
            continue
        if "$ref" in option:
            return "object"
        kind = _JSON_TYPES.get(str(option.get("type")))
        if kind == "string" and option.get("format") == "date-time":
            return "datetime"
        if kind == "string" and option.get("format") == "date":
            return "date"
        if kind:
            return kind
    return "string"
