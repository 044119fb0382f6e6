"""The one source of "now" for schedules, countdowns and run records; tests freeze it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime, got a naive one")
        self._now = at.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(timezone.utc)

    def advance(self, delta: timedelta | float) -> None:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self._now += delta


class ReplayClock:
    """A clock that starts at a past moment and then runs at wall-clock speed, to replay stored candles."""

    def __init__(self, start: datetime, wall: Clock | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ReplayClock needs an aware datetime, got a naive one")
        self._wall = wall or SystemClock()
        self._offset = start.astimezone(timezone.utc) - self._wall.now()

    def now(self) -> datetime:
        return self._wall.now() + self._offset
