"""Wires settings, source, store, pipeline and scheduler service into one running whole.

The dashboard, a headless run and tests all build their parts here, so they behave alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.clock import Clock, SystemClock
from core.events import JobStarted, JobStopped, RunFailed, RunFinished, RunMissed, RunSkipped, SchedulerEvent
from core.pipeline import RunPipeline
from core.scheduler import JobPolicy, SchedulerService, latest_fire
from core.settings import Settings
from core.sources.base import CandleSource, SourceConfigError
from core.store import Store, StoreError
from core.timeframes import TimeframeRegistry

log = logging.getLogger(__name__)


def make_source(settings: Settings) -> CandleSource:
    """Build the configured candle source; SourceConfigError when it cannot start."""
    if settings.source.kind == "files":
        from core.sources.files import FilesSource

        if settings.source.data is None:
            raise SourceConfigError("source 'files' needs a folder: give --data DIR")
        return FilesSource(settings.source.data)

    from core.sources.demo import DemoSource

    return DemoSource(seed=settings.source.seed, symbol_count=settings.source.symbol_count)


def job_policy(settings: Settings) -> JobPolicy:
    return JobPolicy(
        max_instances=settings.jobs.max_instances,
        coalesce=settings.jobs.coalesce,
        misfire_grace_time=settings.jobs.misfire_grace_time,
        settle_delay=settings.settle_delay,
        run_timeout_fraction=settings.jobs.run_timeout_fraction,
        max_run_timeout=settings.jobs.max_run_timeout,
    )


class StoreRecorder:
    """Observer that writes every run outcome to the store and remembers which jobs run."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def __call__(self, event: SchedulerEvent) -> None:
        try:
            self._record(event)
        except StoreError:
            log.exception("could not record %s for %s", type(event).__name__, event.timeframe)

    def _record(self, event: SchedulerEvent) -> None:
        if isinstance(event, RunFinished):
            result = event.result
            self.store.record_run(
                result.timeframe,
                result.scheduled_at,
                "ok",
                evaluated_open=result.evaluated_open,
                started_at=result.started_at,
                finished_at=result.finished_at,
                manual=result.manual,
                symbols_ok=len(result.records),
                symbols_failed=len(result.failures),
                spikes=result.spikes,
                error="; ".join(f"{symbol}: {reason}" for symbol, reason in result.failures.items()) or None,
            )
        elif isinstance(event, RunFailed):
            self.store.record_run(
                event.timeframe,
                event.scheduled_at,
                "failed",
                started_at=event.started_at,
                finished_at=event.finished_at,
                manual=event.manual,
                error=event.reason,
            )
        elif isinstance(event, RunSkipped):
            self.store.record_run(event.timeframe, event.scheduled_at, "skipped", error=event.reason)
        elif isinstance(event, RunMissed):
            self.store.record_run(event.timeframe, event.scheduled_at, "missed")
        elif isinstance(event, JobStarted):
            self.store.set_job_running(event.timeframe, True, self.clock.now())
        elif isinstance(event, JobStopped):
            self.store.set_job_running(event.timeframe, False, self.clock.now())


@dataclass
class Runtime:
    settings: Settings
    registry: TimeframeRegistry
    source: CandleSource
    pipeline: RunPipeline
    service: SchedulerService
    clock: Clock
    store: Store | None = None
    caught_up: list[str] = field(default_factory=list)
    """Timeframes run once at start because a scheduled run was missed while volscope was closed."""

    async def start(self, *, paused: bool = False) -> None:
        """Start the scheduler, restore which jobs run, and catch up missed runs once."""
        await self.service.start(paused=paused)
        for key in self.initial_jobs():
            self.service.start_job(key)
        if self.settings.catch_up_on_start and not paused:
            self.caught_up = self.catch_up()

    def initial_jobs(self) -> list[str]:
        """Return the jobs to start: those running when volscope closed, else the configured ones."""
        keys = self.registry.keys()
        saved = self.store.job_states() if self.store else {}
        if saved:
            return [key for key in keys if saved.get(key, False)]
        if self.settings.start_timeframes is not None:
            return [key for key in keys if key in self.settings.start_timeframes]
        return keys

    def catch_up(self, now: datetime | None = None) -> list[str]:
        """Run once each started timeframe whose last fire passed without a run being stored."""
        if self.store is None:
            return []
        now = now or self.clock.now()
        caught_up = []
        for info in self.service.active_jobs():
            timeframe = self.registry.get(info.key)
            last_stored = self.store.last_scheduled_at(info.key)
            if last_stored is None:
                continue
            due = latest_fire(timeframe.trigger(self.settings.schedule_timezone), now, timedelta(days=400))
            # A fire still inside the grace time is APScheduler's to run, not a missed one.
            grace = timedelta(seconds=self.settings.jobs.misfire_grace_time)
            if due is None or due <= last_stored or now - due <= grace:
                continue
            log.info("%s: the run due %s was missed while volscope was closed; running it once", info.key, due)
            self.service.run_now(info.key, scheduled_at=due)
            caught_up.append(info.key)
        return caught_up

    async def chart_data(self, symbol: str, timeframe_key: str, until: datetime | None = None, bars: int = 60):
        """Return a symbol's chart data (core.chart_data.ChartData) for the newest `bars` candles
        closed at or before `until` (default now). InvalidTimeframe or SourceError when they cannot be read."""
        from core.chart_data import load_chart_data

        timeframe = self.registry.get(timeframe_key)
        until = until or self.clock.now()
        params = self.settings.detection_params(timeframe_key)
        return await load_chart_data(self.source, timeframe, symbol, until, params, bars=bars)

    async def stop(self) -> None:
        await self.service.shutdown()
        if self.store is not None:
            self.store.close()


def build_runtime(settings: Settings, clock: Clock | None = None, *, with_store: bool = True) -> Runtime:
    """Build every part from settings; SourceConfigError or StoreError when one cannot start."""
    clock = clock or SystemClock()
    registry = settings.registry()
    source = make_source(settings)
    pipeline = RunPipeline(source, settings.detection_params, clock, settings.symbols)
    service = SchedulerService(
        registry,
        pipeline.run,
        clock,
        schedule_timezone=settings.schedule_timezone,
        display_timezone=settings.display_timezone,
        policy=job_policy(settings),
    )
    store = Store(settings.store_path) if with_store else None
    if store is not None:
        service.subscribe(StoreRecorder(store, clock))
    return Runtime(settings, registry, source, pipeline, service, clock, store)
