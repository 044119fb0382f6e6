"""The command line as a user runs it: real candles in, records out, one message on bad input."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import datetime
import sys

import pytest

from core.cli import main, parse, run_command


def scan_json(capsys, *arguments):
    status = main(["scan", *arguments, "--format", "json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def by_symbol(document):
    return {record["symbol"]: record for record in document["records"]}


@pytest.mark.realdata
def test_scan_real_hour_candle(capsys, binance_data):
    document = scan_json(capsys, "--source", "files", "--data", str(binance_data), "--timeframe", "1h", "--at", "2018-01-24T15:00:00Z")
    records = by_symbol(document)

    assert document["evaluated_open"] == "2018-01-24T14:00:00+00:00"
    assert sorted(records) == ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "TRX_BTC", "XMR_BTC"]
    assert {record["close_time"] for record in records.values()} == {"2018-01-24T15:00:00+00:00"}
    assert records["ETH_BTC"]["level"] == "high"
    assert records["ETH_BTC"]["distance"] == pytest.approx(29.7, abs=0.05)
    assert records["LTC_BTC"]["level"] == "high"
    assert records["LTC_BTC"]["distance"] == pytest.approx(7.0, abs=0.05)
    assert records["ADA_BTC"]["level"] == "medium"
    assert records["ADA_BTC"]["distance"] == pytest.approx(5.4, abs=0.05)
    for quiet in ("DASH_BTC", "TRX_BTC", "XMR_BTC"):
        assert records[quiet]["level"] is None


@pytest.mark.realdata
def test_scan_half_hour_evaluates_closed_candle(capsys, binance_data):
    document = scan_json(capsys, "--data", str(binance_data), "-t", "1h", "--at", "2018-01-24T14:30:00Z")
    assert document["evaluated_open"] == "2018-01-24T13:00:00+00:00"
    assert document["candle_age_seconds"] == 1800.0
    assert {record["open_time"] for record in document["records"]} == {"2018-01-24T13:00:00+00:00"}


@pytest.mark.realdata
def test_other_formats_same_numbers(capsys, binance_data, formats_data):
    arguments = ["-t", "1h", "--at", "2018-01-24T15:00:00Z"]
    feather = by_symbol(scan_json(capsys, "--data", str(binance_data), *arguments))
    other = by_symbol(scan_json(capsys, "--data", str(formats_data), *arguments))

    assert sorted(other) == ["ETHBTC", "LTC_BTC"]
    for other_symbol, feather_symbol in (("ETHBTC", "ETH_BTC"), ("LTC_BTC", "LTC_BTC")):
        for field in ("volume", "baseline_mean", "distance", "ratio", "rsi", "close", "change_pct"):
            assert other[other_symbol][field] == pytest.approx(feather[feather_symbol][field], rel=1e-12), field
        assert other[other_symbol]["level"] == feather[feather_symbol]["level"]


@pytest.mark.realdata
def test_scan_symbols_flag(capsys, binance_data):
    document = scan_json(capsys, "--data", str(binance_data), "-t", "1h", "--at", "2018-01-24T15:00:00Z", "--symbols", "ETH_BTC,XMR_BTC")
    assert sorted(by_symbol(document)) == ["ETH_BTC", "XMR_BTC"]


@pytest.mark.realdata
def test_scan_table_names_tehran_time(capsys, binance_data):
    status = main(["scan", "--data", str(binance_data), "-t", "1h", "--at", "2018-01-24T15:00:00Z"])
    output = capsys.readouterr().out
    assert status == 0
    assert "1h candle opening 2018-01-24 17:30 Asia/Tehran (14:00 UTC)" in output
    assert "ETH_BTC   17:30–18:30" in output


def test_scan_demo_json(capsys):
    document = scan_json(capsys, "-t", "1h", "--at", "2026-11-02T12:00:00Z", "--seed", "7")
    assert len(document["records"]) == 20
    assert document["evaluated_open"] == "2026-11-02T11:00:00+00:00"
    assert all(record["status"] == "ok" for record in document["records"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["scan", "-t", "10m"], "volscope: Invalid timeframe: 10m. Available: ['5m', '1h', '4h', '1d']"),
        (["scan", "-t", "1h", "--at", "noon"], "volscope: Invalid --at value 'noon': use ISO 8601, such as 2018-01-24T15:00:00Z"),
        (["--display-timezone", "Mars/Base", "timeframes"], "volscope: Invalid setting display_timezone = 'Mars/Base' (from command line)"),
        (["scan", "-t", "1h", "--source", "files"], "volscope: source.kind is 'files' but source.data is not set"),
        (["scan", "-t", "1h", "--history", "--candles", "0"], "volscope: Invalid --candles value 0: use a number from 1 to 1000000"),
        (["--at", "nonsense", "timeframes"], "volscope: --at before a command replays the dashboard and does not apply to 'timeframes'"),
    ],
)
def test_bad_input_one_message(capsys, arguments, message):
    status = main(arguments)
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith(message)
    assert "Traceback" not in captured.err


def test_missing_data_folder(capsys, tmp_path):
    status = main(["scan", "-t", "1h", "--data", str(tmp_path / "absent")])
    captured = capsys.readouterr()
    assert status == 2
    assert "absent" in captured.err
    assert "Traceback" not in captured.err


def test_unknown_symbols_fail_cleanly(capsys):
    status = main(["scan", "-t", "1h", "--symbols", "NOPE/USDT"])
    captured = capsys.readouterr()
    assert status == 2
    assert "NOPE/USDT" in captured.err
    assert "Traceback" not in captured.err


def test_timeframes_lists_registry():
    out = io.StringIO()
    assert run_command(parse(["timeframes"]), out) == 0
    lines = out.getvalue().splitlines()
    assert lines[2].split() == ["5m", "5", "Minutes", "5", "*/5", "*", "*", "*", "*", "UTC"]
    assert [line.split()[0] for line in lines[2:]] == ["5m", "1h", "4h", "1d"]


def test_config_shows_origins(monkeypatch):
    monkeypatch.setenv("VOLSCOPE_SETTLE_DELAY", "3")
    out = io.StringIO()
    assert run_command(parse(["--symbols", "A,B", "config"]), out) == 0
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()[3:]}
    assert rows["settle_delay"][1:] == ["3.0", "environment"]
    assert rows["symbols"][-2:] == ["command", "line"]
    assert rows["display_timezone"][1:] == ["Asia/Tehran", "default"]


def test_installed_command_exit_status():
    completed = subprocess.run(
        [sys.executable, "-m", "tui.launcher", "scan", "-t", "10m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == "volscope: Invalid timeframe: 10m. Available: ['5m', '1h', '4h', '1d']"


@pytest.mark.realdata
def test_history_matches_candle_by_candle(capsys, binance_data):
    """Every 1h spike of the six symbols over the 20 days, and the same counts run by run."""
    import asyncio
    from datetime import timedelta

    from core.runtime import build_runtime
    from core.settings import load_settings

    document = scan_json(capsys, "--data", str(binance_data), "-t", "1h", "--history")
    history_spikes = {(spike["symbol"], spike["open_time"]): spike["level"] for spike in document["spikes"]}
    assert sorted(document["counts"]) == ["ADA_BTC", "DASH_BTC", "ETH_BTC", "LTC_BTC", "TRX_BTC", "XMR_BTC"]
    assert ("ETH_BTC", "2018-01-24T14:00:00+00:00") in history_spikes
    assert sum(count["high"] + count["medium"] + count["low"] for count in document["counts"].values()) == len(history_spikes)

    settings = load_settings({"source": {"kind": "files", "data": str(binance_data)}}, env_file=None).settings
    runtime = build_runtime(settings, with_store=False)
    timeframe = settings.registry().get("1h")
    first_close = min(datetime.fromisoformat(spike["close_time"]) for spike in document["spikes"])
    last_close = max(datetime.fromisoformat(spike["close_time"]) for spike in document["spikes"])

    async def run_every_close():
        found = {}
        fired_at = first_close
        while fired_at <= last_close:
            result = await runtime.pipeline.run(timeframe, fired_at)
            for record in result.spikes:
                found[(record.symbol, record.open_time.isoformat())] = record.level.value
            fired_at += timedelta(hours=1)
        return found

    assert asyncio.run(run_every_close()) == history_spikes
