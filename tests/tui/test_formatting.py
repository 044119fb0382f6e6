"""Cell texts of the dashboard: countdowns, durations, candle ages and spike values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tui.formatting import (
    format_candle_age,
    format_close_time,
    format_countdown,
    format_distance,
    format_duration,
    format_ratio,
    format_rsi,
    format_time_of_day,
)

TEHRAN = ZoneInfo("Asia/Tehran")


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (timedelta(minutes=4), "04:00"),
        (timedelta(minutes=3, seconds=30), "03:30"),
        (timedelta(seconds=59.2), "01:00"),
        (timedelta(seconds=0.4), "00:01"),
        (timedelta(0), "00:00"),
        (timedelta(seconds=-5), "00:00"),
        (timedelta(minutes=59, seconds=59), "59:59"),
        (timedelta(hours=1), "1:00:00"),
        (timedelta(hours=23, minutes=59, seconds=40), "23:59:40"),
        (timedelta(days=7), "168:00:00"),
    ],
)
def test_countdown_formats(remaining, expected):
    assert format_countdown(remaining) == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), ""),
        (timedelta(seconds=-1), ""),
        (timedelta(seconds=20), "20s old"),
        (timedelta(minutes=30), "30m old"),
        (timedelta(hours=2), "2h old"),
        (timedelta(hours=1, minutes=30), "1h30m old"),
        (timedelta(days=1, hours=4), "1d4h old"),
        (timedelta(days=3), "3d old"),
    ],
)
def test_candle_age_formats(age, expected):
    assert format_candle_age(age) == expected


def test_duration_formats():
    assert format_duration(None) == "—"
    assert format_duration(0.04) == "0.0s"
    assert format_duration(12.345) == "12.3s"
    assert format_duration(125) == "2m05s"


def test_times_in_display_zone():
    close = datetime(2024, 3, 2, 0, 0, tzinfo=timezone.utc)
    assert format_time_of_day(close, TEHRAN) == "03:30"
    assert format_close_time(close, TEHRAN) == "03-02 03:30"


def test_spike_values_format():
    assert format_distance(11.63, "sigma n=25 2.5/4/6σ") == "11.6σ"
    assert format_distance(3.04, "rvol n=25 2/3/5x") == "3.0x"
    assert format_distance(None, "sigma n=25 2.5/4/6σ") == "—"
    assert format_ratio(5.62) == "5.6x"
    assert format_ratio(None) == "—"
    assert format_rsi(75.68) == "75.7"
    assert format_rsi(float("nan")) == "—"


def test_long_candle_ages_stay_short():
    from datetime import timedelta

    from tui.formatting import format_candle_age

    assert format_candle_age(timedelta(days=12, hours=5)) == "12d old"
    assert format_candle_age(timedelta(days=3230, hours=16)) == "8.8y old"
