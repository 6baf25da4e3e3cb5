"""The data subject's export as one JSON document, written a page at a time:

    {"generatedAt": "...",
     "subject": {...},
     "customer": {...},
     "orders": [
    {...},
    ...
    ],
     "tickets": [...], "events": [...], "deliveries": [...]}

Rows arrive as {"section": <member>, "value": ...}, members in the dictionary's order:
an object member is written whole, an array member's items one by one (its array opened
at its first item, closed when another member starts). An array nobody wrote an item
of is written empty, in its place. Loaded where an export runs, as the other writers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.exchange.formats.base import Writer
from chalicelib.exchange.formats.dictionary import Field
from chalicelib.exchange.formats.values import json_default, utf8

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                           default=json_default).encode
FIRST = "generatedAt"  # written with the opening brace


class SubjectWriter(Writer):
    format = "json"
    media_type = "application/json"
    extension = "json"

    def __init__(self, fields: Sequence[Field], *, entity: str, generated_at: str) -> None:
        super().__init__(fields, entity=entity)
        self.generated_at = generated_at
        self.members = [f.name for f in self.fields if f.name != FIRST]
        self.arrays = {f.name for f in self.fields if f.type == "array"}
        self.open: str | None = None   # the array member being written
        self.done: list[str] = []      # members written (closed)

    def _opening(self) -> bytes:
        return utf8("{" + _ENCODE(FIRST) + ":" + _ENCODE(self.generated_at))

    def _rows(self, rows: Iterable[Mapping[str, Any]]) -> bytes:
        out: list[str] = []
        for row in rows:
            name, value = str(row["section"]), row.get("value")
            if name not in self.members or name in self.done:
                raise ValueError(f"member {name!r} out of order")
            if name == self.open:
                out.append(",\n" + _ENCODE(value))
            else:
                out.append(self._up_to(name))
                if name in self.arrays:
                    self.open = name
                    out.append(",\n" + _ENCODE(name) + ":[\n" + _ENCODE(value))
                else:
                    self.done.append(name)
                    out.append(",\n" + _ENCODE(name) + ":" + _ENCODE(value))
            self.rows += 1
        return utf8("".join(out))

    def _up_to(self, name: str | None) -> str:
        """Closes the open array, and writes the members before `name` (None: every
        one left) that nothing was written for: arrays empty, objects null."""
        out = []
        if self.open is not None:
            out.append("\n]")
            self.done.append(self.open)
            self.open = None
        for member in self.members:
            if member == name:
                break
            if member not in self.done:
                self.done.append(member)
                out.append(",\n" + _ENCODE(member) + (":[]" if member in self.arrays
                                                       else ":null"))
        return "".join(out)

    def _closing(self) -> bytes:
        return utf8(self._up_to(None) + "\n}\n")

    def _state(self) -> dict[str, Any]:
        return {"generatedAt": self.generated_at, "open": self.open, "done": list(self.done)}

    @classmethod
    def _options(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"generated_at": state["generatedAt"]}

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.open = state.get("open")
        self.done = list(state.get("done") or [])
