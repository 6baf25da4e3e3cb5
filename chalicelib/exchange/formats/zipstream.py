"""A ZIP archive written front to back in pieces, resumable in another process.

An entry is either added whole (sizes known) or streamed: its local header says the sizes
follow in a data descriptor, its data is raw deflate fed piece by piece. At a checkpoint
the compressor is flushed with Z_FULL_FLUSH: its output ends on a byte boundary and
nothing after refers back to what came before, so a fresh compressor in the next process
continues the same deflate stream; the CRC-32 goes on with zlib.crc32(data, crc). The
state (offsets, CRCs, sizes of the entries so far) is a few hundred bytes.

No ZIP64: every offset and size must stay below 4 GiB (the whole archive, in practice)
and there may be at most 65,535 entries; beyond that `ZipTooLarge` is raised rather than
a broken file written.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_LIMIT = 0xFFFFFFFF
_VERSION = 20        # 2.0: deflate, data descriptors
_DESCRIPTOR = 0x08   # general purpose flag: sizes and CRC follow the data
_UTF8 = 0x800        # general purpose flag: the name is UTF-8


class ZipTooLarge(Exception):
    pass


def dos_time(moment: datetime) -> tuple[int, int]:
    year = max(moment.year, 1980)
    return ((moment.hour << 11) | (moment.minute << 5) | (moment.second // 2),
            ((year - 1980) << 9) | (moment.month << 5) | moment.day)


class ZipStream:
    def __init__(self, when: tuple[int, int], level: int = 6) -> None:
        self.when = when
        self.level = level
        self.offset = 0                        # bytes emitted so far
        self.entries: list[list[Any]] = []     # [name, flags, crc, csize, usize, offset]
        self.current: list[Any] | None = None  # the streamed entry, as above
        self._compressor: Any = None

    # -- whole entries -------------------------------------------------------------
    def add(self, name: str, data: bytes) -> bytes:
        if self.current is not None:
            raise RuntimeError("an entry is being streamed")
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        packed = compressor.compress(data) + compressor.flush()
        flags = self._flags(name)
        entry = [name, flags, zlib.crc32(data), len(packed), len(data), self.offset]
        self._check(entry)
        out = self._local_header(entry) + packed
        self.entries.append(entry)
        return self._emit(out)

    # -- streamed entries ----------------------------------------------------------
    def open(self, name: str) -> bytes:
        if self.current is not None:
            raise RuntimeError("an entry is being streamed")
        self.current = [name, self._flags(name) | _DESCRIPTOR, 0, 0, 0, self.offset]
        self._compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return self._emit(self._local_header(self.current))

    def feed(self, data: bytes) -> bytes:
        entry = self._streaming()
        entry[2] = zlib.crc32(data, entry[2])
        entry[4] += len(data)
        packed = self._compressor.compress(data)
        entry[3] += len(packed)
        return self._emit(packed)

    def flush(self) -> bytes:
        """Everything fed so far, out; the next compressor may start from here."""
        if self.current is None:
            return b""
        packed = self._compressor.flush(zlib.Z_FULL_FLUSH)
        self.current[3] += len(packed)
        return self._emit(packed)

    def close_entry(self) -> bytes:
        entry = self._streaming()
        packed = self._compressor.flush(zlib.Z_FINISH)
        entry[3] += len(packed)
        self._check(entry)
        descriptor = struct.pack("<IIII", 0x08074B50, entry[2], entry[3], entry[4])
        self.entries.append(entry)
        self.current, self._compressor = None, None
        return self._emit(packed + descriptor)

    # -- the end -------------------------------------------------------------------
    def close(self) -> bytes:
        if self.current is not None:
            raise RuntimeError("an entry is still open")
        if len(self.entries) > 0xFFFF:
            raise ZipTooLarge("more than 65,535 entries")
        directory = bytearray()
        for name, flags, crc, csize, usize, offset in self.entries:
            encoded = name.encode()
            directory += struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, _VERSION, _VERSION, flags, 8,
                self.when[0], self.when[1], crc, csize, usize, len(encoded), 0, 0, 0, 0, 0,
                offset) + encoded
        end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(self.entries),
                          len(self.entries), len(directory), self.offset, 0)
        if self.offset + len(directory) > _LIMIT:
            raise ZipTooLarge("the archive would pass 4 GiB (ZIP64 is not written)")
        return self._emit(bytes(directory) + end)

    # -- state ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Valid right after flush(): nothing is held in the compressor."""
        return {"when": list(self.when), "level": self.level, "offset": self.offset,
                "entries": [list(e) for e in self.entries],
                "current": list(self.current) if self.current else None}

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> ZipStream:
        stream = cls((state["when"][0], state["when"][1]), state["level"])
        stream.offset = state["offset"]
        stream.entries = [list(e) for e in state["entries"]]
        if state["current"] is not None:
            stream.current = list(state["current"])
            stream._compressor = zlib.compressobj(stream.level, zlib.DEFLATED, -15)
        return stream

    # -- helpers -------------------------------------------------------------------
    def _streaming(self) -> list[Any]:
        if self.current is None:
            raise RuntimeError("no entry is being streamed")
        return self.current

    @staticmethod
    def _flags(name: str) -> int:
        return 0 if name.isascii() else _UTF8

    def _local_header(self, entry: list[Any]) -> bytes:
        name, flags, crc, csize, usize, _ = entry
        if flags & _DESCRIPTOR:
            crc = csize = usize = 0
        encoded = name.encode()
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, _VERSION, flags, 8, self.when[0],
                           self.when[1], crc, csize, usize, len(encoded), 0) + encoded

    def _check(self, entry: list[Any]) -> None:
        if entry[3] >= _LIMIT or entry[4] >= _LIMIT or entry[5] >= _LIMIT:
            raise ZipTooLarge(f"{entry[0]} passes 4 GiB (ZIP64 is not written)")

    def _emit(self, data: bytes) -> bytes:
        self.offset += len(data)
        if self.offset >= _LIMIT:
            raise ZipTooLarge("the archive passes 4 GiB (ZIP64 is not written)")
        return data
