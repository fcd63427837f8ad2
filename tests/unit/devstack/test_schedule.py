"""EventBridge schedule expressions (devstack.schedule): rate and cron, next_after.

Expected dates are cross-checked with the calendar module so that a wrong
weekday assumption in a test fails loudly instead of hiding a bug.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest

from devstack import schedule as sched
from devstack.schedule import CronSchedule, RateSchedule, ScheduleError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def nxt(expression: str, t: datetime, start: datetime | None = None) -> datetime:
    return sched.parse(expression, start=start or t).next_after(t)


def weekday_dates(year: int, month: int, weekday: int) -> list[int]:
    """Days of the month falling on ``weekday`` (calendar.MONDAY ...)."""
    _, days = calendar.monthrange(year, month)
    return [d for d in range(1, days + 1) if calendar.weekday(year, month, d) == weekday]


# --------------------------------------------------------------------- rate


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 3 * 86400),
        ("rate(10 Minutes)", 600),
    ],
)
def test_rate_valid_expressions(expression: str, seconds: int) -> None:
    start = utc(2025, 3, 10, 12, 0)
    s = sched.parse(expression, start=start)
    assert isinstance(s, RateSchedule)
    assert s.seconds == seconds
    assert s.start == start


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(1 hours)",
        "rate(2 hour)",
        "rate(1 days)",
        "rate(7 day)",
        "rate(0 minutes)",
        "rate(0 minute)",
        "rate(-1 minutes)",
        "rate(1.5 minutes)",
        "rate(5 seconds)",
        "rate(1 week)",
        "rate(minutes)",
        "rate(5)",
        "rate(5minutes)",
        "rate 5 minutes",
    ],
)
def test_rate_invalid_expressions(expression: str) -> None:
    with pytest.raises(ScheduleError):
        sched.parse(expression, start=utc(2025, 1, 1))


def test_rate_first_fire_is_one_period_after_start() -> None:
    start = utc(2025, 3, 10, 12, 0, 0)
    s = sched.parse("rate(5 minutes)", start=start)
    assert s.next_after(start) == utc(2025, 3, 10, 12, 5)
    # Asked before the rule existed: still its first fire, not the start itself.
    assert s.next_after(start - timedelta(hours=3)) == utc(2025, 3, 10, 12, 5)


def test_rate_fires_every_period_after_the_first() -> None:
    start = utc(2025, 3, 10, 12, 0)
    s = sched.parse("rate(1 hour)", start=start)
    fires = []
    t = start
    for _ in range(4):
        t = s.next_after(t)
        fires.append(t)
    assert fires == [utc(2025, 3, 10, h) for h in (13, 14, 15, 16)]


def test_rate_next_after_a_fire_time_is_the_following_fire() -> None:
    start = utc(2025, 3, 10, 12, 0)
    s = sched.parse("rate(5 minutes)", start=start)
    assert s.next_after(utc(2025, 3, 10, 12, 5)) == utc(2025, 3, 10, 12, 10)
    assert s.next_after(utc(2025, 3, 10, 12, 9, 59, 999999)) == utc(2025, 3, 10, 12, 10)


def test_rate_catches_up_after_a_clock_jump() -> None:
    start = utc(2025, 3, 10, 12, 0)
    s = sched.parse("rate(5 minutes)", start=start)
    # Three days, seven and a half minutes later: the next fire stays on the
    # start's five-minute grid, it does not restart from the jump.
    jumped = start + timedelta(days=3, minutes=7, seconds=30)
    assert s.next_after(jumped) == utc(2025, 3, 13, 12, 10)


def test_rate_keeps_the_phase_of_its_start() -> None:
    # A rule created at 12:02:30 fires at :07:30, :12:30, ... (not on round minutes).
    start = utc(2025, 3, 10, 12, 2, 30)
    s = sched.parse("rate(5 minutes)", start=start)
    assert s.next_after(start) == utc(2025, 3, 10, 12, 7, 30)
    assert s.next_after(utc(2025, 3, 10, 13, 0)) == utc(2025, 3, 10, 13, 2, 30)


def test_rate_next_after_is_always_later() -> None:
    start = utc(2025, 3, 10, 12, 0)
    s = sched.parse("rate(7 minutes)", start=start)
    for offset in range(-600, 3 * 3600, 97):
        t = start + timedelta(seconds=offset)
        result = s.next_after(t)
        assert result > t
        assert result > start
        assert (result - start) % timedelta(minutes=7) == timedelta(0)
        if t >= start:
            # No fire was skipped between t and the result.
            assert result - t <= timedelta(minutes=7)
        else:
            assert result == start + timedelta(minutes=7)


def test_parse_defaults_the_start_to_now() -> None:
    before = datetime.now(UTC)
    s = sched.parse("rate(1 minute)")
    after = datetime.now(UTC)
    assert isinstance(s, RateSchedule)
    assert before <= s.start <= after


# --------------------------------------------------------------------- cron: basics


def test_cron_parses_to_cron_schedule() -> None:
    s = sched.parse("cron(0 12 * * ? *)", start=utc(2025, 1, 1))
    assert isinstance(s, CronSchedule)
    assert s.minutes == frozenset({0})
    assert s.hours == frozenset({12})


def test_cron_daily_fire_same_day_and_next_day() -> None:
    assert nxt("cron(0 12 * * ? *)", utc(2025, 3, 10, 11, 59, 30)) == utc(2025, 3, 10, 12, 0)
    # At the fire time exactly: strictly later, so the next day.
    assert nxt("cron(0 12 * * ? *)", utc(2025, 3, 10, 12, 0)) == utc(2025, 3, 11, 12, 0)


def test_cron_results_are_whole_minutes_and_strictly_later() -> None:
    t = utc(2025, 3, 10, 10, 15, 42, 500000)
    assert nxt("cron(* * * * ? *)", t) == utc(2025, 3, 10, 10, 16)
    assert nxt("cron(* * * * ? *)", utc(2025, 3, 10, 10, 15)) == utc(2025, 3, 10, 10, 16)
    # The last minute of a year rolls into the next.
    assert nxt("cron(* * * * ? *)", utc(2025, 12, 31, 23, 59, 59)) == utc(2026, 1, 1, 0, 0)


def test_cron_crosses_month_and_year_boundaries() -> None:
    assert nxt("cron(30 23 * * ? *)", utc(2025, 12, 31, 23, 30)) == utc(2026, 1, 1, 23, 30)
    assert nxt("cron(0 0 1 * ? *)", utc(2025, 2, 1, 0, 0)) == utc(2025, 3, 1, 0, 0)


# --------------------------------------------------------------------- cron: ranges, lists, steps


def test_cron_weekday_range_with_names_skips_the_weekend() -> None:
    assert calendar.weekday(2025, 1, 3) == calendar.FRIDAY
    assert calendar.weekday(2025, 1, 6) == calendar.MONDAY
    expr = "cron(0 9-17 ? * MON-FRI *)"
    assert nxt(expr, utc(2025, 1, 3, 16, 0)) == utc(2025, 1, 3, 17, 0)
    assert nxt(expr, utc(2025, 1, 3, 17, 0)) == utc(2025, 1, 6, 9, 0)
    assert nxt(expr, utc(2025, 1, 6, 8, 59, 59)) == utc(2025, 1, 6, 9, 0)


def test_cron_day_of_week_numbers_are_sun_1_to_sat_7() -> None:
    assert calendar.weekday(2025, 1, 1) == calendar.WEDNESDAY
    assert calendar.weekday(2025, 1, 5) == calendar.SUNDAY
    assert calendar.weekday(2025, 1, 4) == calendar.SATURDAY
    t = utc(2025, 1, 1, 0, 0)
    assert nxt("cron(0 0 ? * 1 *)", t) == utc(2025, 1, 5)
    assert nxt("cron(0 0 ? * 7 *)", t) == utc(2025, 1, 4)
    assert nxt("cron(0 0 ? * 2-6 *)", t) == utc(2025, 1, 2)
    assert nxt("cron(0 0 ? * SUN *)", t) == nxt("cron(0 0 ? * 1 *)", t)


def test_cron_lists_of_minutes_and_days() -> None:
    assert calendar.weekday(2025, 1, 1) == calendar.WEDNESDAY
    assert calendar.weekday(2025, 1, 3) == calendar.FRIDAY
    expr = "cron(15,45 8 ? * MON,WED,FRI *)"
    assert nxt(expr, utc(2025, 1, 1, 8, 20)) == utc(2025, 1, 1, 8, 45)
    assert nxt(expr, utc(2025, 1, 1, 8, 45)) == utc(2025, 1, 3, 8, 15)


def test_cron_lowercase_names_are_accepted() -> None:
    assert calendar.weekday(2025, 1, 6) == calendar.MONDAY
    assert nxt("cron(0 0 ? * mon *)", utc(2025, 1, 1)) == utc(2025, 1, 6)
    assert nxt("cron(0 0 1 jul ? *)", utc(2025, 1, 1)) == utc(2025, 7, 1)


@pytest.mark.parametrize(
    ("expression", "t", "expected"),
    [
        ("cron(0/15 * * * ? *)", utc(2025, 1, 1, 10, 7), utc(2025, 1, 1, 10, 15)),
        ("cron(0/15 * * * ? *)", utc(2025, 1, 1, 10, 45), utc(2025, 1, 1, 11, 0)),
        ("cron(*/10 * * * ? *)", utc(2025, 1, 1, 10, 51), utc(2025, 1, 1, 11, 0)),
        # 5/20 is 5, 25, 45.
        ("cron(5/20 * * * ? *)", utc(2025, 1, 1, 10, 26), utc(2025, 1, 1, 10, 45)),
        ("cron(5/20 * * * ? *)", utc(2025, 1, 1, 10, 46), utc(2025, 1, 1, 11, 5)),
        # A stepped range stops at its end: 10, 15, 20.
        ("cron(10-20/5 * * * ? *)", utc(2025, 1, 1, 10, 21), utc(2025, 1, 1, 11, 10)),
        ("cron(0 */6 * * ? *)", utc(2025, 1, 1, 7, 0), utc(2025, 1, 1, 12, 0)),
        # Day of month 1/10 is 1, 11, 21, 31; February has no 31st.
        ("cron(0 0 1/10 * ? *)", utc(2025, 1, 21, 0, 0), utc(2025, 1, 31)),
        ("cron(0 0 1/10 * ? *)", utc(2025, 2, 21, 0, 0), utc(2025, 3, 1)),
    ],
)
def test_cron_steps(expression: str, t: datetime, expected: datetime) -> None:
    assert nxt(expression, t) == expected


def test_cron_step_of_one_runs_from_the_start_value_to_the_end() -> None:
    # EventBridge: '10/1' in minutes is every minute from :10 to :59.
    assert nxt("cron(10/1 * * * ? *)", utc(2025, 1, 1, 10, 10)) == utc(2025, 1, 1, 10, 11)
    assert nxt("cron(10/1 * * * ? *)", utc(2025, 1, 1, 10, 58)) == utc(2025, 1, 1, 10, 59)


def test_cron_month_names_and_ranges() -> None:
    assert nxt("cron(0 0 1 JAN ? *)", utc(2025, 3, 1)) == utc(2026, 1, 1)
    assert nxt("cron(0 0 1 JUN-AUG ? *)", utc(2025, 8, 15)) == utc(2026, 6, 1)
    assert nxt("cron(0 0 1 JUN-AUG ? *)", utc(2025, 6, 1)) == utc(2025, 7, 1)
    assert nxt("cron(0 0 15 MAR,SEP ? *)", utc(2025, 3, 15, 0, 1)) == utc(2025, 9, 15)


def test_cron_day_31_skips_short_months() -> None:
    assert calendar.monthrange(2025, 2)[1] == 28
    assert nxt("cron(0 0 31 * ? *)", utc(2025, 1, 31)) == utc(2025, 3, 31)
    assert nxt("cron(0 0 31 * ? *)", utc(2025, 4, 1)) == utc(2025, 5, 31)


def _brute_force_next(t: datetime, matches) -> datetime:  # type: ignore[no-untyped-def]
    candidate = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while not matches(candidate):
        candidate += timedelta(minutes=1)
    return candidate


def test_cron_next_after_matches_a_brute_force_scan() -> None:
    # An independent oracle: scan minute by minute with Python's own weekday.
    s = sched.parse("cron(*/15 9-17 ? * MON-FRI *)", start=utc(2025, 1, 1))

    def matches(d: datetime) -> bool:
        return d.minute % 15 == 0 and 9 <= d.hour <= 17 and d.weekday() < 5

    starts = [
        utc(2025, 1, 3, 17, 45),  # Friday, last slot
        utc(2025, 1, 4, 12, 0),  # Saturday
        utc(2025, 1, 5, 23, 59, 59),  # Sunday night
        utc(2025, 1, 6, 9, 14, 59),
        utc(2025, 1, 6, 9, 15),
        utc(2025, 2, 28, 18, 0),
    ]
    for t in starts:
        expected = _brute_force_next(t, matches)
        got = s.next_after(t)
        assert got == expected, t
        assert got > t
        assert (got.second, got.microsecond) == (0, 0)


# --------------------------------------------------------------------- cron: '?' rule


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 ? * ? *)",  # both '?'
        "cron(0 0 1 * MON *)",  # neither
        "cron(0 0 * * * *)",  # neither
    ],
)
def test_cron_exactly_one_day_field_is_a_question_mark(expression: str) -> None:
    with pytest.raises(ScheduleError, match="exactly one"):
        sched.parse(expression, start=utc(2025, 1, 1))


def test_cron_question_mark_in_day_of_week_fires_every_day_of_month() -> None:
    assert nxt("cron(0 6 * * ? *)", utc(2025, 1, 4, 7, 0)) == utc(2025, 1, 5, 6, 0)


def test_cron_star_day_of_week_with_question_mark_day_of_month() -> None:
    assert nxt("cron(0 6 ? * * *)", utc(2025, 1, 4, 7, 0)) == utc(2025, 1, 5, 6, 0)


# --------------------------------------------------------------------- cron: L and #


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (utc(2024, 2, 10), utc(2024, 2, 29)),  # leap year
        (utc(2025, 2, 10), utc(2025, 2, 28)),
        (utc(2025, 4, 30), utc(2025, 5, 31)),  # at the fire time: the next month's
        (utc(2025, 4, 29, 23, 59), utc(2025, 4, 30)),
        (utc(2025, 12, 31, 0, 0, 1), utc(2026, 1, 31)),
    ],
)
def test_cron_last_day_of_month_l(t: datetime, expected: datetime) -> None:
    assert calendar.monthrange(expected.year, expected.month)[1] == expected.day
    assert nxt("cron(0 0 L * ? *)", t) == expected


def test_cron_last_day_of_month_l_every_month_of_a_year() -> None:
    s = sched.parse("cron(30 18 L * ? *)", start=utc(2025, 1, 1))
    t = utc(2025, 1, 1)
    for month in range(1, 13):
        t = s.next_after(t)
        last = calendar.monthrange(2025, month)[1]
        assert t == utc(2025, month, last, 18, 30)


def test_cron_nl_in_day_of_week_is_the_last_such_weekday() -> None:
    # 6L: the last Friday of each month.
    s = sched.parse("cron(0 10 ? * 6L *)", start=utc(2025, 1, 1))
    t = utc(2025, 1, 1)
    for month in range(1, 13):
        t = s.next_after(t)
        assert t == utc(2025, month, weekday_dates(2025, month, calendar.FRIDAY)[-1], 10, 0)


def test_cron_nl_with_a_day_name() -> None:
    # The last Monday of May 2025 is the 26th.
    assert weekday_dates(2025, 5, calendar.MONDAY)[-1] == 26
    assert nxt("cron(0 0 ? * MONL *)", utc(2025, 5, 1)) == utc(2025, 5, 26)


@pytest.mark.parametrize(
    ("expression", "weekday", "nth"),
    [
        ("cron(0 10 ? * 6#3 *)", calendar.FRIDAY, 3),
        ("cron(0 10 ? * 2#1 *)", calendar.MONDAY, 1),
        ("cron(0 10 ? * 1#2 *)", calendar.SUNDAY, 2),
        ("cron(0 10 ? * FRI#3 *)", calendar.FRIDAY, 3),
    ],
)
def test_cron_hash_is_the_nth_weekday_of_the_month(expression: str, weekday: int, nth: int) -> None:
    s = sched.parse(expression, start=utc(2025, 1, 1))
    t = utc(2025, 1, 1)
    for month in range(1, 13):
        t = s.next_after(t)
        assert t == utc(2025, month, weekday_dates(2025, month, weekday)[nth - 1], 10, 0)


def test_cron_hash_fifth_weekday_skips_months_without_one() -> None:
    # Fifth Friday: January 2025 has one (31st), February to April do not,
    # May does (30th).
    fridays = {m: weekday_dates(2025, m, calendar.FRIDAY) for m in range(1, 6)}
    assert [len(fridays[m]) for m in range(1, 6)] == [5, 4, 4, 4, 5]
    s = sched.parse("cron(0 0 ? * 6#5 *)", start=utc(2025, 1, 1))
    first = s.next_after(utc(2025, 1, 1))
    assert first == utc(2025, 1, fridays[1][4])
    assert s.next_after(first) == utc(2025, 5, fridays[5][4])


# --------------------------------------------------------------------- cron: year


def test_cron_year_field_single_year() -> None:
    s = sched.parse("cron(0 0 1 1 ? 2027)", start=utc(2025, 6, 1))
    assert s.next_after(utc(2025, 6, 1)) == utc(2027, 1, 1)
    with pytest.raises(ScheduleError, match="never fires"):
        s.next_after(utc(2027, 1, 1))


def test_cron_year_field_range_and_list() -> None:
    s = sched.parse("cron(0 12 1 JAN ? 2026-2027,2030)", start=utc(2025, 1, 1))
    t = utc(2025, 1, 1)
    fires = []
    for _ in range(3):
        t = s.next_after(t)
        fires.append(t)
    assert fires == [utc(2026, 1, 1, 12), utc(2027, 1, 1, 12), utc(2030, 1, 1, 12)]


def test_cron_year_in_the_past_never_fires() -> None:
    s = sched.parse("cron(0 0 * * ? 2020)", start=utc(2025, 1, 1))
    with pytest.raises(ScheduleError):
        s.next_after(utc(2025, 1, 1))


# --------------------------------------------------------------------- invalid


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "every 5 minutes",
        "cron()",
        "cron(0 0 * * ?)",  # five fields (Unix style)
        "cron(0 0 * * ? * *)",  # seven fields
        "cron(60 0 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 0 * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 * 0 ? *)",
        "cron(0 0 * 13 ? *)",
        "cron(0 0 * FOO ? *)",
        "cron(0 0 ? * 0 *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? * FOO *)",
        "cron(0 0 ? * MON-FOO *)",
        "cron(0 0 * * ? 1969)",
        "cron(0 0 * * ? 2200)",
        "cron(*/0 * * * ? *)",
        "cron(20-10 * * * ? *)",
        "cron(MON 0 * * ? *)",  # names only where they belong
        "cron(1,,2 0 * * ? *)",
        "cron(-5 0 * * ? *)",
        "cron(0 0 15W * ? *)",  # W is not supported locally
        "cron(0 0 LW * ? *)",
        "cron(0 0 L-2 * ? *)",
        "rate(5 minutes",
        "cron(0 0 * * ? *",
    ],
)
def test_invalid_expressions_raise_schedule_error(expression: str) -> None:
    with pytest.raises(ScheduleError):
        sched.parse(expression, start=utc(2025, 1, 1))


def test_non_numeric_step_raises_schedule_error() -> None:
    # ScheduleError, not a bare ValueError from int(): callers catch ScheduleError.
    with pytest.raises(ScheduleError):
        sched.parse("cron(*/x * * * ? *)", start=utc(2025, 1, 1))


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 12 ? * 6#x *)",  # not a number after '#'
        "cron(0 12 ? * 9#2 *)",  # there is no ninth day of the week
        "cron(0 12 ? * 9L *)",
    ],
)
def test_invalid_day_of_week_forms_are_rejected_at_parse_time(expression: str) -> None:
    # 2025-01-01 is a Wednesday: validation must not depend on the start date.
    assert calendar.weekday(2025, 1, 1) == calendar.WEDNESDAY
    with pytest.raises(ScheduleError):
        sched.parse(expression, start=utc(2025, 1, 1))


def test_schedule_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="six fields"):
        sched.parse("cron(0 0 * *)", start=utc(2025, 1, 1))
