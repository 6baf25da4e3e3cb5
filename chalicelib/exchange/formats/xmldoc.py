"""XML: `<entity><record><field>value</field>…</record>…</entity>`, one element per field.

Element names come from values.xml_name (invalid characters to `_`, a `_` before a name
that may not start as it does; the sidecar dictionary gives each field's element).
Values are text: booleans true/false, datetimes ISO 8601, objects and arrays compact JSON;
null is an empty element marked xsi:nil="true", so it differs from an empty string."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.formats.values import text_of, utf8, xml_name, xml_names, xml_text

_XSI = "http://www.w3.org/2001/XMLSchema-instance"


class XmlWriter(Writer):
    format = "xml"
    media_type = "application/xml"
    extension = "xml"

    def __init__(self, fields: Sequence[Field], *, entity: str) -> None:
        super().__init__(fields, entity=entity)
        self.root = xml_name(entity)
        self.elements = xml_names(self.names)

    def _opening(self) -> bytes:
        return utf8(f'<?xml version="1.0" encoding="UTF-8"?>\n'
                    f'<{self.root} xmlns:xsi="{_XSI}">\n')

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        pairs = list(zip(self.names, self.elements, strict=True))
        parts: list[str] = []
        for row in rows:
            parts.append("<record>")
            for name, element in pairs:
                value = row.get(name)
                if value is None:
                    parts.append(f'<{element} xsi:nil="true"/>')
                else:
                    parts.append(f"<{element}>{xml_text(text_of(value))}</{element}>")
            parts.append("</record>\n")
            self.rows += 1
        return utf8("".join(parts))

    def _closing(self) -> bytes:
        return utf8(f"</{self.root}>\n")
