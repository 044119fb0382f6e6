"""The spike feed: the latest spikes of every timeframe, sortable and filterable by timeframe and symbol."""

from __future__ import annotations

import math
from datetime import timezone, tzinfo
from enum import Enum
from typing import Iterable, Sequence

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import DataTable, Input

from core.analysis.records import Level, SpikeRecord
from tui.formatting import NO_VALUE, format_close_time, format_distance, format_ratio, format_rsi


class SpikeSort(str, Enum):
    """The orders the spike table cycles through; the first is the default."""

    TIME = "time"
    LEVEL = "level"
    DISTANCE = "distance"
    SYMBOL = "symbol"

    @property
    def title(self) -> str:
        return _SORT_TITLES[self]

    def next(self) -> "SpikeSort":
        members = list(SpikeSort)
        return members[(members.index(self) + 1) % len(members)]


_SORT_TITLES = {
    SpikeSort.TIME: "newest first",
    SpikeSort.LEVEL: "by level",
    SpikeSort.DISTANCE: "by distance",
    SpikeSort.SYMBOL: "by symbol",
}
_LEVEL_RANK = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}


def spike_key(record: SpikeRecord) -> str:
    """Return the row key of a spike: one row per symbol, timeframe and candle, as in the store."""
    open_time = record.open_time.astimezone(timezone.utc).isoformat()
    return f"{record.symbol}|{record.timeframe}|{open_time}"


def sort_key(record: SpikeRecord, sort: SpikeSort) -> tuple:
    """Return the ascending sort key of a spike for `sort`.

    Every order ends in newer close first and larger distance first, so ties keep a stable,
    useful order. A missing distance sorts after every number.
    """
    closed = -record.close_time.timestamp()
    distance = record.distance if record.distance is not None and not math.isnan(record.distance) else -math.inf
    level = _LEVEL_RANK.get(record.level, -1)
    if sort is SpikeSort.LEVEL:
        return (-level, closed, -distance, record.symbol, record.timeframe)
    if sort is SpikeSort.DISTANCE:
        return (-distance, closed, record.symbol, record.timeframe)
    if sort is SpikeSort.SYMBOL:
        return (record.symbol, closed, -distance, record.timeframe)
    return (closed, -distance, record.symbol, record.timeframe)


def symbol_matches(symbol: str, query: str) -> bool:
    """Return whether `query` is in `symbol`, ignoring case and separators, so "btcus" finds BTC/USDT."""
    needle = _normalise_symbol(query)
    return needle in _normalise_symbol(symbol)


def _normalise_symbol(text: str) -> str:
    return "".join(character for character in text.upper() if character.isalnum())


class _KeyedText(Text):
    """The level cell; carries the row key, since DataTable.sort passes only cell values to its key."""

    __slots__ = ("row_key",)

    def __init__(self, text: str, style: Style, row_key: str) -> None:
        super().__init__(text, style=style)
        self.row_key = row_key


_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("level", "Level", len("medium")),
    ("symbol", "Symbol", None),
    ("timeframe", "TF", None),
    ("closed", "Closed", len("12-31 23:59")),
    ("distance", "Dist", len("100.0σ")),
    ("ratio", "Ratio", len("100.0x")),
    ("rsi", "RSI", len("100.0")),
    ("signal", "Signal", len("bearish")),
)


class SpikeTable(DataTable):
    """Spike rows keyed by spike_key(), in the chosen sort, showing only spikes that pass the filters.

    The table keeps the newest `max_rows` spikes (by candle close) whether or not they pass the
    filters; changing a filter adds and removes rows by key. Showing a spike again updates only
    the cells that changed, and the cursor stays on the spike it was on while that row exists.
    """

    COMPONENT_CLASSES = {
        "spike-table--low",
        "spike-table--medium",
        "spike-table--high",
        "spike-table--bullish",
        "spike-table--bearish",
    }

    def __init__(
        self, display_zone: tzinfo, max_rows: int = 200, timeframes: Sequence[str] = (), **kwargs
    ) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.display_zone = display_zone
        self.max_rows = max_rows
        self.timeframes = list(timeframes)
        """The timeframe keys the timeframe filter cycles through, in registry order."""
        self.sort_by = SpikeSort.TIME
        self.timeframe_filter: str | None = None
        self.symbol_filter = ""
        self._records: dict[str, SpikeRecord] = {}

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)
        # Cell colours are resolved when a cell is drawn, so a new theme redraws every cell.
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    # Content

    def show_spikes(self, records: Iterable[SpikeRecord]) -> int:
        """Add or update a spike per record, keep the newest `max_rows`; return how many spikes were new.

        Records without a level are not spikes and are left out.
        """
        added = 0
        updated: set[str] = set()
        for record in records:
            if record.level is None:
                continue
            key = spike_key(record)
            previous = self._records.get(key)
            if previous is None:
                added += 1
            elif previous != record:
                updated.add(key)
            self._records[key] = record

        newest_first = sorted(self._records, key=lambda key: sort_key(self._records[key], SpikeSort.TIME))
        for key in newest_first[self.max_rows :]:
            del self._records[key]
            updated.discard(key)
        self._sync(updated)
        return added

    def record(self, key: str) -> SpikeRecord:
        """Return the spike shown in the row with key `key`; KeyError when the table does not keep it."""
        return self._records[key]

    @property
    def total_count(self) -> int:
        """Spikes the table keeps, shown or filtered out."""
        return len(self._records)

    @property
    def cursor_key(self) -> str | None:
        """The row key of the spike under the cursor, or None while no row is shown."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def row_keys(self) -> list[str]:
        """Return the row keys in display order."""
        return [row.key.value for row in self.ordered_rows]

    def row_texts(self) -> list[list[str]]:
        """Return the plain text of every row in display order; for tests."""
        return [
            [cell.plain if isinstance(cell, Text) else str(cell) for cell in self.get_row(row.key)]
            for row in self.ordered_rows
        ]

    # Sort and filters

    def set_sort(self, sort: SpikeSort) -> None:
        self.sort_by = sort
        self._sync()

    def cycle_sort(self) -> SpikeSort:
        """Switch to the next sort (time, level, distance, symbol, then time again) and return it."""
        self.set_sort(self.sort_by.next())
        return self.sort_by

    def set_timeframe_filter(self, timeframe: str | None) -> None:
        """Show only spikes of `timeframe`, or of every timeframe for None."""
        self.timeframe_filter = timeframe
        self._sync()

    def cycle_timeframe_filter(self) -> str | None:
        """Step the timeframe filter from all through each timeframe key back to all; return the new one."""
        steps: list[str | None] = [None, *self.timeframes]
        current = steps.index(self.timeframe_filter) if self.timeframe_filter in steps else 0
        self.set_timeframe_filter(steps[(current + 1) % len(steps)])
        return self.timeframe_filter

    def set_symbol_filter(self, query: str) -> None:
        """Show only spikes whose symbol contains `query` (see symbol_matches); empty shows all."""
        self.symbol_filter = query.strip()
        self._sync()

    def passes_filters(self, record: SpikeRecord) -> bool:
        if self.timeframe_filter is not None and record.timeframe != self.timeframe_filter:
            return False
        return not self.symbol_filter or symbol_matches(record.symbol, self.symbol_filter)

    # Keyed updates

    def _sync(self, updated: set[str] = frozenset()) -> None:
        """Bring the rows in line with the kept spikes, the filters and the sort, touching only what changed."""
        cursor_key = self.cursor_key
        wanted = sorted(
            (key for key, record in self._records.items() if self.passes_filters(record)),
            key=lambda key: sort_key(self._records[key], self.sort_by),
        )
        wanted_set = set(wanted)

        with self.app.batch_update():
            for key in [key for key in self.row_keys() if key not in wanted_set]:
                self.remove_row(key)
            for key in wanted:
                if key not in self.rows:
                    cells = self._cells(self._records[key])
                    self.add_row(*(cells[column] for column, _, _ in _COLUMNS), key=key)
                elif key in updated:
                    self._update_changed_cells(key)

            if self.row_keys() != wanted:
                rank = {key: index for index, key in enumerate(wanted)}
                self.sort("level", key=lambda cell: rank[cell.row_key])
            if cursor_key is not None and cursor_key in self.rows:
                self.move_cursor(row=self.get_row_index(cursor_key), animate=False)

    def _update_changed_cells(self, key: str) -> None:
        for column, cell in self._cells(self._records[key]).items():
            shown = self.get_cell(key, column)
            if shown.plain != cell.plain or shown.style != cell.style:
                self.update_cell(key, column, cell)

    # Drawing

    def _restyle(self, _theme: object = None) -> None:
        with self.app.batch_update():
            for key in self.row_keys():
                cells = self._cells(self._records[key])
                self.update_cell(key, "level", cells["level"])
                self.update_cell(key, "signal", cells["signal"])

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"spike-table--{name}", partial=True, default=Style())

    def _cells(self, record: SpikeRecord) -> dict[str, Text]:
        level = record.level.value
        signal = record.signal.value if record.signal is not None else NO_VALUE
        return {
            "level": _KeyedText(level, self._style(level), spike_key(record)),
            "symbol": Text(record.symbol),
            "timeframe": Text(record.timeframe),
            "closed": Text(format_close_time(record.close_time, self.display_zone)),
            "distance": Text(format_distance(record.distance, record.method), justify="right"),
            "ratio": Text(format_ratio(record.ratio), justify="right"),
            "rsi": Text(format_rsi(record.rsi), justify="right"),
            "signal": Text(signal, style=self._style(signal) if record.signal is not None else Style()),
        }


class SpikeFilter(Input):
    """The symbol filter line; filters as you type, enter keeps the filter, escape clears and closes it."""

    BINDINGS = [
        # Hidden from the Footer: shown first, they would push the job keys off an 80-column line.
        # The placeholder names them instead.
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="Clear the symbol filter and close it"),
        Binding("enter", "keep_filter", "Keep filter", show=False, tooltip="Keep the filter and go back to the spikes"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(placeholder="symbol contains…  (enter keeps, escape clears)", compact=True, **kwargs)

    def action_clear_filter(self) -> None:
        feed = self.parent
        assert isinstance(feed, SpikeFeed)
        feed.close_filter()

    def action_keep_filter(self) -> None:
        feed = self.parent
        assert isinstance(feed, SpikeFeed)
        if not self.value.strip():
            feed.close_filter()
        else:
            feed.table.focus()


class SpikeFeed(Vertical):
    """The bordered spike panel: an optional symbol filter line above the spike table.

    The border title names the sort and the active filters; the subtitle counts the spikes shown.
    """

    def __init__(self, table: SpikeTable, **kwargs) -> None:
        super().__init__(**kwargs)
        self.table = table

    def compose(self) -> ComposeResult:
        yield SpikeFilter(id="spike-filter")
        yield self.table

    def on_mount(self) -> None:
        self.filter_input.display = False
        self.update_titles()

    def on_resize(self) -> None:
        # The app shows the feed's keys in the Footer only on wide screens, so a new width
        # may change which keys the Footer lists.
        self.refresh_bindings()

    @property
    def filter_input(self) -> SpikeFilter:
        return self.query_one("#spike-filter", SpikeFilter)

    def show_spikes(self, records: Iterable[SpikeRecord]) -> int:
        """Show the records' spikes in the table (see SpikeTable.show_spikes) and recount them."""
        added = self.table.show_spikes(records)
        self.update_titles()
        return added

    def cycle_sort(self) -> SpikeSort:
        sort = self.table.cycle_sort()
        self.update_titles()
        return sort

    def cycle_timeframe_filter(self) -> str | None:
        timeframe = self.table.cycle_timeframe_filter()
        self.update_titles()
        return timeframe

    def open_filter(self) -> None:
        """Show the symbol filter line and focus it, keeping any text already typed."""
        self.filter_input.display = True
        self.filter_input.focus()

    def close_filter(self) -> None:
        """Clear the symbol filter, hide its line and give the focus back to the table."""
        self.filter_input.value = ""
        self.filter_input.display = False
        self.table.set_symbol_filter("")
        self.update_titles()
        self.table.focus()

    @on(Input.Changed, "#spike-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_symbol_filter(event.value)
        self.update_titles()

    def update_titles(self) -> None:
        table = self.table
        parts = ["Spikes", table.sort_by.title]
        if table.timeframe_filter is not None:
            parts.append(table.timeframe_filter)
        if table.symbol_filter:
            parts.append(f"“{escape(table.symbol_filter)}”")
        self.border_title = " · ".join(parts)

        if not table.total_count:
            self.border_subtitle = "none yet"
        elif table.row_count == table.total_count:
            self.border_subtitle = f"{table.row_count} shown"
        else:
            self.border_subtitle = f"{table.row_count} of {table.total_count} shown"
