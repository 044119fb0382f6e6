"""The engine on real Binance candles: 5-minute files resampled to 1-hour candles."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from core.analysis.engine import evaluate_last
from core.analysis.records import DetectionParams, Level, Status
from core.timeframes import DEFAULT_TIMEFRAMES

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance-2018-01"
ONE_HOUR = DEFAULT_TIMEFRAMES[1]
EVALUATED_OPEN = datetime(2018, 1, 24, 14, 0, tzinfo=timezone.utc)

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real candle data not found at {DATA}"),
]


def hourly_candles(path: Path) -> pd.DataFrame:
    """Resample 5-minute candles to 1 hour with plain pandas, keeping only full hours."""
    five_minutes = pd.read_feather(path).set_index("date")
    hours = five_minutes.groupby(five_minutes.index.floor("1h"))
    hourly = hours.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        candles=("volume", "size"),
    )
    hourly = hourly[hourly["candles"] == 12].drop(columns="candles")
    hourly.index = hourly.index.rename("open_time")
    return hourly


@pytest.fixture(scope="module")
def records():
    candles = {path.name.split("-")[0]: hourly_candles(path) for path in sorted(DATA.glob("*-5m.feather"))}
    result = evaluate_last(candles, ONE_HOUR, EVALUATED_OPEN, DetectionParams())
    return {record.symbol: record for record in result}


@pytest.mark.parametrize(
    ("symbol", "level", "distance"),
    [("ETH_BTC", Level.HIGH, 29.7), ("LTC_BTC", Level.HIGH, 7.0), ("ADA_BTC", Level.MEDIUM, 5.4)],
)
def test_known_spikes(records, symbol, level, distance):
    record = records[symbol]

    assert record.status is Status.OK
    assert record.level is level
    assert record.distance == pytest.approx(distance, abs=0.05)


@pytest.mark.parametrize("symbol", ["DASH_BTC", "TRX_BTC", "XMR_BTC"])
def test_quiet_pairs(records, symbol):
    record = records[symbol]

    assert record.status is Status.OK
    assert record.level is None
    assert record.signal is None


def test_all_six_pairs_evaluated(records):
    assert sorted(records) == ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "TRX_BTC", "XMR_BTC"]
    assert all(record.open_time == EVALUATED_OPEN for record in records.values())
