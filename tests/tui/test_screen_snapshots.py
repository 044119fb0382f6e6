"""Snapshot tests of the deeper views; regenerate on purpose with `pytest tests/tui --snapshot-update`.

Every app runs the seeded demo market on a frozen clock with its scheduler paused, and
no screen here has a text input, so no cursor blinks.
"""

from __future__ import annotations

from app_fixtures import make_app, make_demo_app, wait_for, wait_until_started
from test_screens import store_failed_run
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.spike_detail import SpikeDetailScreen


async def open_top_spike(pilot) -> None:
    app = pilot.app
    await wait_until_started(pilot)
    assert await wait_for(pilot, lambda: app.spike_table.row_count == 4)
    app.spike_table.focus()
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: isinstance(app.screen, SpikeDetailScreen))
    from tui.widgets.spike_chart import SpikeChart

    chart = app.screen.query_one(SpikeChart)
    assert await wait_for(pilot, lambda: chart.placeholder is None)
    await pilot.pause()


def test_spike_detail_80x24(snap_compare, tmp_path):
    """The NEAR/USDT 1h high spike's detail at 80×24, opened with enter on the top spike row.

    Border title "NEAR/USDT · 1h · high spike". Fields in two columns: opened 2024-03-02 02:30,
    closed 03:30 (Asia/Tehran), volume 1,667,617, baseline mean 299,873, distance 11.6σ,
    ratio 5.6x, level high, RSI 75.7, signal bearish, close 4.77866, change +4.06 %, method
    "sigma n=25 2.5/4/6σ". Then "Found by run #2 at 03-02 03:30 (ok, 0.0s): 20 symbols ok,
    0 failed, 1 spike" and the caption "60 candles 02-28 15:30 – 03-02 02:30 Asia/Tehran ·
    volume in M · mean 300K · low 595K medium 772K high 1.01M". The close line sits above the
    volume bars. The last bar is the tallest, in the high-level colour, and the mean and
    threshold lines cross the bars. Time labels 15:30 … 02:30 sit under the bars. Footer: esc Close.
    """
    app = make_demo_app(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_top_spike)


async def open_history_1h(pilot) -> None:
    app = pilot.app
    await wait_until_started(pilot)
    await pilot.press("h")
    assert await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
    await pilot.press("right")
    await pilot.pause()


def test_history_80x24(snap_compare, tmp_path):
    """The run history at 80×24 on its 1 Hour tab, reached with h then right.

    Title "Run history · times in Asia/Tehran"; tabs 5 Minutes, 1 Hour (active), 4 Hours,
    1 Day. Table "1 Hour runs", "2 shown". First comes the failed run scheduled 03-02 04:30:
    took 2.0s, 0 ok, 0 failed, spikes —, and its error's first line, cut at the screen's edge
    after "RuntimeError: feed". Then the ok run at 03:30 with 20 ok, 0 failed,
    1 spike. The cursor is on the failed run. The Footer shows only the history's own keys:
    ← Previous TF, → Next TF, esc Close.
    """
    app = make_demo_app(tmp_path)
    store_failed_run(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_history_1h)


async def open_help(pilot) -> None:
    app = pilot.app
    await wait_until_started(pilot)
    await pilot.press("question_mark")
    assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
    await pilot.pause()


def test_help_100x44(snap_compare, tmp_path):
    """The key help at 100×44, opened with ?, every section visible without scrolling.

    A "Keys" box over the dimmed dashboard. Dashboard lists ^q, space, r, a, x, ⏎ (enter), q, ?, h,
    s, t, /, o and ^p, each with what it does. Every screen lists tab, shift+tab, ^c and
    super+c. Then come Spike detail and chart (esc), Run history (esc, ←, →, ⏎), Run error
    (esc) and This help (esc, q). The subtitle reads "escape or q closes".
    """
    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=(100, 44), run_before=open_help)


async def fail_a_run(pilot) -> None:
    app = pilot.app
    await wait_until_started(pilot)
    await pilot.press("r")
    assert await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications))
    await pilot.pause()


def test_failed_run_toast_80x24(snap_compare, tmp_path):
    """The main screen at 80×24 after a 5m run by hand failed, because the only watched symbol
    NOPE/USDT is not in the demo market.

    An error toast at the bottom right titled "5m run failed" reads "RunError: no symbol could
    be read (1 failed): NOPE/USDT: not in the demo market; available: …". The 5m row's last run
    is "03:30 failed" (the clock is frozen at 03:30:20 Asia/Tehran). No spikes are listed.
    """
    app = make_app(tmp_path, symbols=["NOPE/USDT"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=fail_a_run)
