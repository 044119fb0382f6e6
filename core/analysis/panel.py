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

# Windows whose mean square is below this also go two-pass: every square that matters to
# 1e-11 relative precision is then a normal double.
_SMALL_MEAN_SQUARE = 1e-250

# Windows gathered at once for medians and two-pass variances, to bound temporary memory
# (a chunk of 65,536 windows of 25 candles is 13 MB).
_WINDOW_CHUNK = 65_536

# Cells per chunk of rows in a history scan: about 1 MB per float64 array, so that a
# chunk's intermediate arrays stay in the CPU cache.
_HISTORY_CHUNK_CELLS = 131_072



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
    if not isinstance(params.method, Method):
        raise ValueError(
            f"invalid detection method {params.method!r}; allowed: {[m.value for m in Method]}"
        )
    min_lookback = 2 if params.method is Method.SIGMA else 1
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
    evaluated = present[:, -1] if width else np.zeros(symbols, dtype=bool)
    rows = np.flatnonzero(evaluated)
    positions = packed.counts[rows] - 1

    gain, loss = _wilder_last(packed.close, rows, positions, params.rsi_period)
    mean, std = _sigma_stats(packed.volume, rows, positions, params.lookback)
    result = _judge(
        packed.volume, rows, positions, params,
        volume=packed.volume[rows, positions],
        close=packed.close[rows, positions],
        open_=packed.open[rows, positions],
        mean=mean,
        std=std,
        rsi=_rsi(gain, loss),
    )
    return _scatter(result, (symbols,), rows)


def evaluate_panel_history(
    volume: np.ndarray, close: np.ndarray, open_: np.ndarray, params: DetectionParams
) -> PanelResult:
    """Judge every column of every row as `evaluate_panel` judges the last one.

    Column j of the result equals `evaluate_panel` on the input cut after column j, bit
    for bit, because both paths sum each baseline window in the same order and run the
    same RSI recursion on the same packed row.
    """
    volume, close, open_ = _check_panel(volume, close, open_)
    check_params(params)
    symbols, width = volume.shape
    present = np.isfinite(volume) & np.isfinite(close)
    packed = _pack_left(present, volume, close, open_)
    packed_width = packed.volume.shape[1]
    result = _judge_history(packed.volume, packed.close, packed.open, params)
    if packed.gapless:
        return result

    # Move each packed cell back to its input column; absent input cells stay MISSING.
    in_rows, in_columns = np.nonzero(present)
    packed_flat = in_rows * packed_width + packed.position[in_rows, in_columns]
    gathered = PanelResult(
        **{name: values.reshape(-1)[packed_flat] for name, values in vars(result).items()}
    )
    return _scatter(gathered, (symbols, width), in_rows * width + in_columns)


def _judge_history(volume, close, open_, params: DetectionParams) -> PanelResult:
    """Judge every packed cell, a few rows at a time.

    Each chunk of rows is small enough that its intermediate arrays stay in the CPU
    cache, and every step writes its chunk of the result straight into the full-size
    result arrays.
    """
    symbols, width = volume.shape
    result = _empty_result((symbols, width), volume=volume, close=close)
    rows_per_chunk = max(1, _HISTORY_CHUNK_CELLS // max(width, 1))
    for start in range(0, symbols, rows_per_chunk):
        part = slice(start, min(start + rows_per_chunk, symbols))
        chunk = PanelResult(**{name: values[part] for name, values in vars(result).items()})
        shape = chunk.volume.shape
        rows = np.broadcast_to(np.arange(shape[0])[:, None], shape)
        positions = np.broadcast_to(np.arange(width), shape)

        _all_rsi(chunk.close, params.rsi_period, chunk.rsi)
        _all_sigma_stats(chunk.volume, params.lookback, chunk.baseline_mean, chunk.baseline_std)
        _judge(
            chunk.volume, rows, positions, params,
            volume=chunk.volume,
            close=chunk.close,
            open_=open_[part],
            mean=chunk.baseline_mean,
            std=chunk.baseline_std,
            rsi=chunk.rsi,
            out=chunk,
        )
    return result


# --- packing -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packed:
    """Present candles moved to the left of each row, in order, NaN after a row's end."""

    volume: np.ndarray
    close: np.ndarray
    open: np.ndarray
    counts: np.ndarray
    position: np.ndarray | None
    """For each input cell, its column in the packed arrays (meaningful where present);
    None when the input was already packed."""

    @property
    def gapless(self) -> bool:
        return self.position is None


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
    symbols, width = present.shape
    if present.all():
        # Gapless, equal-length rows are already packed.
        return _Packed(volume, close, open_, np.full(symbols, width), None)

    counts = present.sum(axis=1)
    position = np.cumsum(present, axis=1) - 1
    width = int(counts.max(initial=0))
    rows, columns = np.nonzero(present)
    targets = position[rows, columns]
    packed = []
    for values in (volume, close, open_):
        out = np.full((symbols, width), np.nan)
        out[rows, targets] = values[rows, columns]
        packed.append(out)
    return _Packed(*packed, counts, position)


# --- RSI -----------------------------------------------------------------------------

# Wilder's averages come from the linear recurrence y[t] = a·y[t−1] + u[t], run in fixed
# blocks of this many steps counted from packed column 0 (see `_block_recurrence`).
_RECURRENCE_BLOCK = 64


def _wilder_inputs(close: np.ndarray, period: int, time_major: bool = False) -> np.ndarray:
    """Return the recurrence input u, one lane per row: shape (2 × symbols, whole blocks).

    Lane i < symbols contains the gains of packed row i and lane symbols + i its losses.
    u[t] is 0 before `period`, the seed (simple mean of the first `period` moves) at
    `period`, and move / period after it; NaN after a row's end and 0 in the padding
    columns. The caller ensures width > period. With `time_major` the result is a
    transposed view of time-major memory, where each step of `_block_recurrence` reads
    contiguous lanes; the values are the same.
    """
    symbols, width = close.shape
    size = _RECURRENCE_BLOCK
    padded_width = -(-width // size) * size
    if time_major:
        inputs = np.empty((padded_width, 2 * symbols)).T
    else:
        inputs = np.empty((2 * symbols, padded_width))
    inputs[:, width:] = 0.0

    # np.maximum keeps NaN, so the steps after a row's end stay NaN.
    gains, losses = inputs[:symbols, 1:width], inputs[symbols:, 1:width]
    np.subtract(close[:, 1:], close[:, :-1], out=gains)
    np.negative(gains, out=losses)
    np.maximum(gains, 0.0, out=gains)
    np.maximum(losses, 0.0, out=losses)

    seed = inputs[:, 1].copy()
    for step in range(2, period + 1):
        seed += inputs[:, step]
    seed /= period
    inputs[:, period + 1 : width] /= period
    inputs[:, :period] = 0.0
    inputs[:, period] = seed
    return inputs


def _block_recurrence(local: np.ndarray, decay: float) -> np.ndarray:
    """Run y[t] = decay·y[t−1] + u[t] inside each block of every lane, in place, and
    return each block's carry: the value y had just before the block starts, shape
    (lanes, blocks).

    `local` is u arranged as (offset in block, lane, block), a view of `_wilder_inputs`
    or an offset-major copy of it. The full value at offset k of block b is then
    local[k] + decay^(k + 1) · carry[b]. That is about 64 + blocks NumPy calls instead
    of one per step, and because blocks are counted from column 0, a column's value does
    not depend on how many columns follow it.
    """
    step = np.empty_like(local[0])
    for offset in range(1, len(local)):
        np.multiply(local[offset - 1], decay, out=step)
        local[offset] += step

    # Block-major for the sequential pass, so that each step reads one contiguous row.
    block_ends = np.ascontiguousarray(local[-1].T)
    carry = np.zeros_like(block_ends)
    block_decay = decay ** len(local)
    for block in range(1, len(carry)):
        np.multiply(carry[block - 1], block_decay, out=carry[block])
        carry[block] += block_ends[block - 1]
    return carry.T


def _blocks_by_offset(inputs: np.ndarray) -> np.ndarray:
    """View `inputs` (lanes, whole blocks) as (offset in block, lane, block)."""
    return inputs.reshape(len(inputs), -1, _RECURRENCE_BLOCK).transpose(2, 0, 1)


def _carry_powers(decay: float) -> np.ndarray:
    """decay^(offset + 1) for each offset in a block, the weight of the carry there."""
    return decay ** np.arange(1, _RECURRENCE_BLOCK + 1)


def _all_rsi(close: np.ndarray, period: int, out: np.ndarray) -> None:
    """Write the RSI at every packed column into `out`, shape (symbols, candles): NaN
    before column `period` and after a row's end.

    Wilder's first average gain (loss) is the simple mean of the first `period` gains
    (losses); each later one is (previous × (period − 1) + current) / period.
    """
    symbols, width = close.shape
    if width <= period:
        out[...] = np.nan
        return

    decay = (period - 1) / period
    inputs = _wilder_inputs(close, period)
    # An offset-major copy makes every step below one contiguous pass.
    local = np.ascontiguousarray(_blocks_by_offset(inputs))
    carry = _block_recurrence(local, decay)
    step = np.empty_like(carry)
    for offset, power in enumerate(_carry_powers(decay)):
        np.multiply(carry, power, out=step)
        local[offset] += step
    rsi = _rsi(local[:, :symbols], local[:, symbols:])

    # Back from (offset, row, block) to (row, column): the whole blocks first, then the
    # head of a last partial block.
    size = _RECURRENCE_BLOCK
    whole = width // size
    whole_blocks = out[:, : whole * size].reshape(symbols, whole, size)
    whole_blocks[...] = rsi[:, :, :whole].transpose(1, 2, 0)
    out[:, whole * size :] = rsi[: width - whole * size, :, whole].T
    out[:, :period] = np.nan


def _wilder_last(
    close: np.ndarray, rows: np.ndarray, positions: np.ndarray, period: int
) -> tuple[np.ndarray, np.ndarray]:
    """Wilder's average gain and loss at the packed cells (rows, positions) only, with the
    same bits as `_all_rsi` uses there.

    The in-block recurrence still runs over every block, because each block's last value
    feeds the carries, but the carries are combined with the one cell per row that is
    asked for instead of with every cell.
    """
    symbols, width = close.shape
    if width <= period:
        empty = np.full(len(rows), np.nan)
        return empty, empty

    decay = (period - 1) / period
    # Time-major, because an offset-major copy of a whole panel costs more than the
    # recurrence it speeds up.
    inputs = _wilder_inputs(close, period, time_major=True)
    carry = _block_recurrence(_blocks_by_offset(inputs), decay)

    blocks, offsets = np.divmod(positions, _RECURRENCE_BLOCK)
    weights = _carry_powers(decay)[offsets]
    averages = []
    for lanes in (rows, rows + symbols):
        averages.append(inputs[lanes, positions] + weights * carry[lanes, blocks])
    gain, loss = averages
    settled = positions >= period
    gain[~settled] = np.nan
    loss[~settled] = np.nan
    return gain, loss


def _rsi(gain: np.ndarray, loss: np.ndarray) -> np.ndarray:
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


def _window_sums(windows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sum each gathered baseline window exactly as `_all_window_sums` does for its cell.

    The packed row is cut into blocks of the window length from column 0. A window is
    either one whole block, summed forwards, or the tail of one block summed backwards
    plus the head of the next summed forwards; adding a leading 0.0 changes no bits.
    """
    length = windows.shape[1]
    split = (-positions) % length  # columns of the window that lie in the earlier block
    forward = np.zeros(len(windows))
    backward = np.zeros(len(windows))
    for column in range(length):
        forward += np.where(column >= split, windows[:, column], 0.0)
    for column in range(length - 1, -1, -1):
        backward += np.where(column < split, windows[:, column], 0.0)
    return backward + forward


def _all_window_sums(volume: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Σx and Σx² of the `length` candles before each packed column (NaN before `length`).

    Sums come from running sums inside blocks of `length` columns (van Herk/Gil-Werman), so
    every window is added from its own values only: a huge volume long ago cannot cancel
    precision away, as it would with differences of one running sum over the whole row.
    """
    symbols, width = volume.shape
    blocks = -(-width // length)
    if width % length:
        padded = np.zeros((symbols, blocks * length))
        padded[:, :width] = volume
    else:
        padded = volume
    # Offset-major (offset in block, row, block): each step below is one contiguous pass,
    # where NumPy would run np.cumsum along the short block axis row by row.
    values = np.ascontiguousarray(padded.reshape(symbols, blocks, length).transpose(2, 0, 1))
    sums = []
    for grouped in (values, values * values):
        total = _block_window_sums(grouped)
        sums.append(total.transpose(1, 2, 0).reshape(symbols, -1)[:, :width])
    return sums[0], sums[1]


def _block_window_sums(grouped: np.ndarray) -> np.ndarray:
    """Sum the window before each cell of `grouped`, shape (offset, row, block).

    The window of the cell at offset r > 0 of block b is the tail of block b − 1 from
    offset r, summed backwards, plus the head of block b before r, summed forwards; at
    offset 0 it is the whole of block b − 1, summed forwards. Block 0 gets NaN.
    """
    length = len(grouped)
    forward = np.empty_like(grouped)
    backward = np.empty_like(grouped)
    forward[0] = grouped[0]
    for offset in range(1, length):
        np.add(forward[offset - 1], grouped[offset], out=forward[offset])
    backward[-1] = grouped[-1]
    for offset in range(length - 2, -1, -1):
        np.add(backward[offset + 1], grouped[offset], out=backward[offset])

    total = np.empty_like(grouped)
    total[:, :, :1] = np.nan
    np.add(forward[-1, :, :-1], 0.0, out=total[0, :, 1:])
    for offset in range(1, length):
        np.add(forward[offset - 1, :, 1:], backward[offset, :, :-1], out=total[offset, :, 1:])
    return total


def _chunks(count: int):
    for start in range(0, count, _WINDOW_CHUNK):
        yield slice(start, min(start + _WINDOW_CHUNK, count))


def _sigma_stats(volume: np.ndarray, rows, positions, length: int):
    """Baseline mean and sample σ (ddof=1) for the packed cells (rows, positions); NaN
    where fewer than `length` candles precede the cell."""
    mean = np.full(len(rows), np.nan)
    std = np.full(len(rows), np.nan)
    ready = np.flatnonzero(positions >= length)
    sums = np.empty(len(ready))
    squares_sums = np.empty(len(ready))
    for part in _chunks(len(ready)):
        chosen = ready[part]
        windows = _gather_windows(volume, rows[chosen], positions[chosen], length)
        sums[part] = _window_sums(windows, positions[chosen])
        squares_sums[part] = _window_sums(windows * windows, positions[chosen])
    mean[ready], std[ready] = _finish_sigma(
        volume, rows[ready], positions[ready], length, sums, squares_sums
    )
    return mean, std


def _all_sigma_stats(volume: np.ndarray, length: int, mean: np.ndarray, std: np.ndarray) -> None:
    """`_sigma_stats` for every packed cell at once, into (symbols, candles) arrays."""
    sums, squares_sums = _all_window_sums(volume, length)
    symbols, width = volume.shape
    rows = np.broadcast_to(np.arange(symbols)[:, None], volume.shape)
    positions = np.broadcast_to(np.arange(width), volume.shape)
    _finish_sigma(volume, rows, positions, length, sums, squares_sums, mean, std)


def _finish_sigma(volume, rows, positions, length, sums, squares_sums, mean=None, std=None):
    """Return the baseline mean and σ from the window sums, into `mean` and `std` if given."""
    mean = np.divide(sums, length, out=mean)
    variance = sums * mean
    np.subtract(squares_sums, variance, out=variance)
    variance /= length - 1

    mean_square = squares_sums / length
    # x² loses precision below the smallest normal double (about 2e-308) and overflows
    # above about 1e308, so windows of tiny or huge volumes go two-pass as well. NaN
    # windows (too few candles, or past a row's end) fail every test and stay NaN.
    imprecise = variance <= _TWO_PASS_FRACTION * mean_square
    imprecise |= mean_square < _SMALL_MEAN_SQUARE
    imprecise |= mean_square == np.inf
    std = np.maximum(variance, 0.0, out=std)
    np.sqrt(std, out=std)

    if imprecise.any():
        chosen_rows, chosen_positions = rows[imprecise], positions[imprecise]
        exact = np.empty(len(chosen_rows))
        chosen_mean = mean[imprecise]
        for part in _chunks(len(chosen_rows)):
            windows = _gather_windows(volume, chosen_rows[part], chosen_positions[part], length)
            deviations = windows - chosen_mean[part, None]
            # Scaling by a power of two is exact and keeps the squares away from
            # underflow and overflow; σ is scaled back after the square root.
            _, exponent = np.frexp(np.abs(deviations).max(axis=1))
            deviations = np.ldexp(deviations, -exponent[:, None])
            squares = deviations * deviations
            scaled = np.sqrt(_window_sums(squares, chosen_positions[part]) / (length - 1))
            # Equal volumes have σ = 0 exactly, although their rounded mean can be an ulp
            # off them: 25 × 0.1 summed and divided by 25 is not 0.1.
            scaled[windows.min(axis=1) == windows.max(axis=1)] = 0.0
            exact[part] = np.ldexp(scaled, exponent)
        std[imprecise] = exact
    return mean, std


def _median_stats(volume: np.ndarray, rows, positions, length, mean, use_log: bool):
    """Median and 1.4826·MAD of each baseline (of log volume when `use_log`)."""
    # NOTE: np.median partitions every gathered window, so a robust or rvol history scan
    # of 200 symbols × 10,000 candles takes seconds, against a fraction of that for sigma.
    median = np.empty(len(rows))
    scale = np.empty(len(rows))
    for part in _chunks(len(rows)):
        windows = _gather_windows(volume, rows[part], positions[part], length)
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


def _judge(
    packed_volume, rows, positions, params: DetectionParams, *,
    volume, close, open_, mean, std, rsi, out: PanelResult | None = None,
) -> PanelResult:
    """Compute every field for the packed cells (rows, positions), into `out` if given.

    All keyword arrays have the shape of `rows`: (cells,) for the last candle, or
    (symbols, candles) for a history. The arithmetic is elementwise, so a cell gets the
    same bits whichever shape it is computed in. `out` receives status, distance, ratio,
    level, rsi_settled, signal and change_pct; its other fields must already hold the
    keyword arrays of the same name.
    """
    if out is None:
        out = _empty_result(
            rows.shape, volume=volume, close=close, baseline_mean=mean, baseline_std=std, rsi=rsi
        )
    length = params.lookback
    ready = positions >= length
    distance = out.distance

    # A tiny positive baseline can push a ratio to inf, which still reads as the top level.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if params.method is Method.SIGMA:
            flat = mean <= 0
            flat |= std == 0
            flat |= std < params.min_relative_std * mean
            np.subtract(volume, mean, out=distance)
            distance /= std
        else:
            cells = np.flatnonzero(ready) if ready.ndim == 1 else ready
            ready_mean = mean[cells]
            median, scale = _median_stats(
                packed_volume, rows[cells], positions[cells], length, ready_mean,
                use_log=params.method is Method.ROBUST,
            )
            ready_volume = volume[cells]
            flat = np.zeros(ready.shape, dtype=bool)
            distance[...] = np.nan
            if params.method is Method.ROBUST:
                flat[cells] = (ready_mean <= 0) | (scale == 0) | (scale < params.min_relative_std)
                offset = ROBUST_ZERO_OFFSET * ready_mean
                distance[cells] = (np.log(ready_volume + offset) - median) / scale
            else:
                flat[cells] = median <= 0
                distance[cells] = ready_volume / median
        np.divide(volume, mean, out=out.ratio)
        np.copyto(out.ratio, np.nan, where=~(mean > 0))
        change_pct = out.change_pct
        np.subtract(close, open_, out=change_pct)
        change_pct /= open_
        change_pct *= 100.0
        np.copyto(change_pct, np.nan, where=~(open_ > 0))

    # Later writes win: warming up overrides flat, which overrides OK.
    status = out.status
    status[...] = STATUS_OK
    np.copyto(status, STATUS_FLAT, where=flat)
    np.copyto(status, STATUS_WARMING_UP, where=~ready)
    np.copyto(distance, np.nan, where=status != STATUS_OK)

    # check_params ensures low <= medium <= high, so the count of thresholds exceeded is
    # the level code plus one; NaN exceeds none.
    low, medium, high = params.thresholds
    level = out.level
    np.greater(distance, low, out=level)
    level += distance > medium
    level += distance > high
    level += np.int8(NO_LEVEL)

    # Later writes win, so overbought beats oversold as it is tested first in the rules.
    signal = out.signal
    signal[...] = SIGNAL_NEUTRAL
    np.copyto(signal, SIGNAL_BULLISH, where=rsi < params.rsi_oversold)
    np.copyto(signal, SIGNAL_BEARISH, where=rsi > params.rsi_overbought)
    rsi_known = np.isfinite(rsi)
    np.copyto(signal, NO_SIGNAL, where=(level == NO_LEVEL) | ~rsi_known)

    settled = out.rsi_settled
    np.greater_equal(positions, params.rsi_warmup, out=settled)
    settled &= rsi_known
    return out


def _empty_result(shape, **fields) -> PanelResult:
    """Build a PanelResult from `fields`, with uninitialised arrays of `shape` for the rest."""
    for name, dtype in _RESULT_DTYPES.items():
        if name not in fields:
            fields[name] = np.empty(shape, dtype=dtype)
    return PanelResult(**fields)


_RESULT_DTYPES = {
    "status": np.int8,
    "volume": np.float64,
    "baseline_mean": np.float64,
    "baseline_std": np.float64,
    "distance": np.float64,
    "ratio": np.float64,
    "level": np.int8,
    "rsi": np.float64,
    "rsi_settled": bool,
    "signal": np.int8,
    "close": np.float64,
    "change_pct": np.float64,
}


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

