"""How a value becomes text, JSON, an XML name or an Excel serial: shared by the writers
so that every format says the same thing about the same value."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# OWASP's CSV injection list: a cell starting with one of these may run as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
NUMERIC = ("integer", "number")


def json_default(value: Any) -> Any:
    """What json.dumps cannot say itself: DynamoDB's Decimals, datetimes, sets."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and value.is_finite():
            return int(value)
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if not isinstance(value, tuple) else list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def compact_json(value: Any) -> str:
    return _COMPACT(value)


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
                            default=json_default).encode


def text_of(value: Any) -> str:
    """A non-None value as the text a cell or element holds."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple | set | frozenset):
        return compact_json(value)
    return str(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """UTF-8 bytes; a lone surrogate (which UTF-8 cannot hold) becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def is_plain_number(text: str) -> bool:
    return _PLAIN_NUMBER.fullmatch(text) is not None


def neutralise(text: str, field_type: str) -> str:
    """OWASP's defence for CSV: a leading `'` makes a spreadsheet show the cell as text.
    A plain number (-5, +3.2) in an integer or number field stays a number: it cannot
    run, and quoting it would turn it into text. In any other field it is quoted, which
    also keeps a spreadsheet from turning text such as "-5" or "+44 20" into a number."""
    if text.startswith(FORMULA_TRIGGERS) and not (field_type in NUMERIC
                                                  and is_plain_number(text)):
        return "'" + text
    return text


# XML 1.0 forbids these characters even as character references.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Element content: characters XML 1.0 forbids become U+FFFD (they cannot be written
    at all), & < > are escaped, and CR becomes &#13; so a parser's end-of-line
    normalisation does not turn it into LF."""
    text = _XML_FORBIDDEN.sub("\ufffd", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def xml_attr(text: str) -> str:
    return xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


_NAME_START = ("A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff"
               "\u200c-\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd")
_NOT_NAME_CHAR = re.compile(f"[^{_NAME_START}\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040]")
_NAME_STARTS = re.compile(f"[{_NAME_START}]")


def xml_name(name: str) -> str:
    """A field name as an XML element name: each character a Name may not hold
    (spaces, punctuation, the namespace colon) becomes `_`; a name that may not start
    as it does (a digit, `-`, `.`, nothing) or starts with the reserved `xml` gets a
    leading `_`. Declared names (camelCase) come through unchanged."""
    out = _NOT_NAME_CHAR.sub("_", name)
    if not out or not _NAME_STARTS.match(out[0]) or out[:3].lower() == "xml":
        out = "_" + out
    return out


def xml_names(names: Sequence[str]) -> list[str]:
    """xml_name of each, made unique by a `_2`, `_3`... suffix where two collide."""
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        base = candidate = xml_name(name)
        n = 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


_EPOCH = datetime(1899, 12, 30)
_UNIX_EPOCH_SERIAL = 25569.0   # 1970-01-01
# Excel counts 1900-02-29, which never was: serials before March 1900 (61) are off by one.
_FIRST_SERIAL = 61.0


def as_datetime(value: Any) -> datetime | None:
    """A datetime value, or ISO 8601 text of one; None if it is neither."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            moment = as_datetime(value)
            return moment.date() if moment else None
    return None


def excel_serial(moment: datetime) -> float | None:
    """Days since Excel's epoch, the fraction the time of day, in UTC (Excel has no time
    zones; a naive datetime is taken as UTC); None before March 1900."""
    if moment.tzinfo is not None:
        serial = moment.timestamp() / 86400 + _UNIX_EPOCH_SERIAL
    else:
        delta = moment - _EPOCH
        serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return serial if serial >= _FIRST_SERIAL else None
