"""A template per entity: the header an import takes and the declaration's example row,
written by the export writers (CSV, or XLSX with typed cells)."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.exchange.formats import WRITERS, open_writer
from chalicelib.exchange.imports import rows

FORMATS = ("csv", "xlsx")


def template(entity: str, fmt: str = "csv") -> tuple[bytes | str, str, str]:
    """(the file, media type, file name): CSV as text, XLSX as bytes (app.py lists its
    media type as binary)."""
    res = rows.entity(entity)
    fields = rows.columns(res)
    example = {f.name: f.example for f in fields}
    for name in res.money:  # a number in a cell, a decimal in a CSV
        if isinstance(example.get(name), str):
            example[name] = Decimal(str(example[name]))
    writer = open_writer(fmt, fields, entity=res.name)
    data = writer.write([example]) + writer.finish()
    writer_class = WRITERS[fmt]
    name = f"{res.name}-import-template.{writer_class.extension}"
    return (data.decode() if fmt == "csv" else data), writer_class.media_type, name
