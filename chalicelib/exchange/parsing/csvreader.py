"""CSV imports: RFC 4180 (quoted cells may hold commas, doubled quotes and line breaks),
UTF-8 only, a UTF-8 BOM accepted and stripped.

Row numbers are the spreadsheet's: the header is row 1 (if the file starts with it), and
a record whose quoted cells hold line breaks is still one row. Blank rows (no line, or
only empty cells) are skipped. An empty cell is no value: its field is left out of the
row. Object and array fields hold JSON, as the CSV export writes them.

Formulas: by default a cell is taken literally, as the same text sent through the JSON
API would be. Refusing formula-looking cells at import would protect nothing (the API
accepts the same strings) and would refuse real data (phone numbers "+44 20…", "-" notes,
"@handles"); the protection belongs where a spreadsheet may run them, at export, and is
there (CSV cells are neutralised, XLSX cells are inline text). The export's own escape, a
`'` before such a cell, is undone, so an exported file imports back unchanged. A caller
that wants them refused passes formulas="refuse": each such cell (a plain number such as
-5 is not one) is that row's problem, and a `'` before it still says "this is text".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from chalicelib.exchange.parsing.base import (
    CHUNK,
    FORMULA_TRIGGERS,
    FileRejected,
    ParsedRow,
    Problem,
    Reader,
    Source,
    Summary,
    open_at,
    suggestion,
)

MAX_LINE = 8 << 20
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ESCAPED = frozenset("'" + c for c in FORMULA_TRIGGERS)


class _Bad(Exception):
    """A byte-level problem, at `offset` on `line`; the reader names the row."""

    def __init__(self, message: str, offset: int, line: int) -> None:
        super().__init__(message)
        self.message, self.offset, self.line = message, offset, line


class _Lines:
    """The stream's lines as text, split at LF (a CR stays, for csv to see), with the
    byte offset and line number after the last line handed out."""

    def __init__(self, stream: BinaryIO, offset: int, line: int) -> None:
        self.stream, self.offset, self.line = stream, offset, line

    def __iter__(self) -> Iterator[str]:
        pending: list[bytes] = []   # the start of a line not yet ended
        pending_size = 0
        first = self.offset == 0
        while True:
            chunk = self.stream.read(CHUNK)
            if first:
                chunk = self._opening(chunk)
                first = False
            if not chunk:
                if pending:
                    yield self._decode(b"".join(pending), False)
                return
            end = chunk.rfind(b"\n") + 1
            tail = chunk[end:]
            if end:
                body = b"".join(pending) + chunk[:end] if pending else chunk[:end]
                pending, pending_size = [], 0
                yield from self._complete(body)
            if tail:
                pending.append(tail)
                pending_size += len(tail)
                if pending_size > MAX_LINE:
                    raise _Bad(f"a line longer than {MAX_LINE >> 20} MiB", self.offset,
                               self.line)

    def _opening(self, chunk: bytes) -> bytes:
        while len(chunk) < 4:
            more = self.stream.read(CHUNK)
            if not more:
                break
            chunk += more
        if chunk.startswith(_UTF16_BOMS):
            raise _Bad("it is UTF-16 (it starts with a UTF-16 byte order mark)", 0, 1)
        if chunk.startswith(b"PK\x03\x04"):
            raise _Bad("it is a ZIP archive (an XLSX workbook?), not CSV text", 0, 1)
        if chunk.startswith(_UTF8_BOM):
            self.offset = len(_UTF8_BOM)
            return chunk[len(_UTF8_BOM):]
        return chunk

    def _complete(self, body: bytes) -> Iterator[str]:
        """The lines of `body` (which ends with LF), decoded at once; line by line only
        to say where a bad byte is."""
        try:
            if b"\x00" in body:
                raise ValueError
            texts = body.decode("utf-8").split("\n")
        except ValueError:
            for raw in body.split(b"\n")[:-1]:
                yield self._decode(raw, True)
            return
        texts.pop()
        sizes = ((len(t) + 1 for t in texts) if body.isascii() else
                 (len(raw) + 1 for raw in body.split(b"\n")))
        for text, size in zip(texts, sizes, strict=False):
            self.offset += size
            self.line += 1
            yield text + "\n"

    def _decode(self, raw: bytes, ended: bool) -> str:
        if b"\x00" in raw:
            at = self.offset + raw.index(b"\x00")
            raise _Bad(f"a NUL byte at byte offset {at:,}: UTF-16, or a binary file?", at,
                       self.line)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = self.offset + exc.start
            raise _Bad(f"the byte 0x{raw[exc.start]:02X} at byte offset {at:,} is not "
                       "UTF-8", at, self.line) from None
        self.offset += len(raw) + ended
        self.line += 1
        return text + "\n" if ended else text


class CsvReader(Reader):
    format = "csv"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header: list[str] = []
        self.line = 1          # the physical line the next record starts on
        # A tuple in the fields' order: a set's order changes with the process's hash seed,
        # and a row's problems must come out in the same order on every run.
        self._json = tuple(f.name for f in self.fields if f.type in ("object", "array"))
        # first characters that need a second look: the export's escape, and formulas
        self._starts = frozenset("'" + ("".join(FORMULA_TRIGGERS)
                                        if self.formulas == "refuse" else ""))

    # -- the two passes --------------------------------------------------------------
    def inspect(self, source: Source) -> Summary:
        self.offset, self.row, self.line, self.done = 0, 0, 1, False
        records = self._records(source)
        header = next((r for r in records if any(cell.strip() for cell in r)), None)
        if header is None:
            raise FileRejected([Problem(None, None, "The file is empty: it has no header "
                                        "row (and no rows).")])
        self.header = self._check_header(header)
        start = (self.offset, self.row, self.line)
        count = sum(1 for record in records if any(record))
        size = self.offset
        self.offset, self.row, self.line = start
        self.inspected = True
        return Summary(rows=count, size=size, columns=list(self.header))

    def rows(self, source: Source) -> Iterator[ParsedRow]:
        self._ready()
        if self.done:
            return
        for record in self._records(source):
            if any(record):
                yield self._parse(self.row, record)
        self.done = True

    # -- records, with the position after each -------------------------------------
    def _records(self, source: Source) -> Iterator[list[str]]:
        lines = _Lines(open_at(source, self.offset), self.offset, self.line)
        reader = csv.reader(lines, strict=True)
        try:
            for record in reader:
                self.row += 1
                self.offset, self.line = lines.offset, lines.line
                yield record
        except _Bad as bad:
            raise FileRejected([Problem(self.row + 1, None, f"The file is not UTF-8 text: "
                                        f"{bad.message} (line {bad.line:,}). Save it as "
                                        "'CSV UTF-8' and send it again.")]) from None
        except csv.Error as exc:
            raise FileRejected([Problem(self.row + 1, None, _csv_message(
                str(exc), self.row + 1, self.line))]) from None

    def _check_header(self, header: list[str]) -> list[str]:
        row = self.row
        names = [cell.strip() for cell in header]
        allowed = [f.name for f in self.fields]
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for number, name in enumerate(names, start=1):
            if not name:
                problems.append(Problem(row, None, f"Column {number} of the header has no "
                                        "name."))
                continue
            if name in seen:
                problems.append(Problem(row, name, f"The column '{name}' appears twice in "
                                        f"the header (columns {seen[name]} and {number})."))
                continue
            seen[name] = number
            if name not in self.by_name:
                problems.append(Problem(row, name, f"Unknown column '{name}'"
                                        f"{suggestion(name, allowed)} The columns are: "
                                        f"{', '.join(allowed)}."))
        for f in self.fields:
            if f.required and f.name not in seen:
                problems.append(Problem(row, f.name, f"The required column '{f.name}' is "
                                        "missing from the header."))
        if problems:
            raise FileRejected(problems)
        return names

    def _parse(self, row: int, record: list[str]) -> ParsedRow:
        if len(record) != len(self.header):
            hint = ("; a stray comma, or a comma in a cell that is not quoted?"
                    if len(record) > len(self.header) else ".")
            return ParsedRow(row, {}, [Problem(row, None, (
                f"This row has {len(record)} cells but the header has "
                f"{len(self.header)}{hint}"))])
        values = {name: cell for name, cell in zip(self.header, record, strict=True) if cell}
        problems: list[Problem] = []
        for name, cell in values.items():
            if cell[0] not in self._starts:   # the common case: nothing to look at
                continue
            if cell[:2] in _ESCAPED:
                values[name] = cell[1:]      # the export's escape: the text follows it
            elif (problem := self._formula(row, name, cell)) is not None:
                problems.append(problem)
        for name in (n for n in self._json if n in values):
            value, problem = _json_cell(row, name, values[name], self.by_name[name].type)
            if problem is None:
                values[name] = value
            else:
                problems.append(problem)
        for problem in problems:
            values.pop(problem.field or "", None)
        return ParsedRow(row, values, problems)

    def _state(self) -> dict[str, Any]:
        return {"header": self.header, "line": self.line}

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.header, self.line = list(state["header"]), state["line"]


def _json_cell(row: int, name: str, cell: str, kind: str) -> tuple[Any, Problem | None]:
    want, article = (dict, "an object") if kind == "object" else (list, "an array")
    try:
        value = json.loads(cell)
    except ValueError as exc:
        return None, Problem(row, name, f"Expected {article} in JSON, as the export writes "
                             f"it: {exc}.")
    if not isinstance(value, want):
        return None, Problem(row, name, f"Expected {article} in JSON, not "
                             f"{type(value).__name__}.")
    return value, None


def _csv_message(error: str, row: int, line: int) -> str:
    where = f"Row {row:,} (line {line:,})"
    if "new-line character" in error:
        return (f"{where} has a line break (CR) outside quotes. If the file's lines end "
                "with CR alone (old Mac), save it with CRLF or LF line ends.")
    if "field larger" in error:
        return (f"{where} has a cell longer than {csv.field_size_limit():,} characters: "
                "usually a quote that is never closed.")
    if "unexpected end of data" in error:
        return f"{where} opens a quote that is never closed."
    if "expected after" in error:
        return (f"{where}: a quoted cell goes on after its closing quote; a quote inside a "
                'quoted cell must be doubled ("").')
    return f"{where} is not valid CSV: {error}."
