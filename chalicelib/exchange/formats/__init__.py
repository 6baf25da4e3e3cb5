"""Export formats: one Writer interface (base.py), one class per format.

    open_writer(format, fields, entity=..., **options) -> Writer   # options: bom (csv)
    resume_writer(state, fields) -> Writer
    sidecar(fields, entity=..., format=...) -> bytes                # the data dictionary
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field, sidecar
from chalicelib.exchange.formats.text import CsvWriter, JsonWriter, NdjsonWriter
from chalicelib.exchange.formats.xlsx import XlsxWriter
from chalicelib.exchange.formats.xmldoc import XmlWriter

WRITERS: dict[str, type[Writer]] = {
    w.format: w for w in (CsvWriter, JsonWriter, NdjsonWriter, XmlWriter, XlsxWriter)}
FORMATS = tuple(WRITERS)

__all__ = ["FORMATS", "WRITERS", "Field", "Writer", "open_writer", "resume_writer",
           "sidecar"]


def open_writer(format: str, fields: Sequence[Field], *, entity: str,
                **options: Any) -> Writer:
    if format not in WRITERS:
        raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
    return WRITERS[format](fields, entity=entity, **options)


def resume_writer(state: Mapping[str, Any], fields: Sequence[Field]) -> Writer:
    cls = WRITERS.get(state.get("format", ""))
    if cls is None:
        raise ValueError(f"unknown format {state.get('format')!r}")
    return cls.resume(state, fields)
