"""Store.run_for_spike: the run that stored a spike, after re-runs over the same candle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.analysis.records import Level, SpikeRecord, Status
from core.store import Store

OPEN = datetime(2024, 6, 3, 10, tzinfo=timezone.utc)


def spike(symbol: str = "BTC/USDT") -> SpikeRecord:
    return SpikeRecord(
        symbol=symbol,
        timeframe="1h",
        open_time=OPEN,
        close_time=OPEN + timedelta(hours=1),
        status=Status.OK,
        method="sigma n=25 2.5/4/6σ",
        volume=500.0,
        baseline_mean=100.0,
        baseline_std=50.0,
        distance=8.0,
        ratio=5.0,
        level=Level.HIGH,
    )


def test_run_for_spike_finds_latest_run(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    scheduled = OPEN + timedelta(hours=1)
    first = store.record_run("1h", scheduled, "ok", symbols_ok=20, spikes=[spike()])
    second = store.record_run("1h", scheduled + timedelta(minutes=3), "ok", manual=True, symbols_ok=19, spikes=[spike()])

    run = store.run_for_spike("BTC/USDT", "1h", OPEN)

    assert first != second
    assert run is not None
    assert run.id == second
    assert run.manual is True
    assert run.symbols_ok == 19
    assert run.spikes_found == 1


def test_run_for_spike_unknown_is_none(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    store.record_run("1h", OPEN, "ok", spikes=[spike()])

    assert store.run_for_spike("ETH/USDT", "1h", OPEN) is None
    assert store.run_for_spike("BTC/USDT", "4h", OPEN) is None
    assert store.run_for_spike("BTC/USDT", "1h", OPEN + timedelta(hours=1)) is None
