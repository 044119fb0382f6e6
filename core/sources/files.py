"""The `files` candle source: a folder of candle files, one symbol per file.

The file name gives the symbol and the base timeframe: `ETH_BTC-5m.feather` (freqtrade)
or `ETHBTC-5m-2018-01.csv` (a Binance monthly dump; the months of one symbol are
concatenated). Higher timeframes are resampled from the base candles.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from core.sources.base import (
    OHLCV,
    DataQuality,
    FetchResult,
    SourceConfigError,
    SourceError,
    candle_frame,
)

# numpy, pandas, pyarrow and the resampler are imported inside the functions that use them.
# Building a FilesSource checks the folder with os and re only, so the dashboard's first frame
# does not wait for those libraries. The first fetch loads them in its worker thread.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.timeframes import Timeframe

log = logging.getLogger(__name__)

CANDLE_SUFFIXES = (".feather", ".csv")
TIME_COLUMNS = ("open_time", "date", "timestamp", "time")
"""Header names accepted for the open-time column, compared in lower case."""

_FILE_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9_]+)-(?P<timeframe>[1-9][0-9]*[mhd])"
    r"(?:-(?P<period>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?))?(?P<suffix>\.[A-Za-z]+)$"
)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}
_NANOSECONDS_PER_MINUTE = 60 * 10**9
_NAME_HELP = (
    "expected names like ETH_BTC-5m.feather, ETH_BTC-5m.csv or ETHBTC-5m-2018-01.csv "
    "(symbol, base timeframe such as 1m, 5m, 15m, 30m, 1h, 2h, 4h or 1d, an optional "
    "-YYYY-MM or -YYYY-MM-DD, then .feather or .csv)"
)
# Listing hundreds of symbols in one failure message would bury the reason.
_MAX_LISTED_SYMBOLS = 20


class CandleFileError(ValueError):
    """A candle file whose content cannot be used; the message is the reason, not the file name."""


@dataclass(frozen=True)
class CandleFile:
    """A file in the candle folder whose name gives its symbol and base timeframe."""

    path: Path
    symbol: str
    base_minutes: int


@dataclass(frozen=True)
class ParsedCandles:
    """The candles of one file in the shared layout, and how many bad rows were left out."""

    candles: pd.DataFrame
    dropped_rows: int


def parse_candle_file_name(path: Path) -> CandleFile | None:
    """Return the symbol and base timeframe named by `path`, or None for any other file name."""
    match = _FILE_NAME.match(path.name)
    if match is None or match["suffix"].lower() not in CANDLE_SUFFIXES:
        return None
    token = match["timeframe"]
    base_minutes = int(token[:-1]) * _UNIT_MINUTES[token[-1]]
    return CandleFile(path=path, symbol=match["symbol"], base_minutes=base_minutes)


def read_candle_file(path: Path, base_minutes: int) -> ParsedCandles:
    """Read one feather or CSV candle file whose open times must lie on the `base_minutes` grid.

    Rows with a NaN, negative, infinite or non-numeric price or volume are dropped and
    counted. Raises CandleFileError for content that cannot be used (no time column, an
    invalid or off-grid open time), and OSError, ValueError or ArrowException when the
    file itself cannot be read.
    """
    import pandas as pd

    if path.suffix.lower() == ".feather":
        table = pd.read_feather(path)
    else:
        table = _read_csv(path)
    return _candles_from_table(table, base_minutes)


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    with path.open(encoding="utf-8-sig", newline="") as handle:
        first_line = handle.readline().strip()
    if not first_line:
        raise CandleFileError("the file is empty")

    fields = [field.strip().strip('"').strip().lower() for field in first_line.split(",")]
    if any(field in TIME_COLUMNS for field in fields):
        return pd.read_csv(path, encoding="utf-8-sig")
    if all(_is_number(field) for field in fields):
        # Binance kline layout: open time, open, high, low, close, volume, then
        # close time and six more columns that volscope does not use.
        if len(fields) < 6:
            raise CandleFileError(
                f"the first row has {len(fields)} columns and no header; a file without a "
                "header needs at least 6 (open time, open, high, low, close, volume) as in "
                "Binance kline files"
            )
        return pd.read_csv(path, header=None, usecols=range(6), names=["open_time", *OHLCV])
    raise CandleFileError(
        f"the first line {first_line[:80]!r} is neither a header with a time column "
        f"({', '.join(TIME_COLUMNS)}) nor a Binance kline row of numbers"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _candles_from_table(table: pd.DataFrame, base_minutes: int) -> ParsedCandles:
    import numpy as np
    import pandas as pd

    columns = {str(column).strip().lower(): column for column in table.columns}
    found = ", ".join(str(column) for column in table.columns)
    time_columns = [name for name in TIME_COLUMNS if name in columns]
    if not time_columns:
        raise CandleFileError(
            f"no time column; expected one of {', '.join(TIME_COLUMNS)} in any letter case, "
            f"found {found}"
        )
    if len(time_columns) > 1:
        raise CandleFileError(
            f"columns {' and '.join(columns[name] for name in time_columns)} could both be "
            "the open time; keep only one"
        )
    missing = [name for name in OHLCV if name not in columns]
    if missing:
        raise CandleFileError(f"missing column {', '.join(missing)}; found {found}")

    open_ns = _epoch_nanoseconds(table[columns[time_columns[0]]])
    _check_grid(open_ns, base_minutes)

    values = np.column_stack(
        [
            pd.to_numeric(table[columns[name]], errors="coerce").to_numpy(dtype=np.float64)
            for name in OHLCV
        ]
    )
    # NaN fails both tests, so a non-numeric cell (coerced to NaN) drops its row too.
    # Zero is a real value: a candle with no trades has zero volume.
    usable = np.isfinite(values).all(axis=1) & (values >= 0).all(axis=1)
    index = pd.DatetimeIndex(open_ns[usable].astype("datetime64[ns]")).tz_localize("UTC")
    frame = pd.DataFrame(values[usable], index=index, columns=list(OHLCV))
    return ParsedCandles(candles=candle_frame(frame), dropped_rows=int((~usable).sum()))


def _epoch_nanoseconds(column: pd.Series) -> np.ndarray:
    """Convert an open-time column to int64 nanoseconds since the UTC epoch.

    Datetimes without a zone and ISO-8601 text without an offset are taken as UTC.
    """
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        index = pd.DatetimeIndex(column)
        if index.hasnans:
            raise CandleFileError(f"{int(index.isna().sum())} rows have no open time")
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        return index.as_unit("ns").asi8
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return _epoch_numbers_to_nanoseconds(column.to_numpy())

    text = column.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return _epoch_numbers_to_nanoseconds(numbers.to_numpy(dtype=np.float64))
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    invalid = parsed.isna()
    if invalid.any():
        raise CandleFileError(
            f"invalid open time {text[invalid].iloc[0]!r} ({int(invalid.sum())} rows); expected "
            "ISO-8601 text or epoch seconds, milliseconds or microseconds"
        )
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8


def _epoch_numbers_to_nanoseconds(values: np.ndarray) -> np.ndarray:
    """Convert epoch numbers to nanoseconds, choosing each value's unit by its magnitude.

    Below 1e11 is seconds (until the year 5138), below 1e14 milliseconds, below 1e17
    microseconds (newer Binance dumps), and anything larger nanoseconds.
    """
    import numpy as np

    floats = values.astype(np.float64)
    if not np.isfinite(floats).all():
        raise CandleFileError(f"{int((~np.isfinite(floats)).sum())} rows have no open time")
    magnitude = np.abs(floats)
    factor = np.select(
        [magnitude < 1e11, magnitude < 1e14, magnitude < 1e17], [10**9, 10**6, 10**3], default=1
    ).astype(np.int64)

    # pandas nanosecond timestamps end in the year 2262.
    out_of_range = np.abs(floats * factor) >= 2**63 - 1
    if out_of_range.any():
        raise CandleFileError(
            f"open time {values[out_of_range][0]} is out of range; expected epoch seconds, "
            "milliseconds or microseconds before the year 2262"
        )

    # Integers are scaled exactly; float multiplication would round milliseconds and
    # microseconds of today's dates and push them off the grid.
    if values.dtype.kind in "iu":
        return values.astype(np.int64) * factor
    if (floats == np.trunc(floats)).all() and (magnitude < 2**53).all():
        return floats.astype(np.int64) * factor
    return np.round(floats * factor).astype(np.int64)


def _check_grid(open_ns: np.ndarray, base_minutes: int) -> None:
    import pandas as pd

    from core.sources.resample import format_minutes

    step = base_minutes * _NANOSECONDS_PER_MINUTE
    off_grid = open_ns % step != 0
    if off_grid.any():
        example = pd.Timestamp(int(open_ns[off_grid][0]), unit="ns", tz="UTC")
        label = format_minutes(base_minutes)
        raise CandleFileError(
            f"open time {example.isoformat()} is not on the {label} grid ({int(off_grid.sum())} "
            f"of {len(open_ns)} rows); {label} candles open at UTC multiples of {label}, so "
            "check the timeframe in the file name"
        )


@dataclass(frozen=True)
class _FileStamp:
    """The identity of one version of a file; a change in any field means the file is read again."""

    path: Path
    mtime_ns: int
    size: int


@dataclass
class _SeriesEntry:
    """One symbol's candles at one timeframe, built from the file versions in `stamps`."""

    stamps: tuple[_FileStamp, ...]
    candles: pd.DataFrame
    dropped_rows: int


class FilesSource:
    """Candles read from a folder of freqtrade feather files or Binance and plain CSV files.

    Parsed files are cached by path, modification time and size, so scheduled runs read
    only files that changed. All reading runs in a worker thread.
    """

    name = "FILES"
    is_demo = False

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.exists():
            raise SourceConfigError(f"candle folder {self.folder} does not exist")
        if not self.folder.is_dir():
            raise SourceConfigError(f"candle folder {self.folder} is not a folder")
        try:
            files = self._scan()
        except OSError as error:
            raise SourceConfigError(f"cannot list candle folder {self.folder}: {error}") from None
        if not files:
            raise SourceConfigError(
                f"candle folder {self.folder} contains no candle files; {_NAME_HELP}"
            )

        # A scheduler may fetch several timeframes at once; one lock keeps the caches
        # consistent and lets the second fetch reuse what the first one parsed.
        self._lock = threading.Lock()
        self._parsed: dict[Path, tuple[_FileStamp, ParsedCandles | str]] = {}
        self._series: dict[tuple[str, int, int], _SeriesEntry] = {}

    async def symbols(self) -> list[str]:
        """Return the symbols of every candle file in the folder, sorted."""
        try:
            files = await asyncio.to_thread(self._scan)
        except OSError as error:
            raise SourceConfigError(f"cannot list candle folder {self.folder}: {error}") from None
        return sorted(files)

    async def fetch(
        self,
        symbols: Sequence[str],
        timeframe: "Timeframe",
        count: int,
        until: datetime,
    ) -> FetchResult:
        """Return the last `count` closed candles per symbol; see `CandleSource.fetch`."""
        if until.tzinfo is None:
            raise ValueError(f"until must be timezone-aware, got {until!r}")
        if count < 0:
            raise ValueError(f"count must be zero or more, got {count}")
        return await asyncio.to_thread(
            self._fetch_blocking, list(symbols), timeframe.minutes, count, until
        )

    def _scan(self) -> dict[str, list[CandleFile]]:
        files: dict[str, list[CandleFile]] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                candle_file = parse_candle_file_name(Path(entry.path))
                if candle_file is not None and entry.is_file():
                    files.setdefault(candle_file.symbol, []).append(candle_file)
        for symbol_files in files.values():
            # Name order puts monthly dumps in time order, so a later month wins on overlap.
            symbol_files.sort(key=lambda candle_file: candle_file.path.name)
        return files

    def _fetch_blocking(
        self, symbols: list[str], target_minutes: int, count: int, until: datetime
    ) -> FetchResult:
        import pandas as pd

        result = FetchResult()
        with self._lock:
            try:
                files_by_symbol = self._scan()
            except OSError as error:
                log.error("Cannot list candle folder %s: %s", self.folder, error)
                for symbol in symbols:
                    reason = f"cannot list {self.folder}: {error}"
                    result.failures[symbol] = reason
                return result
            self._forget_missing(files_by_symbol)

            series: dict[str, _SeriesEntry] = {}
            pending: dict[int, dict[str, _SeriesEntry]] = {}
            for symbol in dict.fromkeys(symbols):
                try:
                    entry, base_minutes = self._load_series(symbol, files_by_symbol, target_minutes)
                except SourceError as error:
                    result.failures[symbol] = error.reason
                    continue
                series[symbol] = entry
                if base_minutes is not None:
                    pending.setdefault(base_minutes, {})[symbol] = entry
            series.update(self._resample(pending, target_minutes))

        last_open = pd.Timestamp(until).tz_convert("UTC") - pd.Timedelta(minutes=target_minutes)
        for symbol, entry in series.items():
            closed_end = entry.candles.index.searchsorted(last_open, side="right")
            window = entry.candles.iloc[max(closed_end - count, 0) : closed_end]
            missing, longest = _count_gaps(window.index, target_minutes)
            result.candles[symbol] = window.copy()
            result.quality[symbol] = DataQuality(
                missing_candles=missing, longest_gap=longest, dropped_rows=entry.dropped_rows
            )
        return result

    def _load_series(
        self, symbol: str, files_by_symbol: dict[str, list[CandleFile]], target_minutes: int
    ) -> tuple[_SeriesEntry, int | None]:
        """Return the series for `symbol` at the target timeframe and the base to resample from.

        The base is None when the series is ready: cached, or read at the target
        timeframe itself. Otherwise the entry contains base candles for `_resample`.
        """
        import pandas as pd

        symbol_files = files_by_symbol.get(symbol)
        if not symbol_files:
            available = _list_symbols(files_by_symbol)
            raise SourceError(symbol, f"not found in {self.folder}; available: {available}")
        bases = sorted({candle_file.base_minutes for candle_file in symbol_files})
        base_minutes = _choose_base(symbol, bases, target_minutes)
        chosen = [file for file in symbol_files if file.base_minutes == base_minutes]
        stamps = tuple(self._stamp(candle_file) for candle_file in chosen)

        key = (symbol, base_minutes, target_minutes)
        cached = self._series.get(key)
        if cached is not None and cached.stamps == stamps:
            return cached, None

        parts: list[pd.DataFrame] = []
        dropped_rows = 0
        failures: list[str] = []
        for candle_file, stamp in zip(chosen, stamps):
            parsed = self._parse_cached(candle_file, stamp)
            if isinstance(parsed, str):
                failures.append(parsed)
                continue
            parts.append(parsed.candles)
            dropped_rows += parsed.dropped_rows
        if failures:
            # Candles from the other months alone would hide a hole, so the symbol fails.
            more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
            raise SourceError(symbol, failures[0] + more)

        candles = parts[0] if len(parts) == 1 else candle_frame(pd.concat(parts))
        entry = _SeriesEntry(stamps=stamps, candles=candles, dropped_rows=dropped_rows)
        if base_minutes != target_minutes:
            return entry, base_minutes
        self._series[key] = entry
        return entry, None

    def _resample(
        self, pending: dict[int, dict[str, _SeriesEntry]], target_minutes: int
    ) -> dict[str, _SeriesEntry]:
        """Resample base-candle entries, grouped by base timeframe, one vectorised call per base."""
        from core.sources.resample import resample_many

        done: dict[str, _SeriesEntry] = {}
        for base_minutes, entries in pending.items():
            base_candles = {symbol: entry.candles for symbol, entry in entries.items()}
            resampled = resample_many(base_candles, base_minutes, target_minutes)
            for symbol, entry in entries.items():
                done[symbol] = _SeriesEntry(entry.stamps, resampled[symbol], entry.dropped_rows)
                self._series[(symbol, base_minutes, target_minutes)] = done[symbol]
        return done

    def _stamp(self, candle_file: CandleFile) -> _FileStamp:
        try:
            status = candle_file.path.stat()
        except OSError as error:
            reason = f"cannot read {candle_file.path.name}: {error}"
            raise SourceError(candle_file.symbol, reason) from None
        return _FileStamp(candle_file.path, status.st_mtime_ns, status.st_size)

    def _parse_cached(self, candle_file: CandleFile, stamp: _FileStamp) -> ParsedCandles | str:
        """Return the parsed file or the failure message, both cached until the file changes."""
        from pyarrow.lib import ArrowException

        cached = self._parsed.get(candle_file.path)
        if cached is not None and cached[0] == stamp:
            return cached[1]

        outcome: ParsedCandles | str
        try:
            outcome = read_candle_file(candle_file.path, candle_file.base_minutes)
        except (OSError, ValueError, ArrowException) as error:
            text = str(error).strip()
            reason = text.splitlines()[0] if text else type(error).__name__
            outcome = f"cannot read {candle_file.path.name}: {reason}"
            log.warning(
                "%s: %s; the symbol is left out until the file changes", candle_file.symbol, outcome
            )
        self._parsed[candle_file.path] = (stamp, outcome)
        return outcome

    def _forget_missing(self, files_by_symbol: dict[str, list[CandleFile]]) -> None:
        present = {f.path for symbol_files in files_by_symbol.values() for f in symbol_files}
        for path in [path for path in self._parsed if path not in present]:
            del self._parsed[path]
        for key in [key for key in self._series if key[0] not in files_by_symbol]:
            del self._series[key]


def _choose_base(symbol: str, bases: list[int], target_minutes: int) -> int:
    """Pick which of a symbol's base timeframes to build `target_minutes` candles from.

    A file at the target timeframe needs no resampling, so it comes first. Otherwise the
    coarsest usable base wins because it has the fewest rows to reduce.
    """
    from core.sources.resample import ResampleError, check_resample, format_minutes

    if target_minutes in bases:
        return target_minutes
    usable: list[int] = []
    reasons: list[str] = []
    for base_minutes in bases:
        try:
            check_resample(base_minutes, target_minutes)
        except ResampleError as error:
            reasons.append(str(error))
            continue
        usable.append(base_minutes)
    if usable:
        return max(usable)
    if len(bases) == 1:
        raise SourceError(symbol, reasons[0])
    labels = ", ".join(format_minutes(base) for base in bases)
    target = format_minutes(target_minutes)
    raise SourceError(symbol, f"data is {labels} candles; none of them can make {target} candles")


def _count_gaps(index: pd.DatetimeIndex, interval_minutes: int) -> tuple[int, int]:
    """Return the missing candles between the first and last open time, and the longest run."""
    import numpy as np

    if len(index) < 2:
        return 0, 0
    steps = np.diff(index.as_unit("ns").asi8) // (interval_minutes * _NANOSECONDS_PER_MINUTE)
    gaps = steps - 1
    return int(gaps.sum()), int(gaps.max())


def _list_symbols(files_by_symbol: dict[str, list[CandleFile]]) -> str:
    symbols = sorted(files_by_symbol)
    if not symbols:
        return "none"
    listed = ", ".join(symbols[:_MAX_LISTED_SYMBOLS])
    if len(symbols) > _MAX_LISTED_SYMBOLS:
        listed += f" and {len(symbols) - _MAX_LISTED_SYMBOLS} more"
    return listed
