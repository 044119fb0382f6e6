"""Time and memory of one scheduled run's demo fetch: 276 closed candles for 20 pairs.

Run with `python tests/benchmarks/bench_demo_source.py` from the repository root. Peak
memory is what tracemalloc records as allocated during the fetch (numpy buffers included).
"""

from __future__ import annotations

import asyncio
import platform
import time
import tracemalloc
from datetime import datetime, timezone

from core.sources.demo import DemoSource
from core.timeframes import DEFAULT_TIMEFRAMES

# Lookback 25 + the evaluated candle + 250 candles of RSI warm-up.
SCHEDULED_COUNT = 276
UNTIL = datetime(2025, 3, 3, tzinfo=timezone.utc)


async def measure() -> None:
    source = DemoSource()
    symbols = await source.symbols()
    print(
        f"{len(symbols)} pairs x {SCHEDULED_COUNT} candles, Python {platform.python_version()}, {platform.machine()}"
    )
    for timeframe in DEFAULT_TIMEFRAMES:
        tracemalloc.start()
        started = time.perf_counter()
        result = await source.fetch(symbols, timeframe, SCHEDULED_COUNT, UNTIL)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        # A second, untraced fetch shows the time without tracemalloc's overhead.
        started = time.perf_counter()
        await source.fetch(symbols, timeframe, SCHEDULED_COUNT, UNTIL)
        untraced = time.perf_counter() - started
        rows = sum(len(frame) for frame in result.candles.values())
        print(
            f"{timeframe.key:>3}: {untraced:.3f} s ({elapsed:.3f} s traced), "
            f"peak {peak / 2**20:.1f} MiB, {rows} candles"
        )


if __name__ == "__main__":
    asyncio.run(measure())
