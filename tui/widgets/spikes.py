"""The spike table: the latest spikes of every timeframe, newest candle close first."""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo
from typing import Iterable

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from core.analysis.records import SpikeRecord
from tui.formatting import NO_VALUE, format_close_time, format_distance, format_ratio, format_rsi


class _CloseTimeText(Text):
    """The close-time cell; carries the row's sort order, since DataTable sorts on cell values."""

    __slots__ = ("sort_key",)

    def __init__(self, text: str, sort_key: tuple[datetime, float]) -> None:
        super().__init__(text)
        self.sort_key = sort_key


def spike_key(record: SpikeRecord) -> str:
    """Return the row key of a spike: one row per symbol, timeframe and candle, as in the store."""
    open_time = record.open_time.astimezone(timezone.utc).isoformat()
    return f"{record.symbol}|{record.timeframe}|{open_time}"


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
    """Spike rows keyed by spike_key(); showing a spike again updates its row in place."""

    COMPONENT_CLASSES = {
        "spike-table--low",
        "spike-table--medium",
        "spike-table--high",
        "spike-table--bullish",
        "spike-table--bearish",
    }

    def __init__(self, display_zone: tzinfo, max_rows: int = 200, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.display_zone = display_zone
        self.max_rows = max_rows
        self._records: dict[str, SpikeRecord] = {}

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)
        # Cell colours are resolved when a cell is drawn, so a new theme redraws every cell.
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def show_spikes(self, records: Iterable[SpikeRecord]) -> int:
        """Add or update a row per spike, keep the newest `max_rows`; return how many rows were added.

        Records without a level are not spikes and are left out.
        """
        added = 0
        for record in records:
            if record.level is None:
                continue
            key = spike_key(record)
            self._records[key] = record
            cells = self._cells(record)
            if key in self.rows:
                for column, cell in cells.items():
                    self.update_cell(key, column, cell)
            else:
                self.add_row(*(cells[column] for column, _, _ in _COLUMNS), key=key)
                added += 1

        self.sort("closed", key=lambda cell: cell.sort_key, reverse=True)
        for row in self.ordered_rows[self.max_rows :]:
            self.remove_row(row.key)
            del self._records[row.key.value]
        return added

    def row_texts(self) -> list[list[str]]:
        """Return the plain text of every row in display order; for tests."""
        return [
            [cell.plain if isinstance(cell, Text) else str(cell) for cell in self.get_row(row.key)]
            for row in self.ordered_rows
        ]

    def _restyle(self, _theme: object = None) -> None:
        with self.app.batch_update():
            for key, record in self._records.items():
                cells = self._cells(record)
                self.update_cell(key, "level", cells["level"])
                self.update_cell(key, "signal", cells["signal"])

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"spike-table--{name}", partial=True, default=Style())

    def _cells(self, record: SpikeRecord) -> dict[str, Text]:
        level = record.level.value
        distance = record.distance if record.distance is not None and not math.isnan(record.distance) else -math.inf
        sort_key = (record.close_time.astimezone(timezone.utc), distance)
        signal = record.signal.value if record.signal is not None else NO_VALUE
        return {
            "level": Text(level, style=self._style(level)),
            "symbol": Text(record.symbol),
            "timeframe": Text(record.timeframe),
            "closed": _CloseTimeText(format_close_time(record.close_time, self.display_zone), sort_key),
            "distance": Text(format_distance(record.distance, record.method), justify="right"),
            "ratio": Text(format_ratio(record.ratio), justify="right"),
            "rsi": Text(format_rsi(record.rsi), justify="right"),
            "signal": Text(signal, style=self._style(signal) if record.signal is not None else Style()),
        }
