"""Per-candle volume, close, rolling baseline and level thresholds for one symbol's chart.

Levels come from `core.analysis.engine.scan_history`, so every bar carries the verdict a
run at its close would have given. The thresholds are the same rules turned into volume
units: a candle reaches a level when its volume is above that level's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.analysis.panel import MAD_TO_SIGMA, ROBUST_ZERO_OFFSET
from core.analysis.records import DetectionParams, Level, Method, SpikeRecord, Status
from core.sources.base import CandleSource, SourceError

if TYPE_CHECKING:
    import pandas as pd

    from core.timeframes import Timeframe

DEFAULT_BARS = 60


@dataclass(frozen=True)
class ChartBar:
    """One closed candle and the baseline it was judged against."""

    open_time: datetime
    """UTC open time."""
    volume: float
    close: float
    baseline_mean: float | None
    """Mean volume of the `lookback` candles before this one; None while warming up."""
    thresholds: tuple[float, float, float] | None
    """Volumes above which this candle is a low, medium and high spike; None when no level
    is possible (warming up or a flat baseline)."""
    level: Level | None


@dataclass(frozen=True)
class ChartData:
    """The newest closed candles of one symbol and timeframe, oldest first."""

    symbol: str
    timeframe: str
    method: str
    """The method and thresholds, from DetectionParams.describe()."""
    bars: tuple[ChartBar, ...]

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def is_plottable(self) -> bool:
        """At least two candles and some volume: fewer, or all zero, gives no useful chart."""
        return len(self.bars) >= 2 and any(bar.volume > 0 for bar in self.bars)

    @property
    def latest_baseline(self) -> tuple[float | None, tuple[float, float, float] | None]:
        """The newest bar's baseline mean and thresholds, falling back to older bars when it has none."""
        for bar in reversed(self.bars):
            if bar.baseline_mean is not None:
                return bar.baseline_mean, bar.thresholds
        return None, None


async def load_chart_data(
    source: CandleSource,
    timeframe: "Timeframe",
    symbol: str,
    until: datetime,
    params: DetectionParams,
    bars: int = DEFAULT_BARS,
) -> ChartData:
    """Fetch `bars + params.lookback` closed candles up to `until` and judge each of them.

    Raises SourceError when the source cannot read the symbol, and ValueError for a
    non-positive `bars`. A symbol with no candles before `until` gives an empty ChartData.
    """
    if bars < 1:
        raise ValueError(f"bars must be at least 1, got {bars}")
    from core.threads import run_in_thread

    fetched = await source.fetch([symbol], timeframe, bars + params.lookback, until=until)
    if symbol in fetched.failures:
        raise SourceError(symbol, fetched.failures[symbol])
    candles = fetched.candles.get(symbol)
    if candles is None or candles.empty:
        return ChartData(symbol, timeframe.key, params.describe(), ())
    return await run_in_thread(chart_data_from_candles, symbol, candles, timeframe, params, bars)


def chart_data_from_candles(
    symbol: str, candles: "pd.DataFrame", timeframe: "Timeframe", params: DetectionParams, bars: int = DEFAULT_BARS
) -> ChartData:
    """Judge every candle of one symbol's frame (candle_frame layout) and keep the newest `bars`."""
    from core.analysis.engine import scan_history

    # The engine skips a row whose volume or close is NaN when it builds a baseline, so
    # those rows go first and the windows below line up with the engine's.
    present = np.isfinite(candles["volume"].to_numpy(dtype=np.float64)) & np.isfinite(
        candles["close"].to_numpy(dtype=np.float64)
    )
    candles = candles[present]
    records = scan_history({symbol: candles}, timeframe, params)
    volume = candles["volume"].to_numpy(dtype=np.float64)
    thresholds = _thresholds(volume, records, params)

    chart_bars = []
    for index, record in enumerate(records):
        chart_bars.append(
            ChartBar(
                open_time=record.open_time,
                volume=float(volume[index]),
                close=float(record.close),
                baseline_mean=record.baseline_mean,
                thresholds=thresholds[index],
                level=record.level,
            )
        )
    return ChartData(symbol, timeframe.key, params.describe(), tuple(chart_bars[-bars:]))


def _thresholds(
    volume: np.ndarray, records: Sequence[SpikeRecord], params: DetectionParams
) -> list[tuple[float, float, float] | None]:
    """Compute each candle's level thresholds in volume units by the rule of `params.method`."""
    low, medium, high = params.thresholds
    factors = np.array([low, medium, high])
    result: list[tuple[float, float, float] | None] = [None] * len(records)
    lookback = params.lookback

    for index, record in enumerate(records):
        if record.status is not Status.OK:
            continue
        if params.method is Method.SIGMA:
            values = record.baseline_mean + factors * record.baseline_std
        else:
            # The engine does not return the baseline median, so it is taken again here
            # over the same `lookback` candles before this one.
            window = volume[index - lookback : index]
            if params.method is Method.RVOL:
                values = factors * np.median(window)
            else:
                offset = ROBUST_ZERO_OFFSET * record.baseline_mean
                logs = np.log(window + offset)
                center = np.median(logs)
                scale = MAD_TO_SIGMA * np.median(np.abs(logs - center))
                values = np.exp(center + factors * scale) - offset
        result[index] = (float(values[0]), float(values[1]), float(values[2]))
    return result
