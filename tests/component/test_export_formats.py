"""Export writers: each format's escaping, formula safety, typed XLSX read back by
openpyxl, resuming from a JSON state in a fresh writer, and flat memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from chalicelib.exchange.formats import (
    FORMATS,
    Field,
    Writer,
    open_writer,
    resume_writer,
    sidecar,
)

FIELDS = [
    Field("sku", "string", "Stock keeping unit", "MUG-01", required=True),
    Field("name", "string", "Display name", "Mug"),
    Field("quantity", "integer", "Units in stock", 12),
    Field("price", "number", "Decimal string", "12.50"),
    Field("active", "boolean", "On sale", True),
    Field("createdAt", "datetime", "When it was created", "2026-01-01T00:00:00.000Z"),
    Field("launch", "date", "Launch day", "2026-01-01"),
    Field("tags", "array", "Labels", ["a"]),
    Field("dims", "object", "Dimensions", {"w": 1}),
]
NASTY = [
    'say "hi", then\r\nleave',           # quote, comma, CRLF
    "line1\nline2",                      # LF
    "naïve 日本語 🎉",                     # unicode beyond the BMP
    "<tag attr='x'>&amp; &</tag>",       # XML specials
    "bell\x07 nul\x00 vt\x0b ff\x0c esc\x1b",  # control characters XML 1.0 forbids
    "  padded  ",
    "",
]
INJECTIONS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
              "=HYPERLINK(\"http://x\")"]


def rows(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {"sku": f"SKU-{i}", "name": f"Product {i}", "quantity": i % 50,
               "price": f"{i % 1000}.99", "active": i % 2 == 0,
               "createdAt": "2026-01-02T03:04:05.000Z", "launch": "2026-02-03",
               "tags": ["x", "y"], "dims": {"w": i}}


def produce(format: str, batches: list[list[dict[str, Any]]], *, resume_each: bool,
            **options: Any) -> bytes:
    """The file, written batch by batch; with resume_each, each batch in a fresh writer
    resumed from the previous checkpoint's state (JSON round-tripped, as the engine
    stores it)."""
    writer: Writer = open_writer(format, FIELDS, entity="products", **options)
    out = bytearray()
    for batch in batches:
        out += writer.write(batch)
        tail, state = writer.checkpoint()
        out += tail
        if resume_each:
            writer = resume_writer(json.loads(json.dumps(state)), FIELDS)
    out += writer.finish()
    return bytes(out)


def one(format: str, records: list[dict[str, Any]], **options: Any) -> bytes:
    writer = open_writer(format, FIELDS, entity="products", **options)
    return writer.write(records) + writer.finish()


# -- CSV -----------------------------------------------------------------------------

def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_quotes_newlines_commas_and_unicode_survive_a_round_trip() -> None:
    data = one("csv", [{"sku": f"S{i}", "name": text} for i, text in enumerate(NASTY)])
    table = read_csv(data)
    assert table[0] == [f.name for f in FIELDS]
    assert [r[1] for r in table[1:]] == NASTY
    assert data.count(b"\r\n") >= len(NASTY) + 1  # RFC 4180 line ends
    assert b'"say ""hi"", then\r\nleave"' in data  # quoted, quotes doubled


def test_csv_values_by_type_and_null_as_empty() -> None:
    data = one("csv", [{"sku": "A", "quantity": 3, "price": Decimal("1.50"), "active": False,
                        "createdAt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                        "launch": date(2026, 2, 3), "tags": ["a", "é"],
                        "dims": {"w": 1, "h": None}}])
    assert read_csv(data)[1] == ["A", "", "3", "1.50", "false", "2026-01-02T03:04:05+00:00",
                                 "2026-02-03", '["a","é"]', '{"w":1,"h":null}']


def test_csv_neutralises_formulas_but_keeps_plain_numbers_in_numeric_fields() -> None:
    data = one("csv", [{"sku": text, "name": text} for text in INJECTIONS]
               + [{"sku": "-5", "quantity": "-5", "price": "+3.2"},
                  {"sku": "x", "quantity": -7, "price": Decimal("-0.5")},
                  {"sku": "y", "quantity": "-1+cmd", "price": "=1"}])
    table = read_csv(data)
    for row, text in zip(table[1:], INJECTIONS, strict=False):
        assert row[0] == row[1] == "'" + text
    assert table[-3][:4] == ["'-5", "", "-5", "+3.2"]  # text "-5" quoted; numbers stay
    assert table[-2][2:4] == ["-7", "-0.5"]
    assert table[-1][2:4] == ["'-1+cmd", "'=1"]        # not a number: neutralised


def test_csv_bom_is_optional() -> None:
    assert one("csv", [], bom=True).startswith(b"\xef\xbb\xbfsku,name,")
    assert one("csv", []).startswith(b"sku,name,")
    assert produce("csv", [[{"sku": "a"}], [{"sku": "b"}]], resume_each=True,
                   bom=True).count(b"\xef\xbb\xbf") == 1


# -- JSON and NDJSON -----------------------------------------------------------------

def test_json_is_one_array_of_every_field_in_order() -> None:
    records = [{"sku": f"S{i}", "name": text, "price": Decimal("2.5"), "quantity": Decimal(4)}
               for i, text in enumerate(NASTY)]
    data = one("json", records)
    parsed = json.loads(data)
    assert [r["name"] for r in parsed] == NASTY
    assert list(parsed[0]) == [f.name for f in FIELDS]
    assert parsed[0]["price"] == 2.5 and parsed[0]["quantity"] == 4 and parsed[0]["tags"] is None
    assert json.loads(one("json", [])) == []


def test_ndjson_is_one_object_per_line() -> None:
    data = one("ndjson", [{"sku": f"S{i}", "name": t} for i, t in enumerate(NASTY)])
    lines = data.decode().splitlines()
    assert [json.loads(line)["name"] for line in lines] == NASTY
    assert one("ndjson", []) == b""


def test_lone_surrogates_become_replacement_characters_not_invalid_utf8() -> None:
    for format in FORMATS:
        if format != "xlsx":
            assert "\ufffd" in one(format, [{"sku": "bad\ud800"}]).decode("utf-8")


# -- XML -----------------------------------------------------------------------------

def test_xml_escapes_values_and_replaces_what_xml_forbids() -> None:
    data = one("xml", [{"sku": f"S{i}", "name": text} for i, text in enumerate(NASTY)]
               + [{"sku": None, "name": "", "tags": ["<a>"], "active": True}])
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<products')
    root = ET.fromstring(data)
    assert root.tag == "products"
    records = root.findall("record")
    names = [r.findtext("name") for r in records[:len(NASTY)]]
    expected = [t.translate({0: "\ufffd", 7: "\ufffd", 0x0B: "\ufffd", 0x0C: "\ufffd",
                             0x1B: "\ufffd"}) for t in NASTY]
    assert names == expected  # CR kept (as &#13;), forbidden characters replaced
    last = records[-1]
    assert [child.tag for child in last] == [f.name for f in FIELDS]
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    assert last.find("sku").get(nil) == "true" and last.find("name").get(nil) is None
    assert last.findtext("tags") == '["<a>"]' and last.findtext("active") == "true"


def test_xml_element_names_are_made_valid_and_unique() -> None:
    fields = [Field("first name"), Field("first_name"), Field("1st"), Field("xmlns"),
              Field("a:b"), Field("ok-Name.2"), Field("")]
    writer = open_writer("xml", fields, entity="my entity")
    data = writer.write([{f.name: f.name or "empty" for f in fields}]) + writer.finish()
    root = ET.fromstring(data)
    assert root.tag == "my_entity"
    assert [c.tag for c in root[0]] == ["first_name", "first_name_2", "_1st", "_xmlns", "a_b",
                                        "ok-Name.2", "_"]
    dictionary = json.loads(sidecar(fields, entity="my entity", format="xml"))
    assert [f["xmlElement"] for f in dictionary["fields"]][:3] == ["first_name",
                                                                    "first_name_2", "_1st"]


# -- XLSX ----------------------------------------------------------------------------

def workbook(data: bytes) -> Any:
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # every CRC checks
    return openpyxl.load_workbook(io.BytesIO(data))


def test_xlsx_reads_back_typed_with_a_bold_frozen_header_and_the_dictionary() -> None:
    data = one("xlsx", [
        {"sku": "=1+1", "name": "naïve 🎉 <&>", "quantity": 7, "price": "12.50",
         "active": True, "createdAt": "2026-01-02T03:04:05.000Z", "launch": "2026-02-03",
         "tags": ["a"], "dims": {"w": 1}},
        {"sku": "@SUM(A1)", "name": "line1\nline2", "quantity": Decimal("-3"),
         "price": Decimal("0.5"), "active": "false",
         "createdAt": datetime(2026, 1, 2, 5, tzinfo=UTC), "launch": date(2020, 2, 29)},
        {"sku": "-2+3", "quantity": 2**60, "price": "n/a", "active": "maybe",
         "createdAt": "yesterday", "launch": "1899-01-01"},
    ])
    book = workbook(data)
    assert book.sheetnames == ["products", "Data dictionary"]
    sheet = book["products"]
    assert sheet.freeze_panes == "A2"
    header = next(sheet.iter_rows(max_row=1))
    assert [c.value for c in header] == [f.name for f in FIELDS]
    assert all(c.font.b for c in header)
    assert sheet.column_dimensions["A"].width == 24
    assert sheet.column_dimensions["C"].width == 12   # integer
    assert sheet.column_dimensions["F"].width == 26   # datetime, widened by its example
    first, second, third = (list(r) for r in sheet.iter_rows(min_row=2))
    assert [c.value for c in first] == [
        "=1+1", "naïve 🎉 <&>", 7, 12.5, True, datetime(2026, 1, 2, 3, 4, 5),
        datetime(2026, 2, 3), '["a"]', '{"w":1}']
    assert first[0].data_type == "s"                  # text, never a formula
    assert first[5].number_format == "yyyy-mm-dd hh:mm:ss"
    assert first[6].number_format == "yyyy-mm-dd"
    assert [c.value for c in second[:7]] == ["@SUM(A1)", "line1\nline2", -3, 0.5, False,
                                             datetime(2026, 1, 2, 5), datetime(2020, 2, 29)]
    # what does not fit its type (or Excel) stays text rather than being lost
    assert [c.value for c in third[:7]] == ["-2+3", None, str(2**60), "n/a", "maybe",
                                            "yesterday", "1899-01-01"]
    dictionary = [[c.value for c in r] for r in book["Data dictionary"].iter_rows()]
    assert dictionary[0] == ["field", "type", "description", "example"]
    assert dictionary[1] == ["sku", "string", "Stock keeping unit", "MUG-01"]
    assert dictionary[8] == ["tags", "array", "Labels", '["a"]']


def test_xlsx_cell_text_edge_cases() -> None:
    data = one("xlsx", [{"sku": "a\x00b\x1fc", "name": "x" * 40000},
                        {"sku": "_x0041_", "name": "  spaced  "}])
    values = [[c.value for c in r] for r in workbook(data)["products"].iter_rows(min_row=2)]
    assert values[0][0] == "a\ufffdb\ufffdc"
    assert len(values[0][1]) == 32767                 # Excel's most in one cell
    assert values[1][1] == "  spaced  "
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"_x005F_x0041_" in sheet_xml              # Excel shows it literally


def test_xlsx_written_in_halves_across_writers_equals_one_writer() -> None:
    batches = [list(rows(700)), list(rows(600, 700)), list(rows(5, 1300))]
    resumed = produce("xlsx", batches, resume_each=True,
                      created=datetime(2026, 1, 1, tzinfo=UTC))
    kept = produce("xlsx", batches, resume_each=False,
                   created=datetime(2026, 1, 1, tzinfo=UTC))
    assert resumed == kept
    straight = one("xlsx", [r for b in batches for r in b],
                   created=datetime(2026, 1, 1, tzinfo=UTC))
    read = [[[c.value for c in r] for r in s.iter_rows()] for s in workbook(resumed)]
    assert read == [[[c.value for c in r] for r in s.iter_rows()] for s in workbook(straight)]
    assert len(read[0]) == 1306


def test_xlsx_state_is_small_json() -> None:
    writer = open_writer("xlsx", FIELDS, entity="products")
    writer.write(rows(100))
    _, state = writer.checkpoint()
    assert len(json.dumps(state)) < 1500
    assert state["rows"] == 100 and state["format"] == "xlsx"


def test_xlsx_rows_beyond_a_sheet_continue_on_the_next() -> None:
    batches = [list(rows(4)), list(rows(3, 4))]
    book = workbook(produce("xlsx", batches, resume_each=True, rows_per_sheet=3))
    assert book.sheetnames == ["products", "products (2)", "products (3)", "Data dictionary"]
    counts = [[r[0].value for r in book[name].iter_rows()] for name in book.sheetnames[:3]]
    assert counts == [["sku", "SKU-0", "SKU-1", "SKU-2"], ["sku", "SKU-3", "SKU-4", "SKU-5"],
                      ["sku", "SKU-6"]]
    assert book["products (2)"].freeze_panes == "A2"


def test_xlsx_of_no_rows_is_a_valid_workbook() -> None:
    book = workbook(one("xlsx", []))
    assert [[c.value for c in r] for r in book["products"].iter_rows()] == [
        [f.name for f in FIELDS]]


# -- every format --------------------------------------------------------------------

@pytest.mark.parametrize("format", FORMATS)
def test_resumed_across_fresh_writers_equals_one_writer(format: str) -> None:
    batches = [list(rows(3)), [], list(rows(4, 3)), list(rows(1, 7))]
    created = {"created": datetime(2026, 1, 1, tzinfo=UTC)} if format == "xlsx" else {}
    resumed = produce(format, batches, resume_each=True, **created)
    assert resumed == produce(format, batches, resume_each=False, **created)
    if format != "xlsx":  # no compressor: checkpoints change nothing at all
        assert resumed == one(format, [r for b in batches for r in b])


@pytest.mark.parametrize("format", FORMATS)
def test_the_state_counts_rows_and_bytes(format: str) -> None:
    writer = open_writer(format, FIELDS, entity="products")
    produced = writer.write(rows(10))
    tail, state = writer.checkpoint()
    assert state["rows"] == 10 and state["size"] == len(produced + tail)


def test_resume_refuses_other_fields_or_formats_and_a_finished_writer_refuses_more() -> None:
    writer = open_writer("csv", FIELDS, entity="products")
    _, state = writer.checkpoint()
    with pytest.raises(ValueError, match="fields"):
        resume_writer(state, FIELDS[:3])
    with pytest.raises(ValueError, match="unknown format"):
        resume_writer({**state, "format": "pdf"}, FIELDS)
    with pytest.raises(ValueError, match="unknown format"):
        open_writer("pdf", FIELDS, entity="products")
    writer.finish()
    with pytest.raises(RuntimeError):
        writer.write([])


def test_sidecar_dictionary() -> None:
    body = json.loads(sidecar(FIELDS, entity="products", format="csv"))
    assert body["entity"] == "products" and body["format"] == "csv"
    assert body["fields"][0] == {"name": "sku", "type": "string",
                                 "description": "Stock keeping unit", "example": "MUG-01"}
    assert body["fields"][7]["example"] == ["a"]


@pytest.mark.parametrize("format", FORMATS)
def test_memory_stays_flat_however_many_rows(format: str) -> None:
    """Peak traced memory for 100,000 rows is within 2 MB of that for 10,000. (Narrow
    rows, one batch written again and again: tracemalloc slows every allocation.)"""
    fields = [FIELDS[0], FIELDS[3], FIELDS[5]]
    batch = [{"sku": f"SKU-{i}", "price": f"{i}.99", "createdAt": "2026-01-02T03:04:05Z"}
             for i in range(1000)]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            writer = open_writer(format, fields, entity="products")
            size = 0
            for _ in range(n // len(batch)):
                size += len(writer.write(batch))
            size += len(writer.checkpoint()[0]) + len(writer.finish())
            assert writer.rows == n and size > n * 4
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    small, large = peak(10_000), peak(100_000)
    assert large - small < 2_000_000, (small, large)


def test_the_format_list_names_each_writer_and_the_request_model_agrees() -> None:
    """FORMATS is spelled out so that naming a format loads no writer; it must match the
    writers' own names and the export request's Format (besides the native dump's)."""
    import sys
    from typing import get_args

    from chalicelib.exchange.exports.models import Format
    from chalicelib.exchange.formats import WRITERS, writer_class

    assert {f: w.format for f, w in WRITERS.items()} == {f: f for f in FORMATS}
    # dynamodb_json is DynamoDB's own (the admins' full-table dump): no writer of ours.
    assert set(get_args(Format)) == {*FORMATS, "dynamodb_json"}
    assert writer_class("csv").extension == "csv"
    assert "chalicelib.exchange.formats.text" in sys.modules
    with pytest.raises(ValueError, match="unknown format"):
        writer_class("pdf")
