"""The timeframe registry: each timeframe's key, display name, candle interval and cron.

Candles are aligned to UTC epoch multiples of their interval, as exchanges do, so a
candle that opens at `t` closes at `t + interval`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Fire times inspected when checking that a cron never fires more often than its
# interval. 400 fires cover more than a day for every interval of 5 minutes or more.
_CRON_CHECK_FIRES = 400


class InvalidTimeframe(ValueError):
    """A timeframe key that the registry does not contain."""

    def __init__(self, key: str, available: Iterable[str]) -> None:
        self.key = key
        self.available = list(available)
        super().__init__(f"Invalid timeframe: {key}. Available: {self.available}")


class TimeframeDefinitionError(ValueError):
    """A timeframe definition from the configuration that cannot be scheduled."""


@dataclass(frozen=True)
class Timeframe:
    key: str
    name: str
    minutes: int
    cron: str

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def trigger(self, schedule_timezone: str) -> CronTrigger:
        """Build the job's CronTrigger, always with an explicit time zone."""
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(schedule_timezone))

    def floor(self, moment: datetime) -> datetime:
        """Return the open time of the candle that contains `moment`."""
        step = self.minutes * 60
        seconds = int((moment - EPOCH).total_seconds() // step) * step
        return EPOCH + timedelta(seconds=seconds)

    def evaluated_open(self, fired_at: datetime) -> datetime:
        """Return the open time of the newest candle that closed at or before `fired_at`."""
        return self.floor(fired_at) - self.interval


DEFAULT_TIMEFRAMES: tuple[Timeframe, ...] = (
    Timeframe("5m", "5 Minutes", 5, "*/5 * * * *"),
    Timeframe("1h", "1 Hour", 60, "0 * * * *"),
    Timeframe("4h", "4 Hours", 240, "0 */4 * * *"),
    Timeframe("1d", "1 Day", 1440, "0 0 * * *"),
)


def validate_timeframe(timeframe: Timeframe, schedule_timezone: str = "UTC") -> None:
    """Raise TimeframeDefinitionError when the timeframe cannot be scheduled as defined.

    The cron must parse, and two consecutive fires must never be closer than the
    candle interval: a run between two closes would evaluate the same candle again.
    """
    if not timeframe.key or not timeframe.key.strip():
        raise TimeframeDefinitionError("a timeframe key must not be empty")
    if timeframe.minutes <= 0:
        raise TimeframeDefinitionError(
            f"timeframe {timeframe.key}: interval must be a positive number of minutes, "
            f"got {timeframe.minutes}"
        )
    try:
        trigger = timeframe.trigger(schedule_timezone)
    except ValueError as error:
        raise TimeframeDefinitionError(
            f"timeframe {timeframe.key}: cron {timeframe.cron!r} does not parse: {error}"
        ) from None

    closest = _closest_fires(timeframe.cron, schedule_timezone)
    if closest is not None and closest < timeframe.interval:
        raise TimeframeDefinitionError(
            f"timeframe {timeframe.key}: cron {timeframe.cron!r} fires every "
            f"{_describe(closest)} at times, more often than its {timeframe.minutes}-minute "
            "interval; use a cron that fires at most once per candle"
        )


@functools.lru_cache(maxsize=64)
def _closest_fires(cron: str, schedule_timezone: str) -> timedelta | None:
    """Return the shortest time between two consecutive fires of a cron, or None if it fires once.

    Cached, because settings validation and every registry build check the same crons.
    """
    trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo(schedule_timezone))
    fires = list(_fire_times(trigger, datetime(2024, 1, 1, tzinfo=timezone.utc), _CRON_CHECK_FIRES))
    if len(fires) < 2:
        return None
    return min(later - earlier for earlier, later in zip(fires, fires[1:]))


def _fire_times(trigger: CronTrigger, start: datetime, count: int) -> Iterator[datetime]:
    previous = None
    now = start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            return
        yield fire
        previous = fire
        now = fire + timedelta(microseconds=1)


def _describe(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return "1 minute" if minutes == 1 else f"{minutes:g} minutes"


class TimeframeRegistry:
    """The timeframes in configuration order, looked up by key."""

    def __init__(self, timeframes: Iterable[Timeframe]) -> None:
        self._by_key: dict[str, Timeframe] = {}
        for timeframe in timeframes:
            if timeframe.key in self._by_key:
                raise TimeframeDefinitionError(f"timeframe {timeframe.key} is defined twice")
            self._by_key[timeframe.key] = timeframe

    def __iter__(self) -> Iterator[Timeframe]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        return list(self._by_key)

    def get(self, key: str) -> Timeframe:
        """Return the timeframe for `key` or raise InvalidTimeframe listing the valid keys."""
        try:
            return self._by_key[key]
        except KeyError:
            raise InvalidTimeframe(key, self._by_key) from None
