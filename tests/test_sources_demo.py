"""The demo candle source: determinism, exact aggregation, closed candles, failures, shape."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import core.sources.demo as demo_module
from core.sources.base import OHLCV, DataQuality
from core.sources.demo import DEMO_PAIRS, DemoSource
from core.timeframes import DEFAULT_TIMEFRAMES, Timeframe

TIMEFRAMES = {timeframe.key: timeframe for timeframe in DEFAULT_TIMEFRAMES}
ONE_MINUTE = Timeframe("1m", "1 Minute", 1, "* * * * *")
# A Monday midnight, so that day, week and hour windows line up.
MONDAY = datetime(2025, 3, 3, tzinfo=timezone.utc)


def timeframe(minutes: int) -> Timeframe:
    return Timeframe(f"{minutes}m", f"{minutes} Minutes", minutes, "* * * * *")


def aggregate(candles: pd.DataFrame, minutes: int) -> pd.DataFrame:
    """Aggregate candles into UTC-aligned buckets of `minutes` with plain pandas."""
    bucket = candles.index.floor(f"{minutes}min")
    grouped = candles.groupby(bucket)
    result = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    result.index.name = "open_time"
    return result


def sigma_rule_flags(volume: pd.Series, lookback: int = 25, threshold: float = 4.0) -> pd.Series:
    """Flag candles whose volume exceeds mean + threshold x sample std of the `lookback` before."""
    baseline = volume.shift(1).rolling(lookback)
    return volume > baseline.mean() + threshold * baseline.std(ddof=1)


async def fetch_one(
    source: DemoSource, symbol: str, frame: Timeframe, count: int, until: datetime
) -> pd.DataFrame:
    result = await source.fetch([symbol], frame, count, until)
    assert result.failures == {}
    return result.candles[symbol]


# --- the market -----------------------------------------------------------------------


async def test_default_market_lists_twenty_pairs():
    source = DemoSource()
    symbols = await source.symbols()

    assert source.name == "DEMO"
    assert source.is_demo is True
    assert len(symbols) == 20
    assert symbols == sorted(symbols)
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(symbols)
    assert all(re.fullmatch(r"[A-Z0-9]+/[A-Z]+", symbol) for symbol in symbols)


async def test_large_market_has_unique_pairs():
    source = DemoSource(symbol_count=500)
    symbols = await source.symbols()

    assert len(symbols) == 500
    assert len(set(symbols)) == 500
    assert all(re.fullmatch(r"[A-Z0-9]+/[A-Z]+", symbol) for symbol in symbols)


@pytest.mark.parametrize("symbol_count", [0, -3, len(DEMO_PAIRS) + 1])
def test_symbol_count_out_of_range(symbol_count):
    with pytest.raises(ValueError, match=f"between 1 and {len(DEMO_PAIRS)}, got {symbol_count}"):
        DemoSource(symbol_count=symbol_count)


def test_seed_must_be_integer():
    with pytest.raises(ValueError, match="seed must be an integer, got '7'"):
        DemoSource(seed="7")


async def test_prices_stay_near_their_levels():
    source = DemoSource()
    levels = {spec.symbol: spec.price for spec in DEMO_PAIRS[:20]}
    result = await source.fetch(list(levels), TIMEFRAMES["1d"], 730, MONDAY)

    for symbol, level in levels.items():
        closes = result.candles[symbol]["close"]
        assert closes.min() > 0.2 * level, symbol
        assert closes.max() < 5.0 * level, symbol


# --- determinism ----------------------------------------------------------------------


async def test_same_window_identical_across_instances():
    first = await DemoSource(seed=11).fetch(
        ["BTC/USDT", "DOGE/USDT"], TIMEFRAMES["5m"], 300, MONDAY
    )
    second = await DemoSource(seed=11).fetch(
        ["BTC/USDT", "DOGE/USDT"], TIMEFRAMES["5m"], 300, MONDAY
    )

    for symbol in ("BTC/USDT", "DOGE/USDT"):
        pd.testing.assert_frame_equal(
            first.candles[symbol], second.candles[symbol], check_exact=True
        )


@pytest.mark.parametrize(
    "frame", [ONE_MINUTE, TIMEFRAMES["5m"], TIMEFRAMES["1h"], TIMEFRAMES["1d"]], ids=lambda f: f.key
)
async def test_overlapping_windows_identical(frame):
    source = DemoSource()
    later = MONDAY + 7 * frame.interval
    early = await fetch_one(source, "ETH/USDT", frame, 40, MONDAY)
    late = await fetch_one(source, "ETH/USDT", frame, 40, later)

    overlap = early.index.intersection(late.index)
    assert len(overlap) == 33
    pd.testing.assert_frame_equal(early.loc[overlap], late.loc[overlap], check_exact=True)


async def test_minutes_identical_across_split_windows():
    """One long 1-minute fetch equals two shorter ones that tile it, bit for bit."""
    source = DemoSource()
    whole = await fetch_one(source, "SOL/USDT", ONE_MINUTE, 1000, MONDAY)
    older = await fetch_one(source, "SOL/USDT", ONE_MINUTE, 377, MONDAY - timedelta(minutes=623))
    newer = await fetch_one(source, "SOL/USDT", ONE_MINUTE, 623, MONDAY)

    pd.testing.assert_frame_equal(whole, pd.concat([older, newer]), check_exact=True)


async def test_different_seeds_differ():
    first = await fetch_one(DemoSource(seed=7), "BTC/USDT", TIMEFRAMES["1h"], 48, MONDAY)
    second = await fetch_one(DemoSource(seed=8), "BTC/USDT", TIMEFRAMES["1h"], 48, MONDAY)

    assert (first["close"] != second["close"]).all()
    assert (first["volume"] != second["volume"]).all()


async def test_history_independent_of_market_size():
    small = await fetch_one(DemoSource(symbol_count=3), "BTC/USDT", TIMEFRAMES["1h"], 24, MONDAY)
    large = await fetch_one(DemoSource(symbol_count=200), "BTC/USDT", TIMEFRAMES["1h"], 24, MONDAY)

    pd.testing.assert_frame_equal(small, large, check_exact=True)


# --- aggregation ----------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC/USDT", "PEPE/USDT", "ETH/BTC"])
async def test_minute_candles_aggregate_exactly(symbol):
    source = DemoSource(symbol_count=40)
    minutes = await fetch_one(source, symbol, ONE_MINUTE, 2 * 1440, MONDAY)

    for coarse_minutes in (3, 5, 15, 60, 90, 240, 1440):
        count = 2 * 1440 // coarse_minutes
        coarse = await fetch_one(source, symbol, timeframe(coarse_minutes), count, MONDAY)
        expected = aggregate(minutes, coarse_minutes)
        assert len(coarse) == count
        pd.testing.assert_index_equal(coarse.index, expected.index, check_exact=True)
        pd.testing.assert_frame_equal(
            coarse, expected, rtol=1e-9, atol=0.0, obj=f"{symbol} {coarse_minutes}m"
        )


async def test_default_timeframes_aggregate_from_minutes():
    """5m, 1h, 4h and 1d fetches of all default pairs equal their aggregated 1-minute candles."""
    source = DemoSource()
    symbols = await source.symbols()
    minutes = await source.fetch(symbols, ONE_MINUTE, 1440, MONDAY)

    for key in ("5m", "1h", "4h", "1d"):
        frame = TIMEFRAMES[key]
        coarse = await source.fetch(symbols, frame, 1440 // frame.minutes, MONDAY)
        for symbol in symbols:
            expected = aggregate(minutes.candles[symbol], frame.minutes)
            pd.testing.assert_frame_equal(
                coarse.candles[symbol], expected, rtol=1e-9, atol=0.0, obj=f"{symbol} {key}"
            )


async def test_daily_candles_aggregate_hours_over_months():
    source = DemoSource()
    hours = await fetch_one(source, "XRP/USDT", TIMEFRAMES["1h"], 24 * 90, MONDAY)
    days = await fetch_one(source, "XRP/USDT", TIMEFRAMES["1d"], 90, MONDAY)

    pd.testing.assert_frame_equal(days, aggregate(hours, 1440), rtol=1e-9, atol=0.0)


async def test_candles_are_well_formed():
    source = DemoSource()
    symbols = await source.symbols()
    result = await source.fetch(symbols, ONE_MINUTE, 3 * 1440, MONDAY)

    for symbol in symbols:
        candles = result.candles[symbol]
        assert list(candles.columns) == list(OHLCV)
        assert (candles.dtypes == "float64").all()
        assert candles.index.name == "open_time"
        assert str(candles.index.tz) == "UTC"
        assert (np.diff(candles.index.asi8) > 0).all()
        assert (candles["low"] <= candles[["open", "close"]].min(axis=1)).all(), symbol
        assert (candles["high"] >= candles[["open", "close"]].max(axis=1)).all(), symbol
        assert (candles["low"] > 0).all(), symbol
        assert (candles["volume"] > 0).all(), symbol
        assert result.quality[symbol] == DataQuality()


# --- closed candles and arguments -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "until", "newest_open"),
    [
        ("1h", "2025-03-03T12:00:00", "2025-03-03T11:00:00"),
        ("1h", "2025-03-03T12:00:00.000001", "2025-03-03T11:00:00"),
        ("1h", "2025-03-03T11:59:59.999999", "2025-03-03T10:00:00"),
        ("5m", "2025-03-03T12:04:59", "2025-03-03T11:55:00"),
        ("4h", "2025-03-03T12:00:00", "2025-03-03T08:00:00"),
        ("1d", "2025-03-03T00:00:00", "2025-03-02T00:00:00"),
        ("1d", "2025-03-03T23:59:00", "2025-03-02T00:00:00"),
    ],
)
async def test_only_closed_candles(key, until, newest_open):
    frame = TIMEFRAMES[key]
    moment = datetime.fromisoformat(until).replace(tzinfo=timezone.utc)
    candles = await fetch_one(DemoSource(), "BTC/USDT", frame, 10, moment)

    assert len(candles) == 10
    assert candles.index[-1] == pd.Timestamp(newest_open, tz="UTC")
    assert candles.index[-1] + frame.interval <= moment
    assert (candles.index[1:] - candles.index[:-1] == frame.interval).all()


async def test_until_in_other_zone():
    tehran = timezone(timedelta(hours=3, minutes=30))
    same_moment = datetime(2025, 3, 3, 15, 30, tzinfo=tehran)
    source = DemoSource()

    local = await fetch_one(source, "BTC/USDT", TIMEFRAMES["1h"], 5, same_moment)
    utc = await fetch_one(
        source, "BTC/USDT", TIMEFRAMES["1h"], 5, datetime(2025, 3, 3, 12, tzinfo=timezone.utc)
    )
    pd.testing.assert_frame_equal(local, utc, check_exact=True)


async def test_zero_count_gives_empty_frames():
    candles = await fetch_one(DemoSource(), "BTC/USDT", TIMEFRAMES["1h"], 0, MONDAY)

    assert candles.empty
    assert list(candles.columns) == list(OHLCV)


async def test_window_stops_at_epoch():
    early = datetime(1970, 1, 1, 3, 30, tzinfo=timezone.utc)
    candles = await fetch_one(DemoSource(), "BTC/USDT", TIMEFRAMES["1h"], 276, early)

    assert list(candles.index) == [
        pd.Timestamp(f"1970-01-01T0{hour}:00", tz="UTC") for hour in range(3)
    ]


async def test_bad_arguments_raise():
    source = DemoSource()
    with pytest.raises(ValueError, match="count must be zero or more candles, got -1"):
        await source.fetch(["BTC/USDT"], TIMEFRAMES["1h"], -1, MONDAY)
    with pytest.raises(ValueError, match="until must be an aware datetime"):
        await source.fetch(["BTC/USDT"], TIMEFRAMES["1h"], 5, datetime(2025, 3, 3))


async def test_unknown_symbol_isolated():
    source = DemoSource()
    result = await source.fetch(["BTC/USDT", "NOPE/USDT", "ETH/USDT"], TIMEFRAMES["1h"], 30, MONDAY)
    alone = await fetch_one(source, "BTC/USDT", TIMEFRAMES["1h"], 30, MONDAY)

    assert set(result.candles) == {"BTC/USDT", "ETH/USDT"}
    assert set(result.failures) == {"NOPE/USDT"}
    reason = result.failures["NOPE/USDT"]
    assert reason.startswith("not in the demo market; available: ")
    assert "BTC/USDT" in reason
    assert "NOPE/USDT" not in result.quality
    pd.testing.assert_frame_equal(result.candles["BTC/USDT"], alone, check_exact=True)


async def test_symbol_outside_market_size_fails():
    """A pair of the full market is unknown to a smaller market."""
    result = await DemoSource(symbol_count=5).fetch(
        [DEMO_PAIRS[10].symbol], TIMEFRAMES["1h"], 3, MONDAY
    )

    assert result.candles == {}
    assert DEMO_PAIRS[10].symbol in result.failures


async def test_fetch_computes_in_worker_thread(monkeypatch):
    threads = []
    simulate = demo_module.simulate_candles

    def recording_simulate(*args, **kwargs):
        threads.append(threading.get_ident())
        return simulate(*args, **kwargs)

    monkeypatch.setattr(demo_module, "simulate_candles", recording_simulate)
    await DemoSource().fetch(["BTC/USDT", "ETH/USDT"], TIMEFRAMES["1d"], 5, MONDAY)

    assert len(threads) == 2
    assert threading.get_ident() not in threads


# --- what the volume looks like -------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT", "DOGE/USDT", "ARB/USDT"])
async def test_minute_volume_heavy_tailed(symbol):
    volume = (await fetch_one(DemoSource(), symbol, ONE_MINUTE, 7 * 1440, MONDAY))["volume"]

    assert volume.quantile(0.99) > 5.0 * volume.median()
    assert volume.max() > 20.0 * volume.median()
    assert volume.kurt() > 20.0


async def test_daily_rhythm_in_hourly_means():
    """Over four weeks the US session hours trade clearly more than the early Asian hours."""
    source = DemoSource()
    symbols = await source.symbols()
    result = await source.fetch(symbols, TIMEFRAMES["1h"], 28 * 24, MONDAY)

    profiles = []
    for symbol in symbols:
        volume = result.candles[symbol]["volume"]
        profile = volume.groupby(volume.index.hour).mean()
        profile = profile / profile.mean()
        assert profile.loc[13:16].mean() > 1.2 * profile.loc[2:5].mean(), symbol
        profiles.append(profile)
    pooled = pd.concat(profiles, axis=1).mean(axis=1)
    assert pooled.loc[13:16].mean() > 1.5 * pooled.loc[2:5].mean()
    assert pooled.idxmax() in range(11, 18)
    assert pooled.idxmin() in range(0, 7) or pooled.idxmin() in range(19, 24)


async def test_weekends_quieter():
    source = DemoSource()
    volume = (await fetch_one(source, "BTC/USDT", TIMEFRAMES["1d"], 8 * 7, MONDAY))["volume"]
    weekend = volume.index.day_of_week >= 5

    assert volume[weekend].mean() < 0.85 * volume[~weekend].mean()


async def test_busy_and_quiet_stretches():
    """Activity persists for hours to days, beyond the daily rhythm."""
    source = DemoSource()
    symbols = await source.symbols()
    hours = await source.fetch(symbols, TIMEFRAMES["1h"], 60 * 24, MONDAY)
    days = await source.fetch(symbols, TIMEFRAMES["1d"], 240, MONDAY)

    six_hour_lags, one_day_lags = [], []
    for symbol in symbols:
        log_volume = np.log(hours.candles[symbol]["volume"])
        # Subtract each hour of day's mean, so that the rhythm does not count as persistence.
        log_volume = log_volume - log_volume.groupby(log_volume.index.hour).transform("mean")
        six_hour_lags.append(log_volume.autocorr(lag=6))
        one_day_lags.append(np.log(days.candles[symbol]["volume"]).autocorr(lag=1))
    assert np.median(six_hour_lags) > 0.3
    assert np.median(one_day_lags) > 0.25


async def test_weekly_spikes_at_one_hour():
    """Every pair has at least one 1h candle in the week that the 4-sigma rule flags."""
    source = DemoSource()
    symbols = await source.symbols()
    result = await source.fetch(symbols, TIMEFRAMES["1h"], 7 * 24 + 25, MONDAY)

    for symbol in symbols:
        flags = sigma_rule_flags(result.candles[symbol]["volume"]).iloc[25:]
        assert len(flags) == 7 * 24
        assert 1 <= flags.sum() <= 12, symbol


async def test_spikes_come_with_price_moves():
    """Over four weeks, flagged 1h candles span a far wider price range than typical ones."""
    source = DemoSource()
    symbols = await source.symbols()
    result = await source.fetch(symbols, TIMEFRAMES["1h"], 28 * 24 + 25, MONDAY)

    flagged_ranges = []
    for symbol in symbols:
        candles = result.candles[symbol]
        flags = sigma_rule_flags(candles["volume"]).iloc[25:]
        log_range = np.log(candles["high"] / candles["low"]).iloc[25:]
        # In units of the pair's typical unflagged range, so pairs can be pooled.
        flagged_ranges.append(log_range[flags] / log_range[~flags].median())
    flagged = pd.concat(flagged_ranges)
    assert len(flagged) >= 20 * 4
    assert flagged.median() > 2.0


async def test_event_minute_carries_volume_and_move():
    """Inside the week's biggest 1h spike one minute has a large share of the hour's volume."""
    source = DemoSource()
    hours = await fetch_one(source, "BTC/USDT", TIMEFRAMES["1h"], 7 * 24, MONDAY)
    spike_open = (hours["volume"] / hours["volume"].median()).idxmax()
    minutes = await fetch_one(source, "BTC/USDT", ONE_MINUTE, 60, spike_open + timedelta(hours=1))

    busiest = minutes["volume"].idxmax()
    assert minutes["volume"].max() > 0.05 * hours.loc[spike_open, "volume"]
    assert minutes["volume"].max() > 5.0 * minutes["volume"].median()
    minute_range = np.log(minutes.loc[busiest, "high"] / minutes.loc[busiest, "low"])
    typical_range = np.log(minutes["high"] / minutes["low"]).median()
    assert minute_range > 3.0 * typical_range
