"""Import readers: a CSV or JSON-array body in, rows (or each row's problems) out.

    source = body            # bytes, or a function offset -> stream (S3 GET with a Range)
    reader = open_reader("csv", fields)          # or "json"; formulas="refuse" optional
    summary = reader.inspect(source)             # whole file, once; FileRejected if bad
    for parsed in reader.rows(source):           # ParsedRow(row, values, problems)
        ...                                      # stop anywhere
    state = reader.state()                       # small JSON: offset, row, header
    reader = resume_reader(state, fields)        # next invocation, then reader.rows(source)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.parsing.base import (
    FileRejected,
    Formulas,
    ParsedRow,
    Problem,
    Reader,
    Source,
    Summary,
)
from chalicelib.exchange.parsing.csvreader import CsvReader
from chalicelib.exchange.parsing.jsonreader import JsonReader

READERS: dict[str, type[Reader]] = {"csv": CsvReader, "json": JsonReader}
MEDIA_TYPES = {"text/csv": "csv", "application/json": "json"}

__all__ = ["MEDIA_TYPES", "READERS", "FileRejected", "ParsedRow", "Problem", "Reader",
           "Source", "Summary", "open_reader", "resume_reader"]


def open_reader(format: str, fields: Sequence[Field], *,
                formulas: Formulas = "accept") -> Reader:
    """`format` is csv or json, or a media type (text/csv, application/json, parameters
    such as charset ignored)."""
    name = MEDIA_TYPES.get(format.split(";")[0].strip().lower(), format)
    if name not in READERS:
        raise ValueError(f"cannot import {format!r}; send text/csv or application/json")
    return READERS[name](fields, formulas=formulas)


def resume_reader(state: Mapping[str, Any], fields: Sequence[Field]) -> Reader:
    cls = READERS.get(state.get("format", ""))
    if cls is None:
        raise ValueError(f"unknown format {state.get('format')!r}")
    return cls.resume(state, fields)
