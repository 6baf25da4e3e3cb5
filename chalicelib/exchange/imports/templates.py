"""A template per entity: the header an import takes and the declaration's example row,
written by the export writers (CSV, or XLSX with typed cells)."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.exchange import entities
from chalicelib.exchange.imports import rows

FORMATS = ("csv", "xlsx")


def template(entity: str, fmt: str = "csv") -> tuple[bytes | str, str, str]:
    """(the file, media type, file name): CSV as text, XLSX as bytes (app.py lists its
    media type as binary)."""
    from chalicelib.exchange.formats import open_writer, writer_class  # not at cold start

    res = entities.entity(entity)
    fields = rows.columns(res)
    example = {f.name: f.example for f in fields}
    for name in res.money:  # a number in a cell, a decimal in a CSV
        if isinstance(example.get(name), str):
            example[name] = Decimal(str(example[name]))
    writer = open_writer(fmt, fields, entity=res.name)
    data = writer.write([example]) + writer.finish()
    cls = writer_class(fmt)
    name = f"{res.name}-import-template.{cls.extension}"
    return (data.decode() if fmt == "csv" else data), cls.media_type, name
