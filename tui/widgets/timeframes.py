"""The timeframe table: one row per timeframe with its job state, next run, countdown and last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Iterable

from rich.style import Style
from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from core.events import RunFailed, RunMissed, RunResult, RunSkipped
from core.scheduler import JobInfo
from core.store import RunRow
from tui.formatting import (
    NO_VALUE,
    RUNNING,
    STATE_ACTIVE,
    STATE_STOPPED,
    format_candle_age,
    format_countdown,
    format_duration,
    format_time_of_day,
)


@dataclass(frozen=True)
class LastRun:
    """The outcome of a timeframe's latest fire, as the table shows it."""

    status: str
    """ok, failed, skipped or missed, as stored."""
    scheduled_at: datetime
    """The fire time the outcome belongs to; for a run by hand, when it was asked for."""
    duration: float | None = None
    spikes: int | None = None
    candle_age: timedelta = timedelta(0)
    """How long before the fire time the evaluated candle closed."""
    symbols_failed: int = 0
    """Symbols an ok run could not read; the table then says "partial" instead of "ok"."""

    @property
    def shown_status(self) -> str:
        if self.status == "ok" and self.symbols_failed:
            return "partial"
        return self.status

    @classmethod
    def from_result(cls, result: RunResult) -> "LastRun":
        return cls(
            "ok", result.scheduled_at, result.duration, len(result.spikes), result.candle_age, len(result.failures)
        )

    @classmethod
    def from_failed(cls, event: RunFailed) -> "LastRun":
        duration = (event.finished_at - event.started_at).total_seconds()
        return cls("failed", event.scheduled_at, duration)

    @classmethod
    def from_skipped(cls, event: RunSkipped) -> "LastRun":
        return cls("skipped", event.scheduled_at)

    @classmethod
    def from_missed(cls, event: RunMissed) -> "LastRun":
        return cls("missed", event.scheduled_at)

    @classmethod
    def from_stored(cls, row: RunRow, interval: timedelta) -> "LastRun":
        """Rebuild the outcome of a run stored before the dashboard opened."""
        candle_age = timedelta(0)
        if row.evaluated_open is not None:
            candle_age = row.scheduled_at - (row.evaluated_open + interval)
        spikes = row.spikes_found if row.status == "ok" else None
        return cls(row.status, row.scheduled_at, row.duration, spikes, candle_age, row.symbols_failed)


@dataclass
class _TimeframeRow:
    info: JobInfo
    last_run: LastRun | None = None
    running: bool = False
    shown: dict[str, str] = field(default_factory=dict)
    """Plain text of each cell as last drawn, so a refresh touches only cells that changed."""


# Column key, label and fixed width. Fixed widths keep the columns still while the
# countdown and last-run texts change length; None fits the column to its content.
_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("state", "", 1),
    ("name", "Timeframe", None),
    ("next", "Next", 5),
    ("countdown", "In", len("999:59:59")),
    ("last", "Last run", len("00:00 skipped")),
    ("took", "Took", len("10m00s")),
    ("spikes", "Spikes", 6),
    ("candle", "Candle", len("23h59m old")),
)
_CRON_COLUMN = "cron"
_RIGHT_ALIGNED = {"took", "spikes"}


class TimeframeTable(DataTable):
    """Timeframe rows keyed by timeframe key.

    The cron column is shown only when the table is wide enough for every column. At 80
    columns the other columns of the default timeframes fit in full, with a few cells to spare.
    """

    COMPONENT_CLASSES = {
        "timeframe-table--active",
        "timeframe-table--stopped",
        "timeframe-table--ok",
        "timeframe-table--failed",
        "timeframe-table--skipped",
        "timeframe-table--missed",
        "timeframe-table--running",
    }

    def __init__(self, display_zone: tzinfo, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.display_zone = display_zone
        self._rows: dict[str, _TimeframeRow] = {}
        self._now: datetime | None = None
        self.show_cron = False
        self._cached_update_count = -1
        """DataTable's update count when _replace_cell last dropped stale cached renders."""

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)
        # Cell colours are resolved when a cell is drawn, so a new theme redraws every cell.
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    # Content

    def show_jobs(self, jobs: Iterable[JobInfo], now: datetime, last_runs: dict[str, LastRun] | None = None) -> None:
        """Add a row per job; call once, later changes go through the update methods."""
        self._now = now
        last_runs = last_runs or {}
        for info in jobs:
            row = _TimeframeRow(info, last_runs.get(info.key))
            self._rows[info.key] = row
            cells = self._cells(row)
            row.shown = {key: cell.plain for key, cell in cells.items()}
            self.add_row(*(cells[key] for key, _, _ in _COLUMNS), key=info.key)
        self._show_cron_if_room(self.size.width)

    def update_job(self, info: JobInfo, now: datetime) -> None:
        """Show a job's new state after it was started or stopped."""
        self._now = now
        if info.key in self._rows:
            self._rows[info.key].info = info
            self._redraw(info.key)

    def set_running(self, key: str, running: bool) -> None:
        if key in self._rows:
            self._rows[key].running = running
            self._redraw(key)

    def set_last_run(self, key: str, last_run: LastRun) -> None:
        if key in self._rows:
            self._rows[key].last_run = last_run
            self._redraw(key)

    def refresh_countdowns(self, jobs: Iterable[JobInfo], now: datetime) -> None:
        """Recompute every countdown from its next run and `now`; only changed cells are redrawn."""
        self._now = now
        with self.app.batch_update():
            for info in jobs:
                row = self._rows.get(info.key)
                if row is None:
                    continue
                row.info = info
                self._redraw(info.key)

    @property
    def selected_key(self) -> str | None:
        """The timeframe key of the row under the cursor, or None while the table is empty."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def cell_text(self, key: str, column: str) -> str:
        """Return the plain text shown in one cell, without its style."""
        value = self.get_cell(key, column)
        return value.plain if isinstance(value, Text) else str(value)

    # Drawing

    def _restyle(self, _theme: object = None) -> None:
        with self.app.batch_update():
            for key, row in self._rows.items():
                row.shown.clear()
                self._redraw(key)

    def _redraw(self, key: str) -> None:
        row = self._rows[key]
        for column, cell in self._cells(row).items():
            if row.shown.get(column) != cell.plain:
                row.shown[column] = cell.plain
                self._replace_cell(key, column, cell)

    def _replace_cell(self, key: str, column: str, cell: Text) -> None:
        """Show a new value in a fixed-width cell, repainting that cell alone.

        DataTable.update_cell bumps the table-wide update count that every render cache is
        keyed on, and refreshes the whole widget, so one changed countdown re-renders every
        cell and re-sends the whole table to the terminal. A fixed-width column keeps its
        width whatever the value, so here only the cached renders of this one cell (and of
        the lines of its row) are dropped and only its region is repainted.
        """
        row_key, column_key = RowKey(key), ColumnKey(column)
        if self.columns[column_key].auto_width:
            self.update_cell(key, column, cell)
            return

        # Limitation: this writes DataTable internals, its cell data and four render caches
        # whose keys start with the row key, row index or line, as Textual 8.2.8 lays them
        # out. The pin in pyproject.toml holds that layout, and test_timeframe_repaint.py
        # fails if a repainted cell or its row is drawn stale after an upgrade.
        self._data[row_key][column_key] = cell

        if self._update_count != self._cached_update_count:
            # Renders keyed on an earlier update count are never hit again but stay until the
            # LRU limit (10,000 cells); dropping them keeps the scans below short.
            self._cell_render_cache.clear()
            self._row_render_cache.clear()
            self._line_cache.clear()
            self._cached_update_count = self._update_count
        for cache_key in [k for k in self._cell_render_cache.keys() if k[0] == row_key and k[1] == column_key]:
            self._cell_render_cache.discard(cache_key)
        for cache_key in [k for k in self._row_render_cache.keys() if k[0] == row_key]:
            self._row_render_cache.discard(cache_key)
        row_index = self.get_row_index(row_key)
        self._row_renderable_cache.discard((self._update_count, row_index))
        row_region = self._get_row_region(row_index)
        row_lines = range(row_region.y, row_region.bottom)
        for cache_key in [k for k in self._line_cache.keys() if k[0] in row_lines]:
            self._line_cache.discard(cache_key)

        self.refresh_coordinate(Coordinate(row_index, self.get_column_index(column_key)))

    def _cells(self, row: _TimeframeRow) -> dict[str, Text]:
        info = row.info
        cells = {
            "state": self._state_cell(info.active),
            "name": Text(info.name),
            "next": Text(format_time_of_day(info.next_run_at, self.display_zone) if info.next_run_at else NO_VALUE),
            "countdown": self._countdown_cell(row),
        }
        cells.update(self._last_run_cells(row.last_run))
        return cells

    def _style(self, name: str) -> Style:
        # Partial: only the component's own colour, so the row cursor's background shows through.
        return self.get_component_rich_style(f"timeframe-table--{name}", partial=True, default=Style())

    def _state_cell(self, active: bool) -> Text:
        if active:
            return Text(STATE_ACTIVE, style=self._style("active"))
        return Text(STATE_STOPPED, style=self._style("stopped"))

    def _countdown_cell(self, row: _TimeframeRow) -> Text:
        if row.running:
            return Text(RUNNING, style=self._style("running"))
        if not row.info.active or row.info.next_run_at is None or self._now is None:
            return Text(NO_VALUE)
        return Text(format_countdown(row.info.next_run_at - self._now))

    def _last_run_cells(self, last_run: LastRun | None) -> dict[str, Text]:
        if last_run is None:
            return {
                "last": Text(NO_VALUE),
                "took": Text(""),
                "spikes": Text(""),
                "candle": Text(""),
            }
        # A partly failed run is coloured like a skipped one: it needs a look, but it ran.
        status_style = self._style("skipped" if last_run.shown_status == "partial" else last_run.status)
        last = Text(format_time_of_day(last_run.scheduled_at, self.display_zone) + " ")
        last.append(last_run.shown_status, style=status_style)
        took = format_duration(last_run.duration) if last_run.duration is not None else ""
        spikes = "" if last_run.spikes is None else str(last_run.spikes)
        return {
            "last": last,
            "took": Text(took, justify="right"),
            "spikes": Text(spikes, justify="right"),
            "candle": Text(format_candle_age(last_run.candle_age)),
        }

    # The cron column

    def on_resize(self, event: events.Resize) -> None:
        self._show_cron_if_room(event.size.width)

    def _show_cron_if_room(self, width: int) -> None:
        show_cron = bool(self._rows) and width >= self._width_with_cron()
        if show_cron == self.show_cron:
            return
        self.show_cron = show_cron
        if show_cron:
            self.add_column("Cron", key=_CRON_COLUMN)
            self._fill_cron_column()
        else:
            self.remove_column(_CRON_COLUMN)

    def _fill_cron_column(self) -> None:
        for key, row in self._rows.items():
            self.update_cell(key, _CRON_COLUMN, self._cron_text(row.info), update_width=True)

    def _cron_text(self, info: JobInfo) -> str:
        return f"{info.cron} {info.schedule_timezone}"

    def _width_with_cron(self) -> int:
        padding = 2 * self.cell_padding
        fixed = sum(
            column.get_render_width(self) for column in self.columns.values() if column.key.value != _CRON_COLUMN
        )
        cron = max((len(self._cron_text(row.info)) for row in self._rows.values()), default=0)
        return fixed + max(cron, len("Cron")) + padding

