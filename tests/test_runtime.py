"""The wired runtime: which jobs start, persistence across restarts, and catch-up of missed runs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from core.clock import FrozenClock
from core.events import RunFinished, RunStarted
from core.runtime import build_runtime
from core.settings import load_settings

UTC = timezone.utc


def make_runtime(tmp_path, clock, **values):
    config = tmp_path / "volscope.toml"
    config.touch()
    values = {"store_path": tmp_path / "store.sqlite", "settle_delay": 0, **values}
    settings = load_settings(values, config_path=config, env_file=None).settings
    return build_runtime(settings, clock)


async def test_all_jobs_start_first_time(tmp_path):
    runtime = make_runtime(tmp_path, FrozenClock(datetime(2026, 1, 1, 0, 2, tzinfo=UTC)))
    await runtime.start(paused=True)
    assert [info.key for info in runtime.service.active_jobs()] == ["5m", "1h", "4h", "1d"]
    await runtime.stop()


async def test_configured_start_timeframes(tmp_path):
    runtime = make_runtime(tmp_path, FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)), start_timeframes="1h,1d")
    await runtime.start(paused=True)
    assert [info.key for info in runtime.service.active_jobs()] == ["1h", "1d"]
    await runtime.stop()


async def test_running_jobs_survive_restart(tmp_path):
    clock = FrozenClock(datetime(2026, 1, 1, 0, 2, tzinfo=UTC))
    first = make_runtime(tmp_path, clock)
    await first.start(paused=True)
    first.service.stop_job("5m")
    first.service.stop_job("4h")
    await first.stop()

    second = make_runtime(tmp_path, clock)
    await second.start(paused=True)
    assert [info.key for info in second.service.active_jobs()] == ["1h", "1d"]
    await second.stop()


async def test_missed_runs_caught_up_once(tmp_path):
    clock = FrozenClock(datetime(2026, 1, 1, 10, 0, 20, tzinfo=UTC))
    runtime = make_runtime(tmp_path, clock, start_timeframes="1h")
    runtime.store.record_run("1h", datetime(2026, 1, 1, 10, tzinfo=UTC), "ok")
    events = []
    runtime.service.subscribe(events.append)
    await runtime.start(paused=True)

    clock.set(datetime(2026, 1, 1, 13, 20, tzinfo=UTC))
    assert runtime.catch_up() == ["1h"]
    await asyncio.wait_for(runtime.service._runs["1h"], 30)

    started = [event for event in events if isinstance(event, RunStarted)]
    assert [(event.timeframe, event.scheduled_at, event.manual) for event in started] == [
        ("1h", datetime(2026, 1, 1, 13, tzinfo=UTC), False)
    ]
    assert isinstance(events[-1], RunFinished)
    assert runtime.store.last_scheduled_at("1h") == datetime(2026, 1, 1, 13, tzinfo=UTC)
    assert runtime.catch_up() == []
    await runtime.stop()


async def test_no_catch_up_inside_grace(tmp_path):
    clock = FrozenClock(datetime(2026, 1, 1, 13, 0, 30, tzinfo=UTC))
    runtime = make_runtime(tmp_path, clock, start_timeframes="1h")
    runtime.store.record_run("1h", datetime(2026, 1, 1, 12, tzinfo=UTC), "ok")
    await runtime.start(paused=True)
    assert runtime.catch_up() == []
    await runtime.stop()


async def test_demo_run_recorded_in_store(tmp_path):
    clock = FrozenClock(datetime(2026, 11, 2, 12, 0, 5, tzinfo=UTC))
    runtime = make_runtime(tmp_path, clock)
    events = []
    runtime.service.subscribe(events.append)
    await runtime.start(paused=True)

    await runtime.service.run_now("1h")

    finished = [event for event in events if isinstance(event, RunFinished)]
    assert len(finished) == 1
    result = finished[0].result
    assert len(result.records) == 20
    assert result.evaluated_open == datetime(2026, 11, 2, 11, tzinfo=UTC)
    (run,) = runtime.store.runs("1h")
    assert run.status == "ok"
    assert run.symbols_ok == 20
    assert run.spikes_found == len(result.spikes)
    await runtime.stop()


async def test_manual_run_on_past_data(tmp_path, binance_data):
    clock = FrozenClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    runtime = make_runtime(tmp_path, clock, source={"kind": "files", "data": str(binance_data)})
    events = []
    runtime.service.subscribe(events.append)
    await runtime.start(paused=True)

    await runtime.service.run_now("1h")

    result = [event for event in events if isinstance(event, RunFinished)][0].result
    assert result.evaluated_open == datetime(2018, 1, 30, 3, tzinfo=UTC)
    assert result.scheduled_at == clock.now()
    assert {record.status.value for record in result.records} == {"ok"}
    await runtime.stop()


async def test_scheduled_run_never_shifts(tmp_path, binance_data):
    clock = FrozenClock(datetime(2026, 12, 4, 12, 0, 5, tzinfo=UTC))
    runtime = make_runtime(tmp_path, clock, source={"kind": "files", "data": str(binance_data)})
    events = []
    runtime.service.subscribe(events.append)
    await runtime.start(paused=True)

    await runtime.service.run_now("1h", scheduled_at=datetime(2026, 12, 4, 12, tzinfo=UTC))

    result = [event for event in events if isinstance(event, RunFinished)][0].result
    assert result.evaluated_open == datetime(2026, 12, 4, 11, tzinfo=UTC)
    assert {record.note for record in result.records} == {"no candle for 11:00"}
    await runtime.stop()


async def test_replay_fires_on_replayed_time(tmp_path, binance_data):
    config = tmp_path / "volscope.toml"
    config.touch()
    values = {"store_path": tmp_path / "store.sqlite", "settle_delay": 0, "start_timeframes": "1h",
              "source": {"kind": "files", "data": str(binance_data)}}
    settings = load_settings(values, config_path=config, env_file=None).settings
    runtime = build_runtime(settings, replay_from=datetime(2018, 1, 24, 14, 59, 59, 500000, tzinfo=UTC))
    events = []
    runtime.service.subscribe(events.append)
    await runtime.start()

    deadline = asyncio.get_running_loop().time() + 10
    while not any(isinstance(event, RunFinished) for event in events):
        assert asyncio.get_running_loop().time() < deadline, "the replayed 15:00 fire did not run"
        await asyncio.sleep(0.05)

    result = [event for event in events if isinstance(event, RunFinished)][0].result
    assert result.scheduled_at == datetime(2018, 1, 24, 15, tzinfo=UTC)
    assert sorted(record.symbol for record in result.spikes) == ["ADA_BTC", "ETH_BTC", "LTC_BTC"]
    await runtime.stop()
