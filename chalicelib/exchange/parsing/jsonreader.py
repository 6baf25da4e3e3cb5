"""JSON imports: one array of objects, read element by element (never the whole file in
memory). A row is the element's position in the array, from 1. UTF-8; a BOM is accepted
and stripped. Keys are the fields' names; an unknown key is that row's problem; values
are taken as JSON typed them (null included)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from chalicelib.exchange.parsing.base import (
    CHUNK,
    FileRejected,
    ParsedRow,
    Problem,
    Reader,
    Source,
    Summary,
    open_at,
    suggestion,
)

MAX_ELEMENT = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
          int: "a number", float: "a number", type(None): "null"}


class _Bad(Exception):
    pass


class _Scanner:
    """The array's elements from byte `offset`, where the scanner last stood `after`
    (None: before the array; "open": after its `[`; "element": after an element)."""

    def __init__(self, stream: BinaryIO, offset: int, after: str | None, index: int) -> None:
        self.stream, self.offset, self.after, self.index = stream, offset, after, index
        self.text, self.pos, self.eof = "", 0, False
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._read = offset   # bytes read from the stream, as an offset in the file

    def __iter__(self) -> Iterator[Any]:
        if self.after is None:
            char = self._skip()
            if char is None:
                raise _Bad("The file is empty: expected a JSON array of objects.")
            if char != "[":
                raise _Bad("The file must be a JSON array of objects ([{...}, ...]); it "
                           f"starts with {char!r}.")
            self._take(self.pos + 1)
            self.after = "open"
        while True:
            char = self._skip()
            if char is None:
                raise _Bad(f"The array ends before its closing ] (after element "
                           f"{self.index:,}).")
            if char == "]":
                self._take(self.pos + 1)
                if self._skip() is not None:
                    raise _Bad(f"Something follows the array's closing ] at byte offset "
                               f"{self.offset:,}.")
                return
            if self.after == "element":
                if char != ",":
                    raise _Bad(f"Expected , or ] after element {self.index:,} at byte "
                               f"offset {self.offset:,}, found {char!r}.")
                self._take(self.pos + 1)
                if self._skip() is None:
                    raise _Bad("The array ends after a comma.")
            value, end = self._value()
            self._take(end)
            self.after = "element"
            self.index += 1
            yield value

    def _value(self) -> tuple[Any, int]:
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if not self.eof and len(self.text) - self.pos <= MAX_ELEMENT and self._more():
                    continue
                at = self.offset + len(self.text[self.pos:exc.pos].encode())
                too_big = len(self.text) - self.pos > MAX_ELEMENT
                raise _Bad(f"Element {self.index + 1:,} is not valid JSON: "
                           + ("it is larger than 1 MiB." if too_big else
                              f"{exc.msg} at byte offset {at:,}.")) from None
            if end == len(self.text) and not self.eof and self._more():
                continue  # a number may go on in the next chunk
            return value, end

    def _skip(self) -> str | None:
        """The next character that is not whitespace (not consumed), None at the end."""
        while True:
            match = _WHITESPACE.match(self.text, self.pos)
            self._take(match.end() if match else self.pos)
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more():
                return None

    def _take(self, end: int) -> None:
        if end > self.pos:
            self.offset += len(self.text[self.pos:end].encode())
            self.pos = end

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        if self._read == 0:
            chunk = self._opening(chunk)
        pending = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = self._read - pending + exc.start
            raise _Bad(f"The file is not UTF-8 text: the byte at byte offset {at:,} is not "
                       "UTF-8. Save it as UTF-8 and send it again.") from None
        self._read += len(chunk)
        if not chunk:
            self.eof = True
        self.text = self.text[self.pos:] + text
        self.pos = 0
        return bool(chunk)

    def _opening(self, chunk: bytes) -> bytes:
        while 0 < len(chunk) < 4:
            more = self.stream.read(CHUNK)
            if not more:
                break
            chunk += more
        if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _Bad("The file is not UTF-8 text: it is UTF-16. Save it as UTF-8.")
        if chunk.startswith(b"\xef\xbb\xbf"):
            self._read = self.offset = 3
            return chunk[3:]
        return chunk


class JsonReader(Reader):
    format = "json"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after: str | None = None

    def inspect(self, source: Source) -> Summary:
        scanner = _Scanner(open_at(source, 0), 0, None, 0)
        try:
            count = sum(1 for _ in scanner)
        except _Bad as bad:
            raise FileRejected([Problem(None, None, str(bad))]) from None
        self.offset, self.row, self.after, self.done = 0, 0, None, False
        self.inspected = True
        return Summary(rows=count, size=scanner._read, columns=[f.name for f in self.fields])

    def rows(self, source: Source) -> Iterator[ParsedRow]:
        self._ready()
        if self.done:
            return
        scanner = _Scanner(open_at(source, self.offset), self.offset, self.after, self.row)
        try:
            for value in scanner:
                self.offset, self.after, self.row = scanner.offset, scanner.after, \
                    scanner.index
                yield self._parse(self.row, value)
        except _Bad as bad:
            raise FileRejected([Problem(self.row + 1, None, str(bad))]) from None
        self.offset = scanner.offset
        self.done = True

    def _parse(self, row: int, value: Any) -> ParsedRow:
        if not isinstance(value, dict):
            kind = _KINDS.get(type(value), type(value).__name__)
            return ParsedRow(row, {}, [Problem(row, None, f"Element {row:,} is {kind}, not an "
                                               "object.")])
        allowed = [f.name for f in self.fields]
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, item in value.items():
            if key not in self.by_name:
                problems.append(Problem(row, key, f"Unknown field '{key}'"
                                        f"{suggestion(key, allowed)}"))
            elif isinstance(item, str) and (problem := self._formula(row, key, item)):
                problems.append(problem)
            else:
                values[key] = item
        return ParsedRow(row, values, problems)

    def _state(self) -> dict[str, Any]:
        return {"after": self.after}

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.after = state["after"]
