"""Builders for dashboard tests: a seeded demo runtime on a frozen clock, and an app with runs already stored.

Every app starts its scheduler paused, so APScheduler never fires on its own and the
frozen clock alone decides what the screen shows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from textual.pilot import Pilot

from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.settings import Settings, load_settings
from tui.app import VolscopeApp

# 2024-03-02 00:00 UTC is a close of every default timeframe, and at that candle the
# seed-7 demo market has one spike per timeframe: DOT/USDT medium (5m), NEAR/USDT high
# (1h), AVAX/USDT low (4h) and BNB/USDT low (1d). In Asia/Tehran it is 03:30.
FIRED_AT = datetime(2024, 3, 2, 0, 0, tzinfo=timezone.utc)
FROZEN_AT = datetime(2024, 3, 2, 0, 0, 20, tzinfo=timezone.utc)
"""Twenty seconds after the fire: past the 10 s settle delay, so a stored-as-scheduled run starts at once."""


def demo_settings(tmp_path: Path, **values: Any) -> Settings:
    """Return settings for the seeded demo market with the store in tmp_path; never reads the user's config."""
    config = tmp_path / "volscope.toml"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    values.setdefault("store_path", str(tmp_path / "volscope.sqlite"))
    return load_settings(values, config_path=config, env_file=None).settings


def make_app(tmp_path: Path, at: datetime = FROZEN_AT, **values: Any) -> VolscopeApp:
    """Return a dashboard over the demo market on a FrozenClock at `at`; its clock is `app.runtime.clock`."""
    runtime = build_runtime(demo_settings(tmp_path, **values), FrozenClock(at))
    return VolscopeApp(runtime, start_paused=True)


async def prerun_timeframes(tmp_path: Path, fired_at: datetime = FIRED_AT, at: datetime = FROZEN_AT) -> None:
    """Run every timeframe once for the fire at `fired_at` and store the outcome, as a past session would.

    Uses its own runtime over the same store, so the app opened afterwards loads the runs,
    the spikes and the started jobs from the store.
    """
    runtime = build_runtime(demo_settings(tmp_path), FrozenClock(at))
    await runtime.start(paused=True)
    try:
        for key in runtime.registry.keys():
            await runtime.service.run_now(key, scheduled_at=fired_at)
        statuses = {row.timeframe: row.status for row in runtime.store.runs()}
    finally:
        await runtime.stop()
    if set(statuses.values()) != {"ok"}:
        raise AssertionError(f"pre-runs did not all finish ok: {statuses}")


def make_demo_app(tmp_path: Path) -> VolscopeApp:
    """Return an app that opens after all four timeframes ran at FIRED_AT, its clock frozen at FROZEN_AT.

    For snapshot tests, which run the app in their own event loop; the terminal size is
    given to snap_compare. Async tests await prerun_timeframes and call make_app instead.
    """
    asyncio.run(prerun_timeframes(tmp_path))
    return make_app(tmp_path)


def clock_of(app: VolscopeApp) -> FrozenClock:
    clock = app.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Let the app run until `condition()` holds or `timeout` seconds passed; return whether it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await pilot.pause(0.05)
    await pilot.pause()
    return True


async def wait_until_started(pilot: Pilot) -> None:
    """Wait until the app has started its runtime and drawn the job rows; usable as snap_compare's run_before."""
    app = pilot.app
    assert isinstance(app, VolscopeApp)
    runtime: Runtime = app.runtime
    started = await wait_for(pilot, lambda: runtime.service.started)
    assert started, "the app did not start its scheduler within 5 s"
    await pilot.pause()
