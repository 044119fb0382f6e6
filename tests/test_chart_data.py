"""Chart data: per-candle baseline, thresholds and levels from hand-made candles."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from core.analysis.records import DetectionParams, Level, Method
from core.chart_data import ChartData, chart_data_from_candles, load_chart_data
from core.clock import FrozenClock
from core.settings import load_settings
from core.runtime import build_runtime
from core.sources.base import FetchResult, SourceError, candle_frame
from core.timeframes import DEFAULT_TIMEFRAMES

HOUR = DEFAULT_TIMEFRAMES[1]
START = datetime(2024, 3, 1, tzinfo=timezone.utc)


def frame(volumes: list[float], closes: list[float] | None = None) -> pd.DataFrame:
    closes = closes or [100.0 + index for index in range(len(volumes))]
    index = pd.date_range(START, periods=len(volumes), freq="1h", tz="UTC")
    return candle_frame(
        pd.DataFrame(
            {"open": closes, "high": closes, "low": closes, "close": closes, "volume": volumes},
            index=index,
        )
    )


class ListSource:
    """A CandleSource over fixed frames that records what it was asked for."""

    name = "LIST"
    is_demo = False

    def __init__(self, frames: dict[str, pd.DataFrame], failures: dict[str, str] | None = None) -> None:
        self.frames = frames
        self.failures = failures or {}
        self.requests: list[tuple[list[str], int, datetime]] = []

    async def symbols(self) -> list[str]:
        return sorted(self.frames)

    async def fetch(self, symbols, timeframe, count, until):
        self.requests.append((list(symbols), count, until))
        result = FetchResult()
        for symbol in symbols:
            if symbol in self.failures:
                result.failures[symbol] = self.failures[symbol]
                continue
            candles = self.frames[symbol]
            closed = candles[candles.index + timeframe.interval <= until]
            result.candles[symbol] = closed.iloc[-count:]
        return result


# A baseline of alternating 10 and 20 (mean 15, sample σ of 4 values 5.7735), then a
# candle of volume 50: (50 - 15) / 5.7735 = 6.06σ, a high spike.
PARAMS = DetectionParams(lookback=4, rsi_warmup=0)
VOLUMES = [10.0, 20.0, 10.0, 20.0, 50.0, 20.0, 20.0]


def test_sigma_thresholds_are_mean_plus_k_sigma():
    data = chart_data_from_candles("BTC/USDT", frame(VOLUMES), HOUR, PARAMS)

    spike = data.bars[4]
    sigma = statistics.stdev([10, 20, 10, 20])
    assert spike.baseline_mean == pytest.approx(15.0)
    assert spike.thresholds == pytest.approx((15 + 2.5 * sigma, 15 + 4 * sigma, 15 + 6 * sigma))
    assert spike.level is Level.HIGH
    assert spike.volume == 50.0


def test_warming_up_bars_have_no_baseline():
    data = chart_data_from_candles("BTC/USDT", frame(VOLUMES), HOUR, PARAMS)

    for bar in data.bars[:4]:
        assert bar.baseline_mean is None
        assert bar.thresholds is None
        assert bar.level is None
    assert data.bars[5].baseline_mean == pytest.approx((20 + 10 + 20 + 50) / 4)


def test_bars_keep_newest_and_order():
    data = chart_data_from_candles("BTC/USDT", frame(VOLUMES), HOUR, PARAMS, bars=3)

    assert len(data) == 3
    assert [bar.volume for bar in data.bars] == [50.0, 20.0, 20.0]
    assert data.bars[0].open_time == START + timedelta(hours=4)
    assert data.bars[-1].close == 106.0
    assert data.symbol == "BTC/USDT"
    assert data.method == PARAMS.describe()


@pytest.mark.parametrize("method", [Method.SIGMA, Method.ROBUST, Method.RVOL])
def test_levels_agree_with_thresholds(method):
    rng = np.random.default_rng(3)
    volumes = list(rng.lognormal(3.0, 0.4, 120))
    volumes[60] *= 12
    volumes[90] *= 6
    params = DetectionParams(method=method, lookback=20, rsi_warmup=0)
    data = chart_data_from_candles("ETH/USDT", frame(volumes), HOUR, params, bars=100)

    levels_seen = set()
    for bar in data.bars:
        if bar.thresholds is None:
            continue
        low, medium, high = bar.thresholds
        expected = None
        if bar.volume > low:
            expected = Level.LOW
        if bar.volume > medium:
            expected = Level.MEDIUM
        if bar.volume > high:
            expected = Level.HIGH
        assert bar.level is expected, (bar.open_time, bar.volume, bar.thresholds)
        levels_seen.add(bar.level)
    assert Level.HIGH in levels_seen or Level.MEDIUM in levels_seen


def test_rvol_thresholds_are_multiples_of_median():
    params = DetectionParams(method=Method.RVOL, lookback=4, rsi_warmup=0)
    data = chart_data_from_candles("BTC/USDT", frame([10.0, 30.0, 20.0, 40.0, 200.0]), HOUR, params)

    assert data.bars[4].thresholds == pytest.approx((2 * 25.0, 3 * 25.0, 5 * 25.0))
    assert data.bars[4].level is Level.HIGH


def test_nan_row_is_left_out():
    volumes = [10.0, 20.0, np.nan, 10.0, 20.0, 50.0]
    data = chart_data_from_candles("BTC/USDT", frame(volumes), HOUR, PARAMS)

    assert len(data) == 5
    assert data.bars[4].baseline_mean == pytest.approx(15.0)
    assert data.bars[4].level is Level.HIGH


def test_plottable_cases():
    one = chart_data_from_candles("A", frame([5.0]), HOUR, PARAMS)
    zeros = chart_data_from_candles("A", frame([0.0, 0.0, 0.0]), HOUR, PARAMS)
    two = chart_data_from_candles("A", frame([0.0, 3.0]), HOUR, PARAMS)

    assert not ChartData("A", "1h", "", ()).is_plottable
    assert not one.is_plottable
    assert not zeros.is_plottable
    assert two.is_plottable


def test_latest_baseline_falls_back():
    data = chart_data_from_candles("BTC/USDT", frame(VOLUMES), HOUR, PARAMS)
    mean, thresholds = data.latest_baseline
    assert mean == data.bars[-1].baseline_mean
    assert thresholds == data.bars[-1].thresholds

    assert ChartData("A", "1h", "", ()).latest_baseline == (None, None)


async def test_load_fetches_bars_plus_lookback():
    source = ListSource({"BTC/USDT": frame(VOLUMES)})
    until = START + timedelta(hours=len(VOLUMES))

    data = await load_chart_data(source, HOUR, "BTC/USDT", until, PARAMS, bars=3)

    assert source.requests == [(["BTC/USDT"], 3 + PARAMS.lookback, until)]
    assert [bar.volume for bar in data.bars] == [50.0, 20.0, 20.0]
    assert data.bars[0].level is Level.HIGH


async def test_load_stops_at_until():
    source = ListSource({"BTC/USDT": frame(VOLUMES)})
    # The candle opening at START + 4h closes at + 5h: it is the newest closed one.
    data = await load_chart_data(source, HOUR, "BTC/USDT", START + timedelta(hours=5, minutes=30), PARAMS)

    assert data.bars[-1].volume == 50.0
    assert len(data) == 5


async def test_load_raises_for_failed_symbol():
    source = ListSource({}, failures={"BAD/USDT": "file is empty"})

    with pytest.raises(SourceError, match="BAD/USDT: file is empty"):
        await load_chart_data(source, HOUR, "BAD/USDT", START, PARAMS)


async def test_load_without_candles_is_empty():
    source = ListSource({"BTC/USDT": frame(VOLUMES)})
    data = await load_chart_data(source, HOUR, "BTC/USDT", START, PARAMS)

    assert len(data) == 0
    assert not data.is_plottable


async def test_load_rejects_zero_bars():
    with pytest.raises(ValueError, match="bars must be at least 1"):
        await load_chart_data(ListSource({}), HOUR, "A", START, PARAMS, bars=0)


async def test_runtime_chart_data_on_demo(tmp_path):
    settings = load_settings({"store_path": str(tmp_path / "store.sqlite")}, env_file=None).settings
    clock = FrozenClock(datetime(2024, 6, 3, 12, 7, tzinfo=timezone.utc))
    runtime = build_runtime(settings, clock, with_store=False)

    data = await runtime.chart_data("BTC/USDT", "1h")

    assert len(data) == 60
    assert data.bars[-1].open_time == datetime(2024, 6, 3, 11, tzinfo=timezone.utc)
    assert all(bar.baseline_mean is not None for bar in data.bars)
    assert data.timeframe == "1h"
