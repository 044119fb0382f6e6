"""The SQLite store: runs, spikes and which timeframes are running; the only writer to disk.

Spikes are unique per (symbol, timeframe, candle open time), so re-running a timeframe
over the same candle updates the stored spike instead of adding a second one.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from core.analysis.records import Level, Signal, SpikeRecord, Status

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    timeframe       TEXT NOT NULL,
    scheduled_at    TEXT NOT NULL,
    evaluated_open  TEXT,
    started_at      TEXT,
    finished_at     TEXT,
    status          TEXT NOT NULL,
    manual          INTEGER NOT NULL DEFAULT 0,
    symbols_ok      INTEGER NOT NULL DEFAULT 0,
    symbols_failed  INTEGER NOT NULL DEFAULT 0,
    spikes_found    INTEGER NOT NULL DEFAULT 0,
    error           TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_timeframe ON runs (timeframe, scheduled_at);

CREATE TABLE IF NOT EXISTS spikes (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER REFERENCES runs (id),
    symbol         TEXT NOT NULL,
    timeframe      TEXT NOT NULL,
    open_time      TEXT NOT NULL,
    close_time     TEXT NOT NULL,
    volume         REAL,
    baseline_mean  REAL,
    baseline_std   REAL,
    distance       REAL,
    ratio          REAL,
    level          TEXT NOT NULL,
    rsi            REAL,
    signal         TEXT,
    close          REAL,
    change_pct     REAL,
    method         TEXT NOT NULL,
    found_at       TEXT NOT NULL,
    UNIQUE (symbol, timeframe, open_time)
);
CREATE INDEX IF NOT EXISTS spikes_by_time ON spikes (close_time);

CREATE TABLE IF NOT EXISTS job_state (
    timeframe   TEXT PRIMARY KEY,
    running     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
"""


class StoreError(Exception):
    """The store file cannot be opened or used; the message names the file."""


@dataclass(frozen=True)
class RunRow:
    id: int
    timeframe: str
    scheduled_at: datetime
    evaluated_open: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    manual: bool
    symbols_ok: int
    symbols_failed: int
    spikes_found: int
    error: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _explain(error: Exception) -> str:
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return "a file is in the way where its folder should be"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def _text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _run_row(row: tuple) -> RunRow:
    return RunRow(
        id=row[0],
        timeframe=row[1],
        scheduled_at=_time(row[2]),
        evaluated_open=_time(row[3]),
        started_at=_time(row[4]),
        finished_at=_time(row[5]),
        status=row[6],
        manual=bool(row[7]),
        symbols_ok=row[8],
        symbols_failed=row[9],
        spikes_found=row[10],
        error=row[11],
    )


class Store:
    """One SQLite file in WAL mode, safe to call from the event loop's thread and worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as error:
            raise StoreError(
                f"Cannot open the store at {self.path}: {_explain(error)}. "
                "Set store_path (or --store) to a writable SQLite file."
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Runs

    def record_run(
        self,
        timeframe: str,
        scheduled_at: datetime,
        status: str,
        *,
        evaluated_open: datetime | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        manual: bool = False,
        symbols_ok: int = 0,
        symbols_failed: int = 0,
        spikes: Iterable[SpikeRecord] = (),
        error: str | None = None,
    ) -> int:
        """Store one run and its spikes in one transaction; return the run id."""
        spikes = [record for record in spikes if record.level is not None]
        found_at = _text(finished_at or started_at or scheduled_at)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cursor = self._db.execute(
                    "INSERT INTO runs (timeframe, scheduled_at, evaluated_open, started_at, finished_at,"
                    " status, manual, symbols_ok, symbols_failed, spikes_found, error)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        timeframe,
                        _text(scheduled_at),
                        _text(evaluated_open),
                        _text(started_at),
                        _text(finished_at),
                        status,
                        int(manual),
                        symbols_ok,
                        symbols_failed,
                        len(spikes),
                        error,
                    ),
                )
                run_id = int(cursor.lastrowid)
                self._db.executemany(
                    "INSERT INTO spikes (run_id, symbol, timeframe, open_time, close_time, volume,"
                    " baseline_mean, baseline_std, distance, ratio, level, rsi, signal, close,"
                    " change_pct, method, found_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (symbol, timeframe, open_time) DO UPDATE SET"
                    " run_id = excluded.run_id, volume = excluded.volume,"
                    " baseline_mean = excluded.baseline_mean, baseline_std = excluded.baseline_std,"
                    " distance = excluded.distance, ratio = excluded.ratio, level = excluded.level,"
                    " rsi = excluded.rsi, signal = excluded.signal, close = excluded.close,"
                    " change_pct = excluded.change_pct, method = excluded.method",
                    [
                        (
                            run_id,
                            record.symbol,
                            record.timeframe,
                            _text(record.open_time),
                            _text(record.close_time),
                            record.volume,
                            record.baseline_mean,
                            record.baseline_std,
                            record.distance,
                            record.ratio,
                            record.level.value,
                            record.rsi,
                            record.signal.value if record.signal else None,
                            record.close,
                            record.change_pct,
                            record.method,
                            found_at,
                        )
                        for record in spikes
                    ],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise StoreError(f"Cannot write a {timeframe} run to {self.path}: {error}") from None
        return run_id

    def runs(self, timeframe: str | None = None, limit: int = 100) -> list[RunRow]:
        """Return the newest runs first, of one timeframe or of all."""
        query = "SELECT * FROM runs"
        parameters: tuple = ()
        if timeframe is not None:
            query += " WHERE timeframe = ?"
            parameters = (timeframe,)
        query += " ORDER BY scheduled_at DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*parameters, limit)).fetchall()
        return [_run_row(row) for row in rows]

    def run_for_spike(self, symbol: str, timeframe: str, open_time: datetime) -> RunRow | None:
        """Return the run that last stored the spike on this candle, or None when it is not stored."""
        with self._lock:
            row = self._db.execute(
                "SELECT runs.* FROM spikes JOIN runs ON runs.id = spikes.run_id"
                " WHERE spikes.symbol = ? AND spikes.timeframe = ? AND spikes.open_time = ?",
                (symbol, timeframe, _text(open_time)),
            ).fetchone()
        return None if row is None else _run_row(row)

    def last_scheduled_at(self, timeframe: str) -> datetime | None:
        """Return the scheduled time of the newest run of a timeframe that was not run by hand."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(scheduled_at) FROM runs WHERE timeframe = ? AND manual = 0", (timeframe,)
            ).fetchone()
        return _time(row[0]) if row and row[0] else None

    # Spikes

    def spikes(self, limit: int = 200, timeframe: str | None = None) -> list[SpikeRecord]:
        """Return stored spikes, newest candle close first."""
        query = (
            "SELECT symbol, timeframe, open_time, close_time, volume, baseline_mean, baseline_std,"
            " distance, ratio, level, rsi, signal, close, change_pct, method FROM spikes"
        )
        parameters: tuple = ()
        if timeframe is not None:
            query += " WHERE timeframe = ?"
            parameters = (timeframe,)
        query += " ORDER BY close_time DESC, distance DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*parameters, limit)).fetchall()
        return [
            SpikeRecord(
                symbol=row[0],
                timeframe=row[1],
                open_time=_time(row[2]),
                close_time=_time(row[3]),
                status=Status.OK,
                method=row[14],
                volume=row[4],
                baseline_mean=row[5],
                baseline_std=row[6],
                distance=row[7],
                ratio=row[8],
                level=Level(row[9]),
                rsi=row[10],
                rsi_settled=True,
                signal=Signal(row[11]) if row[11] else None,
                close=row[12],
                change_pct=row[13],
            )
            for row in rows
        ]

    def spike_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spikes").fetchone()[0])

    # Job state

    def set_job_running(self, timeframe: str, running: bool, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO job_state (timeframe, running, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (timeframe) DO UPDATE SET running = excluded.running,"
                " updated_at = excluded.updated_at",
                (timeframe, int(running), _text(at)),
            )

    def job_states(self) -> dict[str, bool]:
        """Return which timeframes were running when last changed; empty before the first start."""
        with self._lock:
            rows = self._db.execute("SELECT timeframe, running FROM job_state").fetchall()
        return {timeframe: bool(running) for timeframe, running in rows}
