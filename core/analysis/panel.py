"""The numeric core of spike detection: every symbol of a timeframe in one NumPy computation.

Input is a panel of shape (symbols, candles) per field, one row per symbol, with NaN
marking an absent candle. A row is a sequence, not a time grid: a candle's baseline is
the `lookback` present candles before it in its row, however far apart they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.records import DetectionParams, Level, Method, Signal, Status

# Status, level and signal codes in the result arrays; NO_LEVEL and NO_SIGNAL mean None.
STATUS_OK, STATUS_WARMING_UP, STATUS_MISSING, STATUS_FLAT = 0, 1, 2, 3
NO_LEVEL, LEVEL_LOW, LEVEL_MEDIUM, LEVEL_HIGH = -1, 0, 1, 2
NO_SIGNAL, SIGNAL_BEARISH, SIGNAL_BULLISH, SIGNAL_NEUTRAL = -1, 0, 1, 2

STATUS_BY_CODE = (Status.OK, Status.WARMING_UP, Status.MISSING, Status.FLAT)
LEVEL_BY_CODE = (Level.LOW, Level.MEDIUM, Level.HIGH)
SIGNAL_BY_CODE = (Signal.BEARISH, Signal.BULLISH, Signal.NEUTRAL)

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to σ for normally distributed data."""

ROBUST_ZERO_OFFSET = 1e-3
"""The robust method takes log(volume + 0.001 × baseline mean), so a zero-volume candle
has a finite log about 6.9 below a typical one. Because the offset scales with the
baseline, the result does not depend on the volume's unit, and it shifts the log of a
normally traded candle by about 0.1 %."""

# The sigma method gets Σx and Σx² per window and takes var = (Σx² − (Σx)²/n)/(n − 1).
# That subtraction loses precision when σ is small against the mean, so windows whose
# variance is below this fraction of their mean square are recomputed two-pass
# (Σ(x − mean)²). Above it the relative error of σ stays below about 1e-11.
_TWO_PASS_FRACTION = 1e-2

# Windows gathered at once for medians and two-pass variances, to bound temporary memory
# (a chunk of 65,536 windows of 25 candles is 13 MB).
_WINDOW_CHUNK = 65_536

# Candles per slice when summing windows across a whole history, to stay in cache.
_SUM_BLOCK = 2048


@dataclass(frozen=True)
class PanelResult:
    """Per-candle verdicts as arrays: shape (symbols,) from `evaluate_panel`, or
    (symbols, candles) aligned with the input from `evaluate_panel_history`.

    Float fields are NaN where the record field is None.
    """

    status: np.ndarray
    """int8 status code (STATUS_*)."""
    volume: np.ndarray
    baseline_mean: np.ndarray
    baseline_std: np.ndarray
    """Sample standard deviation (ddof=1) of the baseline volumes."""
    distance: np.ndarray
    ratio: np.ndarray
    level: np.ndarray
    """int8 level code (LEVEL_*, NO_LEVEL)."""
    rsi: np.ndarray
    rsi_settled: np.ndarray
    signal: np.ndarray
    """int8 signal code (SIGNAL_*, NO_SIGNAL)."""
    close: np.ndarray
    change_pct: np.ndarray


def check_params(params: DetectionParams) -> None:
    """Raise ValueError naming the first detection parameter that the engine cannot use."""
    min_lookback = 2 if params.method is Method.SIGMA else 1
    if not isinstance(params.method, Method):
        raise ValueError(
            f"invalid detection method {params.method!r}; allowed: {[m.value for m in Method]}"
        )
    if params.lookback < min_lookback:
        raise ValueError(
            f"lookback must be at least {min_lookback} for the {params.method.value} method, "
            f"got {params.lookback}"
        )
    low, medium, high = params.thresholds
    if not (np.isfinite([low, medium, high]).all() and low <= medium <= high):
        raise ValueError(
            f"{params.method.value} thresholds must be finite and in order low <= medium <= high, "
            f"got {low}/{medium}/{high}"
        )
    if not (params.min_relative_std >= 0):
        raise ValueError(f"min_relative_std must be >= 0, got {params.min_relative_std}")
    if params.rsi_period < 1:
        raise ValueError(f"rsi_period must be at least 1, got {params.rsi_period}")
    if params.rsi_warmup < 0:
        raise ValueError(f"rsi_warmup must be >= 0, got {params.rsi_warmup}")


def evaluate_panel(
    volume: np.ndarray, close: np.ndarray, open_: np.ndarray, params: DetectionParams
) -> PanelResult:
    """Judge the last column of each row against the present candles before it in that row.

    `volume`, `close` and `open_` are float arrays of shape (symbols, candles). A candle
    whose volume or close is not finite is absent. A row whose last column is absent gets
    STATUS_MISSING.
    """
    volume, close, open_ = _check_panel(volume, close, open_)
    check_params(params)
    symbols, width = volume.shape

    present = np.isfinite(volume) & np.isfinite(close)
    packed = _pack_left(present, volume, close, open_)
    rows = np.arange(symbols)
    positions = packed.counts - 1
    evaluated = present[:, -1] if width else np.zeros(symbols, dtype=bool)

    rsi = _wilder_rsi(packed.close, params.rsi_period)
    result = _judge(packed, rows[evaluated], positions[evaluated], rsi, params)
    return _scatter(result, (symbols,), rows[evaluated])


def evaluate_panel_history(
    volume: np.ndarray, close: np.ndarray, open_: np.ndarray, params: DetectionParams
) -> PanelResult:
    """Judge every column of every row as `evaluate_panel` judges the last one.

    Column j of the result equals `evaluate_panel` on the input cut after column j, bit
    for bit: both sum each baseline window in the same order.
    """
    volume, close, open_ = _check_panel(volume, close, open_)
    check_params(params)
    symbols, width = volume.shape

    present = np.isfinite(volume) & np.isfinite(close)
    packed = _pack_left(present, volume, close, open_)
    rows, columns = np.nonzero(present)
    positions = packed.position[rows, columns]

    rsi = _wilder_rsi(packed.close, params.rsi_period)
    window_sums = _all_window_sums(packed.volume, params.lookback)
    result = _judge(packed, rows, positions, rsi, params, window_sums)

    flat_index = rows * width + columns
    return _scatter(result, (symbols, width), flat_index)


# --- packing -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packed:
    """Present candles moved to the left of each row, in order, NaN after a row's end."""

    volume: np.ndarray
    close: np.ndarray
    open: np.ndarray
    counts: np.ndarray
    position: np.ndarray
    """For each input cell, its column in the packed arrays (meaningful where present)."""


def _check_panel(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    converted = tuple(np.asarray(array, dtype=np.float64) for array in arrays)
    shape = converted[0].shape
    if len(shape) != 2:
        raise ValueError(f"panel arrays must be 2-D (symbols, candles), got shape {shape}")
    for name, array in zip(("close", "open"), converted[1:]):
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, volume has {shape}; they must match")
    negative = converted[0] < 0
    if negative.any():
        row, column = (int(i) for i in np.argwhere(negative)[0])
        raise ValueError(
            f"volume must be >= 0, got {converted[0][row, column]} in row {row}, column {column}"
        )
    return converted


def _pack_left(present: np.ndarray, volume, close, open_) -> _Packed:
    counts = present.sum(axis=1)
    position = np.cumsum(present, axis=1) - 1
    symbols = present.shape[0]
    width = int(counts.max(initial=0))

    if present.all():
        # Gapless, equal-length rows are already packed.
        return _Packed(volume, close, open_, counts, position)

    rows, columns = np.nonzero(present)
    targets = position[rows, columns]
    packed = []
    for values in (volume, close, open_):
        out = np.full((symbols, width), np.nan)
        out[rows, targets] = values[rows, columns]
        packed.append(out)
    return _Packed(*packed, counts, position)


# --- RSI -----------------------------------------------------------------------------


def _wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI along each packed row; NaN before column `period` and after a row's end.

    The first average is the simple mean of the first `period` gains (losses); each later
    one is (previous × (period − 1) + current) / period.
    """
    symbols, width = close.shape
    rsi = np.full((symbols, width), np.nan)
    if width <= period:
        return rsi

    change = np.diff(close, axis=1)
    # Gains and losses side by side, time-major, so each step reads one contiguous row.
    moves = np.empty((width - 1, 2 * symbols))
    moves[:, :symbols] = np.maximum(change, 0.0).T
    # np.maximum keeps NaN, so the columns after a row's end stay NaN.
    moves[:, symbols:] = np.maximum(-change, 0.0).T

    average = moves[0].copy()
    for step in range(1, period):
        average += moves[step]
    average /= period

    averages = np.empty((width, 2 * symbols))
    averages[:period] = np.nan
    averages[period] = average
    for column in range(period + 1, width):
        np.multiply(average, period - 1, out=average)
        np.add(average, moves[column - 1], out=average)
        np.divide(average, period, out=average)
        averages[column] = average

    gain, loss = averages[:, :symbols].T, averages[:, symbols:].T
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = 100.0 * gain / total
    # Both averages zero: no movement at all, which reads as the midpoint.
    rsi[total == 0] = 50.0
    return rsi


# --- baseline statistics ---------------------------------------------------------------


def _gather_windows(values: np.ndarray, rows: np.ndarray, positions: np.ndarray, length: int):
    columns = positions[:, None] - length + np.arange(length)
    return values[rows[:, None], columns]


def _sequential_sum(windows: np.ndarray) -> np.ndarray:
    # Summed column by column, in the order `_all_window_sums` adds its shifted slices.
    total = windows[:, 0].copy()
    for column in range(1, windows.shape[1]):
        total += windows[:, column]
    return total


def _all_window_sums(volume: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Σx and Σx² of the `length` candles before each packed column (NaN before `length`)."""
    symbols, width = volume.shape
    sums = np.full((symbols, width), np.nan)
    squares_sums = np.full((symbols, width), np.nan)
    squares = volume * volume
    for start in range(length, width, _SUM_BLOCK):
        stop = min(start + _SUM_BLOCK, width)
        for values, out in ((volume, sums), (squares, squares_sums)):
            total = values[:, start - length : stop - length].copy()
            for offset in range(1, length):
                total += values[:, start - length + offset : stop - length + offset]
            out[:, start:stop] = total
    return sums, squares_sums


def _chunks(count: int):
    for start in range(0, count, _WINDOW_CHUNK):
        yield slice(start, min(start + _WINDOW_CHUNK, count))


def _sigma_stats(packed: _Packed, rows, positions, length, window_sums):
    """Baseline mean and sample σ (ddof=1) for each (row, position)."""
    if window_sums is None:
        sums = np.empty(len(rows))
        squares_sums = np.empty(len(rows))
        for part in _chunks(len(rows)):
            windows = _gather_windows(packed.volume, rows[part], positions[part], length)
            sums[part] = _sequential_sum(windows)
            squares_sums[part] = _sequential_sum(windows * windows)
    else:
        sums = window_sums[0][rows, positions]
        squares_sums = window_sums[1][rows, positions]

    mean = sums / length
    variance = (squares_sums - sums * mean) / (length - 1)
    imprecise = np.flatnonzero(variance <= _TWO_PASS_FRACTION * (squares_sums / length))
    for part in _chunks(len(imprecise)):
        chosen = imprecise[part]
        windows = _gather_windows(packed.volume, rows[chosen], positions[chosen], length)
        deviations = windows - mean[chosen, None]
        variance[chosen] = _sequential_sum(deviations * deviations) / (length - 1)
    return mean, np.sqrt(np.maximum(variance, 0.0))


def _median_stats(packed: _Packed, rows, positions, length, mean, use_log: bool):
    """Median and 1.4826·MAD of each baseline (of log volume when `use_log`)."""
    median = np.empty(len(rows))
    scale = np.empty(len(rows))
    for part in _chunks(len(rows)):
        windows = _gather_windows(packed.volume, rows[part], positions[part], length)
        if use_log:
            with np.errstate(divide="ignore"):
                windows = np.log(windows + ROBUST_ZERO_OFFSET * mean[part, None])
        center = np.median(windows, axis=1)
        median[part] = center
        if use_log:
            deviation = np.median(np.abs(windows - center[:, None]), axis=1)
            scale[part] = MAD_TO_SIGMA * deviation
    return median, scale


# --- verdicts ------------------------------------------------------------------------


def _judge(packed: _Packed, rows, positions, rsi, params: DetectionParams, window_sums=None):
    """Compute every field for the candles at (rows, positions) of the packed panel."""
    length = params.lookback
    count = len(rows)
    volume = packed.volume[rows, positions]
    close = packed.close[rows, positions]
    open_ = packed.open[rows, positions]

    ready = positions >= length
    ready_rows, ready_positions = rows[ready], positions[ready]
    mean = np.full(count, np.nan)
    std = np.full(count, np.nan)
    mean[ready], std[ready] = _sigma_stats(packed, ready_rows, ready_positions, length, window_sums)

    distance = np.full(count, np.nan)
    ready_volume = volume[ready]
    with np.errstate(divide="ignore", invalid="ignore"):
        if params.method is Method.SIGMA:
            flat = (mean[ready] <= 0) | (std[ready] == 0)
            flat |= std[ready] < params.min_relative_std * mean[ready]
            distance[ready] = (ready_volume - mean[ready]) / std[ready]
        elif params.method is Method.ROBUST:
            median, scale = _median_stats(
                packed, ready_rows, ready_positions, length, mean[ready], use_log=True
            )
            flat = (mean[ready] <= 0) | (scale == 0) | (scale < params.min_relative_std)
            offset = ROBUST_ZERO_OFFSET * mean[ready]
            distance[ready] = (np.log(ready_volume + offset) - median) / scale
        else:
            median, _ = _median_stats(
                packed, ready_rows, ready_positions, length, mean[ready], use_log=False
            )
            flat = median <= 0
            distance[ready] = ready_volume / median
        ratio = np.where(mean > 0, volume / mean, np.nan)

    status = np.full(count, STATUS_WARMING_UP, dtype=np.int8)
    ready_status = np.where(flat, STATUS_FLAT, STATUS_OK).astype(np.int8)
    status[ready] = ready_status
    distance[status != STATUS_OK] = np.nan

    low, medium, high = params.thresholds
    level = np.full(count, NO_LEVEL, dtype=np.int8)
    level[distance > low] = LEVEL_LOW
    level[distance > medium] = LEVEL_MEDIUM
    level[distance > high] = LEVEL_HIGH

    value = rsi[rows, positions]
    signal = np.full(count, NO_SIGNAL, dtype=np.int8)
    signal[(level != NO_LEVEL) & np.isfinite(value)] = SIGNAL_NEUTRAL
    signal[(signal == SIGNAL_NEUTRAL) & (value > params.rsi_overbought)] = SIGNAL_BEARISH
    signal[(signal == SIGNAL_NEUTRAL) & (value < params.rsi_oversold)] = SIGNAL_BULLISH

    with np.errstate(divide="ignore", invalid="ignore"):
        change_pct = np.where(open_ > 0, (close - open_) / open_ * 100.0, np.nan)

    return PanelResult(
        status=status,
        volume=volume,
        baseline_mean=mean,
        baseline_std=std,
        distance=distance,
        ratio=ratio,
        level=level,
        rsi=value,
        rsi_settled=np.isfinite(value) & (positions >= params.rsi_warmup),
        signal=signal,
        close=close,
        change_pct=change_pct,
    )


def _scatter(result: PanelResult, shape: tuple[int, ...], flat_index: np.ndarray) -> PanelResult:
    """Place per-candle results at `flat_index` of arrays of `shape`; the rest is missing."""
    fields = {}
    for name, values in vars(result).items():
        if values.dtype == np.int8:
            fill = STATUS_MISSING if name == "status" else -1
            out = np.full(shape, fill, dtype=np.int8)
        elif values.dtype == bool:
            out = np.zeros(shape, dtype=bool)
        else:
            out = np.full(shape, np.nan)
        out.reshape(-1)[flat_index] = values
        fields[name] = out
    return PanelResult(**fields)

