"""Typed events the scheduler service sends to its observers (dashboard, store, log, alerts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.analysis.records import SpikeRecord
    from core.sources.base import DataQuality


@dataclass(frozen=True)
class RunResult:
    """Outcome of one run of one timeframe."""

    timeframe: str
    scheduled_at: datetime
    """The fire time the run belongs to; for a run started by hand, when it was asked for."""
    evaluated_open: datetime
    """Open time of the candle the run evaluated: the newest that closed at or before scheduled_at."""
    interval: timedelta
    started_at: datetime
    finished_at: datetime
    records: list["SpikeRecord"]
    failures: dict[str, str] = field(default_factory=dict)
    quality: dict[str, "DataQuality"] = field(default_factory=dict)
    manual: bool = False

    @property
    def spikes(self) -> list["SpikeRecord"]:
        return [record for record in self.records if record.level is not None]

    @property
    def candle_age(self) -> timedelta:
        """How long before the fire time the evaluated candle closed; zero when the cron is on candle closes."""
        return self.scheduled_at - (self.evaluated_open + self.interval)

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class JobStarted:
    timeframe: str
    next_run_at: datetime | None


@dataclass(frozen=True)
class JobStopped:
    timeframe: str


@dataclass(frozen=True)
class RunStarted:
    timeframe: str
    scheduled_at: datetime
    started_at: datetime
    manual: bool = False


@dataclass(frozen=True)
class RunFinished:
    timeframe: str
    result: RunResult


@dataclass(frozen=True)
class RunFailed:
    timeframe: str
    scheduled_at: datetime
    started_at: datetime
    finished_at: datetime
    reason: str
    manual: bool = False


@dataclass(frozen=True)
class RunSkipped:
    """A fire that did not run because the previous run of the timeframe was still going."""

    timeframe: str
    scheduled_at: datetime
    reason: str


@dataclass(frozen=True)
class RunMissed:
    """A fire later than the misfire grace time (sleep, suspend, a closed app)."""

    timeframe: str
    scheduled_at: datetime


SchedulerEvent = JobStarted | JobStopped | RunStarted | RunFinished | RunFailed | RunSkipped | RunMissed
