"""Build higher-timeframe candles from base candles, bucketed at UTC epoch multiples.

A bucket becomes a candle only when every base candle inside it is present, because a
partial bucket would understate volume. OHLC is first/max/min/last and volume is the sum.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from core.sources.base import OHLCV

MINUTES_PER_DAY = 24 * 60
_NANOSECONDS_PER_MINUTE = 60 * 10**9
_NANOSECONDS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_OHLCV_LIST = list(OHLCV)
_OHLCV_COLUMNS = pd.Index(_OHLCV_LIST)

# Up to this many base candles per bucket, a bucket's max, min and sum are taken with
# one NumPy call per position in the bucket instead of a reduction along a short axis.
_ELEMENTWISE_REDUCE_MAX = 16


class ResampleError(ValueError):
    """A target timeframe that cannot be built from the base candles; the message is the reason."""


def format_minutes(minutes: int) -> str:
    """Return the usual timeframe label for an interval: 5m, 1h, 4h, 1d."""
    if minutes % MINUTES_PER_DAY == 0:
        return f"{minutes // MINUTES_PER_DAY}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def check_resample(base_minutes: int, target_minutes: int) -> None:
    """Raise ResampleError unless `target_minutes` candles can be built from `base_minutes` ones.

    The target must be a multiple of the base. Below one day it must also divide a day
    evenly, so that buckets start at UTC midnight every day. From one day up it must be a
    whole number of days.
    """
    base = format_minutes(base_minutes)
    target = format_minutes(target_minutes)
    if base_minutes <= 0 or target_minutes <= 0:
        raise ResampleError(
            f"intervals must be positive, got base {base_minutes} and target "
            f"{target_minutes} minutes"
        )
    if target_minutes < base_minutes:
        raise ResampleError(f"data is {base} candles; cannot make {target} candles")
    if target_minutes % base_minutes:
        raise ResampleError(
            f"data is {base} candles; cannot make {target} candles because {target} "
            f"is not a multiple of {base}"
        )
    if target_minutes < MINUTES_PER_DAY and MINUTES_PER_DAY % target_minutes:
        raise ResampleError(
            f"cannot make {target} candles: a timeframe shorter than a day must divide "
            "24h evenly so that its candles line up with UTC midnight"
        )
    if target_minutes > MINUTES_PER_DAY and target_minutes % MINUTES_PER_DAY:
        raise ResampleError(
            f"cannot make {target} candles: a timeframe longer than a day must be a "
            "whole number of days"
        )


def resample_candles(frame: pd.DataFrame, base_minutes: int, target_minutes: int) -> pd.DataFrame:
    """Resample one symbol's candles; see `resample_many` for the rules and the input layout."""
    return resample_many({"": frame}, base_minutes, target_minutes)[""]


def resample_many(
    frames: Mapping[str, pd.DataFrame], base_minutes: int, target_minutes: int
) -> dict[str, pd.DataFrame]:
    """Resample every symbol's base candles to `target_minutes` candles.

    Each input frame must be in the `candle_frame` layout (unique UTC open times) with
    open times on the base grid; unsorted frames are sorted first. A symbol's complete
    buckets are reduced as one (buckets, base candles per bucket) view of each column,
    so the work per symbol is a few NumPy calls whatever its length. Buckets missing any
    base candle are dropped.

    Raises ResampleError when the target cannot be built from the base, and ValueError
    when a frame has an open time off the base grid.
    """
    check_resample(base_minutes, target_minutes)
    if target_minutes == base_minutes:
        return {symbol: frame.copy() for symbol, frame in frames.items()}

    grid = _Grid(base_minutes, target_minutes)
    return {
        symbol: _resample_one(symbol, frame, grid) for symbol, frame in frames.items()
    }


class _Grid:
    """The base and target intervals in nanoseconds, and base candles per target candle."""

    def __init__(self, base_minutes: int, target_minutes: int) -> None:
        self.base_minutes = base_minutes
        self.base_ns = base_minutes * _NANOSECONDS_PER_MINUTE
        self.target_ns = target_minutes * _NANOSECONDS_PER_MINUTE
        self.factor = target_minutes // base_minutes


def _resample_one(symbol: str, frame: pd.DataFrame, grid: _Grid) -> pd.DataFrame:
    if not len(frame):
        return _empty_candles()
    open_times, unit_ns, values = _base_arrays(frame)

    # Times stay in the index's own unit (pandas 3 defaults to microseconds), which
    # saves converting every open time to nanoseconds.
    base = grid.base_ns // unit_ns
    target = grid.target_ns // unit_ns
    factor = grid.factor

    # Bucket k of this symbol opens at origin + k × target; slot s is the base candle
    # opening at origin + s × base.
    first = int(open_times[0])
    origin = first // target * target
    lead = (first - origin) // base
    count = len(open_times)

    if first % base == 0 and _is_contiguous(open_times, base):
        # Slots lead … lead + count − 1 are all present: the complete buckets are the
        # ones inside that run, and their rows are one contiguous block.
        first_bucket = -(-lead // factor)
        end_bucket = (lead + count) // factor
        buckets = max(end_bucket - first_bucket, 0)
        start_row = first_bucket * factor - lead
        rows = slice(start_row, start_row + buckets * factor)
        bucket_index = first_bucket + np.arange(buckets, dtype=np.int64)
        columns = [values[rows, field].reshape(buckets, factor) for field in range(len(OHLCV))]
    else:
        _check_on_grid(symbol, open_times, unit_ns, grid)
        bucket_of_row = (open_times - origin) // target
        # Open times are unique, so a full count means no base candle is missing.
        present = np.bincount(bucket_of_row)
        complete_rows = np.flatnonzero(present[bucket_of_row] == factor)
        buckets = len(complete_rows) // factor
        complete_rows = complete_rows.reshape(buckets, factor)
        bucket_index = bucket_of_row[complete_rows[:, 0]]
        columns = [values[complete_rows, field] for field in range(len(OHLCV))]

    out = np.empty((len(OHLCV), buckets))
    out[0] = columns[0][:, 0]
    _reduce_buckets(np.maximum, columns[1], out[1])
    _reduce_buckets(np.minimum, columns[2], out[2])
    out[3] = columns[3][:, -1]
    _reduce_buckets(np.add, columns[4], out[4])
    return _candles((origin + bucket_index * target) * unit_ns, out.T)


def _base_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, int, np.ndarray]:
    """Return a frame's sorted open times as int64 in the index's unit, that unit in
    nanoseconds, and the OHLCV values in the same row order."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        index = pd.DatetimeIndex(index)
    if frame.columns.equals(_OHLCV_COLUMNS):
        # The candle_frame layout is one float64 block, so this is a view, not a copy.
        values = frame.to_numpy(dtype=np.float64, copy=False)
    else:
        values = frame.loc[:, _OHLCV_LIST].to_numpy(dtype=np.float64)
    open_times = index.asi8
    # pandas caches monotonicity on the index, so frames resampled again skip the check.
    if not index.is_monotonic_increasing:
        order = np.argsort(open_times, kind="stable")
        open_times, values = open_times[order], values[order]
    return open_times, _NANOSECONDS_PER_UNIT[index.unit], values


def _is_contiguous(open_times: np.ndarray, step: int) -> bool:
    """Return whether consecutive open times are exactly `step` apart."""
    if len(open_times) < 2:
        return True
    if int(open_times[-1]) - int(open_times[0]) != (len(open_times) - 1) * step:
        return False
    return bool((np.diff(open_times) == step).all())


def _reduce_buckets(ufunc: np.ufunc, grouped: np.ndarray, out: np.ndarray) -> None:
    """Reduce each row of `grouped` (buckets, base candles per bucket) into `out`."""
    factor = grouped.shape[1]
    if factor > _ELEMENTWISE_REDUCE_MAX:
        ufunc.reduce(grouped, axis=1, out=out)
        return
    # NumPy reduces a short axis one row at a time; a few whole-column calls are faster.
    out[:] = grouped[:, 0]
    for column in range(1, factor):
        ufunc(out, grouped[:, column], out=out)


def _check_on_grid(symbol: str, open_times: np.ndarray, unit_ns: int, grid: _Grid) -> None:
    off_grid = open_times % (grid.base_ns // unit_ns) != 0
    if off_grid.any():
        moment = pd.Timestamp(int(open_times[np.argmax(off_grid)]) * unit_ns, unit="ns", tz="UTC")
        raise ValueError(
            f"{symbol}: open time {moment.isoformat()} is not on the "
            f"{format_minutes(grid.base_minutes)} grid"
        )


def _candles(open_ns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(open_ns.view("datetime64[ns]"), name="open_time").tz_localize("UTC")
    # `values` is always a fresh array here, so the frame may keep it without a copy.
    return pd.DataFrame(values, index=index, columns=_OHLCV_COLUMNS, dtype=np.float64, copy=False)


def _empty_candles() -> pd.DataFrame:
    return _candles(np.empty(0, dtype=np.int64), np.empty((0, len(OHLCV))))
