"""The `volscope` command line: argument parsing and the commands that need no dashboard.

`volscope scan`, `volscope timeframes`, `volscope config` and `volscope headless` run here;
the dashboard itself is opened by `tui.launcher`, which parses arguments with this module.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from core.clock import SystemClock
from core.settings import LoadedSettings, SettingsError, describe_settings, load_settings
from core.timeframes import InvalidTimeframe

EXIT_USAGE = 2
# The demo market has candles back to 1970, so its history scan needs a limit; files end by themselves.
DEMO_HISTORY_CANDLES = 5_000
MAX_HISTORY_CANDLES = 1_000_000


class UsageError(Exception):
    """Bad input on the command line; shown as one message with exit status 2."""


@dataclass
class Invocation:
    command: str | None
    arguments: argparse.Namespace


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and the usage, never a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"volscope: error: {message}\n")


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand's parser from overwriting a value given before the subcommand.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", type=Path, metavar="PATH", help="TOML settings file (default: volscope.toml in the user config dir)")
    common.add_argument("--source", choices=["demo", "files"], help="where candles come from (default: demo)")
    common.add_argument("--data", type=Path, metavar="DIR", help="folder of candle files, for --source files")
    common.add_argument("--symbols", metavar="A,B", help="comma-separated symbols to watch (default: all the source has)")
    common.add_argument("--display-timezone", metavar="ZONE", help="time zone of the times shown (default: Asia/Tehran)")
    common.add_argument("--schedule-timezone", metavar="ZONE", help="time zone the crons run in (default: UTC)")
    common.add_argument("--store", type=Path, metavar="PATH", help="SQLite file for runs and spikes")
    common.add_argument("--seed", type=int, help="seed of the demo market")
    common.add_argument("--settle-delay", type=float, metavar="SECONDS", help="wait after a candle closes before a run reads it")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog="volscope",
        description="Terminal dashboard that flags volume spikes across market pairs and timeframes.",
        parents=[common],
    )
    parser.add_argument(
        "--at",
        dest="replay_at",
        metavar="TIME",
        help="replay: open the dashboard as if it were TIME (ISO 8601), for a folder of past candles",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="analyse once, as a scheduled run fired at --at would, and print the records",
    )
    scan.add_argument("--timeframe", "-t", required=True, help="timeframe key, such as 5m, 1h, 4h or 1d")
    scan.add_argument("--at", metavar="TIME", help="fire time in ISO 8601, such as 2018-01-24T15:00:00Z (default: now; no zone means UTC)")
    scan.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format (default: table)")
    scan.add_argument("--history", action="store_true", help="evaluate every closed candle in the data, not only the last")
    scan.add_argument(
        "--candles",
        type=int,
        metavar="N",
        help=f"with --history: how many closed candles back to scan per symbol (default: all in a folder, {DEMO_HISTORY_CANDLES} on the demo)",
    )

    commands.add_parser("timeframes", parents=[common], help="list the timeframe registry")
    commands.add_parser("config", parents=[common], help="print the effective settings and where each came from")
    commands.add_parser("headless", parents=[common], help="run the schedule without the dashboard, logging to stderr")
    return parser


def parse(argv: Sequence[str] | None = None) -> Invocation:
    arguments = build_parser().parse_args(argv)
    return Invocation(getattr(arguments, "command", None), arguments)


def settings_from(arguments: argparse.Namespace) -> LoadedSettings:
    """Load settings with the command-line flags as the top layer; SettingsError on bad values."""
    given = vars(arguments)
    cli_values: dict[str, Any] = {
        "display_timezone": given.get("display_timezone"),
        "schedule_timezone": given.get("schedule_timezone"),
        "symbols": given.get("symbols"),
        "store_path": given.get("store"),
        "settle_delay": given.get("settle_delay"),
        "source": {"kind": given.get("source"), "data": given.get("data"), "seed": given.get("seed")},
    }
    # A folder given without a source can only mean the files source.
    if given.get("data") is not None and given.get("source") is None:
        cli_values["source"]["kind"] = "files"
    return load_settings(cli_values, config_path=given.get("config"))


def parse_fire_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise UsageError(f"Invalid --at value {text!r}: use ISO 8601, such as 2018-01-24T15:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# Output


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _record_dict(record: Any) -> dict[str, Any]:
    return {
        "symbol": record.symbol,
        "timeframe": record.timeframe,
        "open_time": record.open_time.isoformat(),
        "close_time": record.close_time.isoformat(),
        "status": record.status.value,
        "note": record.note or None,
        "volume": record.volume,
        "baseline_mean": record.baseline_mean,
        "baseline_std": record.baseline_std,
        "distance": record.distance,
        "ratio": record.ratio,
        "level": record.level.value if record.level else None,
        "rsi": record.rsi,
        "rsi_settled": record.rsi_settled,
        "signal": record.signal.value if record.signal else None,
        "close": record.close,
        "change_pct": record.change_pct,
        "method": record.method,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header), *(len(row[i]) for row in rows)) if rows else len(header) for i, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


_RECORD_HEADERS = ["symbol", "candle", "volume", "mean", "σ dist", "ratio", "level", "RSI", "signal", "change %", "note"]


def _record_row(record: Any, zone: ZoneInfo, with_date: bool) -> list[str]:
    form = "%Y-%m-%d %H:%M" if with_date else "%H:%M"
    candle = f"{record.open_time.astimezone(zone).strftime(form)}–{record.close_time.astimezone(zone).strftime('%H:%M')}"
    return [
        record.symbol,
        candle,
        _number(record.volume, 1),
        _number(record.baseline_mean, 1),
        _number(record.distance),
        _number(record.ratio),
        record.level.value if record.level else "-",
        _number(record.rsi, 1),
        record.signal.value if record.signal else "-",
        _number(record.change_pct),
        _record_note(record),
    ]


def _record_note(record: Any) -> str:
    if record.note:
        return record.note
    return "" if record.status.value == "ok" else record.status.value


# Commands


async def _scan_last(runtime: Any, timeframe: Any, fired_at: datetime) -> Any:
    return await runtime.pipeline.run(timeframe, fired_at, manual=True)


async def _scan_history(runtime: Any, timeframe: Any, fired_at: datetime, count: int) -> tuple[list[Any], dict[str, str]]:
    from core.analysis.engine import scan_history

    symbols = await runtime.pipeline.symbols()
    fetched = await runtime.source.fetch(symbols, timeframe, count, until=fired_at)
    params = runtime.settings.detection_params(timeframe.key)
    records = scan_history(fetched.candles, timeframe, params)
    return records, dict(fetched.failures)


def command_scan(loaded: LoadedSettings, arguments: argparse.Namespace, out: io.TextIOBase) -> int:
    from core.pipeline import RunError
    from core.runtime import build_runtime

    settings = loaded.settings
    timeframe = settings.registry().get(arguments.timeframe.strip())
    fired_at = parse_fire_time(arguments.at) if arguments.at else SystemClock().now()
    runtime = build_runtime(settings, with_store=False)
    zone = ZoneInfo(settings.display_timezone)

    if arguments.history:
        count = arguments.candles
        if count is None:
            count = DEMO_HISTORY_CANDLES if runtime.source.is_demo else MAX_HISTORY_CANDLES
        if not 1 <= count <= MAX_HISTORY_CANDLES:
            raise UsageError(f"Invalid --candles value {count}: use a number from 1 to {MAX_HISTORY_CANDLES}")
        records, failures = asyncio.run(_scan_history(runtime, timeframe, fired_at, count))
        if not records and failures:
            reasons = "; ".join(f"{symbol}: {reason}" for symbol, reason in failures.items())
            raise UsageError(f"no symbol could be read: {reasons}")
        _print_history(records, failures, timeframe, arguments.format, zone, out)
        _warn_failures(failures)
        return 0

    try:
        result = asyncio.run(_scan_last(runtime, timeframe, fired_at))
    except RunError as error:
        raise UsageError(str(error)) from None
    _print_last(result, arguments.format, zone, out)
    _warn_failures(result.failures)
    return 0


def _warn_failures(failures: dict[str, str]) -> None:
    for symbol, reason in failures.items():
        print(f"warning: {symbol}: {reason}", file=sys.stderr)


def _print_last(result: Any, output_format: str, zone: ZoneInfo, out: io.TextIOBase) -> None:
    if output_format == "json":
        document = {
            "timeframe": result.timeframe,
            "scheduled_at": result.scheduled_at.isoformat(),
            "evaluated_open": result.evaluated_open.isoformat(),
            "candle_age_seconds": result.candle_age.total_seconds(),
            "records": [_record_dict(record) for record in result.records],
            "failures": result.failures,
            "quality": {
                symbol: {"missing_candles": q.missing_candles, "longest_gap": q.longest_gap, "dropped_rows": q.dropped_rows}
                for symbol, q in result.quality.items()
                if not q.is_clean
            },
        }
        out.write(json.dumps(_json_safe(document), indent=2, ensure_ascii=False) + "\n")
        return
    if output_format == "csv":
        _write_csv([_record_dict(record) for record in result.records], out)
        return
    with_date = result.interval.total_seconds() >= 86400
    evaluated = result.evaluated_open.astimezone(zone)
    out.write(
        f"{result.timeframe} candle opening {evaluated:%Y-%m-%d %H:%M} {zone.key} "
        f"({result.evaluated_open:%H:%M} UTC), fired at {result.scheduled_at.astimezone(zone):%Y-%m-%d %H:%M}\n\n"
    )
    out.write(_table(_RECORD_HEADERS, [_record_row(record, zone, with_date) for record in result.records]) + "\n")


def _write_csv(rows: list[dict[str, Any]], out: io.TextIOBase) -> None:
    if not rows:
        return
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _print_history(records: list[Any], failures: dict[str, str], timeframe: Any, output_format: str, zone: ZoneInfo, out: io.TextIOBase) -> None:
    counts: dict[str, dict[str, int]] = {}
    for record in records:
        per_level = counts.setdefault(record.symbol, {"candles": 0, "low": 0, "medium": 0, "high": 0})
        per_level["candles"] += 1
        if record.level is not None:
            per_level[record.level.value] += 1
    spikes = [record for record in records if record.level is not None]

    if output_format == "json":
        document = {
            "timeframe": timeframe.key,
            "counts": counts,
            "spikes": [_record_dict(record) for record in spikes],
            "failures": failures,
        }
        out.write(json.dumps(_json_safe(document), indent=2, ensure_ascii=False) + "\n")
        return
    if output_format == "csv":
        _write_csv([_record_dict(record) for record in spikes], out)
        return
    count_rows = [[symbol, str(c["candles"]), str(c["low"]), str(c["medium"]), str(c["high"])] for symbol, c in counts.items()]
    out.write(_table(["symbol", "candles", "low", "medium", "high"], count_rows) + "\n\n")
    out.write(f"{len(spikes)} spikes ({zone.key})\n")
    out.write(_table(_RECORD_HEADERS, [_record_row(record, zone, True) for record in spikes]) + "\n")


def command_timeframes(loaded: LoadedSettings, out: io.TextIOBase) -> int:
    settings = loaded.settings
    rows = [
        [timeframe.key, timeframe.name, str(timeframe.minutes), timeframe.cron, settings.schedule_timezone]
        for timeframe in settings.registry()
    ]
    out.write(_table(["key", "name", "minutes", "cron", "cron time zone"], rows) + "\n")
    return 0


def command_config(loaded: LoadedSettings, out: io.TextIOBase) -> int:
    out.write(f"config file: {loaded.config_path}{'' if loaded.config_path.is_file() else ' (not present)'}\n\n")
    rows = [list(row) for row in describe_settings(loaded)]
    out.write(_table(["setting", "value", "from"], rows) + "\n")
    return 0


def command_headless(loaded: LoadedSettings) -> int:
    from core.runtime import build_runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    runtime = build_runtime(loaded.settings)

    async def serve() -> None:
        await runtime.start()
        for info in runtime.service.active_jobs():
            logging.getLogger("volscope").info("%s next run %s", info.key, info.next_run_at)
        try:
            await asyncio.Event().wait()
        finally:
            await runtime.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


def run_command(invocation: Invocation, out: io.TextIOBase | None = None) -> int:
    """Run a command that needs no dashboard and return its exit status; user errors print one message."""
    from core.sources.base import SourceConfigError
    from core.store import StoreError

    out = out or sys.stdout
    # Failures reach the user as messages of their own; the log would only repeat them.
    logging.basicConfig(level=logging.ERROR, format="volscope: %(message)s")
    try:
        if getattr(invocation.arguments, "replay_at", None):
            raise UsageError(
                f"--at before a command replays the dashboard and does not apply to {invocation.command!r}; "
                "for a scan, put --at after 'scan'"
            )
        loaded = settings_from(invocation.arguments)
        if invocation.command == "scan":
            return command_scan(loaded, invocation.arguments, out)
        if invocation.command == "timeframes":
            return command_timeframes(loaded, out)
        if invocation.command == "config":
            return command_config(loaded, out)
        if invocation.command == "headless":
            return command_headless(loaded)
        raise UsageError(f"Unknown command {invocation.command!r}")
    except (SettingsError, UsageError, InvalidTimeframe, SourceConfigError, StoreError) as error:
        print(f"volscope: {error}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(parse(argv))
