"""The timeframe table repaints a changed countdown in place: the screen shows the new value,
and the cached renders of the cells that did not change are kept."""

from __future__ import annotations

from datetime import datetime, timezone

from app_fixtures import clock_of, make_app, wait_for, wait_until_started
from textual.geometry import Region

SIZE = (120, 40)
ONE_MINUTE_PAST = datetime(2024, 3, 2, 0, 1, 0, tzinfo=timezone.utc)
"""04:00 before the next 5m fire at 00:05 UTC (03:35 in Tehran), 59:00 before the 1h one."""


def drawn_lines(table) -> list[str]:
    """The table's lines as the compositor would get them, through the widget's line cache."""
    return [strip.text for strip in table.render_lines(Region(0, 0, table.size.width, table.size.height))]


def drawn_row(table, name: str) -> str:
    rows = [line for line in drawn_lines(table) if f" {name} " in line]
    assert len(rows) == 1, f"expected one drawn row for {name!r}, got {rows}"
    return rows[0]


async def test_tick_repaints_countdown_in_place(tmp_path):
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        await pilot.pause()
        assert "04:00" in drawn_row(table, "5 Minutes")
        assert "59:00" in drawn_row(table, "1 Hour")
        update_count = table._update_count

        clock_of(app).advance(30)
        fell = await wait_for(pilot, lambda: table.cell_text("5m", "countdown") == "03:30", timeout=3)
        assert fell, "the countdown did not change within 3 s of the clock moving"
        await pilot.pause()

        five_minutes = drawn_row(table, "5 Minutes")
        assert "03:30" in five_minutes
        assert "04:00" not in five_minutes
        assert "03:35" in five_minutes, "the next-run time beside the countdown must stay drawn"
        one_hour = drawn_row(table, "1 Hour")
        assert "58:30" in one_hour
        assert "59:00" not in one_hour
        assert "3:58:30" in drawn_row(table, "4 Hours")
        # A table-wide update count bump would drop every cached cell render.
        assert table._update_count == update_count


async def test_cursor_over_repainted_rows(tmp_path):
    """The row cursor's highlight and a repainted countdown do not leave stale lines behind."""
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        clock_of(app).advance(30)
        assert await wait_for(pilot, lambda: table.cell_text("1h", "countdown") == "58:30", timeout=3)
        await pilot.press("down")
        await pilot.pause()
        assert table.selected_key == "1h"

        clock_of(app).advance(10)
        assert await wait_for(pilot, lambda: table.cell_text("1h", "countdown") == "58:20", timeout=3)
        await pilot.pause()
        assert "58:20" in drawn_row(table, "1 Hour")
        assert "03:20" in drawn_row(table, "5 Minutes")


async def test_resizes_leave_no_stale_renders(tmp_path):
    """Each resize starts a new update count in the table, and one within a width class
    restyles nothing, so Textual keeps the renders of the earlier counts. A tick afterwards
    drops them."""
    app = make_app(tmp_path, at=ONE_MINUTE_PAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until_started(pilot)
        table = app.timeframe_table
        for second in range(1, 7):
            await pilot.resize_terminal(130 if second % 2 else 140, 40)
            await pilot.pause()
            clock_of(app).advance(1)
            assert await wait_for(pilot, lambda: table.cell_text("5m", "countdown") == f"03:{60 - second:02d}", timeout=3)
            await pilot.pause()

        # One update count's worth: header and job rows, each cell with and without the row cursor.
        one_generation = (table.row_count + 1) * len(table.columns) * 2
        assert len(table._cell_render_cache) <= one_generation
        assert "03:54" in drawn_row(table, "5 Minutes")
