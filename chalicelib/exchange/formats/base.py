"""The one interface every export format implements.

    writer = open_writer("csv", fields, entity="products")
    part = writer.write(rows)            # bytes for these rows (maybe b"" while buffering)
    tail, state = writer.checkpoint()    # flush; state is small and JSON-serialisable
    ... a later invocation ...
    writer = resume_writer(state, fields)
    part = writer.write(more_rows)
    last = writer.finish()               # the closing bytes

Every byte returned, in order, forms one valid file. The bytes up to a checkpoint are
what the engine uploads as the multipart parts done so far; after `resume` the writer
goes on exactly where that checkpoint left off, so a worker that dies after a checkpoint
repeats nothing. Memory holds one batch, never the file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from chalicelib.exchange.formats.dictionary import Field, check_resumable, fingerprint


class Writer(ABC):
    format: ClassVar[str]
    media_type: ClassVar[str]
    extension: ClassVar[str]

    def __init__(self, fields: Sequence[Field], *, entity: str) -> None:
        if not fields:
            raise ValueError("an export needs at least one field")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        self.fields = list(fields)
        self.names = names
        self.entity = entity
        self.rows = 0          # rows written so far, over all invocations
        self.size = 0          # bytes returned so far, over all invocations
        self.started = False   # the file's opening bytes were returned
        self.finished = False

    # -- the interface --------------------------------------------------------------
    def write(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        """The bytes for these rows; fields missing from a row are empty (null)."""
        self._usable()
        out = bytearray()
        if not self.started:
            out += self._opening()
            self.started = True
        out += self._rows(rows)
        return self._count(out)

    def checkpoint(self) -> tuple[bytes, dict[str, Any]]:
        """Flush what is held back and say where the file stands. The bytes returned
        here belong before anything written after; the state resumes right after them."""
        self._usable()
        tail = self._count(self._flush())
        state = {"format": self.format, "fields": fingerprint(self.fields),
                 "entity": self.entity, "rows": self.rows, "size": self.size,
                 "started": self.started, **self._state()}
        return tail, state

    def finish(self) -> bytes:
        """The closing bytes; an export of no rows is still a valid file."""
        self._usable()
        out = bytearray()
        if not self.started:
            out += self._opening()
            self.started = True
        out += self._closing()
        self.finished = True
        return self._count(out)

    @classmethod
    def resume(cls, state: Mapping[str, Any], fields: Sequence[Field]) -> Writer:
        check_resumable(state, cls.format, fields, "export")
        writer = cls(fields, entity=state["entity"], **cls._options(state))
        writer.rows, writer.size, writer.started = state["rows"], state["size"], \
            state["started"]
        writer._restore(state)
        return writer

    # -- what a format provides ----------------------------------------------------
    @abstractmethod
    def _opening(self) -> bytes: ...

    @abstractmethod
    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes: ...

    @abstractmethod
    def _closing(self) -> bytes: ...

    def _flush(self) -> bytes:
        return b""

    def _state(self) -> dict[str, Any]:
        """The format's own part of the state (its options included)."""
        return {}

    @classmethod
    def _options(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor options saved in the state."""
        return {}

    def _restore(self, state: Mapping[str, Any]) -> None:
        """Anything beyond the options that the format keeps between invocations."""
        return None

    # -- helpers ------------------------------------------------------------------
    def _usable(self) -> None:
        if self.finished:
            raise RuntimeError("this export is finished")

    def _count(self, out: bytes | bytearray) -> bytes:
        data = bytes(out)
        self.size += len(data)
        return data
