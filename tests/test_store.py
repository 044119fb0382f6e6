"""The SQLite store on a real file: runs, idempotent spikes and job state."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from core.analysis.records import Level, Signal, SpikeRecord, Status
from core.store import Store, StoreError

UTC = timezone.utc
OPEN = datetime(2018, 1, 24, 14, tzinfo=UTC)


def spike(symbol="ETH_BTC", distance=29.7, level=Level.HIGH):
    return SpikeRecord(
        symbol=symbol,
        timeframe="1h",
        open_time=OPEN,
        close_time=OPEN + timedelta(hours=1),
        status=Status.OK,
        method="sigma n=25 2.5/4/6σ",
        volume=5000.0,
        baseline_mean=1000.0,
        baseline_std=130.0,
        distance=distance,
        ratio=5.0,
        level=level,
        rsi=72.0,
        signal=Signal.BEARISH,
        close=0.1,
        change_pct=1.5,
    )


def test_wal_mode(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rerun_never_duplicates_spike(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    fired = OPEN + timedelta(hours=1)
    store.record_run("1h", fired, "ok", spikes=[spike(distance=20.0, level=Level.HIGH)], symbols_ok=6)
    store.record_run("1h", fired, "ok", spikes=[spike(distance=29.7)], symbols_ok=6)

    spikes = store.spikes()
    assert len(spikes) == 1
    assert spikes[0].distance == pytest.approx(29.7)
    assert spikes[0].signal is Signal.BEARISH
    assert spikes[0].open_time == OPEN
    assert [run.spikes_found for run in store.runs("1h")] == [1, 1]


def test_non_spikes_not_stored(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    quiet = spike(symbol="DASH_BTC", distance=0.3, level=None)
    store.record_run("1h", OPEN, "ok", spikes=[quiet, spike()])
    assert [record.symbol for record in store.spikes()] == ["ETH_BTC"]


def test_run_row_fields(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    started = OPEN + timedelta(hours=1, seconds=10)
    store.record_run(
        "1h",
        OPEN + timedelta(hours=1),
        "failed",
        started_at=started,
        finished_at=started + timedelta(seconds=2.5),
        symbols_failed=6,
        error="ConnectionError: <b>refused</b>",
    )
    (run,) = store.runs("1h")
    assert run.status == "failed"
    assert run.duration == pytest.approx(2.5)
    assert run.symbols_failed == 6
    assert run.error == "ConnectionError: <b>refused</b>"


def test_data_survives_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.record_run("1h", OPEN, "ok", spikes=[spike()])
    store.set_job_running("5m", True, OPEN)
    store.set_job_running("1h", False, OPEN)
    store.close()

    reopened = Store(path)
    assert reopened.spike_count() == 1
    assert reopened.job_states() == {"5m": True, "1h": False}
    assert reopened.last_scheduled_at("1h") == OPEN


def test_manual_runs_not_last_scheduled(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record_run("1h", OPEN, "ok")
    store.record_run("1h", OPEN + timedelta(minutes=30), "ok", manual=True)
    assert store.last_scheduled_at("1h") == OPEN


def test_unwritable_path_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"Cannot open the store at .*file/s\.sqlite"):
        Store(blocker / "s.sqlite")


def test_not_a_database_named(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="Cannot open the store at"):
        Store(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_path_under_a_file_explained(tmp_path):
    blocker = tmp_path / "rofile.sqlite"
    blocker.write_text("a file, not a folder")
    for path in (blocker / "s.sqlite", blocker / "inner" / "s.sqlite"):
        with pytest.raises(StoreError) as caught:
            Store(path)
        assert "a file is in the way where its folder should be" in str(caught.value)
    assert str(caught.value).endswith("Set store_path (or --store) to a writable SQLite file.")
