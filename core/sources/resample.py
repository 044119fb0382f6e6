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
    """Resample every symbol's base candles to `target_minutes` candles in one vectorised pass.

    Each input frame must be in the `candle_frame` layout (unique, sorted UTC open times)
    with open times on the base grid. The rows of all symbols are stacked with a symbol
    code and reduced per (symbol, bucket) with numpy, so the cost does not grow with a
    Python loop over symbols. Buckets missing any base candle are dropped.

    Raises ResampleError when the target cannot be built from the base, and ValueError
    when a frame has an open time off the base grid.
    """
    check_resample(base_minutes, target_minutes)
    symbols = list(frames)
    if target_minutes == base_minutes:
        return {symbol: frames[symbol].copy() for symbol in symbols}

    lengths = np.array([len(frames[symbol]) for symbol in symbols], dtype=np.int64)
    if not lengths.sum():
        return {symbol: _empty_candles() for symbol in symbols}

    open_ns = np.concatenate(
        [pd.DatetimeIndex(frames[symbol].index).as_unit("ns").asi8 for symbol in symbols]
    )
    values = np.concatenate(
        [frames[symbol].loc[:, list(OHLCV)].to_numpy(dtype=np.float64) for symbol in symbols]
    )
    codes = np.repeat(np.arange(len(symbols)), lengths)
    _check_on_grid(open_ns, codes, symbols, base_minutes)

    # Sorting again keeps the reduction right even if a caller passed unsorted frames.
    order = np.lexsort((open_ns, codes))
    open_ns, values, codes = open_ns[order], values[order], codes[order]

    step = target_minutes * _NANOSECONDS_PER_MINUTE
    buckets = open_ns // step * step
    starts_group = np.ones(len(open_ns), dtype=bool)
    starts_group[1:] = (codes[1:] != codes[:-1]) | (buckets[1:] != buckets[:-1])
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], len(open_ns))

    bucket_values = np.column_stack(
        [
            values[starts, 0],
            np.maximum.reduceat(values[:, 1], starts),
            np.minimum.reduceat(values[:, 2], starts),
            values[ends - 1, 3],
            np.add.reduceat(values[:, 4], starts),
        ]
    )

    # Open times are unique per symbol, so a full count means no base candle is missing.
    complete = (ends - starts) == target_minutes // base_minutes
    starts, bucket_values = starts[complete], bucket_values[complete]
    bucket_open_ns = buckets[starts]
    bucket_codes = codes[starts]

    # Splitting the stacked result back into one frame per symbol is slicing only.
    bounds = np.searchsorted(bucket_codes, np.arange(len(symbols) + 1))
    result: dict[str, pd.DataFrame] = {}
    for position, symbol in enumerate(symbols):
        rows = slice(bounds[position], bounds[position + 1])
        result[symbol] = _candles(bucket_open_ns[rows], bucket_values[rows])
    return result


def _check_on_grid(
    open_ns: np.ndarray, codes: np.ndarray, symbols: list[str], base_minutes: int
) -> None:
    off_grid = open_ns % (base_minutes * _NANOSECONDS_PER_MINUTE) != 0
    if off_grid.any():
        first = int(np.flatnonzero(off_grid)[0])
        moment = pd.Timestamp(int(open_ns[first]), unit="ns", tz="UTC")
        raise ValueError(
            f"{symbols[codes[first]]}: open time {moment.isoformat()} is not on the "
            f"{format_minutes(base_minutes)} grid"
        )


def _candles(open_ns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(open_ns.astype("datetime64[ns]"), name="open_time").tz_localize("UTC")
    return pd.DataFrame(values, index=index, columns=list(OHLCV), dtype=np.float64)


def _empty_candles() -> pd.DataFrame:
    return _candles(np.empty(0, dtype=np.int64), np.empty((0, len(OHLCV))))
