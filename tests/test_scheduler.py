"""The scheduler service on a real AsyncIOScheduler: jobs, next runs, failures, skips, misses."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from core.clock import FrozenClock, SystemClock
from core.events import RunFailed, RunFinished, RunMissed, RunResult, RunSkipped, RunStarted
from core.scheduler import JobError, JobPolicy, SchedulerService, job_id, latest_fire
from core.timeframes import DEFAULT_TIMEFRAMES, Timeframe, TimeframeRegistry

UTC = timezone.utc
POLICY = JobPolicy(settle_delay=0)


class Runs:
    """A run function that records its calls and can be set to fail or to block."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime, bool]] = []
        self.fail_with: Exception | None = None
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, timeframe: Timeframe, fired_at: datetime, manual: bool) -> RunResult:
        self.calls.append((timeframe.key, fired_at, manual))
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return RunResult(
            timeframe=timeframe.key,
            scheduled_at=fired_at,
            evaluated_open=timeframe.evaluated_open(fired_at),
            interval=timeframe.interval,
            started_at=fired_at,
            finished_at=fired_at,
            records=[],
            manual=manual,
        )


def make_service(clock, runs, policy=POLICY, **options) -> tuple[SchedulerService, list]:
    service = SchedulerService(TimeframeRegistry(DEFAULT_TIMEFRAMES), runs, clock, policy=policy, **options)
    events: list = []
    service.subscribe(events.append)
    return service, events


async def until(condition, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_start_twice_rejected():
    service, _ = make_service(FrozenClock(datetime(2026, 1, 1, 0, 10, tzinfo=UTC)), Runs())
    await service.start(paused=True)
    service.start_job("5m")
    with pytest.raises(JobError, match=r"^Job for timeframe 5m is already running$"):
        service.start_job("5m")
    await service.shutdown()


async def test_stop_when_stopped_rejected():
    service, _ = make_service(FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), Runs())
    await service.start(paused=True)
    with pytest.raises(JobError, match="Job for timeframe 1h is not running"):
        service.stop_job("1h")
    await service.shutdown()


async def test_unknown_timeframe_lists_available():
    service, _ = make_service(FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), Runs())
    await service.start(paused=True)
    with pytest.raises(ValueError, match=r"Invalid timeframe: 10m\. Available: \['5m', '1h', '4h', '1d'\]"):
        service.start_job("10m")
    await service.shutdown()


async def test_next_runs_shown_in_tehran_time():
    clock = FrozenClock(datetime(2026, 1, 1, 0, 10, 30, tzinfo=UTC))
    service, _ = make_service(clock, Runs())
    await service.start(paused=True)
    service.start_all()

    jobs = {info.key: info for info in service.jobs()}
    assert jobs["5m"].next_run_at.isoformat() == "2026-01-01T03:45:00+03:30"
    assert jobs["1h"].next_run_at.isoformat() == "2026-01-01T04:30:00+03:30"
    assert jobs["4h"].next_run_at.isoformat() == "2026-01-01T07:30:00+03:30"
    assert jobs["1d"].next_run_at.isoformat() == "2026-01-02T03:30:00+03:30"
    assert jobs["4h"].job_id == "volume_analysis_4h"
    assert jobs["4h"].status == "scheduled"
    await service.shutdown()


async def test_tehran_schedule_fires_on_tehran_hours():
    clock = FrozenClock(datetime(2026, 1, 1, 0, 10, tzinfo=UTC))
    service, _ = make_service(clock, Runs(), schedule_timezone="Asia/Tehran")
    await service.start(paused=True)
    info = service.start_job("4h")
    assert info.next_run_at.isoformat() == "2026-01-01T04:00:00+03:30"
    await service.shutdown()


async def test_stop_all_stops_every_job():
    service, events = make_service(FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), Runs())
    await service.start(paused=True)
    service.start_all()
    assert service.stop_all() == ["5m", "1h", "4h", "1d"]
    assert service.active_jobs() == []
    assert [info.next_run_at for info in service.jobs()] == [None, None, None, None]
    await service.shutdown()


async def test_failing_run_keeps_schedule():
    runs = Runs()
    runs.fail_with = ConnectionError("exchange unreachable")
    service, events = make_service(FrozenClock(datetime(2026, 1, 1, 0, 10, tzinfo=UTC)), runs)
    await service.start(paused=True)
    service.start_job("5m")

    await service._fire("5m")

    failures = [event for event in events if isinstance(event, RunFailed)]
    assert len(failures) == 1
    assert failures[0].reason == "ConnectionError: exchange unreachable"
    assert failures[0].scheduled_at == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    assert service.info("5m").active
    runs.fail_with = None
    await service._fire("5m")
    assert isinstance(events[-1], RunFinished)
    await service.shutdown()


async def test_hung_run_times_out():
    runs = Runs()
    runs.release.clear()
    policy = JobPolicy(settle_delay=0, max_run_timeout=0.05)
    service, events = make_service(FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), runs, policy)
    await service.start(paused=True)

    await service.run_now("5m")

    assert isinstance(events[-1], RunFailed)
    assert events[-1].reason.startswith("timed out after 0.05 s")
    assert not service.in_progress("5m")
    await service.shutdown()


def test_run_timeout_below_interval():
    policy = JobPolicy()
    for timeframe in DEFAULT_TIMEFRAMES:
        assert policy.run_timeout(timeframe) < timeframe.interval.total_seconds()


async def test_run_now_keeps_schedule_and_rejects_overlap():
    runs = Runs()
    runs.release.clear()
    clock = FrozenClock(datetime(2026, 1, 1, 0, 12, tzinfo=UTC))
    service, events = make_service(clock, runs)
    await service.start(paused=True)
    before = service.start_job("5m").next_run_at

    task = service.run_now("5m")
    await until(lambda: runs.calls)
    assert service.info("5m").status == "running"
    with pytest.raises(JobError, match=r"A 5m run is already in progress \(started 03:42:00\)"):
        service.run_now("5m")

    runs.release.set()
    await task
    assert service.info("5m").next_run_at == before
    assert runs.calls == [("5m", clock.now(), True)]
    assert isinstance(events[-1], RunFinished)
    assert events[-1].result.manual
    await service.shutdown()


async def test_fire_during_manual_run_is_skipped():
    runs = Runs()
    runs.release.clear()
    service, events = make_service(FrozenClock(datetime(2026, 1, 1, 0, 15, tzinfo=UTC)), runs)
    await service.start(paused=True)
    service.start_job("5m")
    task = service.run_now("5m")
    await until(lambda: runs.calls)

    await service._fire("5m")

    skipped = [event for event in events if isinstance(event, RunSkipped)]
    assert len(skipped) == 1
    assert skipped[0].reason == "the previous 5m run is still going (started 03:45:00)"
    runs.release.set()
    await task
    await service.shutdown()


async def test_apscheduler_overlap_becomes_skip():
    """A real fire while the previous scheduled run still goes: APScheduler's max_instances path."""
    runs = Runs()
    runs.release.clear()
    service, events = make_service(SystemClock(), runs)
    await service.start()
    service.start_job("1d")
    scheduler = service._scheduler

    scheduler.modify_job(job_id("1d"), next_run_time=datetime.now(UTC))
    await until(lambda: runs.calls)
    scheduler.modify_job(job_id("1d"), next_run_time=datetime.now(UTC))
    await until(lambda: any(isinstance(event, RunSkipped) for event in events))

    runs.release.set()
    await until(lambda: any(isinstance(event, RunFinished) for event in events))
    assert sum(isinstance(event, RunStarted) for event in events) == 1
    await service.shutdown()


async def test_late_fire_becomes_missed():
    runs = Runs()
    service, events = make_service(SystemClock(), runs)
    await service.start()
    service.start_job("1d")
    late = datetime.now(UTC) - timedelta(seconds=120)

    service._scheduler.modify_job(job_id("1d"), next_run_time=late)
    await until(lambda: any(isinstance(event, RunMissed) for event in events))

    missed = [event for event in events if isinstance(event, RunMissed)]
    assert missed[0].scheduled_at == late
    assert runs.calls == []
    await service.shutdown()


async def test_shutdown_during_run_is_prompt():
    runs = Runs()
    runs.release.clear()
    service, events = make_service(FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), runs)
    await service.start(paused=True)
    service.run_now("1h")
    await until(lambda: runs.calls)

    started = asyncio.get_running_loop().time()
    await service.shutdown(timeout=1.0)

    assert asyncio.get_running_loop().time() - started < 1.5
    assert isinstance(events[-1], RunFailed)
    assert "shutting down" in events[-1].reason


def test_latest_fire_on_and_between_fires():
    trigger = DEFAULT_TIMEFRAMES[2].trigger("UTC")
    on_fire = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert latest_fire(trigger, on_fire, timedelta(hours=5)) == on_fire
    assert latest_fire(trigger, on_fire + timedelta(minutes=59), timedelta(hours=5)) == on_fire
    assert latest_fire(trigger, on_fire - timedelta(seconds=1), timedelta(hours=5)) == datetime(2026, 1, 1, 4, tzinfo=UTC)
    assert latest_fire(trigger, on_fire - timedelta(seconds=1), timedelta(hours=1)) is None


async def test_fire_due_coalesces_on_volscope_clock():
    runs = Runs()
    clock = FrozenClock(datetime(2018, 1, 24, 14, 59, 50, tzinfo=UTC))
    service, events = make_service(clock, runs)
    await service.start(paused=True)
    service.start_job("1h")

    assert service.fire_due() == []
    clock.advance(timedelta(hours=2, seconds=20))
    assert service.fire_due() == ["1h"]
    await until(lambda: any(isinstance(event, RunFinished) for event in events))

    assert runs.calls == [("1h", datetime(2018, 1, 24, 17, tzinfo=UTC), False)]
    assert service.info("1h").next_run_at == datetime(2018, 1, 24, 18, tzinfo=UTC)
    assert service.fire_due() == []
    await service.shutdown()


def test_latest_fire_over_long_lookback():
    five_minutes = DEFAULT_TIMEFRAMES[0].trigger("UTC")
    daily = DEFAULT_TIMEFRAMES[3].trigger("UTC")
    now = datetime(2026, 3, 15, 10, 7, 30, tzinfo=UTC)
    assert latest_fire(five_minutes, now, timedelta(days=400)) == datetime(2026, 3, 15, 10, 5, tzinfo=UTC)
    assert latest_fire(daily, now, timedelta(days=400)) == datetime(2026, 3, 15, tzinfo=UTC)
    assert latest_fire(daily, now, timedelta(hours=10)) is None
