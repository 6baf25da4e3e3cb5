"""The data dictionary: the fields an export holds (name, type, description, example),
given by the caller from a resource's declaration; it travels with every file (a sidecar
JSON, or a second sheet in XLSX)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from chalicelib.core.errors import Conflict

FieldType = Literal["string", "integer", "number", "boolean", "datetime", "date", "object",
                    "array"]
FIELD_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "datetime", "date",
                                "object", "array")


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = "string"
    description: str = ""
    example: Any = None
    required: bool = False  # imports: the header must name it

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name!r}: unknown type {self.type!r}")


def fingerprint(fields: Sequence[Field]) -> str:
    """Ties a saved state to the fields it was made with: resuming with other fields
    would append bytes of another shape."""
    text = json.dumps([[f.name, f.type] for f in fields], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StateMismatch(Conflict, ValueError):
    """A saved state that does not fit: another format, or fields that changed since the
    job started (a 409: the job cannot go on; a new one can)."""


def check_resumable(state: Mapping[str, Any], format: str, fields: Sequence[Field],
                    job: str) -> None:
    """A saved writer's or reader's state belongs to this format and these fields."""
    if state.get("format") != format:
        raise StateMismatch(f"state of {state.get('format')!r}, not {format!r}")
    if state.get("fields") != fingerprint(fields):
        raise StateMismatch(f"The entity's fields changed while the {job} ran (these "
                            "fields are not the ones it started with); start it again.")


def sidecar(fields: Sequence[Field], *, entity: str, format: str,
            extra: dict[str, Any] | None = None) -> bytes:
    """The data dictionary of a CSV, JSON, NDJSON or XML export, as its sidecar JSON
    file. XML exports also name each field's element (see formats/xmldoc.py)."""
    from chalicelib.exchange.formats.values import json_default, xml_names

    described: list[dict[str, Any]] = []
    elements = xml_names([f.name for f in fields]) if format == "xml" else None
    for index, f in enumerate(fields):
        entry = asdict(f)
        del entry["required"]
        if elements is not None:
            entry["xmlElement"] = elements[index]
        described.append(entry)
    body = {"entity": entity, "format": format, "fields": described, **(extra or {})}
    return json.dumps(body, indent=2, ensure_ascii=False, default=json_default).encode()
