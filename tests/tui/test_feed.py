"""Pilot tests of the spike feed's sort and filters, its keyed updates, and the level overview."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app_fixtures import FROZEN_AT, clock_of, make_app, prerun_timeframes, wait_for, wait_until_started

from core.analysis.records import Level, SpikeRecord, Status
from tui.widgets.spikes import SpikeFilter, SpikeSort, spike_key, symbol_matches

NARROW = (80, 24)
WIDE = (160, 48)
NEXT_DAY = datetime(2024, 3, 3, 0, 0, 20, tzinfo=timezone.utc)
"""A day after FROZEN_AT: a 1h run by hand then finds ATOM/USDT high on the 03-03 00:00 close."""

MINUTES = {"5m": 5, "1h": 60, "4h": 240, "1d": 1440}


def spike(symbol: str, timeframe: str, closed: str, level: Level, distance: float) -> SpikeRecord:
    close_time = datetime.fromisoformat(f"2024-03-01T{closed}+00:00")
    return SpikeRecord(
        symbol=symbol,
        timeframe=timeframe,
        open_time=close_time - timedelta(minutes=MINUTES[timeframe]),
        close_time=close_time,
        status=Status.OK,
        method="sigma n=25 2.5/4/6σ",
        distance=distance,
        ratio=distance / 2,
        level=level,
        rsi=50.0,
    )


# Five spikes whose orders differ for every sort.
SPIKES = [
    spike("BTC/USDT", "1h", "10:00", Level.HIGH, 7.0),
    spike("ETH/USDT", "5m", "10:05", Level.LOW, 2.6),
    spike("SOL/USDT", "4h", "08:00", Level.MEDIUM, 4.5),
    spike("ADA/USDT", "1h", "09:00", Level.LOW, 3.0),
    spike("XRP/USDT", "1d", "00:00", Level.MEDIUM, 5.5),
]


def symbols_shown(app) -> list[str]:
    return [row[1] for row in app.spike_table.row_texts()]


async def open_with_spikes(pilot) -> None:
    await wait_until_started(pilot)
    pilot.app.spike_feed.show_spikes(SPIKES)
    await pilot.pause()


def test_symbol_matches_ignores_case_and_separators():
    assert symbol_matches("BTC/USDT", "btc")
    assert symbol_matches("BTC/USDT", "btcusdt")
    assert symbol_matches("BTC/USDT", "C/U")
    assert not symbol_matches("BTC/USDT", "eth")
    assert symbol_matches("BTC/USDT", "")


async def test_sort_key_cycles_orders(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await open_with_spikes(pilot)
        feed = app.spike_feed
        assert app.spike_table.sort_by is SpikeSort.TIME
        assert feed.border_title == "Spikes · newest first"
        assert symbols_shown(app) == ["ETH/USDT", "BTC/USDT", "ADA/USDT", "SOL/USDT", "XRP/USDT"]

        await pilot.press("s")
        assert feed.border_title == "Spikes · by level"
        assert symbols_shown(app) == ["BTC/USDT", "SOL/USDT", "XRP/USDT", "ETH/USDT", "ADA/USDT"]

        await pilot.press("s")
        assert feed.border_title == "Spikes · by distance"
        assert symbols_shown(app) == ["BTC/USDT", "XRP/USDT", "SOL/USDT", "ADA/USDT", "ETH/USDT"]

        await pilot.press("s")
        assert feed.border_title == "Spikes · by symbol"
        assert symbols_shown(app) == ["ADA/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]

        await pilot.press("s")
        assert app.spike_table.sort_by is SpikeSort.TIME
        assert symbols_shown(app) == ["ETH/USDT", "BTC/USDT", "ADA/USDT", "SOL/USDT", "XRP/USDT"]


async def test_timeframe_filter_cycles_registry_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await open_with_spikes(pilot)
        feed = app.spike_feed
        assert feed.border_subtitle == "5 shown"

        expected = {
            "5m": ["ETH/USDT"],
            "1h": ["BTC/USDT", "ADA/USDT"],
            "4h": ["SOL/USDT"],
            "1d": ["XRP/USDT"],
        }
        for key in app.runtime.registry.keys():
            await pilot.press("t")
            assert app.spike_table.timeframe_filter == key
            assert feed.border_title == f"Spikes · newest first · {key}"
            assert symbols_shown(app) == expected[key]
            assert feed.border_subtitle == f"{len(expected[key])} of 5 shown"

        await pilot.press("t")
        assert app.spike_table.timeframe_filter is None
        assert feed.border_title == "Spikes · newest first"
        assert len(symbols_shown(app)) == 5


async def test_symbol_filter_as_you_type(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await open_with_spikes(pilot)
        feed = app.spike_feed
        assert not feed.filter_input.display

        await pilot.press("slash")
        assert feed.filter_input.display
        assert isinstance(app.focused, SpikeFilter)

        # Letters go to the filter, not to the app's keys: "s" types rather than sorts, and
        # matches every symbol through USDT.
        await pilot.press("s")
        assert app.spike_table.sort_by is SpikeSort.TIME
        assert len(symbols_shown(app)) == 5
        await pilot.press("o")
        assert symbols_shown(app) == ["SOL/USDT"]
        assert not app.overview.display
        assert feed.border_title == "Spikes · newest first · “so”"
        assert feed.border_subtitle == "1 of 5 shown"

        await pilot.press("backspace", "backspace", "b", "t", "c", "u", "s")
        assert symbols_shown(app) == ["BTC/USDT"]

        # Enter keeps the filter and goes back to the table.
        await pilot.press("enter")
        assert app.focused is app.spike_table
        assert feed.filter_input.display
        assert symbols_shown(app) == ["BTC/USDT"]

        # Filters combine: BTC has no 5m spike.
        await pilot.press("t")
        assert symbols_shown(app) == []
        assert feed.border_subtitle == "0 of 5 shown"
        await pilot.press("t", "t", "t", "t")
        assert app.spike_table.timeframe_filter is None

        await pilot.press("slash")
        assert feed.filter_input.value == "btcus"
        await pilot.press("escape")
        assert not feed.filter_input.display
        assert feed.filter_input.value == ""
        assert app.focused is app.spike_table
        assert len(symbols_shown(app)) == 5
        assert feed.border_title == "Spikes · newest first"


async def test_cursor_stays_on_spike_during_filter_and_sort(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await open_with_spikes(pilot)
        table = app.spike_table
        table.focus()
        await pilot.press("down", "down", "down")
        sol = spike_key(SPIKES[2])
        assert table.cursor_key == sol
        assert table.cursor_row == 3

        await pilot.press("s")
        assert table.cursor_key == sol
        assert table.cursor_row == 1

        await pilot.press("t", "t", "t")
        assert table.timeframe_filter == "4h"
        assert table.cursor_key == sol
        assert table.cursor_row == 0


async def test_run_keeps_cursor_and_unchanged_cells(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await wait_until_started(pilot)
        table = app.spike_table
        assert await wait_for(pilot, lambda: table.row_count == 4)
        table.focus()
        await pilot.press("down", "down")
        bnb = table.cursor_key
        assert bnb is not None and bnb.startswith("BNB/USDT|1d|")
        cells_before = {key: list(table.get_row(key)) for key in table.row_keys()}

        # Running the stored 1h candle again gives the same record: no row is touched.
        app.timeframe_table.move_cursor(row=1)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: app.timeframe_table.cell_text("1h", "last") == "03:30 ok")
        await wait_for(pilot, lambda: not app.runtime.service.in_progress("1h"), timeout=20)
        for key, cells in cells_before.items():
            assert all(now is before for now, before in zip(table.get_row(key), cells)), key

        # A day later ATOM/USDT goes on top; the cursor follows BNB/USDT down a row.
        clock_of(app).set(NEXT_DAY)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: table.row_count == 5, timeout=20)
        assert table.row_keys()[0].startswith("ATOM/USDT|1h|")
        assert table.cursor_key == bnb
        assert table.cursor_row == 3
        for key, cells in cells_before.items():
            assert all(now is before for now, before in zip(table.get_row(key), cells)), key
        assert app.spike_feed.border_subtitle == "5 shown"


async def test_overview_shows_latest_levels(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until_started(pilot)
        overview = app.overview
        assert overview.display
        assert overview.symbols() == ["AVAX/USDT", "BNB/USDT", "DOT/USDT", "NEAR/USDT"]
        expected = {
            ("AVAX/USDT", "4h"): "L",
            ("BNB/USDT", "1d"): "L",
            ("DOT/USDT", "5m"): "M",
            ("NEAR/USDT", "1h"): "H",
        }
        for symbol in overview.symbols():
            for timeframe in ("5m", "1h", "4h", "1d"):
                assert overview.cell_text(symbol, timeframe) == expected.get((symbol, timeframe), "·"), (symbol, timeframe)
        high = overview.get_cell("NEAR/USDT", "1h").style
        assert high == overview.get_component_rich_style("spike-overview--high", partial=True)

        # The next day's 1h run finds ATOM/USDT and not NEAR/USDT, whose spike is now an earlier candle's.
        clock_of(app).set(NEXT_DAY)
        app.timeframe_table.move_cursor(row=1)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: "ATOM/USDT" in overview.symbols(), timeout=20)
        assert overview.symbols()[0] == "ATOM/USDT"
        assert overview.cell_text("ATOM/USDT", "1h") == "H"
        assert overview.cell_text("NEAR/USDT", "1h") == "h"
        assert overview.get_cell("NEAR/USDT", "1h").style == overview.get_component_rich_style(
            "spike-overview--earlier", partial=True
        )
        assert overview.cell_text("DOT/USDT", "5m") == "M"


async def test_overview_hidden_at_80_columns_until_toggled(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=NARROW) as pilot:
        await wait_until_started(pilot)
        overview = app.overview
        timeframes = app.timeframe_table
        assert not overview.display
        assert app.screen.has_class("-narrow")

        await pilot.press("o")
        assert overview.display
        assert overview.region.width > 0
        assert overview.region.y >= timeframes.region.bottom
        assert timeframes.size.width == 78
        used = sum(column.get_render_width(timeframes) for column in timeframes.columns.values())
        assert used <= timeframes.size.width
        assert overview.cell_text("NEAR/USDT", "1h") == "H"

        # The choice holds when the terminal grows, and o hides it again at any width.
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert app.screen.has_class("-wide")
        assert overview.display
        await pilot.press("o")
        assert not overview.display
        await pilot.resize_terminal(*NARROW)
        await pilot.pause()
        assert not overview.display


async def test_overview_shown_by_default_when_wide(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until_started(pilot)
        assert app.overview.display
        assert app.overview.symbols() == []

        # Without a choice made, the overview follows the width.
        await pilot.resize_terminal(*NARROW)
        await pilot.pause()
        assert not app.overview.display


async def test_feed_keys_in_footer_only_when_wide(tmp_path):
    app = make_app(tmp_path, at=FROZEN_AT)
    async with app.run_test(size=NARROW) as pilot:
        await wait_until_started(pilot)
        shown = {key for key, active in app.screen.active_bindings.items() if active.binding.show}
        assert {"space", "r", "a", "x", "q"} <= shown
        assert not {"s", "t", "slash", "o"} & shown

        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        shown = {key for key, active in app.screen.active_bindings.items() if active.binding.show}
        assert {"space", "r", "a", "x", "q", "s", "t", "slash", "o"} <= shown
        await pilot.press("s")
        assert app.spike_table.sort_by is SpikeSort.LEVEL

        commands = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Sort spikes", "Filter spikes by timeframe", "Filter spikes by symbol", "Show/hide overview"} <= commands
