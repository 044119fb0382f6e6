"""Pilot tests of the main screen: job toggling, countdowns, runs by hand, failures and quitting."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from app_fixtures import FROZEN_AT, clock_of, make_app, prerun_timeframes, wait_for, wait_until_started
from textual.markup import escape
from textual.notifications import Notify

from core.store import Store

SIZE = (80, 24)
ONE_MINUTE_PAST = datetime(2024, 3, 2, 0, 1, 0, tzinfo=timezone.utc)
"""04:00 before the next 5m fire at 00:05 UTC (03:35 in Tehran)."""


def notifications(messages: list) -> list:
    return [message.notification for message in messages if isinstance(message, Notify)]


async def test_space_toggles_job_and_countdown_falls(tmp_path):
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        assert table.selected_key == "5m"
        assert table.cell_text("5m", "state") == "●"
        assert table.cell_text("5m", "next") == "03:35"
        assert table.cell_text("5m", "countdown") == "04:00"

        await pilot.press("space")
        await pilot.pause()
        assert table.cell_text("5m", "state") == "○"
        assert table.cell_text("5m", "next") == "—"
        assert table.cell_text("5m", "countdown") == "—"
        assert table.cell_text("1h", "state") == "●"

        await pilot.press("space")
        await pilot.pause()
        assert table.cell_text("5m", "state") == "●"
        assert table.cell_text("5m", "countdown") == "04:00"

        before = {column: table.cell_text("5m", column) for column in ("state", "name", "next", "last")}
        clock_of(app).advance(30)
        fell = await wait_for(pilot, lambda: table.cell_text("5m", "countdown") != "04:00", timeout=3)
        assert fell, "the countdown did not change within 3 s of the clock moving"
        assert table.cell_text("5m", "countdown") == "03:30"
        assert table.cell_text("1h", "countdown") == "58:30"
        assert table.cell_text("4h", "countdown") == "3:58:30"
        after = {column: table.cell_text("5m", column) for column in ("state", "name", "next", "last")}
        assert after == before
        assert app.header.clock_text == "Sat 02 Mar 03:31:30 Asia/Tehran"


async def test_stop_all_and_start_all(tmp_path):
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table

        await pilot.press("x")
        await pilot.pause()
        assert [table.cell_text(key, "state") for key in ("5m", "1h", "4h", "1d")] == ["○"] * 4
        assert app.runtime.service.active_jobs() == []

        await pilot.press("a")
        await pilot.pause()
        assert [table.cell_text(key, "state") for key in ("5m", "1h", "4h", "1d")] == ["●"] * 4
        assert table.cell_text("1d", "countdown") == "23:59:00"


async def test_run_now_fills_spike_table(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        spikes = app.spike_table
        assert spikes.row_count == 0

        await pilot.press("down", "r")
        assert table.selected_key == "1h"
        filled = await wait_for(pilot, lambda: spikes.row_count > 0, timeout=20)
        assert filled, "no spike appeared within 20 s of running 1h by hand"
        assert spikes.row_texts() == [
            ["high", "NEAR/USDT", "1h", "03-02 03:30", "11.6σ", "5.6x", "75.7", "bearish"],
        ]
        assert table.cell_text("1h", "last") == "03:30 ok"
        assert table.cell_text("1h", "spikes") == "1"
        # A run by hand at 00:00:20 evaluates the 1h candle that closed at 00:00.
        assert table.cell_text("1h", "candle") == "20s old"
        assert table.cell_text("1h", "countdown") == "59:40"

        # Running the same candle again updates its row instead of adding a second one.
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.runtime.service.in_progress("1h"), timeout=20)
        assert spikes.row_count == 1

        # A day later the new spike goes on top.
        clock_of(app).set(datetime(2024, 3, 3, 0, 0, 20, tzinfo=timezone.utc))
        await pilot.press("r")
        grew = await wait_for(pilot, lambda: spikes.row_count == 2, timeout=20)
        assert grew, "the second day's spike did not appear within 20 s"
        assert [row[:4] for row in spikes.row_texts()] == [
            ["high", "ATOM/USDT", "1h", "03-03 03:30"],
            ["high", "NEAR/USDT", "1h", "03-02 03:30"],
        ]


async def test_stored_runs_and_spikes_shown_at_start(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        for key in ("5m", "1h", "4h", "1d"):
            assert table.cell_text(key, "state") == "●"
            assert table.cell_text(key, "last") == "03:30 ok"
            assert table.cell_text(key, "spikes") == "1"
            assert table.cell_text(key, "candle") == ""
        assert [row[:3] for row in app.spike_table.row_texts()] == [
            ["high", "NEAR/USDT", "1h"],
            ["medium", "DOT/USDT", "5m"],
            ["low", "BNB/USDT", "1d"],
            ["low", "AVAX/USDT", "4h"],
        ]


async def test_run_now_during_run_warns(tmp_path):
    app = make_app(tmp_path)
    messages: list = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await wait_until_started(pilot)
        # A run standing in for a scheduled fire waits out the 10 s settle delay, so it stays in progress.
        app.runtime.service.run_now("5m", scheduled_at=app.runtime.clock.now())
        await pilot.pause()
        assert app.timeframe_table.cell_text("5m", "countdown") == "running…"

        await pilot.press("r")
        await pilot.pause()
        warnings = [note for note in notifications(messages) if note.severity == "warning"]
        assert len(warnings) == 1
        assert warnings[0].message.startswith("A 5m run is already in progress (started 03:30:20)")


async def test_failed_run_notifies_escaped_reason(tmp_path):
    app = make_app(tmp_path, symbols=["[b]NOPE[/b]"])
    messages: list = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await wait_until_started(pilot)
        await pilot.press("r")
        failed = await wait_for(pilot, lambda: app.timeframe_table.cell_text("5m", "last") == "03:30 failed")
        assert failed, "the 5m run did not fail within 5 s"

        errors = [note for note in notifications(messages) if note.severity == "error"]
        assert len(errors) == 1
        assert errors[0].title == "5m run failed"
        assert "[b]NOPE[/b]: not in the demo market" in errors[0].message.replace("\\[", "[")
        assert escape("[b]NOPE[/b]") in errors[0].message
        assert app.spike_table.row_count == 0


async def test_partly_failed_run_shows_partial(tmp_path):
    app = make_app(tmp_path, symbols=["BTC/USDT", "NOPE/USDT"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        await pilot.press("r")
        partial = await wait_for(pilot, lambda: app.timeframe_table.cell_text("5m", "last") == "03:30 partial")
        assert partial, "the 5m run with one unknown symbol did not show as partial"
    (run,) = Store(tmp_path / "volscope.sqlite").runs("5m")
    assert run.status == "ok"
    assert run.symbols_failed == 1


async def test_quit_during_run_exits_promptly(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        app.runtime.service.run_now("1h", scheduled_at=FROZEN_AT)
        await pilot.pause()
        assert app.runtime.service.in_progress("1h")

        pressed_at = time.monotonic()
        await pilot.press("q")
    elapsed = time.monotonic() - pressed_at

    # run_test re-raises any exception that crashed the app, so reaching here means no traceback.
    assert elapsed < 2.0
    assert app.return_code == 0
    store = Store(tmp_path / "volscope.sqlite")
    try:
        last = store.runs("1h", limit=1)[0]
    finally:
        store.close()
    assert last.status == "failed"
    assert last.error == "cancelled because volscope is shutting down"


async def test_cron_column_only_when_wide(tmp_path):
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        assert table.show_cron
        assert table.cell_text("5m", "cron") == "*/5 * * * * UTC"
        assert table.cell_text("1d", "cron") == "0 0 * * * UTC"

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not table.show_cron
        assert "cron" not in [column.key.value for column in table.columns.values()]
        # Every remaining column fits inside the table, so none is cut.
        used = sum(column.get_render_width(table) for column in table.columns.values())
        assert used <= table.size.width
        assert table.cell_text("5m", "countdown") == "04:00"

        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert table.show_cron
        assert table.cell_text("4h", "cron") == "0 */4 * * * UTC"


async def test_theme_change_recolours_cells(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        spikes = app.spike_table
        table = app.timeframe_table
        high_row = spikes.ordered_rows[0].key
        dark_high = spikes.get_cell(high_row, "level").style
        dark_active = table.get_cell("5m", "state").style
        assert dark_high == spikes.get_component_rich_style("spike-table--high", partial=True)

        app.theme = "nord"
        await pilot.pause()
        await pilot.pause()
        nord_high = spikes.get_cell(high_row, "level").style
        assert nord_high == spikes.get_component_rich_style("spike-table--high", partial=True)
        assert nord_high != dark_high
        assert table.get_cell("5m", "state").style == table.get_component_rich_style(
            "timeframe-table--active", partial=True
        )
        assert table.get_cell("5m", "state").style != dark_active
