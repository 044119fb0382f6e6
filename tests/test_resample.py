"""Resampling base candles to higher timeframes: the rules, UTC alignment and incomplete buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.sources.base import OHLCV, candle_frame
from core.sources.resample import (
    ResampleError,
    check_resample,
    format_minutes,
    resample_candles,
    resample_many,
)


def make_candles(open_times: list[str] | pd.DatetimeIndex, values: np.ndarray | list[list[float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex(open_times)
    index = index.tz_localize("UTC") if index.tz is None else index
    return candle_frame(pd.DataFrame(np.asarray(values, dtype=float), index=index, columns=list(OHLCV)))


def random_candles(rng: np.random.Generator, start: str, count: int, base_minutes: int, keep: float) -> pd.DataFrame:
    """Random candles on the base grid, with about a share `keep` of the grid slots present."""
    index = pd.date_range(start, periods=count, freq=f"{base_minutes}min", tz="UTC")
    index = index[rng.random(count) < keep]
    opens = rng.uniform(1, 2, len(index))
    closes = rng.uniform(1, 2, len(index))
    highs = np.maximum(opens, closes) + rng.uniform(0, 0.5, len(index))
    lows = np.minimum(opens, closes) - rng.uniform(0, 0.5, len(index))
    volumes = rng.uniform(0, 1000, len(index))
    return make_candles(index, np.column_stack([opens, highs, lows, closes, volumes]))


def pandas_resample(frame: pd.DataFrame, base_minutes: int, target_minutes: int) -> pd.DataFrame:
    """A straightforward per-symbol resample with pandas, as the reference."""
    grouped = frame.resample(f"{target_minutes}min", origin="epoch", label="left", closed="left")
    result = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    counts = grouped["close"].count()
    result = result[counts == target_minutes // base_minutes]
    result.index = result.index.as_unit("ns").rename("open_time")
    return result.astype("float64")


@pytest.mark.parametrize(
    ("minutes", "label"),
    [(1, "1m"), (5, "5m"), (15, "15m"), (90, "90m"), (60, "1h"), (240, "4h"), (1440, "1d"), (2880, "2d")],
)
def test_format_minutes(minutes: int, label: str) -> None:
    assert format_minutes(minutes) == label


@pytest.mark.parametrize(("base", "target"), [(5, 5), (5, 15), (5, 60), (5, 240), (5, 1440), (60, 2880), (1, 30)])
def test_check_resample_accepts(base: int, target: int) -> None:
    check_resample(base, target)


@pytest.mark.parametrize(
    ("base", "target", "message"),
    [
        (5, 1, "data is 5m candles; cannot make 1m candles"),
        (60, 15, "data is 1h candles; cannot make 15m candles"),
        (5, 7, "7m is not a multiple of 5m"),
        (15, 100, "100m is not a multiple of 15m"),
        (5, 35, "must divide 24h evenly"),
        (60, 420, "must divide 24h evenly"),
        (60, 2160, "whole number of days"),
        (0, 5, "must be positive"),
    ],
)
def test_check_resample_rejects(base: int, target: int, message: str) -> None:
    with pytest.raises(ResampleError, match=message):
        check_resample(base, target)


def test_resample_ohlcv_values() -> None:
    frame = make_candles(
        ["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-01 00:10", "2024-01-01 00:15", "2024-01-01 00:20", "2024-01-01 00:25"],
        [
            [10, 12, 9, 11, 1],
            [11, 15, 10, 14, 2],
            [14, 14, 8, 9, 3],
            [9, 9, 9, 9, 0],
            [9, 20, 9, 19, 5],
            [19, 19, 18, 18, 7],
        ],
    )

    result = resample_candles(frame, 5, 15)

    assert list(result.index) == [pd.Timestamp("2024-01-01 00:00", tz="UTC"), pd.Timestamp("2024-01-01 00:15", tz="UTC")]
    assert result.iloc[0].tolist() == [10, 15, 8, 9, 6]
    assert result.iloc[1].tolist() == [9, 20, 9, 18, 12]
    assert result.index.name == "open_time"
    assert all(dtype == np.float64 for dtype in result.dtypes)


def test_resample_drops_incomplete_buckets() -> None:
    # 00:05 is missing from the first 15m bucket; the second bucket is whole.
    frame = make_candles(
        ["2024-01-01 00:00", "2024-01-01 00:10", "2024-01-01 00:15", "2024-01-01 00:20", "2024-01-01 00:25"],
        [[1, 1, 1, 1, 100]] * 5,
    )

    result = resample_candles(frame, 5, 15)

    assert list(result.index) == [pd.Timestamp("2024-01-01 00:15", tz="UTC")]
    assert result["volume"].iloc[0] == 300


def test_resample_drops_trailing_partial_bucket() -> None:
    frame = make_candles(pd.date_range("2024-01-01 00:00", periods=20, freq="5min"), [[1, 1, 1, 1, 1]] * 20)

    result = resample_candles(frame, 5, 60)

    # 20 candles fill 00:00-00:55 and a third of 01:00.
    assert list(result.index) == [pd.Timestamp("2024-01-01 00:00", tz="UTC")]
    assert result["volume"].iloc[0] == 12


def test_resample_aligns_to_utc() -> None:
    # Hourly candles starting at 03:00 UTC: the first 4h bucket (00:00) is incomplete.
    frame = make_candles(pd.date_range("2024-01-01 03:00", periods=30, freq="1h"), [[1, 2, 0.5, 1.5, 1]] * 30)

    four_hourly = resample_candles(frame, 60, 240)
    daily = resample_candles(frame, 60, 1440)

    assert [moment.hour for moment in four_hourly.index] == [4, 8, 12, 16, 20, 0, 4]
    assert list(daily.index) == []
    assert four_hourly["volume"].tolist() == [4.0] * 7


def test_resample_daily_starts_at_utc_midnight() -> None:
    frame = make_candles(pd.date_range("2024-01-01 00:00", periods=48, freq="1h"), [[1, 1, 1, 1, 2]] * 48)

    daily = resample_candles(frame, 60, 1440)

    assert list(daily.index) == [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")]
    assert daily["volume"].tolist() == [48.0, 48.0]


def test_resample_same_timeframe_returns_copy() -> None:
    frame = make_candles(["2024-01-01 00:00", "2024-01-01 00:05"], [[1, 2, 0.5, 1.5, 3], [1.5, 2, 1, 1, 4]])

    result = resample_candles(frame, 5, 5)
    result.iloc[0, 0] = 99

    pd.testing.assert_frame_equal(resample_candles(frame, 5, 5), frame)
    assert frame.iloc[0, 0] == 1


def test_resample_rejects_off_grid_open_time() -> None:
    frame = make_candles(["2024-01-01 00:00", "2024-01-01 00:07"], [[1, 1, 1, 1, 1]] * 2)

    with pytest.raises(ValueError, match=r"ETH_BTC: open time 2024-01-01T00:07:00\+00:00 is not on the 5m grid"):
        resample_many({"ETH_BTC": frame}, 5, 15)


def test_resample_many_handles_empty_frames() -> None:
    empty = make_candles([], np.empty((0, 5)))
    full = make_candles(pd.date_range("2024-01-01", periods=3, freq="5min"), [[1, 1, 1, 1, 1]] * 3)

    only_empty = resample_many({"A": empty}, 5, 15)
    mixed = resample_many({"A": empty, "B": full, "C": empty}, 5, 15)

    assert list(only_empty) == ["A"]
    assert only_empty["A"].empty
    assert list(only_empty["A"].columns) == list(OHLCV)
    assert mixed["A"].empty
    assert mixed["C"].empty
    assert mixed["B"]["volume"].tolist() == [3.0]


@pytest.mark.parametrize(("base", "target"), [(5, 15), (5, 60), (5, 240), (5, 1440), (60, 240)])
def test_resample_many_equals_pandas_resample(base: int, target: int) -> None:
    rng = np.random.default_rng(20240101 + target)
    frames = {
        "ETH_BTC": random_candles(rng, "2024-01-01 00:00", 3000, base, keep=0.995),
        "ADA_BTC": random_candles(rng, "2023-12-30 07:00", 2500, base, keep=0.9),
        "LTC_BTC": random_candles(rng, "2024-01-02 13:35" if base == 5 else "2024-01-02 13:00", 1800, base, keep=1.0),
        "EMPTY": make_candles([], np.empty((0, 5))),
    }

    vectorised = resample_many(frames, base, target)

    assert list(vectorised) == list(frames)
    for symbol, frame in frames.items():
        expected = pandas_resample(frame, base, target)
        assert len(vectorised[symbol]) == len(expected), symbol
        pd.testing.assert_frame_equal(vectorised[symbol], expected, check_freq=False, rtol=1e-12)
        pd.testing.assert_frame_equal(resample_candles(frame, base, target), vectorised[symbol])


def test_resample_many_drops_symbols_buckets_independently() -> None:
    # Both symbols share the 00:00 bucket, but only B misses a candle in it.
    times = pd.date_range("2024-01-01 00:00", periods=6, freq="5min")
    full = make_candles(times, [[1, 1, 1, 1, 1]] * 6)
    gappy = make_candles(times.delete(1), [[2, 2, 2, 2, 2]] * 5)

    result = resample_many({"A": full, "B": gappy}, 5, 15)

    assert len(result["A"]) == 2
    assert list(result["B"].index) == [pd.Timestamp("2024-01-01 00:15", tz="UTC")]
    assert result["B"]["volume"].tolist() == [6.0]
