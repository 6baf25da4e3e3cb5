"""The text formats: CSV (RFC 4180, formula-safe), JSON (one array) and NDJSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.formats.values import (
    FORMULA_TRIGGERS,
    json_default,
    neutralise,
    text_of,
    utf8,
)

BOM = "\ufeff".encode()
_TRIGGERS = frozenset(FORMULA_TRIGGERS)


class CsvWriter(Writer):
    """UTF-8, CRLF line ends, fields quoted when they hold a comma, quote, CR or LF
    (quotes doubled). Objects and arrays are compact JSON; booleans true/false; null is an
    empty cell. Every text cell that could start a formula gets a leading `'` (see
    values.neutralise). `bom=True` starts the file with a UTF-8 BOM, which Excel needs to
    read it as UTF-8 rather than the machine's code page."""

    format = "csv"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def __init__(self, fields: Sequence[Field], *, entity: str, bom: bool = False) -> None:
        super().__init__(fields, entity=entity)
        self.bom = bom
        self._types = [f.type for f in self.fields]

    def _encode(self, records: Iterable[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(records)
        return utf8(buffer.getvalue())

    def _opening(self) -> bytes:
        header = [neutralise(name, "string") for name in self.names]
        return (BOM if self.bom else b"") + self._encode([header])

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        columns = list(zip(self.names, self._types, strict=True))
        records = []
        for row in rows:
            cells = []
            for name, kind in columns:
                value = row.get(name)
                if value is None:
                    cells.append("")
                    continue
                text = value if value.__class__ is str else text_of(value)
                # the common case (no trigger) without a call
                cells.append(neutralise(text, kind) if text[:1] in _TRIGGERS else text)
            records.append(cells)
        self.rows += len(records)
        return self._encode(records)

    def _closing(self) -> bytes:
        return b""

    def _state(self) -> dict[str, Any]:
        return {"bom": self.bom}

    @classmethod
    def _options(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"bom": state["bom"]}


# One encoder for every row: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                           default=json_default).encode


class JsonWriter(Writer):
    """One JSON array of objects, one object per line, each holding every field (null
    where the row has none) in the dictionary's order."""

    format = "json"
    media_type = "application/json"
    extension = "json"

    def _opening(self) -> bytes:
        return b"["

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        names = self.names
        lines = [_ENCODE({name: row.get(name) for name in names}) for row in rows]
        if not lines:
            return b""
        lead = "\n" if self.rows == 0 else ",\n"
        self.rows += len(lines)
        return utf8(lead + ",\n".join(lines))

    def _closing(self) -> bytes:
        return b"\n]\n" if self.rows else b"]\n"


class NdjsonWriter(Writer):
    """Newline-delimited JSON: one object per line, as JsonWriter's objects."""

    format = "ndjson"
    media_type = "application/x-ndjson"
    extension = "ndjson"

    def _opening(self) -> bytes:
        return b""

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        names = self.names
        lines = [_ENCODE({name: row.get(name) for name in names}) for row in rows]
        self.rows += len(lines)
        return utf8("\n".join(lines) + "\n") if lines else b""

    def _closing(self) -> bytes:
        return b""
