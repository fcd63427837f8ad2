"""EventBridge schedule expressions: ``rate(...)`` and ``cron(...)``.

Cron follows EventBridge, not Unix: six fields (minutes hours day-of-month
month day-of-week year), day-of-week 1-7 = SUN-SAT, one of day-of-month and
day-of-week must be ``?``; ``L`` (last day of month, or ``nL`` last weekday n
of the month) and ``#`` (``6#3``: third Friday) are supported. Times are UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


class ScheduleError(ValueError):
    pass


class Schedule:
    expression: str

    def next_after(self, t: datetime) -> datetime:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class RateSchedule(Schedule):
    expression: str
    seconds: int
    start: datetime

    def next_after(self, t: datetime) -> datetime:
        # A rate rule first fires one period after it is created, then every
        # period; a clock that jumps ahead sees every fire it skipped.
        if t < self.start:
            return self.start + timedelta(seconds=self.seconds)
        periods = int((t - self.start).total_seconds() // self.seconds) + 1
        return self.start + timedelta(seconds=periods * self.seconds)


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        part = item
        step = 1
        stepped = "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"bad step in {text!r}")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = hi if stepped else start  # 'a/b': from a, every b, to the end
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise ScheduleError(f"{text!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"bad value {text!r}")
    return int(text)


@dataclass(frozen=True)
class CronSchedule(Schedule):
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str
    months: frozenset[int]
    dow: str
    years: frozenset[int]

    def _day_matches(self, d: datetime) -> bool:
        last = calendar.monthrange(d.year, d.month)[1]
        aws_dow = (d.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        if self.dom != "?":
            if self.dom == "L":
                return d.day == last
            if self.dom.endswith("W"):
                raise ScheduleError("the W (nearest weekday) wildcard is not supported locally")
            return d.day in _field(self.dom, 1, 31)
        if self.dow == "?":
            return True
        if "#" in self.dow:
            day, nth = self.dow.split("#", 1)
            return aws_dow == _value(day, _DAYS) and (d.day - 1) // 7 + 1 == int(nth)
        if self.dow.endswith("L"):
            weekday = _value(self.dow[:-1] or "7", _DAYS)
            return aws_dow == weekday and d.day + 7 > last
        return aws_dow in _field(self.dow, 1, 7, _DAYS)

    def next_after(self, t: datetime) -> datetime:
        t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = t.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day.year in self.years and day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= t:
                            return candidate
            day += timedelta(days=1)
        raise ScheduleError(f"{self.expression} never fires in the next five years")


def parse(expression: str, start: datetime | None = None) -> Schedule:
    start = start or datetime.now(UTC)
    text = expression.strip()
    m = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", text)
    if m:
        value, unit = int(m.group(1)), m.group(2).lower()
        if unit not in _UNITS or value < 1:
            raise ScheduleError(f"bad rate expression {expression!r}")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(
                f"{expression!r}: EventBridge wants 'minute' for 1, 'minutes' otherwise"
            )
        return RateSchedule(text, value * _UNITS[unit], start)
    m = re.fullmatch(r"cron\((.+)\)", text)
    if not m:
        raise ScheduleError(f"not a schedule expression: {expression!r}")
    parts = m.group(1).split()
    if len(parts) != 6:
        raise ScheduleError(f"{expression!r}: cron takes six fields")
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    schedule = CronSchedule(
        text,
        _field(minutes, 0, 59),
        _field(hours, 0, 23),
        dom.upper(),
        _field(month, 1, 12, _MONTHS),
        dow.upper(),
        _field(year, 1970, 2199),
    )
    _check_day_of_week(schedule.dow)
    schedule._day_matches(start)  # surface unsupported wildcards at wiring time
    return schedule


def _check_day_of_week(dow: str) -> None:
    if dow == "?":
        return
    if "#" in dow:
        day, nth = dow.split("#", 1)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f"bad day-of-week {dow!r}: '#' takes 1-5")
        _field(day, 1, 7, _DAYS)
    elif dow.endswith("L"):
        _field(dow[:-1] or "7", 1, 7, _DAYS)
    else:
        _field(dow, 1, 7, _DAYS)
