"""Snapshot test of the wide dashboard; regenerate on purpose with `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

from app_fixtures import make_demo_app, wait_for, wait_until_started


async def sort_by_level(pilot) -> None:
    app = pilot.app
    await wait_until_started(pilot)
    assert await wait_for(pilot, lambda: app.spike_table.row_count == 4)
    await pilot.press("s")
    await pilot.pause()


def test_main_screen_wide_160x48(snap_compare, tmp_path):
    """The main screen at 160×48 after every timeframe ran for the 03:30 close, spikes sorted by level with s.

    Timeframes: the four rows as at 80×24 plus a Cron column ("*/5 * * * * UTC" … "0 0 * * * UTC").
    Below it, side by side: the spike feed titled "Spikes · by level", rows NEAR/USDT 1h high,
    DOT/USDT 5m medium, BNB/USDT 1d low, AVAX/USDT 4h low, subtitle "4 shown"; and on the right
    the "Latest level" overview (subtitle "small: earlier") with columns 5m 1h 4h 1d and rows
    AVAX/USDT "· · L ·", BNB/USDT "· · · L", DOT/USDT "M · · ·", NEAR/USDT "· H · ·", the
    letters in the level colours. The Footer shows the job keys (space Toggle first), q Quit, ? Keys,
    then h History, s Sort, t TF, / Filter and o Overview, with ^p palette on the right. The timeframe table has the focus.
    The clock is frozen and the scheduler paused; no text input is open, so no cursor blinks.
    """
    app = make_demo_app(tmp_path)
    assert snap_compare(app, terminal_size=(160, 48), run_before=sort_by_level)
