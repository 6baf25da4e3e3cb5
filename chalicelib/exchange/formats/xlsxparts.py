"""The fixed parts of an XLSX package and the XML of its cells (SpreadsheetML, ECMA-376)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.formats.values import (
    as_date,
    as_datetime,
    excel_serial,
    is_plain_number,
    text_of,
    xml_attr,
    xml_text,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
CELL_MAX = 32767          # characters Excel holds in a cell
ROWS_MAX = 1_048_576      # rows in a sheet, the header's included
EXACT = 2**53             # integers beyond this lose digits as Excel numbers: text
DICTIONARY_SHEET = "Data dictionary"
# Style indexes in STYLES' cellXfs.
BOLD, DATE, DATETIME = 1, 2, 3

# Worksheets take the default type for .xml, so the types need not list them and can be
# written first, before anyone knows how many sheets the rows will fill.
CONTENT_TYPES = (
    DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.styles+xml"/></Types>')
ROOT_RELS = (
    DECL + f'<Relationships xmlns="{PKG_RELS}"><Relationship Id="rId1" '
    f'Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
STYLES = (
    DECL + f'<styleSheet xmlns="{MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="4">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    '</cellStyles></styleSheet>')

# Column widths in characters, by type; a longer name or example widens its column.
_TYPE_WIDTH = {"string": 24, "integer": 12, "number": 14, "boolean": 9, "datetime": 20,
               "date": 12, "object": 40, "array": 40}
_WIDTH_MAX = 60


def width(field: Field) -> int:
    example = len(text_of(field.example)) if field.example is not None else 0
    return min(max(_TYPE_WIDTH[field.type], len(field.name) + 3, example + 2), _WIDTH_MAX)


def column(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def sheet_head(widths: Sequence[int], header: Sequence[str], *, selected: bool) -> str:
    """From the worksheet's start to its bold header row, frozen below it."""
    cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                   for i, w in enumerate(widths, start=1))
    cells = "".join(text_cell(f"{column(i)}1", name, BOLD) for i, name in enumerate(header))
    tab = 'tabSelected="1" ' if selected else ""
    return (DECL + f'<worksheet xmlns="{MAIN}" xmlns:r="{RELS}"><sheetViews>'
            f'<sheetView {tab}workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView>'
            f'</sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols>'
            f'<sheetData><row r="1">{cells}</row>')


SHEET_TAIL = "</sheetData></worksheet>"
# Excel reads _xHHHH_ in text as an escaped character: a literal one has its _ escaped.
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


# Text that needs more than copying: XML specials, forbidden characters, _x escapes.
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x")


def text_cell(ref: str, text: str, style: int = 0) -> str:
    """Inline text: never a shared string, never a formula, whatever it starts with."""
    if len(text) > CELL_MAX:
        text = text[:CELL_MAX]
    if _SPECIAL.search(text):
        text = xml_text(_ESCAPE_LIKE.sub(r"_x005F_\1", text))
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{styled} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _number(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) <= EXACT else None
    if isinstance(value, str):
        if not is_plain_number(value):
            return None
        try:
            value = Decimal(value)
        except InvalidOperation:
            return None
    if isinstance(value, Decimal):
        if not value.is_finite() or len(value.as_tuple().digits) > 15:
            return None
        return format(value, "f")
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _text(ref: str, value: Any) -> str:
    return text_cell(ref, value if value.__class__ is str else text_of(value))


def _numeric(ref: str, value: Any) -> str:
    number = _number(value)
    return _text(ref, value) if number is None else f'<c r="{ref}"><v>{number}</v></c>'


def _flag(ref: str, value: Any) -> str:
    flag = _boolean(value)
    return _text(ref, value) if flag is None else f'<c r="{ref}" t="b"><v>{int(flag)}</v></c>'


def _datetime(ref: str, value: Any) -> str:
    moment = as_datetime(value)
    serial = excel_serial(moment) if moment is not None else None
    if serial is None:
        return _text(ref, value)
    return f'<c r="{ref}" s="{DATETIME}"><v>{serial!r}</v></c>'


def _date(ref: str, value: Any) -> str:
    day = as_date(value)
    serial = excel_serial(datetime(day.year, day.month, day.day)) if day else None
    if serial is None:
        return _text(ref, value)
    return f'<c r="{ref}" s="{DATE}"><v>{int(serial)}</v></c>'


# A typed cell per field type: numbers as numbers, booleans, dates and datetimes as Excel
# serials with a date format; a value that does not fit its type is written as text.
CELLS: dict[str, Callable[[str, Any], str]] = {
    "string": _text, "object": _text, "array": _text, "integer": _numeric,
    "number": _numeric, "boolean": _flag, "datetime": _datetime, "date": _date}


def sheet_name(entity: str, number: int) -> str:
    """A valid, unique sheet name: no []:*?/\\, at most 31 characters."""
    base = re.sub(r"[\[\]:*?/\\]", "_", entity).strip("'") or "data"
    if base.lower() == DICTIONARY_SHEET.lower():
        base = "data"
    suffix = f" ({number})" if number > 1 else ""
    return base[:31 - len(suffix)] + suffix


def workbook(names: Sequence[str]) -> tuple[str, str]:
    """workbook.xml and its relationships, for sheet1..sheetN named `names`."""
    sheets = "".join(f'<sheet name="{xml_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
                     for i, name in enumerate(names, start=1))
    book = (DECL + f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><bookViews>'
            f'<workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets></workbook>')
    rels = "".join(f'<Relationship Id="rId{i}" Type="{RELS}/worksheet" '
                   f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1))
    rels = (DECL + f'<Relationships xmlns="{PKG_RELS}">{rels}<Relationship '
            f'Id="rId{len(names) + 1}" Type="{RELS}/styles" Target="styles.xml"/>'
            '</Relationships>')
    return book, rels


def dictionary_sheet(fields: Sequence[Field]) -> str:
    header = ("field", "type", "description", "example")
    rows = []
    for r, f in enumerate(fields, start=2):
        values = (f.name, f.type, f.description,
                  "" if f.example is None else text_of(f.example))
        rows.append(f'<row r="{r}">' + "".join(
            text_cell(f"{column(i)}{r}", v) for i, v in enumerate(values) if v) + "</row>")
    return sheet_head((24, 10, 60, 30), header, selected=False) + "".join(rows) + SHEET_TAIL
