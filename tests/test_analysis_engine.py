"""Unit tests of each detection rule with hand-made numbers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from core.analysis.engine import evaluate_last, scan_history
from core.analysis.panel import (
    STATUS_MISSING,
    STATUS_OK,
    STATUS_WARMING_UP,
    evaluate_panel,
    evaluate_panel_history,
)
from core.analysis.records import DetectionParams, Level, Method, Signal, Status
from core.timeframes import DEFAULT_TIMEFRAMES

FIVE_MINUTES, ONE_HOUR, _, ONE_DAY = DEFAULT_TIMEFRAMES
START = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def candles(volumes, closes=None, opens=None, start=START, step=timedelta(minutes=5), skip=()):
    """Build a candle frame; `skip` lists positions left out of the grid (gaps)."""
    closes = list(closes) if closes is not None else [100.0] * len(volumes)
    opens = list(opens) if opens is not None else closes
    times = [start + step * index for index in range(len(volumes) + len(skip)) if index not in skip]
    frame = pd.DataFrame(
        {"open": opens, "high": closes, "low": closes, "close": closes, "volume": volumes},
        index=pd.DatetimeIndex(times, name="open_time"),
        dtype="float64",
    )
    return frame


def last_open(frame: pd.DataFrame) -> datetime:
    return frame.index[-1].to_pydatetime()


def judge(frame, params=DetectionParams(), timeframe=FIVE_MINUTES, at=None):
    [record] = evaluate_last({"TEST": frame}, timeframe, at or last_open(frame), params)
    return record


# A baseline of mean 10 and sample σ 2: squared deviations 4, 4, 4, 4, 0 sum to 16,
# and σ² = 16 / (5 − 1) = 4.
BASELINE = [8.0, 12.0, 8.0, 12.0, 10.0]
SMALL = DetectionParams(lookback=5)


@pytest.mark.parametrize(
    ("volume", "level"),
    [
        (15.0, None),  # exactly mean + 2.5σ: the rule is strictly above
        (15.000001, Level.LOW),
        (18.0, Level.LOW),  # exactly 4σ
        (18.000001, Level.MEDIUM),
        (22.0, Level.MEDIUM),  # exactly 6σ
        (22.000001, Level.HIGH),
    ],
)
def test_sigma_levels_at_thresholds(volume, level):
    record = judge(candles(BASELINE + [volume]), SMALL)

    assert record.status is Status.OK
    assert record.baseline_mean == 10.0
    assert record.baseline_std == 2.0
    assert record.distance == pytest.approx((volume - 10.0) / 2.0, rel=1e-12)
    assert record.ratio == pytest.approx(volume / 10.0, rel=1e-12)
    assert record.level == level


def test_evaluated_candle_not_in_baseline():
    # With the candle in its own baseline of 26, its z-score could never pass 25/√26 ≈ 4.9σ.
    baseline = [90.0, 110.0] * 12 + [90.0]
    record = judge(candles(baseline + [1000.0]))

    assert record.baseline_mean == pytest.approx(sum(baseline) / 25, rel=1e-12)
    assert record.baseline_std == pytest.approx(np.std(baseline, ddof=1), rel=1e-12)
    assert record.distance > 6.0
    assert record.level is Level.HIGH


def test_flat_baseline_has_no_level():
    record = judge(candles([100.0] * 25 + [500.0]))

    assert record.status is Status.FLAT
    assert record.level is None
    assert record.distance is None
    assert record.baseline_std == 0.0
    assert "flat" in record.note


@pytest.mark.parametrize("value", [0.1, 7.3, 5462.260933938573])
def test_equal_volumes_flat_without_floor(value):
    # The mean of 25 equal volumes rounds an ulp away from them, which must not leave a
    # σ of an ulp that turns the next candle into a spike when there is no σ floor.
    params = DetectionParams(min_relative_std=0.0)
    frame = candles([value] * 25 + [value * 1.001])

    record = judge(frame, params)
    [history_record] = scan_history({"TEST": frame}, FIVE_MINUTES, params)[-1:]

    assert record.baseline_std == 0.0
    assert record.status is Status.FLAT
    assert record.level is None
    assert history_record == record


def test_nearly_flat_baseline_below_floor():
    # σ ≈ 0.0204 is below 0.001 × mean ≈ 0.1.
    record = judge(candles([100.0] * 24 + [100.1] + [130.0]))

    assert record.status is Status.FLAT
    assert record.level is None


def test_zero_baseline_is_flat():
    record = judge(candles([0.0] * 25 + [10.0]))

    assert record.status is Status.FLAT
    assert record.ratio is None


def test_warming_up_until_lookback_plus_one():
    short = judge(candles([10.0] * 24 + [500.0]))
    enough = judge(candles([10.0, 12.0] * 12 + [11.0, 500.0]))

    assert short.status is Status.WARMING_UP
    assert short.level is None
    assert short.baseline_mean is None
    assert "26" in short.note
    assert enough.status is Status.OK
    assert enough.level is Level.HIGH


def test_missing_candle_is_not_replaced_by_older():
    frame = candles(BASELINE + [100.0])
    later = last_open(frame) + timedelta(minutes=5)

    record = judge(frame, SMALL, at=later)

    assert record.status is Status.MISSING
    assert record.note == f"no candle for {later:%H:%M}"
    assert record.volume is None
    assert record.level is None
    assert record.open_time == later
    assert record.close_time == later + timedelta(minutes=5)


def test_missing_note_has_date_for_daily():
    frame = candles(BASELINE, start=datetime(2024, 3, 1, tzinfo=timezone.utc), step=timedelta(days=1))

    record = judge(frame, SMALL, timeframe=ONE_DAY, at=datetime(2024, 3, 9, tzinfo=timezone.utc))

    assert record.note == "no candle for 2024-03-09 00:00"


def test_nan_volume_row_counts_as_missing():
    frame = candles(BASELINE + [math.nan])

    assert judge(frame, SMALL).status is Status.MISSING


def test_baseline_skips_gaps_and_nan_rows():
    # Positions 2 and 4 of the grid are absent, and one row has a NaN volume: the baseline
    # is still the previous five present candles.
    volumes = [1000.0, 8.0, math.nan, 12.0, 8.0, 12.0, 10.0, 22.5]
    frame = candles(volumes, skip=(2, 4))

    record = judge(frame, SMALL)

    assert record.baseline_mean == 10.0
    assert record.baseline_std == 2.0
    assert record.level is Level.HIGH


def test_later_candles_are_ignored():
    frame = candles(BASELINE + [22.5, 0.0, 0.0])
    at = frame.index[5].to_pydatetime()

    record = judge(frame, SMALL, at=at)

    assert record.volume == 22.5
    assert record.level is Level.HIGH


def test_record_fields():
    frame = candles(BASELINE + [22.5], closes=[100.0] * 5 + [103.0], opens=[100.0] * 5 + [100.0])

    record = judge(frame, SMALL, timeframe=FIVE_MINUTES)

    assert record.symbol == "TEST"
    assert record.timeframe == "5m"
    assert record.close == 103.0
    assert record.change_pct == pytest.approx(3.0, rel=1e-12)
    assert record.close_time == record.open_time + timedelta(minutes=5)
    assert record.method == "sigma n=5 2.5/4/6σ"
    # Six candles are far fewer than the default 250 of RSI warm-up.
    assert record.note == "RSI warming up: fewer than 250 candles before it"


# Closes 10, 11, 10, 12, 13, 12 with period 3, by hand: changes +1 −1 +2 +1 −1.
# Seed: gain (1+0+2)/3 = 1, loss (0+1+0)/3 = 1/3 → RSI 100·1/(1+1/3) = 75.
# +1: gain (1·2+1)/3 = 1, loss (2/3)/3 = 2/9 → RSI 100·9/11.
# −1: gain 2/3, loss (4/9+1)/3 = 13/27 → RSI 100·18/31.
WILDER_CLOSES = [10.0, 11.0, 10.0, 12.0, 13.0, 12.0]
WILDER_RSI = [None, None, None, 75.0, 900 / 11, 1800 / 31]


@pytest.mark.parametrize("position", range(6))
def test_wilder_rsi_by_hand(position):
    params = DetectionParams(lookback=2, rsi_period=3, rsi_warmup=4)
    frame = candles([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], closes=WILDER_CLOSES)

    record = judge(frame, params, at=frame.index[position].to_pydatetime())

    expected = WILDER_RSI[position]
    if expected is None:
        assert record.rsi is None
        assert record.rsi_settled is False
    else:
        assert record.rsi == pytest.approx(expected, rel=1e-12)
        assert record.rsi_settled is (position >= 4)


def test_rsi_extremes():
    rising = judge(candles([1.0] * 20, closes=range(1, 21)))
    still = judge(candles([1.0] * 20, closes=[5.0] * 20))

    assert rising.rsi == 100.0
    assert still.rsi == 50.0


def spiking(closes):
    volumes = [90.0, 110.0] * 12 + [100.0, 5000.0]
    return candles(volumes, closes=closes)


def test_signal_bearish_on_spike_after_rise():
    record = judge(spiking([100.0 + step for step in range(26)]))

    assert record.level is Level.HIGH
    assert record.rsi > 70
    assert record.signal is Signal.BEARISH


def test_signal_bullish_on_spike_after_fall():
    record = judge(spiking([100.0 - step for step in range(26)]))

    assert record.rsi < 30
    assert record.signal is Signal.BULLISH


def test_signal_neutral_between_lines():
    record = judge(spiking([100.0 + (step % 2) for step in range(26)]))

    assert 30 <= record.rsi <= 70
    assert record.signal is Signal.NEUTRAL


def test_no_signal_without_spike():
    record = judge(candles([90.0, 110.0] * 13, closes=range(1, 27)))

    assert record.level is None
    assert record.rsi == 100.0
    assert record.signal is None


@pytest.mark.parametrize(
    ("volume", "level"),
    [
        (40.0, None),
        (40.5, Level.LOW),
        (60.0, Level.LOW),
        (60.5, Level.MEDIUM),
        (100.0, Level.MEDIUM),
        (100.5, Level.HIGH),
    ],
)
def test_rvol_levels(volume, level):
    # Median of the baseline is 20, so the thresholds sit at 40, 60 and 100.
    params = DetectionParams(method=Method.RVOL, lookback=5)
    record = judge(candles([10.0, 30.0, 20.0, 20.0, 10.0, volume]), params)

    assert record.distance == pytest.approx(volume / 20.0, rel=1e-12)
    assert record.level == level
    assert record.method == "rvol n=5 2/3/5x"


def test_rvol_zero_median_is_flat():
    params = DetectionParams(method=Method.RVOL, lookback=5)

    record = judge(candles([0.0, 0.0, 0.0, 4.0, 5.0, 50.0]), params)

    assert record.status is Status.FLAT


def test_robust_distance_by_hand():
    params = DetectionParams(method=Method.ROBUST, lookback=5)
    baseline = [10.0, 20.0, 40.0, 80.0, 160.0]
    offset = 0.001 * sum(baseline) / 5
    logs = sorted(math.log(value + offset) for value in baseline)
    median = logs[2]
    mad = sorted(abs(value - median) for value in logs)[2]

    record = judge(candles(baseline + [5000.0]), params)

    expected = (math.log(5000.0 + offset) - median) / (1.4826 * mad)
    # ln 5000 ≈ 8.52 against a median of ln 40 ≈ 3.69 and 1.4826·ln 2 ≈ 1.03: about 4.7σ.
    assert record.distance == pytest.approx(expected, rel=1e-12)
    assert 4.0 < record.distance < 6.0
    assert record.level is Level.MEDIUM
    assert record.method == "robust n=5 2.5/4/6σ"


def test_robust_handles_zero_volume():
    params = DetectionParams(method=Method.ROBUST, lookback=5)

    with_zero = judge(candles([0.0, 20.0, 40.0, 20.0, 30.0, 0.0]), params)
    all_zero = judge(candles([0.0] * 5 + [10.0]), params)

    assert with_zero.status is Status.OK
    assert math.isfinite(with_zero.distance)
    assert with_zero.distance < 0
    assert all_zero.status is Status.FLAT


def test_symbols_in_input_order_with_mixed_states():
    data = {
        "ZED": candles(BASELINE + [22.5]),
        "ABC": candles([1.0, 2.0]),
        "MID": candles(BASELINE),
    }
    at = last_open(data["ZED"])

    records = evaluate_last(data, FIVE_MINUTES, at, SMALL)

    assert [record.symbol for record in records] == ["ZED", "ABC", "MID"]
    assert [record.status for record in records] == [Status.OK, Status.MISSING, Status.MISSING]
    assert evaluate_last({}, FIVE_MINUTES, at, SMALL) == []


def test_scan_history_covers_every_candle():
    frame = candles(BASELINE + [22.5, math.nan, 10.0])

    records = scan_history({"TEST": frame}, FIVE_MINUTES, SMALL)

    assert [record.open_time for record in records] == [t.to_pydatetime() for t in frame.index]
    assert [record.status for record in records] == [Status.WARMING_UP] * 5 + [
        Status.OK,
        Status.MISSING,
        Status.OK,
    ]
    assert records[5].level is Level.HIGH


def test_panel_last_column_and_history():
    volume = np.array([BASELINE + [22.5], [1.0] * 5 + [np.nan], [np.nan] * 4 + [1.0, 2.0]])
    close = np.full_like(volume, 100.0)

    last = evaluate_panel(volume, close, close, SMALL)
    history = evaluate_panel_history(volume, close, close, SMALL)

    assert last.status.tolist() == [STATUS_OK, STATUS_MISSING, STATUS_WARMING_UP]
    assert last.distance[0] == 6.25
    assert history.status[:, -1].tolist() == last.status.tolist()
    assert history.distance[0, -1] == last.distance[0]
    assert history.status[2, :4].tolist() == [STATUS_MISSING] * 4


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (DetectionParams(lookback=1), "lookback must be at least 2"),
        (DetectionParams(low=5.0, medium=4.0), "in order low <= medium <= high"),
        (DetectionParams(min_relative_std=-1.0), "min_relative_std must be >= 0"),
        (DetectionParams(rsi_period=0), "rsi_period must be at least 1"),
    ],
)
def test_invalid_params_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        evaluate_last({"TEST": candles(BASELINE)}, FIVE_MINUTES, START, params)


def test_naive_evaluated_open_rejected():
    with pytest.raises(ValueError, match="evaluated_open must be an aware datetime"):
        evaluate_last({"TEST": candles(BASELINE)}, FIVE_MINUTES, datetime(2024, 3, 1), SMALL)


def test_negative_volume_rejected():
    with pytest.raises(ValueError, match="TEST: volume must be >= 0, got -1.0"):
        judge(candles(BASELINE + [-1.0]), SMALL)


def test_negative_panel_volume_rejected():
    volume = np.array([[1.0, -2.0]])

    with pytest.raises(ValueError, match="volume must be >= 0, got -2.0 in row 0, column 1"):
        evaluate_panel(volume, np.ones_like(volume), np.ones_like(volume), SMALL)


def test_unsorted_frame_rejected():
    frame = candles(BASELINE + [1.0]).iloc[::-1]

    with pytest.raises(ValueError, match="TEST: candle open times must be sorted and unique"):
        judge(frame, SMALL, at=START)


def test_missing_column_rejected():
    frame = candles(BASELINE + [1.0]).drop(columns="volume")

    with pytest.raises(ValueError, match=r"TEST: candles lack the column\(s\) \['volume'\]"):
        judge(frame, SMALL)


def test_rsi_warming_up_note():
    """A record whose RSI has fewer than rsi_warmup candles before it says so in its note."""
    from datetime import datetime, timedelta, timezone

    import numpy as np
    import pandas as pd

    from core.analysis.engine import evaluate_last
    from core.analysis.records import DetectionParams
    from core.timeframes import DEFAULT_TIMEFRAMES

    hour = DEFAULT_TIMEFRAMES[1]
    opens = pd.date_range("2024-01-01", periods=60, freq="1h", tz="UTC")
    closes = 100 + np.sin(np.arange(60))
    frame = pd.DataFrame(
        {"open": closes, "high": closes + 1, "low": closes - 1, "close": closes, "volume": 10 + np.cos(np.arange(60))},
        index=opens,
    )
    evaluated = opens[-1].to_pydatetime()

    (short,) = evaluate_last({"X": frame}, hour, evaluated, DetectionParams(rsi_warmup=250))
    (settled,) = evaluate_last({"X": frame}, hour, evaluated, DetectionParams(rsi_warmup=30))

    assert short.note == "RSI warming up: fewer than 250 candles before it"
    assert short.rsi_settled is False
    assert settled.note == ""
