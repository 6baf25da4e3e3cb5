"""XLSX in constant memory, resumable across processes.

Written by hand as a streamed ZIP (zipstream.py) rather than with XlsxWriter or openpyxl:
both keep the archive open in one process and cannot hand a half-written file to another.
The package: [Content_Types].xml, _rels/.rels and xl/styles.xml first (fixed), then the
data sheets streamed row by row, then at the end the data dictionary sheet and the
workbook that names them all. Each data sheet has a bold header row frozen below it,
column widths from the dictionary (the sheet's <cols> precede its rows, so the data
cannot size them), typed cells and inline strings (no shared-strings table to hold in
memory; text is never a formula, so formula-looking text needs no escaping here).

A sheet holds at most 1,048,575 data rows (Excel's limit); more rows continue on a new
sheet named "<entity> (2)", each with its header. The file must stay below 4 GiB (no ZIP64).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import clock
from chalicelib.exchange.formats import xlsxparts as parts
from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.formats.values import utf8
from chalicelib.exchange.formats.zipstream import ZipStream, dos_time


class XlsxWriter(Writer):
    format = "xlsx"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"

    def __init__(self, fields: Sequence[Field], *, entity: str,
                 created: datetime | None = None,
                 rows_per_sheet: int = parts.ROWS_MAX - 1, level: int = 6) -> None:
        super().__init__(fields, entity=entity)
        if not 1 <= rows_per_sheet < parts.ROWS_MAX:
            raise ValueError(f"rows_per_sheet must be 1..{parts.ROWS_MAX - 1}")
        self.created = created or datetime.fromtimestamp(clock.now(), UTC)
        self.rows_per_sheet = rows_per_sheet
        self.zip = ZipStream(dos_time(self.created), level)
        self.sheet = 0        # the data sheet being written (1-based)
        self.sheet_rows = 0   # data rows in it so far
        self._widths = [parts.width(f) for f in self.fields]
        self._columns = [(name, parts.column(i), parts.CELLS[f.type])
                         for i, (name, f) in enumerate(zip(self.names, self.fields,
                                                           strict=True))]

    def _opening(self) -> bytes:
        return (self.zip.add("[Content_Types].xml", utf8(parts.CONTENT_TYPES))
                + self.zip.add("_rels/.rels", utf8(parts.ROOT_RELS))
                + self.zip.add("xl/styles.xml", utf8(parts.STYLES))
                + self._start_sheet())

    def _start_sheet(self) -> bytes:
        self.sheet += 1
        self.sheet_rows = 0
        head = parts.sheet_head(self._widths, self.names, selected=self.sheet == 1)
        return self.zip.open(f"xl/worksheets/sheet{self.sheet}.xml") + \
            self.zip.feed(utf8(head))

    def _end_sheet(self) -> bytes:
        return self.zip.feed(utf8(parts.SHEET_TAIL)) + self.zip.close_entry()

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        out = bytearray()
        xml: list[str] = []
        columns = self._columns
        for row in rows:
            if self.sheet_rows == self.rows_per_sheet:
                out += self.zip.feed(utf8("".join(xml)))
                xml = []
                out += self._end_sheet() + self._start_sheet()
            self.sheet_rows += 1
            r = self.sheet_rows + 1
            xml.append(f'<row r="{r}">')
            for name, letter, write in columns:
                value = row.get(name)
                if value is not None:
                    xml.append(write(f"{letter}{r}", value))
            xml.append("</row>")
            self.rows += 1
        out += self.zip.feed(utf8("".join(xml)))
        return bytes(out)

    def _flush(self) -> bytes:
        return self.zip.flush()

    def _closing(self) -> bytes:
        out = self._end_sheet()
        names = [parts.sheet_name(self.entity, n) for n in range(1, self.sheet + 1)]
        names.append(parts.DICTIONARY_SHEET)
        book, rels = parts.workbook(names)
        out += self.zip.add(f"xl/worksheets/sheet{len(names)}.xml",
                            utf8(parts.dictionary_sheet(self.fields)))
        out += self.zip.add("xl/workbook.xml", utf8(book))
        out += self.zip.add("xl/_rels/workbook.xml.rels", utf8(rels))
        return out + self.zip.close()

    def _state(self) -> dict[str, Any]:
        return {"created": self.created.isoformat(), "rowsPerSheet": self.rows_per_sheet,
                "sheet": self.sheet, "sheetRows": self.sheet_rows, "zip": self.zip.state()}

    @classmethod
    def _options(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"created": datetime.fromisoformat(state["created"]),
                "rows_per_sheet": state["rowsPerSheet"], "level": state["zip"]["level"]}

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.sheet, self.sheet_rows = state["sheet"], state["sheetRows"]
        self.zip = ZipStream.restore(state["zip"])
