"""The dashboard's deeper views: spike detail with chart, run history, error modal, key help, palette."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static
from zoneinfo import ZoneInfo

from app_fixtures import FIRED_AT, make_app, prerun_timeframes, wait_for, wait_until_started
from core.analysis.records import Level
from core.chart_data import ChartBar, ChartData
from core.store import Store
from tui.app import VolscopeApp
from tui.screens.help import HelpScreen, class_bindings
from tui.screens.history import ErrorScreen, HistoryScreen
from tui.screens.spike_detail import ChartScreen, SpikeDetailScreen

REPO_ROOT = Path(__file__).resolve().parents[2]
TEHRAN = ZoneInfo("Asia/Tehran")
MARKUP_ERROR = "RuntimeError: feed said [bold]no[/] and [red]closed[/red] the socket\nline two of the error"


def screen_text(app: App) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def store_failed_run(tmp_path, error: str = MARKUP_ERROR) -> None:
    store = Store(tmp_path / "volscope.sqlite")
    try:
        store.record_run(
            "1h",
            FIRED_AT + timedelta(hours=1),
            "failed",
            started_at=FIRED_AT + timedelta(hours=1, seconds=10),
            finished_at=FIRED_AT + timedelta(hours=1, seconds=12),
            error=error,
        )
    finally:
        store.close()


async def focus_spikes(pilot) -> None:
    await wait_until_started(pilot)
    await wait_for(pilot, lambda: pilot.app.spike_table.row_count > 0)
    pilot.app.spike_table.focus()
    await pilot.pause()


# Spike detail


async def test_enter_opens_spike_detail(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await focus_spikes(pilot)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SpikeDetailScreen))

        screen = app.screen
        assert screen.record.symbol == "NEAR/USDT"
        assert screen.record.level is Level.HIGH
        from tui.widgets.spike_chart import SpikeChart

        chart = screen.query_one(SpikeChart)
        assert await wait_for(pilot, lambda: chart.placeholder is None)
        text = screen_text(app)
        assert "NEAR/USDT · 1h · high spike" in text
        assert "2024-03-02 02:30" in text
        assert "2024-03-02 03:30" in text
        assert "11.6σ" in text
        assert "bearish" in text
        assert "sigma n=25 2.5/4/6σ" in text
        assert "Found by run #" in text
        assert "20 symbols ok, 0 failed, 1 spike" in text
        assert chart.caption.startswith("60 candles 02-28 15:30 – 03-02 02:30 Asia/Tehran")
        assert chart.data.bars[-1].level is Level.HIGH

        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, ChartScreen))


async def test_detail_without_stored_run(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until_started(pilot)
        record = app.runtime.store.spikes()[0]
        app.runtime.store = None
        await app.push_screen(SpikeDetailScreen(app.runtime, record))
        await pilot.pause()
        assert "Run: not in the store" in screen_text(app)


async def test_chart_screen_unknown_symbol(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        app.open_chart("NOPE/USDT", "1h")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen))
        from tui.widgets.spike_chart import SpikeChart

        chart = app.screen.query_one(SpikeChart)
        assert await wait_for(pilot, lambda: (chart.placeholder or "").startswith("No chart"))
        assert "NOPE/USDT: not in the demo market" in chart.placeholder


# The chart's placeholder cases


class ChartApp(App[None]):
    def __init__(self, data: ChartData | None) -> None:
        super().__init__()
        self.data = data

    def compose(self) -> ComposeResult:
        from tui.widgets.spike_chart import SpikeChart

        yield SpikeChart(TEHRAN, self.data, id="chart")


def bars(volumes: list[float]) -> tuple[ChartBar, ...]:
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    return tuple(
        ChartBar(start + timedelta(hours=index), volume, 10.0 + index, None, None, None)
        for index, volume in enumerate(volumes)
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "Loading candles…"),
        (ChartData("A/USDT", "1h", "sigma", ()), "No data: no closed candles for this symbol and timeframe yet"),
        (ChartData("A/USDT", "1h", "sigma", bars([5.0])), "No data: one closed candle is not enough for a chart"),
        (ChartData("A/USDT", "1h", "sigma", bars([0.0, 0.0, 0.0])), "No data: every candle has zero volume"),
    ],
)
async def test_chart_placeholder(data, expected):
    from tui.widgets.spike_chart import SpikeChart

    app = ChartApp(data)
    async with app.run_test(size=(60, 16)) as pilot:
        await pilot.pause()
        chart = app.query_one(SpikeChart)
        assert chart.placeholder == expected
        assert expected in screen_text(app)
        assert chart.caption == ""


async def test_chart_redraws_with_new_data():
    from textual_plotext import PlotextPlot

    from tui.widgets.spike_chart import SpikeChart

    app = ChartApp(ChartData("A/USDT", "1h", "sigma", ()))
    async with app.run_test(size=(60, 16)) as pilot:
        chart = app.query_one(SpikeChart)
        chart.show_data(ChartData("A/USDT", "1h", "sigma", bars([1_000.0, 2_500.0, 1_200.0])))
        await pilot.pause()

        assert chart.placeholder is None
        assert all(plot.display for plot in chart.query(PlotextPlot))
        assert chart.caption == "3 candles 03-01 03:30 – 03-01 05:30 Asia/Tehran · volume in K"
        assert "05:30" in screen_text(app)

        chart.show_data(ChartData("A/USDT", "1h", "sigma", bars([7.0])))
        await pilot.pause()
        assert chart.placeholder == "No data: one closed candle is not enough for a chart"


async def test_chart_single_spike_bars_are_narrow():
    from tui.widgets.spike_chart import SpikeChart

    volumes = [10.0] * 20
    chart_bars = list(bars(volumes))
    for index, volume, level in ((0, 100.0, Level.HIGH), (8, 50.0, Level.LOW), (19, 100.0, Level.HIGH)):
        chart_bars[index] = ChartBar(chart_bars[index].open_time, volume, 18.0, 10.0, (40.0, 60.0, 80.0), level)
    app = ChartApp(ChartData("A/USDT", "1h", "sigma", tuple(chart_bars)))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert app.query_one(SpikeChart).placeholder is None
        top_row = next(line for line in screen_text(app).splitlines() if line.lstrip().startswith("100┤"))
        # Only the two high bars reach the top, and one bar of twenty on about 55 columns
        # is two or three cells wide.
        assert 2 <= top_row.count("█") <= 6


def test_chart_not_imported_at_start():
    code = "import sys, tui.app; print(sorted(m for m in ('plotext', 'textual_plotext', 'pandas') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


# Run history and the error modal


async def test_h_opens_history(tmp_path):
    await prerun_timeframes(tmp_path)
    store_failed_run(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        await pilot.press("h")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        history = app.screen

        assert history.timeframe == "5m"
        assert history.table.row_count == 1
        assert "03:30" in screen_text(app)

        await pilot.press("right")
        assert history.timeframe == "1h"
        rows = [history.table.get_row_at(index) for index in range(history.table.row_count)]
        assert [str(row[2]) for row in rows] == ["failed", "ok"]
        assert str(rows[0][0]) == "03-02 04:30"
        assert str(rows[0][1]).strip() == "2.0s"
        assert str(rows[1][5]).strip() == "1"
        assert str(rows[0][6]) == "RuntimeError: feed said [bold]no[/] and [red]closed[/red] the socket"

        await pilot.press("left")
        assert history.timeframe == "5m"
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen))


async def test_failed_run_error_is_escaped(tmp_path):
    store_failed_run(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        await pilot.press("h", "right")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))

        error_text = app.screen.query_one("#error-text", Static)
        assert str(error_text.render()) == MARKUP_ERROR
        text = screen_text(app)
        assert "feed said [bold]no[/] and [red]closed[/red] the socket" in text
        assert "line two of the error" in text
        assert "1h run 2024-03-02 04:30 · failed" in text

        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_history_ok_run_has_no_error(tmp_path):
    await prerun_timeframes(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        await pilot.press("h")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert any("has no error text" in notification.message for notification in app._notifications)


# Help


async def test_help_lists_every_key(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 50)) as pilot:
        await wait_until_started(pilot)
        await pilot.press("question_mark")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))

        sections = dict(app.screen.sections)
        dashboard = dict(sections["Dashboard"])
        for binding in class_bindings(VolscopeApp):
            key = app.get_key_display(binding)
            assert dashboard[key] == (binding.tooltip or binding.description)
        for key in ("h", "?", "space", "r", "q", "^p"):
            assert key in dashboard, key
        assert dict(sections["Run history"])["⏎"] == "Show the selected run's full error"
        assert "esc" in dict(sections["Spike detail and chart"])
        text = screen_text(app)
        assert "Open the run history" in text

        await pilot.press("q")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert app.is_running


async def test_help_closes_with_escape(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 50)) as pilot:
        await wait_until_started(pilot)
        await pilot.press("question_mark")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


# Palette and alerts


async def test_palette_commands(tmp_path):
    from tui.commands import VolscopeCommands

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        provider = VolscopeCommands(app.screen)
        await provider.startup()
        names = {command.name: command for command in provider.commands()}

        for key in ("5m", "1h", "4h", "1d"):
            assert f"Start {key} job" in names
            assert f"Stop {key} job" in names
            assert f"Run {key} now" in names
            assert f"Chart BTC/USDT {key}" in names
        assert "Open run history" in names
        assert "Show keys" in names

        names["Stop 1h job"].callback()
        assert not app.runtime.service.info("1h").active
        names["Stop 1h job"].callback()
        await pilot.pause()
        assert any("not running" in notification.message for notification in app._notifications)
        names["Start 1h job"].callback()
        assert app.runtime.service.info("1h").active

        was_dark = app.current_theme.dark
        names["Switch dark/light theme"].callback()
        await pilot.pause()
        assert app.current_theme.dark is not was_dark

        names["Chart BTC/USDT 4h"].callback()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen))
        assert (app.screen.symbol, app.screen.timeframe) == ("BTC/USDT", "4h")


async def test_high_spike_toast_and_bell(tmp_path):
    app = make_app(tmp_path, bell_on_high=True)
    rings = []
    app.bell = lambda: rings.append(True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_started(pilot)
        app.runtime.service.run_now("1h")
        assert await wait_for(
            pilot, lambda: any("NEAR/USDT" in notification.message for notification in app._notifications)
        )
        toast = next(notification for notification in app._notifications if "NEAR/USDT" in notification.message)
        assert toast.title == "High spike on 1h"
        assert "11.6σ" in toast.message
        assert rings == [True]
