"""The timeframe registry: defaults, candle grid arithmetic and cron validation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.timeframes import (
    DEFAULT_TIMEFRAMES,
    InvalidTimeframe,
    Timeframe,
    TimeframeDefinitionError,
    TimeframeRegistry,
    validate_timeframe,
)

UTC = timezone.utc


def test_defaults_exactly():
    assert [(t.key, t.name, t.minutes, t.cron) for t in DEFAULT_TIMEFRAMES] == [
        ("5m", "5 Minutes", 5, "*/5 * * * *"),
        ("1h", "1 Hour", 60, "0 * * * *"),
        ("4h", "4 Hours", 240, "0 */4 * * *"),
        ("1d", "1 Day", 1440, "0 0 * * *"),
    ]


def test_unknown_key_message():
    registry = TimeframeRegistry(DEFAULT_TIMEFRAMES)
    with pytest.raises(InvalidTimeframe) as caught:
        registry.get("10m")
    assert str(caught.value) == "Invalid timeframe: 10m. Available: ['5m', '1h', '4h', '1d']"


@pytest.mark.parametrize(
    ("fired_at", "key", "expected_open"),
    [
        (datetime(2018, 1, 24, 15, 0, tzinfo=UTC), "1h", datetime(2018, 1, 24, 14, 0, tzinfo=UTC)),
        (datetime(2018, 1, 24, 14, 30, tzinfo=UTC), "1h", datetime(2018, 1, 24, 13, 0, tzinfo=UTC)),
        (datetime(2018, 1, 24, 15, 0, 10, tzinfo=UTC), "5m", datetime(2018, 1, 24, 14, 55, tzinfo=UTC)),
        (datetime(2018, 1, 24, 20, 30, tzinfo=UTC), "4h", datetime(2018, 1, 24, 16, 0, tzinfo=UTC)),
        (datetime(2018, 1, 24, 0, 0, tzinfo=UTC), "1d", datetime(2018, 1, 23, 0, 0, tzinfo=UTC)),
    ],
)
def test_evaluated_candle_closed_before_fire(fired_at, key, expected_open):
    timeframe = TimeframeRegistry(DEFAULT_TIMEFRAMES).get(key)
    assert timeframe.evaluated_open(fired_at) == expected_open


def test_defaults_validate_in_both_zones():
    for timeframe in DEFAULT_TIMEFRAMES:
        validate_timeframe(timeframe, "UTC")
        validate_timeframe(timeframe, "Asia/Tehran")


def test_user_timeframe_accepted():
    validate_timeframe(Timeframe("15m", "15 Minutes", 15, "*/15 * * * *"))


def test_cron_that_does_not_parse():
    with pytest.raises(TimeframeDefinitionError, match=r"timeframe 15m: cron '\*/15 \* \* \*' does not parse"):
        validate_timeframe(Timeframe("15m", "15 Minutes", 15, "*/15 * * *"))


def test_cron_faster_than_interval():
    with pytest.raises(TimeframeDefinitionError, match="fires every 5 minutes at times, more often than its 15-minute interval"):
        validate_timeframe(Timeframe("15m", "15 Minutes", 15, "*/5 * * * *"))


def test_duplicate_key_rejected():
    with pytest.raises(TimeframeDefinitionError, match="timeframe 1h is defined twice"):
        TimeframeRegistry([DEFAULT_TIMEFRAMES[1], DEFAULT_TIMEFRAMES[1]])
