"""The scheduler service: one APScheduler 3.x job per timeframe, run on the app's event loop.

It starts, stops and runs jobs, turns APScheduler's events into volscope's typed events,
and guarantees that a failing or hung run never stops the schedule: every run is caught,
and cancelled after a timeout shorter than its interval.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from core.clock import Clock
from core.events import (
    JobStarted,
    JobStopped,
    RunFailed,
    RunFinished,
    RunMissed,
    RunResult,
    RunSkipped,
    RunStarted,
    SchedulerEvent,
)
from core.timeframes import Timeframe, TimeframeRegistry

log = logging.getLogger(__name__)

JOB_ID_PREFIX = "volume_analysis_"

RunFunction = Callable[[Timeframe, datetime, bool], Awaitable[RunResult]]
Observer = Callable[[SchedulerEvent], None]


class JobError(Exception):
    """An operation on a job that its current state does not allow."""


@dataclass(frozen=True)
class JobPolicy:
    max_instances: int = 1
    coalesce: bool = True
    misfire_grace_time: int = 60
    settle_delay: float = 10.0
    run_timeout_fraction: float = 0.8
    max_run_timeout: float = 600.0

    def run_timeout(self, timeframe: Timeframe) -> float:
        """Seconds a run may take: a fraction of its interval, so it ends before the next fire."""
        return min(self.max_run_timeout, timeframe.interval.total_seconds() * self.run_timeout_fraction)


@dataclass(frozen=True)
class JobInfo:
    key: str
    name: str
    minutes: int
    cron: str
    schedule_timezone: str
    job_id: str
    active: bool
    """The timeframe's job is scheduled (started)."""
    in_progress: bool
    """A run of this timeframe is going right now."""
    next_run_at: datetime | None
    """Next fire time in the display time zone; None when stopped."""

    @property
    def status(self) -> str:
        if self.in_progress:
            return "running"
        return "scheduled" if self.active else "stopped"

    def as_dict(self) -> dict[str, object]:
        return {
            "timeframe": self.key,
            "name": self.name,
            "interval_minutes": self.minutes,
            "cron": self.cron,
            "schedule_timezone": self.schedule_timezone,
            "job_id": self.job_id,
            "status": self.status,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
        }


def job_id(key: str) -> str:
    return f"{JOB_ID_PREFIX}{key}"


def latest_fire(trigger: CronTrigger, now: datetime, horizon: timedelta) -> datetime | None:
    """Return the trigger's latest fire time at or before `now`, looking back at most `horizon`.

    A cron can only be walked forwards, so the look-back starts short and grows: a 5m cron
    over a month would otherwise take thousands of steps.
    """
    window = timedelta(hours=1)
    while window < horizon:
        latest = _latest_fire_in(trigger, now, window)
        if latest is not None:
            return latest
        window *= 4
    return _latest_fire_in(trigger, now, horizon)


def _latest_fire_in(trigger: CronTrigger, now: datetime, horizon: timedelta) -> datetime | None:
    previous = None
    moment = now - horizon
    latest = None
    while True:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > now:
            return latest
        latest = fire
        previous = fire
        moment = fire + timedelta(microseconds=1)


class SchedulerService:
    """Owns the AsyncIOScheduler; every public method is called on the event loop's thread."""

    def __init__(
        self,
        registry: TimeframeRegistry,
        run: RunFunction,
        clock: Clock,
        *,
        schedule_timezone: str = "UTC",
        display_timezone: str = "Asia/Tehran",
        policy: JobPolicy = JobPolicy(),
    ) -> None:
        self.registry = registry
        self._run = run
        self.clock = clock
        self.schedule_timezone = schedule_timezone
        self.display_zone = ZoneInfo(display_timezone)
        self.policy = policy
        self._scheduler: AsyncIOScheduler | None = None
        self._observers: list[Observer] = []
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._run_started_at: dict[str, datetime] = {}

    # Life cycle

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    async def start(self, *, paused: bool = False) -> None:
        """Start the scheduler on the running loop; `paused` keeps jobs from firing (tests, previews)."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            timezone=ZoneInfo(self.schedule_timezone),
            job_defaults={
                "max_instances": self.policy.max_instances,
                "coalesce": self.policy.coalesce,
                "misfire_grace_time": self.policy.misfire_grace_time,
            },
        )
        scheduler.add_listener(self._on_scheduler_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        scheduler.start(paused=paused)
        self._scheduler = scheduler
        log.info("scheduler started (crons in %s)", self.schedule_timezone)

    async def shutdown(self, timeout: float = 1.0) -> None:
        """Stop firing, cancel runs in progress and wait at most `timeout` seconds for them."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        tasks = [task for task in self._runs.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        log.info("scheduler shut down")

    def subscribe(self, observer: Observer) -> None:
        self._observers.append(observer)

    # Queries

    def timeframes(self) -> list[Timeframe]:
        return list(self.registry)

    def info(self, key: str) -> JobInfo:
        timeframe = self.registry.get(key)
        job = self._scheduler.get_job(job_id(key)) if self._scheduler else None
        next_run_at = None
        if job is not None and job.next_run_time is not None:
            next_run_at = job.next_run_time.astimezone(self.display_zone)
        return JobInfo(
            key=timeframe.key,
            name=timeframe.name,
            minutes=timeframe.minutes,
            cron=timeframe.cron,
            schedule_timezone=self.schedule_timezone,
            job_id=job_id(key),
            active=job is not None,
            in_progress=self.in_progress(key),
            next_run_at=next_run_at,
        )

    def jobs(self) -> list[JobInfo]:
        """Return every timeframe's job, started or not, in registry order."""
        return [self.info(timeframe.key) for timeframe in self.registry]

    def active_jobs(self) -> list[JobInfo]:
        return [info for info in self.jobs() if info.active]

    def in_progress(self, key: str) -> bool:
        task = self._runs.get(key)
        return task is not None and not task.done()

    # Operations

    def start_job(self, key: str) -> JobInfo:
        """Schedule the timeframe's job, or raise JobError when it is already scheduled."""
        timeframe = self.registry.get(key)
        scheduler = self._require_scheduler()
        if scheduler.get_job(job_id(key)) is not None:
            raise JobError(f"Job for timeframe {key} is already running")

        trigger = timeframe.trigger(self.schedule_timezone)
        # The first fire comes from volscope's clock, not APScheduler's, so a frozen clock
        # in tests gives the same next run as the wall clock would at that moment.
        first_fire = trigger.get_next_fire_time(None, self.clock.now())
        scheduler.add_job(
            self._fire,
            trigger=trigger,
            args=[key],
            id=job_id(key),
            name=f"{timeframe.name} volume analysis",
            next_run_time=first_fire,
        )
        info = self.info(key)
        log.info("%s job started; next run %s", key, info.next_run_at)
        self._emit(JobStarted(key, info.next_run_at))
        return info

    def stop_job(self, key: str) -> None:
        """Unschedule the timeframe's job; a run in progress finishes. JobError when not scheduled."""
        self.registry.get(key)
        scheduler = self._require_scheduler()
        if scheduler.get_job(job_id(key)) is None:
            raise JobError(f"Job for timeframe {key} is not running")
        scheduler.remove_job(job_id(key))
        log.info("%s job stopped", key)
        self._emit(JobStopped(key))

    def toggle_job(self, key: str) -> bool:
        """Start the job when stopped, stop it when started; return whether it now runs."""
        if self.info(key).active:
            self.stop_job(key)
            return False
        self.start_job(key)
        return True

    def start_all(self) -> list[str]:
        started = [info.key for info in self.jobs() if not info.active]
        for key in started:
            self.start_job(key)
        return started

    def stop_all(self) -> list[str]:
        stopped = [info.key for info in self.active_jobs()]
        for key in stopped:
            self.stop_job(key)
        return stopped

    def run_now(self, key: str, *, scheduled_at: datetime | None = None) -> asyncio.Task[None]:
        """Run the timeframe once now without moving its schedule; JobError while a run is going.

        Without `scheduled_at` this is a run by hand that evaluates the newest closed candle.
        With it, the run replaces that missed fire and is recorded as scheduled.
        """
        self.registry.get(key)
        self._require_scheduler()
        if self.in_progress(key):
            since = self._run_started_at[key].astimezone(self.display_zone).strftime("%H:%M:%S")
            raise JobError(f"A {key} run is already in progress (started {since}); wait for it to finish")
        manual = scheduled_at is None
        return self._launch(key, scheduled_at or self.clock.now(), manual=manual)

    def fire_due(self) -> list[str]:
        """Fire every started job whose next run is due on volscope's clock; return their keys.

        APScheduler fires by the wall clock, so a replay of past candles starts the scheduler
        paused and calls this once a second instead. Fires missed in between are coalesced.
        """
        scheduler = self._require_scheduler()
        now = self.clock.now()
        fired = []
        for job in scheduler.get_jobs():
            if not job.id.startswith(JOB_ID_PREFIX) or job.next_run_time is None or job.next_run_time > now:
                continue
            key = job.id.removeprefix(JOB_ID_PREFIX)
            scheduled_at = latest_fire(job.trigger, now, now - job.next_run_time) or job.next_run_time
            upcoming = job.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
            scheduler.modify_job(job.id, next_run_time=upcoming)
            if self.in_progress(key):
                self._skip(key, scheduled_at)
                continue
            self._launch(key, scheduled_at, manual=False)
            fired.append(key)
        return fired

    # Running

    def _require_scheduler(self) -> AsyncIOScheduler:
        if self._scheduler is None:
            raise JobError("The scheduler is not started")
        return self._scheduler

    async def _fire(self, key: str) -> None:
        """APScheduler's job function: run the timeframe for the fire that is due now."""
        timeframe = self.registry.get(key)
        now = self.clock.now()
        horizon = timeframe.interval + timedelta(seconds=self.policy.misfire_grace_time)
        scheduled_at = latest_fire(timeframe.trigger(self.schedule_timezone), now, horizon) or now

        if self.in_progress(key):
            # Only a run started by hand gets here, since APScheduler itself allows one instance.
            self._skip(key, scheduled_at)
            return
        task = self._launch(key, scheduled_at, manual=False)
        await asyncio.shield(task)

    def _launch(self, key: str, scheduled_at: datetime, *, manual: bool) -> asyncio.Task[None]:
        self._run_started_at[key] = self.clock.now()
        task = asyncio.get_running_loop().create_task(self._guarded_run(key, scheduled_at, manual))
        self._runs[key] = task
        return task

    async def _guarded_run(self, key: str, scheduled_at: datetime, manual: bool) -> None:
        timeframe = self.registry.get(key)
        started_at = self._run_started_at[key]
        self._emit(RunStarted(key, scheduled_at, started_at, manual))
        timeout = self.policy.run_timeout(timeframe)
        try:
            async with asyncio.timeout(timeout):
                if not manual:
                    # Give the exchange the settle delay after the close to publish the final candle.
                    elapsed = (self.clock.now() - scheduled_at).total_seconds()
                    if self.policy.settle_delay > elapsed:
                        await asyncio.sleep(self.policy.settle_delay - elapsed)
                result = await self._run(timeframe, scheduled_at, manual)
        except TimeoutError:
            self._fail(key, scheduled_at, started_at, manual, f"timed out after {timeout:g} s; the next run goes ahead")
        except asyncio.CancelledError:
            self._fail(key, scheduled_at, started_at, manual, "cancelled because volscope is shutting down")
            raise
        except Exception as error:  # a failing run must never stop the schedule
            log.exception("%s run for %s failed", key, scheduled_at.isoformat())
            self._fail(key, scheduled_at, started_at, manual, f"{type(error).__name__}: {error}")
        else:
            log.info(
                "%s run for %s finished: %d records, %d spikes, %d symbols failed",
                key,
                scheduled_at.isoformat(),
                len(result.records),
                len(result.spikes),
                len(result.failures),
            )
            self._emit(RunFinished(key, result))

    def _fail(self, key: str, scheduled_at: datetime, started_at: datetime, manual: bool, reason: str) -> None:
        log.warning("%s run for %s failed: %s", key, scheduled_at.isoformat(), reason)
        self._emit(RunFailed(key, scheduled_at, started_at, self.clock.now(), reason, manual))

    def _skip(self, key: str, scheduled_at: datetime) -> None:
        since = self._run_started_at.get(key)
        started = since.astimezone(self.display_zone).strftime("%H:%M:%S") if since else "earlier"
        reason = f"the previous {key} run is still going (started {started})"
        log.warning("%s run for %s skipped: %s", key, scheduled_at.isoformat(), reason)
        self._emit(RunSkipped(key, scheduled_at, reason))

    def _on_scheduler_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if not event.job_id.startswith(JOB_ID_PREFIX):
            return
        key = event.job_id.removeprefix(JOB_ID_PREFIX)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            for scheduled_at in event.scheduled_run_times[-1:]:
                self._skip(key, scheduled_at)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("%s run for %s missed: it came more than the grace time late", key, event.scheduled_run_time)
            self._emit(RunMissed(key, event.scheduled_run_time))

    def _emit(self, event: SchedulerEvent) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:  # one broken observer must not keep the event from the others
                log.exception("observer %r failed on %s", observer, type(event).__name__)
