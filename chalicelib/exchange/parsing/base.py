"""What every import reader hands out and how it reports problems.

The contract's error shape is {row, field, message}. A file-level problem (encoding,
empty file, header) raises FileRejected before any row is handed out; a row-level problem
(ragged row, unknown key, bad JSON in an object cell) rides on that row, and the rows after
it go on.
"""

from __future__ import annotations

import difflib
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar, Literal

from chalicelib.core.errors import Unprocessable
from chalicelib.exchange.formats.dictionary import Field, check_resumable, fingerprint
from chalicelib.exchange.formats.values import FORMULA_TRIGGERS, is_plain_number

CHUNK = 1 << 16
Formulas = Literal["accept", "refuse"]
# The file: its bytes (a request body), or a function opening it at a byte offset (an S3
# object read with `Range: bytes=<offset>-`).
Source = bytes | Callable[[int], BinaryIO]


def open_at(source: Source, offset: int) -> BinaryIO:
    if isinstance(source, bytes):
        stream = io.BytesIO(source)  # shares the bytes; no copy
        stream.seek(offset)
        return stream
    return source(offset)


@dataclass(frozen=True)
class Problem:
    row: int | None   # None: the file as a whole
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class FileRejected(Unprocessable):
    """The file as a whole cannot be imported; nothing from it may be written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        message = (self.problems[0].message if len(self.problems) == 1 else
                   f"The file cannot be imported: {len(self.problems)} problems.")
        super().__init__(message, details=[p.as_dict() for p in self.problems])


@dataclass
class ParsedRow:
    row: int                                  # as the user sees it (see each reader)
    values: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Summary:
    rows: int              # data rows in the file (blank ones not counted)
    size: int              # bytes
    columns: list[str]     # the header (CSV) or the fields allowed (JSON)


def suggestion(name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6) or \
        [a for a in allowed if a.lower() == name.lower()]
    return f"; did you mean '{close[0]}'?" if close else "."


def looks_like_formula(text: str) -> bool:
    """OWASP's triggers; a plain number (-5, +3.2) cannot run, so it is not one."""
    return text.startswith(FORMULA_TRIGGERS) and not is_plain_number(text)


FORMULA_MESSAGE = ("This cell starts with '{0}', so a spreadsheet would run it as a formula; such "
                   "cells are refused. Prefix it with an apostrophe (') to mean the text.")


class Reader(ABC):
    """Read in two passes: `inspect(source)` once over the whole file (all file-level
    checks, and the row count), then `rows(source)` in as many invocations as it takes,
    each in a reader made by `resume` from the last `state()`."""

    format: ClassVar[str]

    def __init__(self, fields: Sequence[Field], *, formulas: Formulas = "accept") -> None:
        if formulas not in ("accept", "refuse"):
            raise ValueError("formulas: accept or refuse")
        self.fields = list(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.formulas = formulas
        self.offset = 0        # byte offset of the next record
        self.row = 0           # the last row handed out (or the header's)
        self.inspected = False
        self.done = False

    @abstractmethod
    def inspect(self, source: Source) -> Summary: ...

    @abstractmethod
    def rows(self, source: Source) -> Iterator[ParsedRow]:
        """The rows after the last one handed out (read from `self.offset`). Stop
        anywhere: `state()` taken after a row resumes right after it."""

    def state(self) -> dict[str, Any]:
        return {"format": self.format, "fields": fingerprint(self.fields),
                "formulas": self.formulas, "offset": self.offset, "row": self.row,
                "inspected": self.inspected, "done": self.done, **self._state()}

    @classmethod
    def resume(cls, state: Mapping[str, Any], fields: Sequence[Field]) -> Reader:
        check_resumable(state, cls.format, fields, "import")
        reader = cls(fields, formulas=state["formulas"])
        reader.offset, reader.row = state["offset"], state["row"]
        reader.inspected, reader.done = state["inspected"], state["done"]
        reader._restore(state)
        return reader

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: Mapping[str, Any]) -> None:
        return None

    def _ready(self) -> None:
        if not self.inspected:
            raise RuntimeError("inspect the file first: it checks the whole file before "
                               "any row is handed out")

    def _formula(self, row: int, name: str, text: str) -> Problem | None:
        if self.formulas == "refuse" and looks_like_formula(text):
            shown = text[0].encode("unicode_escape").decode()
            return Problem(row, name, FORMULA_MESSAGE.format(shown))
        return None
