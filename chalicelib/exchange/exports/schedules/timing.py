"""Schedule expressions and their next run: EventBridge's `rate(N unit)` and 5-field Unix
cron (`M H DoM Mon DoW`, as Vixie cron reads it), in an IANA time zone.

Rates are fixed intervals from the schedule's last slot (a day is 24 hours whatever the
zone does). Cron expressions are matched on the zone's wall clock:
- fields take `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n`
  (a to the field's end), names `JAN`-`DEC` and `SUN`-`SAT` (any case); DoW 0 and 7 are
  Sunday; `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly`
  (`@annually`) stand for their usual expressions; `cron(...)` around the five fields
  is accepted too.
- Day of month and day of week: when both are restricted a day matching either runs
  (Vixie's OR); when either field starts with `*` (`*/2` too, as in Vixie) both must.
- A wall-clock time the zone skips (spring forward) runs once, at the moment the clock
  jumps (02:30 on a night 02:00 -> 03:00 runs at 03:00); a time that happens twice (fall
  back) runs at its first occurrence only, unless the hour field is `*` (an hourly or
  finer schedule), which runs on both passes as Vixie's "wildcard" jobs do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

MIN_RATE_SECONDS = 60               # the tick's resolution
MAX_RATE_SECONDS = 366 * 86400
SEARCH_DAYS = 366 * 9               # a Feb 29th may be 8 years away (2096 -> 2104)

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400,
          "days": 86400}
_RATE = re.compile(r"rate\(\s*(\d{1,9})\s+([a-z]+)\s*\)", re.IGNORECASE)
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
           "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
# name, lowest, highest, names (their index + offset is their number)
_FIELDS = (("minute", 0, 59, None, 0), ("hour", 0, 23, None, 0),
           ("day of month", 1, 31, None, 0), ("month", 1, 12, _MONTHS, 1),
           ("day of week", 0, 7, _DAYS, 0))


class Invalid(ValueError):
    """An expression or time zone that cannot be used; the message says why."""


@dataclass(frozen=True)
class Rate:
    seconds: int


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]      # 0 = Sunday .. 6 = Saturday
    day_star: bool                # DoM starts with `*`
    weekday_star: bool            # DoW starts with `*`
    hour_star: bool               # the hour field is `*`: runs on both passes of a fall back

    def runs_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.day_star or self.weekday_star:
            return dom and dow
        return dom or dow


Spec = Rate | Cron


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone of this name; Invalid otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise Invalid(f"{name!r} is not an IANA time zone name (e.g. Europe/Paris).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise Invalid(f"{name!r} is not an IANA time zone name (e.g. Europe/Paris).") from exc


@lru_cache(maxsize=256)
def parse(expression: str) -> Spec:
    """The expression's Rate or Cron; Invalid (its message naming the problem)."""
    text = " ".join(expression.split())
    if text.lower().startswith("rate("):
        return _rate(text)
    if text.lower().startswith("cron(") and text.endswith(")"):
        text = text[5:-1].strip()
    text = _MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise Invalid("Expected rate(N minutes|hours|days) or five cron fields "
                      "(minute hour day-of-month month day-of-week).")
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    spec = Cron(minutes=tuple(sorted(sets[0])), hours=tuple(sorted(sets[1])),
                days=frozenset(sets[2]), months=frozenset(sets[3]),
                weekdays=frozenset(d % 7 for d in sets[4]), day_star=parts[2].startswith("*"),
                weekday_star=parts[4].startswith("*"), hour_star=parts[1] == "*")
    if not any(spec.runs_on(date(2000, 1, 1) + timedelta(days=n)) for n in range(366 * 4)):
        raise Invalid("The expression never runs (no such day in those months).")
    return spec


def _rate(text: str) -> Rate:
    match = _RATE.fullmatch(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise Invalid("Expected rate(N minute|minutes|hour|hours|day|days).")
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not MIN_RATE_SECONDS <= seconds <= MAX_RATE_SECONDS:
        raise Invalid("A rate is at least 1 minute and at most 366 days.")
    return Rate(seconds)


def _field(text: str, name: str, low: int, high: int, names: list[str] | None,
           offset: int) -> set[int]:
    def number(token: str) -> int:
        if names and token.upper() in names:
            return names.index(token.upper()) + offset
        if not token.isdigit():
            raise Invalid(f"The {name} field: {token!r} is not a number"
                          + (" or a name" if names else "") + ".")
        value = int(token)
        if not low <= value <= high:
            raise Invalid(f"The {name} field: {value} is outside {low}-{high}.")
        return value

    out: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise Invalid(f"The {name} field: step {step_text!r} must be a whole "
                              "number of at least 1.")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            left, _, right = base.partition("-")
            first, last = number(left), number(right)
            if first > last:
                raise Invalid(f"The {name} field: the range {base} runs backwards.")
        else:
            first = number(base)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return out


# -- the next run -------------------------------------------------------------------

def next_run(spec: Spec, tz_name: str, after: float, previous: float | None = None) -> float:
    """The first slot strictly after `after` (epoch seconds). A rate counts from
    `previous` (its last slot) when there is one, skipping the slots already past: a
    schedule that missed several runs once, then goes on from the next future slot."""
    if isinstance(spec, Rate):
        if previous is None:
            return _minute_ceil(after + spec.seconds)
        passed = max(0, int((after - previous) // spec.seconds))
        return previous + (passed + 1) * spec.seconds
    return _next_cron(spec, zone(tz_name), after)


def _minute_ceil(ts: float) -> float:
    whole = int(ts // 60) * 60
    return float(whole if whole == ts else whole + 60)


def _next_cron(spec: Cron, tz: ZoneInfo, after: float) -> float:
    # From the day before: a fall back at midnight repeats part of the previous day.
    wall_after = datetime.fromtimestamp(after, tz).replace(tzinfo=None)
    # Hours ending this long before `after` on the wall clock are over whatever the zone
    # did (no clock change is 3 hours); skipping them costs no zone conversion.
    bygone = wall_after - timedelta(hours=3)
    start = wall_after.date() - timedelta(days=1)
    for n in range(SEARCH_DAYS):
        day = start + timedelta(days=n)
        if not spec.runs_on(day):
            continue
        for hour in spec.hours:
            if datetime(day.year, day.month, day.day, hour, 59) < bygone:
                continue
            plain = _plain_hour(day, hour, tz)
            if plain is not None:  # no clock change within it: minute m is start + 60 m
                later = [plain + 60 * m for m in spec.minutes if plain + 60 * m > after]
                if later:
                    return later[0]
                continue
            latest = datetime(day.year, day.month, day.day, hour, 59, tzinfo=tz, fold=1)
            if latest.timestamp() + 3600 <= after:  # the hour is over (a jump's hour too)
                continue
            # The instants of one wall-clock hour come before those of the next (skipped
            # times collapse onto the jump, repeated ones stay within their hour).
            found = sorted(t for minute in spec.minutes
                           for t in _instants(day, hour, minute, tz, spec.hour_star)
                           if t > after)
            if found:
                return found[0]
    raise Invalid("The expression has no run in the next years.")


def _plain_hour(day: date, hour: int, tz: ZoneInfo) -> float | None:
    """The hour's first instant when its 60 minutes each happen once, in order."""
    start = datetime(day.year, day.month, day.day, hour, 0, tzinfo=tz)
    end = start.replace(minute=59)
    first = start.timestamp()
    if (first != start.replace(fold=1).timestamp() or end.timestamp() - first != 59 * 60
            or end.timestamp() != end.replace(fold=1).timestamp()):
        return None
    return first


def _instants(day: date, hour: int, minute: int, tz: ZoneInfo, both: bool) -> list[float]:
    """The moments a wall-clock time happens in the zone: one; the first of a repeated
    one (both when `both`); for a skipped one, the moment of the jump."""
    wall = datetime(day.year, day.month, day.day, hour, minute)
    t0 = wall.replace(tzinfo=tz, fold=0).timestamp()
    t1 = wall.replace(tzinfo=tz, fold=1).timestamp()
    if t0 == t1:
        return [t0]
    if _exists(wall, t0, tz):
        return [t0, t1] if both else [t0]   # repeated: fall back
    probe = wall  # skipped: the jump lands on the first wall-clock minute after it
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        moment = probe.replace(tzinfo=tz).timestamp()
        if _exists(probe, moment, tz):
            return [moment]
    return [t0]


def _exists(wall: datetime, moment: float, tz: ZoneInfo) -> bool:
    return datetime.fromtimestamp(moment, tz).replace(tzinfo=None) == wall
