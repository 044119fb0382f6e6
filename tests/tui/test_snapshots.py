"""Snapshot tests of the dashboard; regenerate on purpose with `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

from app_fixtures import make_demo_app, wait_until_started


def test_main_screen_after_runs_80x24(snap_compare, tmp_path):
    """The main screen at 80×24 after every timeframe ran for the 03:30 close (00:00 UTC, 2024-03-02).

    Header: "volscope", DEMO on an accent background, and "Sat 02 Mar 03:30:20 Asia/Tehran".
    Timeframes: all four rows ● with next runs 03:35, 04:30, 07:30, 03:30 and countdowns 04:40,
    59:40, 3:59:40, 23:59:40; each last run "03:30 ok", 0.0s, 1 spike, no candle age; no Cron
    column at this width, and nothing cut. The first row has the cursor.
    Spikes, titled "Spikes · newest first": NEAR/USDT 1h high (11.6σ, bearish) on top, then
    DOT/USDT 5m medium, BNB/USDT 1d low and AVAX/USDT 4h low, all closed 03-02 03:30; the border
    says "4 shown".
    Footer: space Toggle, r Run now, a Start all, x Stop all, q Quit, ? Keys, ^p palette, none cut.
    The clock is frozen and the scheduler paused; the screen has no text input, so no cursor blinks.
    """
    app = make_demo_app(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=wait_until_started)
