"""Property tests: the vectorised engine against a plain per-symbol, per-candle reference.

The reference reads each rule straight off its definition with pandas and the standard
library, and is slow on purpose: no vectorisation, no state shared between candles.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analysis import panel
from core.analysis.engine import evaluate_last, scan_history
from core.analysis.records import DetectionParams, Level, Method, Signal, Status
from core.timeframes import Timeframe

MAD_TO_SIGMA = 1.4826
ROBUST_ZERO_OFFSET = 1e-3


def reference_record(frame: pd.DataFrame, evaluated_open: datetime, params: DetectionParams) -> dict:
    """Return the record fields for the candle of `frame` opening at `evaluated_open`."""
    usable = frame[frame["volume"].notna() & frame["close"].notna()]
    usable = usable[usable.index <= pd.Timestamp(evaluated_open)]
    if len(usable) == 0 or usable.index[-1] != pd.Timestamp(evaluated_open):
        return {"status": Status.MISSING}

    volumes = [float(v) for v in usable["volume"]]
    closes = [float(c) for c in usable["close"]]
    volume = volumes[-1]
    candle = usable.iloc[-1]
    opened = float(candle["open"])
    record = {
        "volume": volume,
        "close": closes[-1],
        "change_pct": (closes[-1] - opened) / opened * 100 if opened > 0 else None,
    }

    rsi = reference_rsi(closes, params.rsi_period)
    record["rsi"] = rsi
    record["rsi_settled"] = rsi is not None and len(closes) - 1 >= params.rsi_warmup

    if len(volumes) < params.lookback + 1:
        record.update(status=Status.WARMING_UP, level=None, signal=None, distance=None)
        record.update(baseline_mean=None, baseline_std=None, ratio=None)
        return record

    baseline = volumes[-params.lookback - 1 : -1]
    mean = statistics.fmean(baseline)
    std = statistics.stdev(baseline)
    record.update(baseline_mean=mean, baseline_std=std, ratio=volume / mean if mean > 0 else None)

    if params.method is Method.SIGMA:
        flat = mean <= 0 or std == 0 or std < params.min_relative_std * mean
        distance = None if flat else (volume - mean) / std
    elif params.method is Method.ROBUST:
        offset = ROBUST_ZERO_OFFSET * mean
        if mean <= 0:
            flat, distance = True, None
        else:
            logs = [math.log(v + offset) for v in baseline]
            median = statistics.median(logs)
            scale = MAD_TO_SIGMA * statistics.median([abs(x - median) for x in logs])
            flat = scale == 0 or scale < params.min_relative_std
            distance = None if flat else (math.log(volume + offset) - median) / scale
    else:
        median = statistics.median(baseline)
        flat = median <= 0
        distance = None if flat else volume / median

    low, medium, high = params.thresholds
    level = None
    if distance is not None:
        if distance > high:
            level = Level.HIGH
        elif distance > medium:
            level = Level.MEDIUM
        elif distance > low:
            level = Level.LOW

    signal = None
    if level is not None and rsi is not None:
        if rsi > params.rsi_overbought:
            signal = Signal.BEARISH
        elif rsi < params.rsi_oversold:
            signal = Signal.BULLISH
        else:
            signal = Signal.NEUTRAL

    record.update(
        status=Status.FLAT if flat else Status.OK, distance=distance, level=level, signal=signal
    )
    return record


def reference_rsi(closes: list[float], period: int) -> float | None:
    """Wilder's RSI of the last close: seed with simple means, then smooth by 1/period."""
    if len(closes) < period + 1:
        return None
    changes = [later - earlier for earlier, later in zip(closes, closes[1:])]
    gains = [max(change, 0.0) for change in changes]
    losses = [max(-change, 0.0) for change in changes]
    average_gain = sum(gains[:period]) / period
    average_loss = sum(losses[:period]) / period
    for gain, loss in zip(gains[period:], losses[period:]):
        average_gain = (average_gain * (period - 1) + gain) / period
        average_loss = (average_loss * (period - 1) + loss) / period
    if average_loss == 0:
        return 100.0 if average_gain > 0 else 50.0
    return 100 - 100 / (1 + average_gain / average_loss)


# --- engine against the reference ------------------------------------------------------

FLOAT_FIELDS = ("volume", "baseline_mean", "baseline_std", "ratio", "close", "change_pct")
BASE = datetime(2024, 3, 1, tzinfo=timezone.utc)
TIMEFRAME = Timeframe("5m", "5 Minutes", 5, "*/5 * * * *")

volumes = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 5.0, 100.0, 1e12, math.nan]),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
prices = st.one_of(
    st.sampled_from([1.0, 1.5, 2.0, math.nan]),
    st.floats(min_value=0.01, max_value=1e4, allow_nan=False),
)


@st.composite
def symbol_candles(draw) -> pd.DataFrame:
    """One symbol's candles on the 5-minute grid, with gaps, NaN rows and constant stretches."""
    length = draw(st.integers(min_value=0, max_value=50))
    slots = sorted(draw(st.sets(st.integers(0, 59), min_size=length, max_size=length)))
    rows = []
    for _ in slots:
        repeat = rows and draw(st.integers(0, 3)) == 0
        if repeat:
            rows.append(dict(rows[-1]))
            continue
        close = draw(prices)
        rows.append({"open": draw(prices), "close": close, "volume": draw(volumes)})
    frame = pd.DataFrame(rows, columns=["open", "close", "volume"], dtype="float64")
    frame.insert(1, "high", frame["close"])
    frame.insert(2, "low", frame["close"])
    index = pd.DatetimeIndex([BASE + timedelta(minutes=5 * slot) for slot in slots], name="open_time")
    frame.index = index.as_unit("ns") if len(index) else pd.DatetimeIndex([], tz="UTC", name="open_time")
    return frame


detection_params = st.builds(
    DetectionParams,
    method=st.sampled_from(list(Method)),
    lookback=st.integers(2, 8),
    min_relative_std=st.sampled_from([0.0, 1e-3, 0.05]),
    rsi_period=st.integers(1, 6),
    rsi_warmup=st.integers(0, 30),
)


def assert_matches_reference(record, expected: dict, scale: float, params: DetectionParams) -> None:
    context = f"{record.symbol} at {record.open_time:%H:%M}: engine {record}, reference {expected}"
    assert record.status is expected["status"], context
    if record.status is Status.MISSING:
        return
    for name in FLOAT_FIELDS:
        assert_close(getattr(record, name), expected[name], 1e-9 * scale, context + f" [{name}]")
    assert_close(record.distance, expected["distance"], 1e-9, context + " [distance]")
    assert_close(record.rsi, expected["rsi"], 1e-9, context + " [rsi]")
    assert record.rsi_settled == expected["rsi_settled"], context

    # A value within rounding of a threshold may fall either side of it.
    if expected["distance"] is None or not near_any(expected["distance"], params.thresholds):
        assert record.level == expected["level"], context
    rsi_lines = (params.rsi_overbought, params.rsi_oversold)
    if expected["rsi"] is None or not near_any(expected["rsi"], rsi_lines):
        if record.level == expected["level"]:
            assert record.signal == expected["signal"], context


def assert_close(actual, expected, absolute: float, context: str) -> None:
    if expected is None:
        assert actual is None, context
        return
    assert actual is not None, context
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=absolute), context


def near_any(value: float, lines) -> bool:
    return any(abs(value - line) <= 1e-7 * max(1.0, abs(line)) for line in lines)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(symbol_candles(), min_size=1, max_size=4),
    slot=st.integers(0, 60),
    params=detection_params,
)
def test_evaluate_last_matches_reference(frames, slot, params):
    candles = {f"S{index}": frame for index, frame in enumerate(frames)}
    evaluated_open = BASE + timedelta(minutes=5 * slot)

    records = evaluate_last(candles, TIMEFRAME, evaluated_open, params)

    assert [record.symbol for record in records] == list(candles)
    for record, frame in zip(records, frames):
        assert record.open_time == evaluated_open
        assert record.method == params.describe()
        scale = max(1.0, float(frame["volume"].abs().max(skipna=True) or 0.0))
        assert_matches_reference(record, reference_record(frame, evaluated_open, params), scale, params)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(symbol_candles(), min_size=1, max_size=3), params=detection_params)
def test_scan_history_equals_evaluate_last(frames, params):
    candles = {f"S{index}": frame for index, frame in enumerate(frames)}

    history = scan_history(candles, TIMEFRAME, params)

    expected = []
    for symbol, frame in candles.items():
        for open_time in frame.index:
            expected.extend(evaluate_last({symbol: frame}, TIMEFRAME, open_time.to_pydatetime(), params))
    assert len(history) == len(expected)
    for got, want in zip(history, expected):
        assert got == want or _same_with_nan(got, want), f"history {got} != last {want}"


def _same_with_nan(first, second) -> bool:
    return all(
        a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
        for a, b in zip(vars(first).values(), vars(second).values())
    )


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    symbols=st.integers(1, 6),
    length=st.integers(30, 120),
    method=st.sampled_from(list(Method)),
)
def test_panel_on_long_random_series(seed, symbols, length, method):
    """Long lognormal series with holes, default lookback: the engine against the reference."""
    rng = np.random.default_rng(seed)
    params = DetectionParams(method=method, rsi_warmup=40)
    frames = {}
    for index in range(symbols):
        size = int(rng.integers(1, length + 1))
        open_times = pd.date_range(BASE, periods=length, freq="5min", tz="UTC")[-size:]
        volume = rng.lognormal(3, 1.5, size)
        volume[rng.random(size) < 0.03] = np.nan
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, size)))
        frame = pd.DataFrame(
            {"open": close * 0.99, "high": close, "low": close, "close": close, "volume": volume},
            index=open_times.rename("open_time"),
        )
        frames[f"S{index}"] = frame
    evaluated_open = (BASE + timedelta(minutes=5 * (length - 1)))

    records = evaluate_last(frames, TIMEFRAME, evaluated_open, params)

    for record, frame in zip(records, frames.values()):
        scale = float(np.nanmax(frame["volume"].to_numpy(), initial=1.0))
        assert_matches_reference(record, reference_record(frame, evaluated_open, params), scale, params)


# --- history against the last-candle path on long series -----------------------------


def long_panel(symbols: int, width: int, seed: int):
    """Lognormal volumes and random-walk closes with holes, a late start, an early end,
    a row that is absent throughout and a stretch of zero volume."""
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(4.0, 1.2, (symbols, width))
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.02, (symbols, width)), axis=1))
    open_ = close * (1 + rng.normal(0, 0.005, (symbols, width)))
    volume[rng.random((symbols, width)) < 0.04] = np.nan
    close[rng.random((symbols, width)) < 0.02] = np.nan
    volume[1, : width // 3] = np.nan
    close[2, width - width // 4 :] = np.nan
    volume[3] = np.nan
    volume[4, 100:160] = 0.0
    return volume, close, open_


def assert_same_bits(history: np.ndarray, last: np.ndarray, context: str) -> None:
    assert history.dtype == last.dtype, context
    if history.dtype.kind == "f":
        assert np.array_equal(np.isnan(history), np.isnan(last)), context
        known = ~np.isnan(last)
        assert np.array_equal(history[known].view(np.int64), last[known].view(np.int64)), context
    else:
        assert np.array_equal(history, last), context


@pytest.mark.parametrize(
    "params",
    [
        DetectionParams(),
        DetectionParams(lookback=7, rsi_period=3, min_relative_std=0.05),
        DetectionParams(lookback=40, rsi_period=70, rsi_warmup=100),
        DetectionParams(method=Method.ROBUST),
        DetectionParams(method=Method.RVOL, lookback=9),
    ],
    ids=["sigma", "sigma-short", "sigma-long-rsi", "robust", "rvol"],
)
def test_history_equals_last_on_long_panel(params, monkeypatch):
    """Every column of a history over several RSI blocks, baseline blocks and chunks of
    rows, against the last-candle path on the panel cut after that column."""
    symbols, width = 7, 733
    volume, close, open_ = long_panel(symbols, width, seed=11)
    # Two rows per chunk, so the chunks split the panel at three row boundaries.
    monkeypatch.setattr(panel, "_HISTORY_CHUNK_CELLS", 2 * width)

    history = panel.evaluate_panel_history(volume, close, open_, params)

    for column in range(width):
        cut = slice(0, column + 1)
        last = panel.evaluate_panel(volume[:, cut], close[:, cut], open_[:, cut], params)
        for name, values in vars(last).items():
            context = f"{name} at column {column}"
            assert_same_bits(getattr(history, name)[:, column], values, context)


def test_long_panel_reaches_every_status():
    """The long panel reaches every status and a settled RSI, so the test above compares
    real values and not only NaN."""
    volume, close, open_ = long_panel(7, 733, seed=11)

    history = panel.evaluate_panel_history(volume, close, open_, DetectionParams())

    statuses = set(np.unique(history.status).tolist())
    every_status = {panel.STATUS_OK, panel.STATUS_WARMING_UP, panel.STATUS_MISSING, panel.STATUS_FLAT}
    assert statuses == every_status
    assert history.rsi_settled.sum() > 1000
    assert (history.level != panel.NO_LEVEL).any()
