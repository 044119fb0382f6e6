"""Benchmarks of the analysis engine and resampling, with the per-symbol pandas way for scale.

Run from the repository root: `python tests/benchmarks/bench_analysis.py`. It prints each
figure next to its target; inputs are random lognormal volumes and random-walk closes
made with NumPy under a fixed seed. Timings are medians of repeated calls.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.analysis.engine import evaluate_last  # noqa: E402
from core.analysis.panel import evaluate_panel, evaluate_panel_history  # noqa: E402
from core.analysis.records import DetectionParams, Method  # noqa: E402
from core.timeframes import DEFAULT_TIMEFRAMES  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def random_panel(symbols: int, candles: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(5.0, 1.0, (symbols, candles))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (symbols, candles)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    return volume, close, open_


def random_frames(symbols: int, candles: int, minutes: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    volume, close, open_ = random_panel(symbols, candles, seed)
    index = pd.date_range(START, periods=candles, freq=f"{minutes}min", tz="UTC", name="open_time")
    return {
        f"SYM{row:04d}": pd.DataFrame(
            {
                "open": open_[row],
                "high": np.maximum(open_[row], close[row]),
                "low": np.minimum(open_[row], close[row]),
                "close": close[row],
                "volume": volume[row],
            },
            index=index,
        )
        for row in range(symbols)
    }


def per_symbol_way(frames: dict[str, pd.DataFrame], params: DetectionParams) -> list[tuple]:
    """What most scripts do: a frame per symbol, rolling mean/std and an RSI per symbol."""
    results = []
    for symbol, candles in frames.items():
        frame = pd.DataFrame({"volume": candles["volume"], "close": candles["close"]})
        baseline = frame["volume"].shift(1).rolling(params.lookback)
        mean, std = baseline.mean(), baseline.std()
        distance = (frame["volume"] - mean) / std
        change = frame["close"].diff()
        gain = change.clip(lower=0).ewm(alpha=1 / params.rsi_period, adjust=False).mean()
        loss = (-change).clip(lower=0).ewm(alpha=1 / params.rsi_period, adjust=False).mean()
        rsi = 100 - 100 / (1 + gain / loss)
        last = distance.iloc[-1]
        level = "high" if last > 6 else "medium" if last > 4 else "low" if last > 2.5 else None
        results.append((symbol, last, level, rsi.iloc[-1]))
    return results


def bench_last_candle() -> None:
    symbols, candles = 500, 500
    params = DetectionParams()
    volume, close, open_ = random_panel(symbols, candles)
    frames = random_frames(symbols, candles, 60)
    evaluated_open = next(iter(frames.values())).index[-1].to_pydatetime()
    one_hour = DEFAULT_TIMEFRAMES[1]

    core = median_ms(lambda: evaluate_panel(volume, close, open_, params), 50)
    full = median_ms(lambda: evaluate_last(frames, one_hour, evaluated_open, params), 30)
    pandas_way = median_ms(lambda: per_symbol_way(frames, params), 3)
    print(f"(1) last candle, {symbols} symbols x {candles} candles, sigma, all levels and RSI")
    print(f"    evaluate_panel (arrays in, arrays out):         {core:8.2f} ms  (target <= 10 ms)")
    print(f"    evaluate_last (frames in, SpikeRecords out):    {full:8.2f} ms")
    print(f"    per-symbol pandas loop:                         {pandas_way:8.2f} ms")
    print(f"    speed-up: {pandas_way / core:6.0f}x over evaluate_panel, "
          f"{pandas_way / full:6.0f}x over evaluate_last  (target >= 100x)")


def bench_history() -> None:
    symbols, candles = 200, 10_000
    volume, close, open_ = random_panel(symbols, candles)
    print(f"(2) history scan, {symbols} symbols x {candles} candles (evaluate_panel_history)")
    for method, repeats in ((Method.SIGMA, 7), (Method.ROBUST, 1), (Method.RVOL, 1)):
        params = DetectionParams(method=method)
        elapsed = median_ms(lambda: evaluate_panel_history(volume, close, open_, params), repeats)
        target = "  (target <= 150 ms)" if method is Method.SIGMA else ""
        print(f"    {method.value:6s}: {elapsed:8.1f} ms{target}")


def bench_resample() -> None:
    try:
        from core.sources.resample import resample_many
    except ImportError as error:
        print(f"(3) resampling skipped: {error}")
        return
    symbols, days = 200, 30
    candles = days * 24 * 60
    frames = random_frames(symbols, candles, 1)
    targets = (5, 60, 240, 1440)

    def resample_all():
        for minutes in targets:
            resample_many(frames, 1, minutes)

    elapsed = median_ms(resample_all, 3)
    print(f"(3) resampling {symbols} symbols x {days} days of 1m candles to 5m, 1h, 4h, 1d")
    print(f"    resample_many x4: {elapsed:8.1f} ms  (target <= 500 ms)")


def memory_run() -> None:
    """Child process: a four-timeframe run over 500 symbols, then print peak RSS in MB."""
    params = DetectionParams()
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for offset, timeframe in enumerate(DEFAULT_TIMEFRAMES):
        frames = random_frames(500, params.candles_needed, timeframe.minutes, seed=offset)
        evaluated_open = next(iter(frames.values())).index[-1].to_pydatetime()
        records = evaluate_last(frames, timeframe, evaluated_open, params)
        assert len(records) == 500
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{before_kb / 1024:.1f} {peak_kb / 1024:.1f}")


def bench_memory() -> None:
    output = subprocess.run(
        [sys.executable, __file__, "--memory-run"], capture_output=True, text=True, check=True
    ).stdout
    after_imports, peak = (float(value) for value in output.split())
    print("(4) peak resident memory of a 5m/1h/4h/1d run over 500 symbols (276 candles each)")
    print(f"    {peak:8.1f} MB peak  (target <= 200 MB); {after_imports:.1f} MB of it is the "
          "interpreter with NumPy, pandas and volscope imported")


def main() -> None:
    if "--memory-run" in sys.argv:
        memory_run()
        return
    # First, while this process is small: Linux carries the parent's peak RSS into a
    # forked child, which would inflate the child's figure after the big benchmarks.
    bench_memory()
    bench_last_candle()
    bench_history()
    bench_resample()


if __name__ == "__main__":
    main()
