"""Text for the dashboard's cells: countdowns, times in the display time zone, durations and spike values.

Pure functions of their arguments, so widgets and tests format the same value the same way.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

STATE_ACTIVE = "●"
STATE_STOPPED = "○"
RUNNING = "running…"
NO_VALUE = "—"


def format_countdown(remaining: timedelta) -> str:
    """Format the time to the next run as mm:ss under an hour, else h:mm:ss; 00:00 once due.

    Seconds are rounded up, so the countdown shows 00:01 until the fire time and 00:00 at it.
    """
    seconds = max(0, math.ceil(remaining.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def format_time_of_day(moment: datetime, zone: tzinfo) -> str:
    """Format an aware time as HH:MM in the display time zone."""
    return moment.astimezone(zone).strftime("%H:%M")


def format_clock(moment: datetime, zone: tzinfo) -> str:
    """Format the header clock: date and time to the second in the display time zone."""
    return moment.astimezone(zone).strftime("%a %d %b %H:%M:%S")


def format_close_time(moment: datetime, zone: tzinfo) -> str:
    """Format a candle close as MM-DD HH:MM in the display time zone; spikes span several days."""
    return moment.astimezone(zone).strftime("%m-%d %H:%M")


def format_duration(seconds: float | None) -> str:
    """Format a run's duration: 0.4s under a minute, else 2m05s."""
    if seconds is None:
        return NO_VALUE
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def format_age(age: timedelta) -> str:
    """Format how long ago a candle closed, compactly: 45s, 30m, 2h, 1h30m, 3d, 1d4h, 12d, 8.8y."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    if days >= 365:
        return f"{days / 365.25:.1f}y"
    if days >= 10:
        return f"{days}d"
    return f"{days}d{hours}h" if hours else f"{days}d"


def format_candle_age(age: timedelta) -> str:
    """Format the evaluated candle's age at fire time; empty when the run fired on its close."""
    if age <= timedelta(0):
        return ""
    return f"{format_age(age)} old"


def format_distance(distance: float | None, method: str) -> str:
    """Format the spike's distance above its baseline: σ for sigma and robust, x for rvol.

    `method` is the description stored with every record, such as "sigma n=25 2.5/4/6σ".
    """
    if distance is None:
        return NO_VALUE
    unit = "x" if method.startswith("rvol") else "σ"
    return f"{distance:.1f}{unit}"


def format_ratio(ratio: float | None) -> str:
    """Format volume over baseline mean, such as 4.2x."""
    if ratio is None:
        return NO_VALUE
    return f"{ratio:.1f}x"


def format_rsi(rsi: float | None) -> str:
    if rsi is None or math.isnan(rsi):
        return NO_VALUE
    return f"{rsi:.1f}"
