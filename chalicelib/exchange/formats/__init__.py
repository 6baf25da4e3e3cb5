"""Export formats: one Writer interface (base.py), one class per format.

    open_writer(format, fields, entity=..., **options) -> Writer   # options: bom (csv)
    resume_writer(state, fields) -> Writer
    sidecar(fields, entity=..., format=...) -> bytes                # the data dictionary
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field, sidecar

# Each format's writer, by module and class: imported when a format is first used, so
# naming a format (a route's validation, a download's file name) loads one writer at most.
_WRITER_AT: dict[str, tuple[str, str]] = {
    "csv": ("text", "CsvWriter"), "json": ("text", "JsonWriter"),
    "ndjson": ("text", "NdjsonWriter"), "xml": ("xmldoc", "XmlWriter"),
    "xlsx": ("xlsx", "XlsxWriter")}
FORMATS = tuple(_WRITER_AT)

__all__ = ["FORMATS", "WRITERS", "Field", "Writer", "open_writer", "resume_writer",
           "sidecar", "writer_class"]


def writer_class(format: str) -> type[Writer]:
    if format not in _WRITER_AT:
        raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
    module, name = _WRITER_AT[format]
    cls: type[Writer] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls


def __getattr__(name: str) -> Any:
    if name == "WRITERS":  # every writer, by format (loads them all)
        return {f: writer_class(f) for f in FORMATS}
    raise AttributeError(name)


def open_writer(format: str, fields: Sequence[Field], *, entity: str,
                **options: Any) -> Writer:
    return writer_class(format)(fields, entity=entity, **options)


def resume_writer(state: Mapping[str, Any], fields: Sequence[Field]) -> Writer:
    return writer_class(str(state.get("format", ""))).resume(state, fields)
