"""The files candle source: file names, formats, data quality, closed candles, caching, failures."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core.sources.files as files_module
from core.sources.base import OHLCV, SourceConfigError, candle_frame
from core.sources.files import FilesSource, parse_candle_file_name, read_candle_file
from core.timeframes import DEFAULT_TIMEFRAMES, Timeframe

TIMEFRAMES = {timeframe.key: timeframe for timeframe in DEFAULT_TIMEFRAMES}
ONE_MINUTE = Timeframe("1m", "1 Minute", 1, "* * * * *")
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=timezone.utc)

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real Binance candles not found at {DATA.resolve()}"
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def expected_frame(open_times: list[str], rows: list[list[float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex(open_times).tz_localize("UTC").as_unit("ns")
    return candle_frame(pd.DataFrame(np.asarray(rows, dtype=float), index=index, columns=list(OHLCV)))


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def write_feather(path: Path, open_times: list[str], rows: list[list[float]]) -> Path:
    table = pd.DataFrame(rows, columns=list(OHLCV))
    table.insert(0, "date", pd.to_datetime(open_times, utc=True))
    table.to_feather(path)
    return path


def hourly_file(folder: Path, symbol: str = "ETH_BTC", hours: int = 6) -> Path:
    lines = ["date,open,high,low,close,volume"]
    for hour in range(hours):
        lines.append(f"2024-01-01T{10 + hour:02d}:00:00Z,{hour + 1},{hour + 2},{hour},{hour + 1.5},{100 * (hour + 1)}")
    return write_lines(folder / f"{symbol}-1h.csv", *lines)


TWO_ROWS = [[1.0, 2.0, 0.5, 1.5, 10.0], [1.5, 3.0, 1.0, 2.5, 20.0]]
TWO_TIMES = ["2018-01-10 04:55", "2018-01-10 05:00"]


# --- file names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol", "base_minutes"),
    [
        ("ETH_BTC-5m.feather", "ETH_BTC", 5),
        ("ETH_BTC-5m.csv", "ETH_BTC", 5),
        ("ETHBTC-5m-2018-01.csv", "ETHBTC", 5),
        ("ETHBTC-1h-2018-01-24.csv", "ETHBTC", 60),
        ("BTCUSDT-4h.CSV", "BTCUSDT", 240),
        ("XMR_BTC-1d.feather", "XMR_BTC", 1440),
        ("ADA_BTC-15m.csv", "ADA_BTC", 15),
    ],
)
def test_file_name_understood(name: str, symbol: str, base_minutes: int) -> None:
    parsed = parse_candle_file_name(Path(name))

    assert parsed is not None
    assert parsed.symbol == symbol
    assert parsed.base_minutes == base_minutes


@pytest.mark.parametrize(
    "name",
    [
        "ETH_BTC.csv",
        "ETH_BTC-5m.json",
        "ETH_BTC-5m.feather.bak",
        "ETHBTC-1M-2018-01.csv",
        "ETH_BTC-0m.csv",
        "ETH_BTC-5m-futures.feather",
        "notes.txt",
        "ETH_BTC-5m-18-01.csv",
    ],
)
def test_file_name_ignored(name: str) -> None:
    assert parse_candle_file_name(Path(name)) is None


# --- formats --------------------------------------------------------------------------------


def test_read_feather(tmp_path: Path) -> None:
    path = write_feather(tmp_path / "ETH_BTC-5m.feather", TWO_TIMES, TWO_ROWS)

    parsed = read_candle_file(path, 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))
    assert parsed.dropped_rows == 0
    assert str(parsed.candles.index.tz) == "UTC"
    assert parsed.candles.index.name == "open_time"


def test_read_feather_naive_dates_as_utc(tmp_path: Path) -> None:
    table = pd.DataFrame(TWO_ROWS, columns=list(OHLCV))
    table.insert(0, "date", pd.to_datetime(TWO_TIMES))
    table.to_feather(tmp_path / "ETH_BTC-5m.feather")

    parsed = read_candle_file(tmp_path / "ETH_BTC-5m.feather", 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))


@pytest.mark.parametrize(
    ("time_header", "first", "second"),
    [
        ("date", "2018-01-10T04:55:00Z", "2018-01-10T05:00:00Z"),
        ("date", "2018-01-10 04:55:00", "2018-01-10 05:00:00"),
        ("date", "2018-01-10T08:25:00+03:30", "2018-01-10T08:30:00+03:30"),
        ("timestamp", "1515560100", "1515560400"),
        ("time", "1515560100000", "1515560400000"),
        ("open_time", "1515560100000000", "1515560400000000"),
        ("timestamp", "1515560100.0", "1515560400.0"),
    ],
)
def test_read_csv_with_header(tmp_path: Path, time_header: str, first: str, second: str) -> None:
    path = write_lines(
        tmp_path / "ETH_BTC-5m.csv",
        f"{time_header},open,high,low,close,volume",
        f"{first},1,2,0.5,1.5,10",
        f"{second},1.5,3,1,2.5,20",
    )

    parsed = read_candle_file(path, 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))


def test_read_csv_header_letter_case(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "ETH_BTC-5m.csv",
        "\ufeffDate, Open,HIGH,low,Close,VOLUME,Trades",
        "2018-01-10T04:55:00Z,1,2,0.5,1.5,10,7",
        "2018-01-10T05:00:00Z,1.5,3,1,2.5,20,9",
    )

    parsed = read_candle_file(path, 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))


@pytest.mark.parametrize(
    ("first", "second"),
    [("1515560100000", "1515560400000"), ("1515560100000000", "1515560400000000")],
    ids=["milliseconds", "microseconds"],
)
def test_read_binance_kline_csv(tmp_path: Path, first: str, second: str) -> None:
    path = write_lines(
        tmp_path / "ETHBTC-5m-2018-01.csv",
        f"{first},1.00000000,2.00000000,0.50000000,1.50000000,10.00000000,1515560399999,15.0,3,0,0,0",
        f"{second},1.50000000,3.00000000,1.00000000,2.50000000,20.00000000,1515560699999,50.0,4,0,0,0",
    )

    parsed = read_candle_file(path, 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))


def test_read_unsorted_duplicates_keep_last(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "ETH_BTC-5m.csv",
        "date,open,high,low,close,volume",
        "2018-01-10T05:00:00Z,9,9,9,9,999",
        "2018-01-10T04:55:00Z,1,2,0.5,1.5,10",
        "2018-01-10T05:00:00Z,1.5,3,1,2.5,20",
    )

    parsed = read_candle_file(path, 5)

    pd.testing.assert_frame_equal(parsed.candles, expected_frame(TWO_TIMES, TWO_ROWS))
    assert parsed.dropped_rows == 0


def test_read_drops_and_counts_bad_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "ETH_BTC-5m.csv",
        "date,open,high,low,close,volume",
        "2018-01-10T04:55:00Z,1,2,0.5,1.5,10",
        "2018-01-10T05:00:00Z,1,2,0.5,,10",
        "2018-01-10T05:05:00Z,1,2,-0.5,1.5,10",
        "2018-01-10T05:10:00Z,1,2,0.5,1.5,abc",
        "2018-01-10T05:15:00Z,NaN,2,0.5,1.5,10",
        "2018-01-10T05:20:00Z,1,2,0.5,1.5,-1",
        "2018-01-10T05:25:00Z,1,2,0.5,1.5,0",
        "2018-01-10T05:30:00Z,1,2,0.5,1.5,inf",
    )

    parsed = read_candle_file(path, 5)

    assert parsed.dropped_rows == 6
    assert list(parsed.candles.index) == [pd.Timestamp("2018-01-10 04:55", tz="UTC"), pd.Timestamp("2018-01-10 05:25", tz="UTC")]
    # A candle with no trades is real: zero volume stays.
    assert parsed.candles["volume"].tolist() == [10.0, 0.0]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["date,open,high,low,close,volume", "2018-01-10T04:57:00Z,1,2,0.5,1.5,10"], r"open time 2018-01-10T04:57:00\+00:00 is not on the 5m grid"),
        (["1515560220000,1,2,0.5,1.5,10,0,0,0,0,0,0"], r"open time 2018-01-10T04:57:00\+00:00 is not on the 5m grid"),
        (["when,open,high,low,close,volume", "x,1,2,3,4,5"], "neither a header with a time column"),
        (["1515560100000,1,2,0.5"], "needs at least 6"),
        (["date,open,high,close,volume", "2018-01-10T04:55:00Z,1,2,1.5,10"], "missing column low"),
        (["date,time,open,high,low,close,volume", "2018-01-10,04:55,1,2,0.5,1.5,10"], "date and time could both be the open time"),
        (["date,open,high,low,close,volume", "yesterday,1,2,0.5,1.5,10"], "invalid open time 'yesterday'"),
        ([""], "the file is empty"),
    ],
)
def test_read_rejects_bad_file(tmp_path: Path, lines: list[str], message: str) -> None:
    path = write_lines(tmp_path / "ETH_BTC-5m.csv", *lines)

    with pytest.raises(ValueError, match=message):
        read_candle_file(path, 5)


def test_read_header_only_gives_no_candles(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ETH_BTC-5m.csv", "date,open,high,low,close,volume")

    parsed = read_candle_file(path, 5)

    assert parsed.candles.empty
    assert list(parsed.candles.columns) == list(OHLCV)


# --- the source: configuration and symbols -------------------------------------------------


def test_source_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match=f"candle folder {tmp_path / 'nowhere'} does not exist"):
        FilesSource(tmp_path / "nowhere")


def test_source_folder_is_a_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ETH_BTC-5m.csv", "date,open,high,low,close,volume")

    with pytest.raises(SourceConfigError, match="is not a folder"):
        FilesSource(path)


def test_source_folder_without_candle_files(tmp_path: Path) -> None:
    write_lines(tmp_path / "notes.txt", "hello")
    write_lines(tmp_path / "ETH_BTC.csv", "date,open,high,low,close,volume")

    with pytest.raises(SourceConfigError) as caught:
        FilesSource(tmp_path)

    message = str(caught.value)
    assert "contains no candle files" in message
    assert "ETH_BTC-5m.feather" in message
    assert "ETHBTC-5m-2018-01.csv" in message


async def test_symbols_ignore_other_names(tmp_path: Path) -> None:
    hourly_file(tmp_path, "ETH_BTC")
    write_feather(tmp_path / "ADA_BTC-5m.feather", TWO_TIMES, TWO_ROWS)
    write_lines(tmp_path / "LTCBTC-5m-2018-01.csv", "1515560100000,1,2,0.5,1.5,10,0,0,0,0,0,0")
    write_lines(tmp_path / "LTCBTC-5m-2018-02.csv", "1517441100000,1,2,0.5,1.5,10,0,0,0,0,0,0")
    write_lines(tmp_path / "XMR_BTC.csv", "date,open,high,low,close,volume")
    write_lines(tmp_path / "readme.md", "candles")
    (tmp_path / "TRX_BTC-5m.csv").mkdir()

    source = FilesSource(tmp_path)

    assert await source.symbols() == ["ADA_BTC", "ETH_BTC", "LTCBTC"]
    assert source.name == "FILES"
    assert source.is_demo is False


async def test_symbols_see_new_files(tmp_path: Path) -> None:
    hourly_file(tmp_path, "ETH_BTC")
    source = FilesSource(tmp_path)

    hourly_file(tmp_path, "ADA_BTC")

    assert await source.symbols() == ["ADA_BTC", "ETH_BTC"]


# --- the source: fetch --------------------------------------------------------------------


async def test_fetch_closed_candle_cutoff(tmp_path: Path) -> None:
    hourly_file(tmp_path, hours=6)  # 10:00 .. 15:00
    source = FilesSource(tmp_path)

    at_close = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 100, utc("2024-01-01T15:00"))
    mid_candle = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 100, utc("2024-01-01T14:30"))

    assert at_close.candles["ETH_BTC"].index[-1] == pd.Timestamp("2024-01-01 14:00", tz="UTC")
    assert mid_candle.candles["ETH_BTC"].index[-1] == pd.Timestamp("2024-01-01 13:00", tz="UTC")
    assert len(at_close.candles["ETH_BTC"]) == 5
    assert at_close.failures == {}


async def test_fetch_returns_last_count(tmp_path: Path) -> None:
    hourly_file(tmp_path, hours=6)
    source = FilesSource(tmp_path)

    result = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 2, FAR_FUTURE)
    nothing = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 0, FAR_FUTURE)
    more_than_stored = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 8, FAR_FUTURE)
    before_data = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 5, utc("2024-01-01T10:59"))

    assert list(result.candles["ETH_BTC"].index) == [pd.Timestamp("2024-01-01 14:00", tz="UTC"), pd.Timestamp("2024-01-01 15:00", tz="UTC")]
    assert result.candles["ETH_BTC"]["volume"].tolist() == [500.0, 600.0]
    assert nothing.candles["ETH_BTC"].empty
    assert len(more_than_stored.candles["ETH_BTC"]) == 6
    assert before_data.candles["ETH_BTC"].empty


async def test_fetch_rejects_bad_arguments(tmp_path: Path) -> None:
    hourly_file(tmp_path)
    source = FilesSource(tmp_path)

    with pytest.raises(ValueError, match="timezone-aware"):
        await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 5, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="count must be zero or more"):
        await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], -1, FAR_FUTURE)


async def test_fetch_resamples_and_drops_incomplete(tmp_path: Path) -> None:
    lines = ["date,open,high,low,close,volume"]
    start = pd.Timestamp("2024-01-01 12:00", tz="UTC")
    # 12:00-14:55 complete, except 13:25, which leaves the 13:00 hour incomplete.
    for step in range(36):
        moment = start + pd.Timedelta(minutes=5 * step)
        if moment != pd.Timestamp("2024-01-01 13:25", tz="UTC"):
            lines.append(f"{moment.isoformat()},1,{2 + step},0.5,1.5,{step}")
    write_lines(tmp_path / "ETH_BTC-5m.csv", *lines)
    source = FilesSource(tmp_path)

    at_15 = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, utc("2024-01-01T15:00"))
    at_1430 = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, utc("2024-01-01T14:30"))

    hourly = at_15.candles["ETH_BTC"]
    assert list(hourly.index) == [pd.Timestamp("2024-01-01 12:00", tz="UTC"), pd.Timestamp("2024-01-01 14:00", tz="UTC")]
    assert hourly["volume"].tolist() == [sum(range(12)), sum(range(24, 36))]
    assert hourly["high"].tolist() == [13.0, 37.0]
    assert at_15.quality["ETH_BTC"].missing_candles == 1
    assert at_15.quality["ETH_BTC"].longest_gap == 1
    assert list(at_1430.candles["ETH_BTC"].index) == [pd.Timestamp("2024-01-01 12:00", tz="UTC")]


async def test_fetch_counts_gaps_and_dropped_rows(tmp_path: Path) -> None:
    write_lines(
        tmp_path / "ETH_BTC-1h.csv",
        "date,open,high,low,close,volume",
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10",
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,10",
        "2024-01-01T03:00:00Z,1,2,0.5,1.5,10",
        "2024-01-01T04:00:00Z,1,2,0.5,,10",
        "2024-01-01T07:00:00Z,1,2,0.5,1.5,10",
    )
    hourly_file(tmp_path, "ADA_BTC")
    source = FilesSource(tmp_path)

    result = await source.fetch(["ETH_BTC", "ADA_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)
    recent = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 2, FAR_FUTURE)

    quality = result.quality["ETH_BTC"]
    assert quality.missing_candles == 4  # 02:00, 04:00 (dropped), 05:00, 06:00
    assert quality.longest_gap == 3
    assert quality.dropped_rows == 1
    assert result.quality["ADA_BTC"].is_clean
    # Only the returned window counts gaps: 03:00 and 07:00 leave three slots out.
    assert recent.quality["ETH_BTC"].missing_candles == 3


async def test_fetch_finer_than_base_fails(tmp_path: Path) -> None:
    write_feather(tmp_path / "ETH_BTC-5m.feather", TWO_TIMES, TWO_ROWS)
    hourly_file(tmp_path, "ADA_BTC")
    source = FilesSource(tmp_path)

    one_minute = await source.fetch(["ETH_BTC"], ONE_MINUTE, 10, FAR_FUTURE)
    five_minutes = await source.fetch(["ETH_BTC", "ADA_BTC"], TIMEFRAMES["5m"], 10, FAR_FUTURE)

    assert one_minute.failures == {"ETH_BTC": "data is 5m candles; cannot make 1m candles"}
    assert one_minute.candles == {}
    assert five_minutes.failures == {"ADA_BTC": "data is 1h candles; cannot make 5m candles"}
    assert len(five_minutes.candles["ETH_BTC"]) == 2


async def test_fetch_unknown_symbol(tmp_path: Path) -> None:
    hourly_file(tmp_path, "ETH_BTC")
    hourly_file(tmp_path, "ADA_BTC")
    source = FilesSource(tmp_path)

    result = await source.fetch(["DOGE_BTC", "ETH_BTC"], TIMEFRAMES["1h"], 3, FAR_FUTURE)

    assert result.failures == {"DOGE_BTC": f"not found in {tmp_path}; available: ADA_BTC, ETH_BTC"}
    assert len(result.candles["ETH_BTC"]) == 3


async def test_fetch_corrupt_file_isolated(tmp_path: Path) -> None:
    (tmp_path / "ADA_BTC-5m.feather").write_bytes(b"this is not an arrow file")
    write_feather(tmp_path / "ETH_BTC-5m.feather", TWO_TIMES, TWO_ROWS)
    write_lines(tmp_path / "LTC_BTC-5m.csv", "date,open,high,low,close,volume", "2018-01-10T04:57:00Z,1,2,0.5,1.5,10")
    source = FilesSource(tmp_path)

    result = await source.fetch(["ADA_BTC", "ETH_BTC", "LTC_BTC"], TIMEFRAMES["5m"], 10, FAR_FUTURE)

    assert set(result.failures) == {"ADA_BTC", "LTC_BTC"}
    assert result.failures["ADA_BTC"].startswith("cannot read ADA_BTC-5m.feather: ")
    assert result.failures["LTC_BTC"].startswith("cannot read LTC_BTC-5m.csv: open time 2018-01-10T04:57:00+00:00 is not on the 5m grid")
    pd.testing.assert_frame_equal(result.candles["ETH_BTC"], expected_frame(TWO_TIMES, TWO_ROWS))
    assert set(result.candles) == {"ETH_BTC"}


async def test_fetch_concatenates_monthly_files(tmp_path: Path) -> None:
    write_lines(
        tmp_path / "ETHBTC-1h-2024-01.csv",
        "1706734800000,1,2,0.5,1.5,10,0,0,0,0,0,0",  # 2024-01-31 21:00
        "1706738400000,1,2,0.5,1.5,11,0,0,0,0,0,0",
        "1706742000000,1,2,0.5,1.5,12,0,0,0,0,0,0",
    )
    write_lines(
        tmp_path / "ETHBTC-1h-2024-02.csv",
        "1706742000000,1,2,0.5,1.5,99,0,0,0,0,0,0",  # overlaps 23:00; the later month wins
        "1706745600000,1,2,0.5,1.5,13,0,0,0,0,0,0",  # 2024-02-01 00:00
    )
    source = FilesSource(tmp_path)

    result = await source.fetch(["ETHBTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)

    candles = result.candles["ETHBTC"]
    assert candles["volume"].tolist() == [10.0, 11.0, 99.0, 13.0]
    assert candles.index[0] == pd.Timestamp("2024-01-31 21:00", tz="UTC")
    assert candles.index[-1] == pd.Timestamp("2024-02-01 00:00", tz="UTC")


async def test_fetch_one_bad_month_fails_symbol(tmp_path: Path) -> None:
    write_lines(tmp_path / "ETHBTC-1h-2024-01.csv", "1706734800000,1,2,0.5,1.5,10,0,0,0,0,0,0")
    write_lines(tmp_path / "ETHBTC-1h-2024-02.csv", "garbage")
    source = FilesSource(tmp_path)

    result = await source.fetch(["ETHBTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)

    assert result.failures["ETHBTC"].startswith("cannot read ETHBTC-1h-2024-02.csv: ")
    assert result.candles == {}


async def test_fetch_prefers_file_at_target(tmp_path: Path) -> None:
    lines = ["date,open,high,low,close,volume"]
    for step in range(12):
        lines.append(f"{(pd.Timestamp('2024-01-01', tz='UTC') + pd.Timedelta(minutes=5 * step)).isoformat()},1,1,1,1,1")
    write_lines(tmp_path / "ETH_BTC-5m.csv", *lines)
    write_lines(tmp_path / "ETH_BTC-1h.csv", "date,open,high,low,close,volume", "2024-01-01T00:00:00Z,1,1,1,1,500")
    source = FilesSource(tmp_path)

    hourly = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)
    five_minute = await source.fetch(["ETH_BTC"], TIMEFRAMES["5m"], 100, FAR_FUTURE)

    assert hourly.candles["ETH_BTC"]["volume"].tolist() == [500.0]
    assert len(five_minute.candles["ETH_BTC"]) == 12


async def test_fetch_caches_until_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = hourly_file(tmp_path, hours=3)
    source = FilesSource(tmp_path)
    reads: list[tuple[str, bool]] = []
    real_read = files_module.read_candle_file

    def counting_read(file_path: Path, base_minutes: int):
        reads.append((file_path.name, threading.current_thread() is threading.main_thread()))
        return real_read(file_path, base_minutes)

    monkeypatch.setattr(files_module, "read_candle_file", counting_read)

    first = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)
    again = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)
    four_hourly = await source.fetch(["ETH_BTC"], TIMEFRAMES["4h"], 10, FAR_FUTURE)
    assert reads == [("ETH_BTC-1h.csv", False)]

    with path.open("a") as handle:
        handle.write("2024-01-01T13:00:00Z,7,8,6,7.5,700\n")
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    changed = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)

    assert len(reads) == 2
    assert len(first.candles["ETH_BTC"]) == 3
    pd.testing.assert_frame_equal(again.candles["ETH_BTC"], first.candles["ETH_BTC"])
    assert four_hourly.candles["ETH_BTC"].empty
    assert changed.candles["ETH_BTC"]["volume"].tolist() == [100.0, 200.0, 300.0, 700.0]


async def test_fetch_result_is_a_copy(tmp_path: Path) -> None:
    hourly_file(tmp_path)
    source = FilesSource(tmp_path)

    first = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)
    first.candles["ETH_BTC"].iloc[:, :] = -1.0
    second = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)

    assert (second.candles["ETH_BTC"]["volume"] > 0).all()


async def test_fetch_after_folder_removed(tmp_path: Path) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    path = hourly_file(folder)
    source = FilesSource(folder)
    path.unlink()
    folder.rmdir()

    result = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 10, FAR_FUTURE)

    assert result.failures["ETH_BTC"].startswith(f"cannot list {folder}")
    with pytest.raises(SourceConfigError, match="cannot list candle folder"):
        await source.symbols()


# --- real Binance candles -------------------------------------------------------------------


@pytest.mark.realdata
@needs_data
async def test_real_data_symbols_load() -> None:
    source = FilesSource(DATA / "binance-2018-01")
    symbols = await source.symbols()

    result = await source.fetch(symbols, TIMEFRAMES["5m"], 10_000, utc("2018-02-01T00:00"))

    assert symbols == ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "TRX_BTC", "XMR_BTC"]
    assert result.failures == {}
    for symbol in symbols:
        candles = result.candles[symbol]
        assert 5_000 < len(candles) <= 5_760, symbol
        assert candles.index[0] >= pd.Timestamp("2018-01-10 04:55", tz="UTC"), symbol
        assert result.quality[symbol].dropped_rows == 0, symbol
        slots = (candles.index[-1] - candles.index[0]) // pd.Timedelta(minutes=5) + 1
        assert len(candles) + result.quality[symbol].missing_candles == slots, symbol

    # Gaps are real in this data; check one symbol against the raw file.
    raw_dates = pd.read_feather(DATA / "binance-2018-01" / "ADA_BTC-5m.feather")["date"]
    raw_gaps = raw_dates.diff().dropna() // pd.Timedelta(minutes=5) - 1
    assert len(result.candles["ADA_BTC"]) == len(raw_dates)
    assert result.quality["ADA_BTC"].missing_candles == raw_gaps.sum() > 0
    assert result.quality["ADA_BTC"].longest_gap == raw_gaps.max()


@pytest.mark.realdata
@needs_data
@pytest.mark.parametrize(("csv_name", "feather_name"), [("ETHBTC-5m-2018-01.csv", "ETH_BTC-5m.feather"), ("LTC_BTC-5m.csv", "LTC_BTC-5m.feather")])
def test_real_data_csv_equals_feather(csv_name: str, feather_name: str) -> None:
    from_csv = read_candle_file(DATA / "formats" / csv_name, 5)
    from_feather = read_candle_file(DATA / "binance-2018-01" / feather_name, 5)

    assert len(from_csv.candles) > 5_000
    pd.testing.assert_frame_equal(from_csv.candles, from_feather.candles)


@pytest.mark.realdata
@needs_data
async def test_real_data_hourly_volume_sums() -> None:
    source = FilesSource(DATA / "binance-2018-01")

    hourly = await source.fetch(["ETH_BTC"], TIMEFRAMES["1h"], 1, utc("2018-01-24T15:00"))
    five_minute = await source.fetch(["ETH_BTC"], TIMEFRAMES["5m"], 12, utc("2018-01-24T15:00"))

    candle = hourly.candles["ETH_BTC"]
    parts = five_minute.candles["ETH_BTC"]
    assert list(candle.index) == [pd.Timestamp("2018-01-24 14:00", tz="UTC")]
    assert parts.index[0] == pd.Timestamp("2018-01-24 14:00", tz="UTC")
    assert len(parts) == 12
    assert candle["volume"].iloc[0] == pytest.approx(parts["volume"].sum(), rel=1e-12)
    assert candle["open"].iloc[0] == parts["open"].iloc[0]
    assert candle["close"].iloc[0] == parts["close"].iloc[-1]
    assert candle["high"].iloc[0] == parts["high"].max()
    assert candle["low"].iloc[0] == parts["low"].min()
