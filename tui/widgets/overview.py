"""The level overview: one row per symbol, one column per timeframe, each cell the symbol's latest spike level.

A capital letter (L, M, H) is a spike on the newest candle the dashboard knows for that
timeframe; a small letter is a spike on an earlier candle, so the symbol's newest candle
had none; "·" is no spike known.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping, Sequence

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from core.analysis.records import Level, SpikeRecord

NO_SPIKE = "·"
LEVEL_LETTERS = {Level.LOW: "L", Level.MEDIUM: "M", Level.HIGH: "H"}

_SYMBOL_COLUMN = "symbol"


class SpikeOverview(DataTable):
    """Symbols × timeframes, keyed by symbol and timeframe key; only cells that change are redrawn.

    Lists only symbols with at least one known spike, in alphabetical order.
    """

    COMPONENT_CLASSES = {
        "spike-overview--low",
        "spike-overview--medium",
        "spike-overview--high",
        "spike-overview--earlier",
    }

    def __init__(self, timeframes: Sequence[str], **kwargs) -> None:
        super().__init__(cursor_type="none", **kwargs)
        self.timeframes = list(timeframes)
        self._newest_spike: dict[tuple[str, str], SpikeRecord] = {}
        self._newest_candle: dict[str, datetime] = {}
        """Per timeframe, the open time of the newest candle evaluated, spike or not."""

    def on_mount(self) -> None:
        self.add_column("Symbol", key=_SYMBOL_COLUMN)
        for timeframe in self.timeframes:
            self.add_column(timeframe, key=timeframe)
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def show_records(self, records: Iterable[SpikeRecord], evaluated: Mapping[str, datetime] | None = None) -> None:
        """Take in verdicts (spikes or not) and the newest evaluated candle per timeframe, then redraw.

        A verdict without a level only moves its timeframe's newest candle forward; `evaluated`
        does the same for runs whose records are not at hand, such as stored runs.
        """
        for timeframe, open_time in (evaluated or {}).items():
            self._note_candle(timeframe, open_time)
        for record in records:
            if record.timeframe not in self.timeframes:
                continue
            self._note_candle(record.timeframe, record.open_time)
            if record.level is None:
                continue
            cell = (record.symbol, record.timeframe)
            known = self._newest_spike.get(cell)
            if known is None or record.open_time >= known.open_time:
                self._newest_spike[cell] = record
        self._sync()

    def cell_text(self, symbol: str, timeframe: str) -> str:
        """Return the letter shown for `symbol` and `timeframe`: L, M, H, l, m, h or ·."""
        value = self.get_cell(symbol, timeframe)
        return value.plain if isinstance(value, Text) else str(value)

    def symbols(self) -> list[str]:
        """Return the symbols listed, in display order."""
        return [row.key.value for row in self.ordered_rows]

    def _note_candle(self, timeframe: str, open_time: datetime) -> None:
        known = self._newest_candle.get(timeframe)
        if known is None or open_time > known:
            self._newest_candle[timeframe] = open_time

    def _sync(self) -> None:
        symbols = sorted({symbol for symbol, _ in self._newest_spike})
        with self.app.batch_update():
            added = False
            for symbol in symbols:
                cells = self._cells(symbol)
                if symbol not in self.rows:
                    self.add_row(Text(symbol), *(cells[timeframe] for timeframe in self.timeframes), key=symbol)
                    added = True
                    continue
                for timeframe, cell in cells.items():
                    shown = self.get_cell(symbol, timeframe)
                    if shown.plain != cell.plain or shown.style != cell.style:
                        self.update_cell(symbol, timeframe, cell)
            if added:
                self.sort(_SYMBOL_COLUMN, key=lambda cell: cell.plain)

    def _cells(self, symbol: str) -> dict[str, Text]:
        return {timeframe: self._cell(symbol, timeframe) for timeframe in self.timeframes}

    def _cell(self, symbol: str, timeframe: str) -> Text:
        record = self._newest_spike.get((symbol, timeframe))
        if record is None:
            return Text(NO_SPIKE, justify="center")
        letter = LEVEL_LETTERS[record.level]
        style = self._style(record.level.value)
        newest = self._newest_candle.get(timeframe)
        if newest is not None and record.open_time < newest:
            letter = letter.lower()
            style = self._style("earlier")
        return Text(letter, style=style, justify="center")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"spike-overview--{name}", partial=True, default=Style())

    def _restyle(self, _theme: object = None) -> None:
        with self.app.batch_update():
            for symbol in self.symbols():
                for timeframe, cell in self._cells(symbol).items():
                    self.update_cell(symbol, timeframe, cell)
