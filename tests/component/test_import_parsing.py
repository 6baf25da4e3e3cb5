"""Import readers: file-level problems stop before any row, row-level problems ride on
their row, RFC 4180 quoting, formulas, chunked resumption across fresh readers (a million
rows), and the JSON array reader."""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

import pytest

from chalicelib.core.errors import Unprocessable
from chalicelib.exchange.formats import Field, open_writer
from chalicelib.exchange.parsing import (
    FileRejected,
    ParsedRow,
    Reader,
    csvreader,
    jsonreader,
    open_reader,
    resume_reader,
)

FIELDS = [Field("sku", required=True), Field("name"), Field("price", "number"),
          Field("tags", "array"), Field("dims", "object")]
HEADER = b"sku,name,price,tags,dims\r\n"


def read(data: bytes, format: str = "csv", **options: Any) -> list[ParsedRow]:
    reader = open_reader(format, FIELDS, **options)
    reader.inspect(data)
    return list(reader.rows(data))


def rejected(data: bytes, format: str = "csv") -> list[dict[str, Any]]:
    reader = open_reader(format, FIELDS)
    with pytest.raises(FileRejected) as caught:
        reader.inspect(data)
    assert isinstance(caught.value, Unprocessable) and caught.value.status == 422
    assert caught.value.details == [p.as_dict() for p in caught.value.problems]
    return caught.value.details


# -- file-level problems: nothing handed out -----------------------------------------

def test_a_bom_is_accepted_and_stripped() -> None:
    rows = read(b"\xef\xbb\xbf" + HEADER + b"A,Mug,1.50,,\r\n")
    assert [(r.row, r.values) for r in rows] == [(2, {"sku": "A", "name": "Mug",
                                                      "price": "1.50"})]


def test_wrong_encoding_names_the_byte_offset_and_row_even_deep_in_the_file() -> None:
    good = b"".join(b"S%d,caf\xc3\xa9,1,,\r\n" % i for i in range(5000))
    data = HEADER + good + b"BAD,caf\xe9,1,,\r\n" + good
    reader = open_reader("csv", FIELDS)
    with pytest.raises(FileRejected) as caught:
        reader.inspect(data)
    offset = len(HEADER + good) + len(b"BAD,caf")
    [problem] = caught.value.details
    assert problem["row"] == 5002 and problem["field"] is None
    assert f"0xE9 at byte offset {offset:,}" in problem["message"]
    assert "UTF-8" in problem["message"]
    with pytest.raises(RuntimeError, match="inspect"):
        next(reader.rows(data))  # nothing is handed out from a file that failed


@pytest.mark.parametrize("data, says", [
    (b"\xff\xfes\x00k\x00u\x00", "UTF-16"),
    (HEADER + b"A,x\x00y,1,,\r\n", "NUL byte at byte offset"),
    (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
    (HEADER + b"A,caf\xc3", "not UTF-8"),          # cut inside a character
])
def test_other_encodings_and_binary_files_are_refused(data: bytes, says: str) -> None:
    [problem] = rejected(data)
    assert says in problem["message"]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\n  \r\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    [problem] = rejected(data)
    assert problem == {"row": None, "field": None,
                       "message": "The file is empty: it has no header row (and no rows)."}


def test_header_problems_are_all_named_at_once() -> None:
    problems = rejected(b" SKU ,name,name,,colour\r\nA,b,c,d,e\r\n")
    assert [(p["row"], p["field"]) for p in problems] == [
        (1, "SKU"), (1, "name"), (1, None), (1, "colour"), (1, "sku")]
    messages = [p["message"] for p in problems]
    assert messages[0].startswith("Unknown column 'SKU'; did you mean 'sku'?")
    assert messages[1] == "The column 'name' appears twice in the header (columns 2 and 3)."
    assert messages[2] == "Column 4 of the header has no name."
    assert messages[3] == ("Unknown column 'colour'. The columns are: sku, name, price, "
                           "tags, dims.")
    assert messages[4] == "The required column 'sku' is missing from the header."


def test_only_the_columns_sent_are_needed_and_a_header_alone_is_no_rows() -> None:
    reader = open_reader("csv", FIELDS)
    summary = reader.inspect(b"\r\nname , sku\r\n")  # leading blank line, spaces trimmed
    assert (summary.rows, summary.columns) == (0, ["name", "sku"])
    assert list(reader.rows(b"\r\nname , sku\r\n")) == []


@pytest.mark.parametrize("body, says", [
    (b'A,"never closed,1,,\r\nB,x,1,,\r\n', "Row 2 (line 2) opens a quote that is never"),
    (b'A,"quoted"tail,1,,\r\n', 'a quote inside a quoted cell must be doubled'),
    (b"A,x,1,,\rB,y,2,,\r", "line break (CR) outside quotes"),
])
def test_broken_quoting_and_cr_line_ends_refuse_the_file(body: bytes, says: str) -> None:
    [problem] = rejected(HEADER + body)
    assert says in problem["message"] and problem["row"] == 2


# -- rows ----------------------------------------------------------------------------

def test_quotes_commas_and_embedded_newlines_follow_rfc_4180() -> None:
    data = HEADER + (b'A,"Mug, ""large""",1,,\r\n'
                     b'B,"two\r\nlines",2,,\r\n'
                     b'C,"lf\nonly",3,,\n'
                     b'D,caf\xc3\xa9 \xf0\x9f\x8e\x89,4,,\r\n'
                     b'"E","",5,"[""x""]","{""w"": 1}"')  # no final line end
    rows = read(data)
    assert [(r.row, r.values) for r in rows] == [
        (2, {"sku": "A", "name": 'Mug, "large"', "price": "1"}),
        (3, {"sku": "B", "name": "two\r\nlines", "price": "2"}),
        (4, {"sku": "C", "name": "lf\nonly", "price": "3"}),
        (5, {"sku": "D", "name": "café 🎉", "price": "4"}),
        (6, {"sku": "E", "price": "5", "tags": ["x"], "dims": {"w": 1}}),
    ]
    assert all(r.ok for r in rows)


def test_ragged_rows_are_their_rows_problems_and_the_rest_go_on() -> None:
    data = HEADER + b"A,x,1,,\r\nB,x,1\r\nC,x,1,,,extra\r\nD,x,1,,\r\n"
    rows = read(data)
    assert [r.row for r in rows] == [2, 3, 4, 5]
    assert [r.ok for r in rows] == [True, False, False, True]
    assert rows[1].problems[0].as_dict() == {
        "row": 3, "field": None, "message": "This row has 3 cells but the header has 5."}
    assert rows[2].problems[0].message.startswith("This row has 6 cells but the header has 5;")


def test_blank_rows_are_skipped_but_keep_their_row_numbers() -> None:
    rows = read(HEADER + b"A,x,1,,\r\n\r\n,,,,\r\nB,y,2,,\r\n")
    assert [(r.row, r.values["sku"]) for r in rows] == [(2, "A"), (5, "B")]
    assert open_reader("csv", FIELDS).inspect(HEADER + b"A,x,1,,\r\n\r\n,,,,\r\n").rows == 1


def test_object_and_array_cells_must_hold_json() -> None:
    rows = read(HEADER + b'A,x,1,"[1,",\r\nB,x,1,"{}","[]"\r\n')
    assert rows[0].problems[0].field == "tags"
    assert rows[0].problems[0].message.startswith("Expected an array in JSON")
    assert rows[1].problems[0].field == "tags" and rows[1].problems[1].field == "dims"
    assert "tags" not in rows[1].values and "dims" not in rows[1].values


def test_formulas_are_text_by_default_and_an_exported_file_imports_back_unchanged() -> None:
    values = ["=1+1", "+44 20 7946 0958", "-5", "@handle", "'quoted", "plain"]
    writer = open_writer("csv", FIELDS, entity="products", bom=True)
    exported = writer.write([{"sku": f"S{i}", "name": v, "price": "-1.5"}
                             for i, v in enumerate(values)]) + writer.finish()
    assert b"'=1+1" in exported  # neutralised on the way out...
    rows = read(exported)
    assert [r.values["name"] for r in rows] == values  # ...and restored on the way in
    assert {r.values["price"] for r in rows} == {"-1.5"}


def test_formulas_can_be_refused_cell_by_cell() -> None:
    data = HEADER + b"A,=SUM(A1),1,,\r\nB,-5,-5,,\r\nC,'=text,1,,\r\nD,@x,+3.2,,\r\n"
    rows = read(data, formulas="refuse")
    assert [r.ok for r in rows] == [False, True, True, False]
    assert rows[0].problems[0].field == "name" and "formula" in rows[0].problems[0].message
    assert "name" not in rows[0].values
    assert rows[1].values == {"sku": "B", "name": "-5", "price": "-5"}  # numbers are not
    assert rows[2].values["name"] == "=text"   # the apostrophe says "this is text"
    assert rows[3].values["price"] == "+3.2"


# -- resuming ------------------------------------------------------------------------

def in_chunks(reader: Reader, source: Any, fields: list[Field], size: int
              ) -> tuple[list[ParsedRow], list[dict[str, Any]]]:
    """All rows, `size` per invocation, each invocation a fresh reader resumed from the
    previous one's state (JSON round-tripped, as the engine stores it)."""
    out: list[ParsedRow] = []
    states = [reader.state()]
    while not reader.done:
        reader = resume_reader(json.loads(json.dumps(states[-1])), fields)
        taken = 0
        for parsed in reader.rows(source):
            out.append(parsed)
            taken += 1
            if taken == size:
                break
        states.append(reader.state())
    return out, states


class Opened:
    """An S3-like source: opens the file at an offset (a ranged GET), noting each."""

    def __init__(self, data: bytes) -> None:
        self.data: bytes = data
        self.offsets: list[int] = []

    def __call__(self, offset: int) -> BinaryIO:
        self.offsets.append(offset)
        return io.BytesIO(self.data[offset:])


@pytest.mark.parametrize("format", ["csv", "json"])
def test_chunks_across_fresh_readers_equal_one_pass_and_never_reread(format: str) -> None:
    records = [{"sku": f"S{i}", "name": f"naïve {i}\n\"x\"", "price": str(i)}
               for i in range(50)]
    if format == "csv":
        writer = open_writer("csv", FIELDS[:3], entity="p")
        data = writer.write(records) + writer.finish()
    else:
        data = json.dumps(records, ensure_ascii=False, indent=1).encode()
    one_pass = read(data, format)
    source = Opened(data)
    reader = open_reader(format, FIELDS)
    reader.inspect(source)
    chunked, states = in_chunks(reader, source, FIELDS, 7)
    assert chunked == one_pass and len(chunked) == 50
    assert [r.values for r in chunked] == records
    # each invocation opens the file where the last one stopped, never at its start
    assert source.offsets == [0] + [s["offset"] for s in states[:-1]]
    assert sorted(set(source.offsets[2:])) == source.offsets[2:] and source.offsets[2] > 0
    assert all(len(json.dumps(s)) < 400 for s in states)


@pytest.mark.parametrize("format", ["csv", "json"])
def test_tiny_chunks_split_lines_characters_and_numbers_anywhere(
        format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvreader, "CHUNK", 3)
    monkeypatch.setattr(jsonreader, "CHUNK", 3)
    if format == "csv":
        data = "\ufeffsku,name,price\r\nA,\"日本\r\n語\",12345\r\nB,é,1\r\n".encode()
        expected = [{"sku": "A", "name": "日本\r\n語", "price": "12345"},
                    {"sku": "B", "name": "é", "price": "1"}]
    else:
        data = '\ufeff [ {"sku":"A","name":"日本\\n語","price":12345} ,\n{"sku":"B","price":1.5e3}]'
        data = data.encode()
        expected = [{"sku": "A", "name": "日本\n語", "price": 12345},
                    {"sku": "B", "price": 1500.0}]
    reader = open_reader(format, FIELDS)
    assert reader.inspect(data).rows == 2
    chunked, _ = in_chunks(reader, data, FIELDS, 1)
    assert [r.values for r in chunked] == expected


def test_resume_refuses_other_fields_and_rows_wait_for_inspect() -> None:
    reader = open_reader("csv", FIELDS)
    with pytest.raises(RuntimeError):
        next(reader.rows(HEADER))
    reader.inspect(HEADER)
    with pytest.raises(ValueError, match="fields"):
        resume_reader(reader.state(), FIELDS[:2])
    with pytest.raises(ValueError):
        open_reader("application/xml", FIELDS)
    assert open_reader("text/csv; charset=utf-8", FIELDS).format == "csv"


def test_a_million_rows_in_chunks(tmp_path: Any) -> None:
    path = tmp_path / "million.csv"
    with path.open("wb") as out:
        out.write(b"sku,price\r\n")
        for start in range(0, 1_000_000, 100_000):
            out.write(b"".join(b"S%d,%d.5\r\n" % (i, i % 100)
                               for i in range(start, start + 100_000)))
    fields = [Field("sku", required=True), Field("price", "number")]

    def opened(offset: int) -> BinaryIO:
        stream = path.open("rb")
        stream.seek(offset)
        return stream

    reader = open_reader("csv", fields)
    assert reader.inspect(opened).rows == 1_000_000
    state = reader.state()
    seen, last, invocations = 0, None, 0
    while not state["done"]:
        reader = resume_reader(state, fields)
        invocations += 1
        for parsed in reader.rows(opened):
            seen += 1
            last = parsed
            if seen % 300_000 == 0:
                break
        state = reader.state()
    assert seen == 1_000_000 and invocations == 4
    assert last is not None and last.row == 1_000_001
    assert last.values == {"sku": "S999999", "price": "99.5"}
    assert state["offset"] == path.stat().st_size


# -- JSON arrays ---------------------------------------------------------------------

@pytest.mark.parametrize("data, says", [
    (b"", "The file is empty"),
    (b" \n ", "The file is empty"),
    (b'{"sku": "A"}', "must be a JSON array of objects"),
    (b'[{"sku": "A"}', "ends before its closing ]"),
    (b'[{"sku": "A"},', "ends after a comma"),
    (b'[{"sku": "A"} {"sku": "B"}]', "Expected , or ] after element 1"),
    (b'[{"sku": "A"}, {"sku": }]', "Element 2 is not valid JSON"),
    (b'[{"sku": "A"}] x', "Something follows the array's closing ]"),
    (b'[{"sku": "caf\xe9"}]', "not UTF-8"),
    (b"\xff\xfe[\x00]\x00", "UTF-16"),
])
def test_json_file_problems(data: bytes, says: str) -> None:
    [problem] = rejected(data, "json")
    assert says in problem["message"]


def test_json_rows_are_objects_with_known_keys() -> None:
    data = b'\xef\xbb\xbf[{"sku": "A", "price": 1.5, "tags": ["x"], "name": null},' \
           b' 7, {"sku": "B", "nmae": "typo"}, {"sku": "=1"}]'
    rows = read(data, "json")
    assert [(r.row, r.values) for r in rows] == [
        (1, {"sku": "A", "price": 1.5, "tags": ["x"], "name": None}), (2, {}),
        (3, {"sku": "B"}), (4, {"sku": "=1"})]
    assert rows[1].problems[0].message == "Element 2 is a number, not an object."
    assert rows[2].problems[0].as_dict() == {
        "row": 3, "field": "nmae", "message": "Unknown field 'nmae'; did you mean 'name'?"}
    assert read(data, "json", formulas="refuse")[3].problems[0].field == "sku"
    assert read(b"[]", "json") == []


def test_json_element_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonreader, "MAX_ELEMENT", 1000)
    data = b'[{"sku": "A"}, {"name": "' + b"x" * 200_000 + b'"}]'
    [problem] = rejected(data, "json")
    assert "Element 2" in problem["message"] and "larger than 1 MiB" in problem["message"]
