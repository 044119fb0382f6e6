"""Volume-spike analysis from candle frames to one SpikeRecord per symbol and candle.

The frames are in the `core.sources.base.candle_frame` layout. They are stacked into one
panel per field and judged together by `core.analysis.panel`, so no statistic is computed
in a Python loop over symbols.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Mapping

import numpy as np
import pandas as pd

from core.analysis.panel import (
    LEVEL_BY_CODE,
    MAD_TO_SIGMA,
    SIGNAL_BY_CODE,
    STATUS_BY_CODE,
    STATUS_FLAT,
    STATUS_MISSING,
    STATUS_OK,
    STATUS_WARMING_UP,
    PanelResult,
    check_params,
    evaluate_panel,
    evaluate_panel_history,
)
from core.analysis.records import DetectionParams, Method, SpikeRecord, Status
from core.sources.base import OHLCV
from core.timeframes import Timeframe

_FIELDS = ("open", "close", "volume")
_FIELD_COLUMNS = [OHLCV.index(name) for name in _FIELDS]
_OHLCV_LIST = list(OHLCV)
_NANOSECONDS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_MINUTES_PER_DAY = 24 * 60


def evaluate_last(
    candles: Mapping[str, pd.DataFrame],
    timeframe: Timeframe,
    evaluated_open: datetime,
    params: DetectionParams,
) -> list[SpikeRecord]:
    """Judge the candle opening at `evaluated_open` for every symbol, in input order.

    The baseline is the `params.lookback` present candles before it. A symbol with no
    candle at exactly that open time gets a MISSING record; an older candle is never
    judged in its place. Candles after `evaluated_open` are ignored.
    """
    check_params(params)
    evaluated_open = _as_utc(evaluated_open, "evaluated_open")
    target = _to_nanoseconds(evaluated_open)
    symbols = list(candles)

    histories = []
    for symbol in symbols:
        open_ns, values = _frame_arrays(symbol, candles[symbol])
        end = int(np.searchsorted(open_ns, target, side="right"))
        has_candle = end > 0 and open_ns[end - 1] == target
        histories.append(values[:end] if has_candle else None)

    # Rows end at the last column so that it holds each symbol's evaluated candle.
    width = max((len(history) for history in histories if history is not None), default=0)
    panel = np.full((len(symbols), width, len(_FIELDS)), np.nan)
    for row, history in enumerate(histories):
        if history is not None:
            panel[row, width - len(history) :] = history

    result = evaluate_panel(panel[:, :, 2], panel[:, :, 1], panel[:, :, 0], params)
    close_time = evaluated_open + timeframe.interval
    return _records(
        result,
        symbols=symbols,
        open_times=[evaluated_open] * len(symbols),
        close_times=[close_time] * len(symbols),
        timeframe=timeframe,
        params=params,
    )


def scan_history(
    candles: Mapping[str, pd.DataFrame], timeframe: Timeframe, params: DetectionParams
) -> list[SpikeRecord]:
    """Judge every candle of every symbol, as `evaluate_last` would at each open time.

    Records come symbol by symbol in input order, each symbol's candles oldest first. A
    row whose volume or close is NaN gets a MISSING record, as `evaluate_last` gives for
    that open time.
    """
    check_params(params)
    symbols = list(candles)
    arrays = [_frame_arrays(symbol, candles[symbol]) for symbol in symbols]
    lengths = [len(open_ns) for open_ns, _ in arrays]

    width = max(lengths, default=0)
    panel = np.full((len(symbols), width, len(_FIELDS)), np.nan)
    for row, (_, values) in enumerate(arrays):
        panel[row, : len(values)] = values
    result = evaluate_panel_history(panel[:, :, 2], panel[:, :, 1], panel[:, :, 0], params)

    records: list[SpikeRecord] = []
    interval = timeframe.interval
    for row, symbol in enumerate(symbols):
        length = lengths[row]
        row_result = PanelResult(**{name: values[row, :length] for name, values in vars(result).items()})
        open_times = [_from_nanoseconds(ns) for ns in arrays[row][0].tolist()]
        records.extend(
            _records(
                row_result,
                symbols=[symbol] * length,
                open_times=open_times,
                close_times=[moment + interval for moment in open_times],
                timeframe=timeframe,
                params=params,
            )
        )
    return records


def _frame_arrays(symbol: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return a frame's open times (int64 ns since epoch, UTC) and its open/close/volume."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError(
            f"{symbol}: candles must be indexed by UTC open time (an aware DatetimeIndex), "
            f"got {type(index).__name__}{'' if index.dtype.kind != 'M' else ' without a time zone'}"
        )
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError(f"{symbol}: candle open times must be sorted and unique")

    missing = [name for name in _FIELDS if name not in frame.columns]
    if missing:
        raise ValueError(f"{symbol}: candles lack the column(s) {missing}; expected {list(_FIELDS)}")

    # pandas 3 keeps open times in microseconds by default; converting the other way is
    # cheaper per frame than converting every index to nanoseconds.
    open_ns = index.asi8 * _NANOSECONDS_PER_UNIT[index.unit]
    try:
        if frame.columns.tolist() == _OHLCV_LIST:
            # The candle_frame layout: one float64 block, so this is a view, not a copy.
            values = frame.to_numpy(dtype=np.float64, copy=False)[:, _FIELD_COLUMNS]
        else:
            values = frame.loc[:, list(_FIELDS)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{symbol}: open, close and volume must be numeric: {error}") from None
    if (values[:, 2] < 0).any():
        raise ValueError(f"{symbol}: volume must be >= 0, got {values[:, 2].min()}")
    return open_ns, values


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime in UTC, got the naive {moment}")
    return moment.astimezone(timezone.utc)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _to_nanoseconds(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _from_nanoseconds(nanoseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def _records(
    result: PanelResult,
    *,
    symbols: list[str],
    open_times: list[datetime],
    close_times: list[datetime],
    timeframe: Timeframe,
    params: DetectionParams,
) -> list[SpikeRecord]:
    method = params.describe()
    columns = {name: values.tolist() for name, values in vars(result).items()}
    records = []
    for index, symbol in enumerate(symbols):
        status_code = columns["status"][index]
        open_time = open_times[index]
        if status_code == STATUS_MISSING:
            records.append(
                SpikeRecord(
                    symbol=symbol,
                    timeframe=timeframe.key,
                    open_time=open_time,
                    close_time=close_times[index],
                    status=Status.MISSING,
                    method=method,
                    note=f"no candle for {_format_open(open_time, timeframe)}",
                )
            )
            continue

        level_code = columns["level"][index]
        signal_code = columns["signal"][index]
        records.append(
            SpikeRecord(
                symbol=symbol,
                timeframe=timeframe.key,
                open_time=open_time,
                close_time=close_times[index],
                status=STATUS_BY_CODE[status_code],
                method=method,
                volume=_number(columns["volume"][index]),
                baseline_mean=_number(columns["baseline_mean"][index]),
                baseline_std=_number(columns["baseline_std"][index]),
                distance=_number(columns["distance"][index]),
                ratio=_number(columns["ratio"][index]),
                level=LEVEL_BY_CODE[level_code] if level_code >= 0 else None,
                rsi=_number(columns["rsi"][index]),
                rsi_settled=columns["rsi_settled"][index],
                signal=SIGNAL_BY_CODE[signal_code] if signal_code >= 0 else None,
                close=_number(columns["close"][index]),
                change_pct=_number(columns["change_pct"][index]),
                note=_note(status_code, params, bool(columns["rsi_settled"][index])),
            )
        )
    return records


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _format_open(open_time: datetime, timeframe: Timeframe) -> str:
    if timeframe.minutes >= _MINUTES_PER_DAY:
        return open_time.strftime("%Y-%m-%d %H:%M")
    return open_time.strftime("%H:%M")


def _note(status_code: int, params: DetectionParams, rsi_settled: bool = True) -> str:
    if status_code == STATUS_OK and not rsi_settled:
        return f"RSI warming up: fewer than {params.rsi_warmup} candles before it"
    if status_code == STATUS_WARMING_UP:
        return f"warming up: fewer than {params.lookback + 1} closed candles"
    if status_code == STATUS_FLAT:
        if params.method is Method.SIGMA:
            return f"flat baseline: σ below {params.min_relative_std:g} × mean"
        if params.method is Method.ROBUST:
            return (
                f"flat baseline: {MAD_TO_SIGMA}·MAD of log volume below {params.min_relative_std:g}"
            )
        return "flat baseline: median volume is 0"
    return ""
