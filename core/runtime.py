"""Wires settings, source, store, pipeline and scheduler service into one running whole.

The dashboard, a headless run and tests all build their parts here, so they behave alike.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Sequence

from core.clock import Clock, ReplayClock, SystemClock
from core.events import JobStarted, JobStopped, RunFailed, RunFinished, RunMissed, RunSkipped, SchedulerEvent
from core.pipeline import RunPipeline
from core.scheduler import JobPolicy, SchedulerService, latest_fire
from core.settings import Settings
from core.sources.base import CandleSource, FetchResult, SourceConfigError
from core.store import Store, StoreError
from core.timeframes import Timeframe, TimeframeRegistry

log = logging.getLogger(__name__)


class DeferredSource:
    """A CandleSource that builds the real one on its first call, in a worker thread.

    The demo source's module imports numpy and pandas, which take longer to load than the
    dashboard's first frame may wait. Deferring the build moves that cost to the first run.
    """

    def __init__(self, name: str, is_demo: bool, build: Callable[[], CandleSource]) -> None:
        self.name = name
        self.is_demo = is_demo
        self._build = build
        self._source: CandleSource | None = None
        # Runs of two timeframes can call at the same time; only one of them may build.
        self._lock = threading.Lock()

    def _built(self) -> CandleSource:
        with self._lock:
            if self._source is None:
                self._source = self._build()
            return self._source

    async def source(self) -> CandleSource:
        """Return the real source, building it (and importing its module) on the first call."""
        if self._source is not None:
            return self._source
        return await asyncio.to_thread(self._built)

    async def symbols(self) -> list[str]:
        return await (await self.source()).symbols()

    async def fetch(self, symbols: Sequence[str], timeframe: Timeframe, count: int, until: datetime) -> FetchResult:
        return await (await self.source()).fetch(symbols, timeframe, count, until)


def _demo_source(seed: int, symbol_count: int) -> CandleSource:
    from core.sources.demo import DemoSource

    return DemoSource(seed=seed, symbol_count=symbol_count)


def make_source(settings: Settings) -> CandleSource:
    """Build the configured candle source; SourceConfigError when it cannot start."""
    if settings.source.kind == "files":
        from core.sources.files import FilesSource

        if settings.source.data is None:
            raise SourceConfigError("source 'files' needs a folder: give --data DIR")
        # Built at once, so a wrong --data stops volscope before the dashboard opens. This
        # costs little because the files module imports pandas only when it first reads a file.
        return FilesSource(settings.source.data)

    # Settings already bound the seed and symbol count, so the demo source has nothing to
    # reject at start and can wait for its first run.
    seed, symbol_count = settings.source.seed, settings.source.symbol_count
    return DeferredSource("DEMO", True, lambda: _demo_source(seed, symbol_count))


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

    replay: bool = False
    """Replaying past candles on a ReplayClock: jobs fire by volscope's clock, not the wall clock."""
    _replay_task: asyncio.Task[None] | None = None

    async def start(self, *, paused: bool = False) -> None:
        """Start the scheduler, restore which jobs run, and catch up missed runs once."""
        await self.service.start(paused=paused or self.replay)
        for key in self.initial_jobs():
            self.service.start_job(key)
        if self.replay and not paused:
            self._replay_task = asyncio.get_running_loop().create_task(self._fire_replayed())
        elif self.settings.catch_up_on_start and not paused:
            self.caught_up = self.catch_up()

    async def _fire_replayed(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.service.fire_due()

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
            # Look back only to the last stored run: walking a 5m cron over a long window
            # costs seconds, and this runs before the first frame.
            due = latest_fire(timeframe.trigger(self.settings.schedule_timezone), now, now - last_stored)
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
        if self._replay_task is not None:
            self._replay_task.cancel()
        await self.service.shutdown()
        if self.store is not None:
            self.store.close()


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    *,
    with_store: bool = True,
    replay_from: datetime | None = None,
) -> Runtime:
    """Build every part from settings; SourceConfigError or StoreError when one cannot start.

    With `replay_from`, volscope's clock starts at that past moment and runs on from there,
    so the dashboard replays stored candles as if they were arriving now.
    """
    if replay_from is not None:
        clock = ReplayClock(replay_from)
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
    store = Store(settings.resolved_store_path(replay=replay_from is not None)) if with_store else None
    if store is not None:
        service.subscribe(StoreRecorder(store, clock))
    return Runtime(settings, registry, source, pipeline, service, clock, store, replay=replay_from is not None)
