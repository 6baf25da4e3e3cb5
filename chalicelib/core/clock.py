"""The one clock: tests move it, code never calls time.time() directly."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset = 0.0


def now() -> float:
    return time.time() + _offset


def now_int() -> int:
    return int(now())


def advance(seconds: float) -> None:
    global _offset
    _offset += seconds


def reset() -> None:
    global _offset
    _offset = 0.0


def iso(ts: float | None = None) -> str:
    """RFC 3339 in UTC with a Z, millisecond precision."""
    moment = datetime.fromtimestamp(now() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def day(ts: float | None = None) -> str:
    return datetime.fromtimestamp(now() if ts is None else ts, tz=UTC).strftime(
        "%Y-%m-%d"
    )
