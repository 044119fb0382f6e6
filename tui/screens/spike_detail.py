"""Modal views of one symbol's chart: a symbol and timeframe alone, or a spike with its fields and run.

The chart module (and with it plotext) is imported when the first of these screens mounts.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from core.analysis.records import SpikeRecord
from core.sources.base import SourceError
from core.timeframes import InvalidTimeframe
from tui.formatting import NO_VALUE, format_distance, format_duration, format_ratio, format_rsi

if TYPE_CHECKING:
    from core.runtime import Runtime
    from core.store import RunRow

_DAY_MINUTES = 24 * 60
_TIME_PATTERN = "%Y-%m-%d %H:%M"
_SHORT_TIME_PATTERN = "%m-%d %H:%M"


def _number(value: float | None, pattern: str = "{:,.6g}") -> str:
    if value is None:
        return NO_VALUE
    if pattern == "{:,.6g}" and abs(value) >= 1000:
        # Volumes and large prices read best whole, with thousands separators.
        return f"{value:,.0f}"
    return pattern.format(value)


def spike_fields(record: SpikeRecord, zone: tzinfo) -> list[tuple[str, str]]:
    """Return every field of a spike as (label, text) pairs, times in `zone`."""
    signal = record.signal.value if record.signal is not None else NO_VALUE
    rsi = format_rsi(record.rsi)
    if record.rsi is not None and not record.rsi_settled:
        rsi += " (not settled)"
    return [
        ("Symbol", record.symbol),
        ("Timeframe", record.timeframe),
        ("Opened", record.open_time.astimezone(zone).strftime(_TIME_PATTERN)),
        ("Closed", record.close_time.astimezone(zone).strftime(_TIME_PATTERN)),
        ("Volume", _number(record.volume)),
        ("Baseline mean", _number(record.baseline_mean)),
        ("Distance", format_distance(record.distance, record.method)),
        ("Ratio", format_ratio(record.ratio)),
        ("Level", record.level.value if record.level is not None else NO_VALUE),
        ("RSI", rsi),
        ("Signal", signal),
        ("Close", _number(record.close)),
        ("Change", _number(record.change_pct, "{:+.2f} %")),
        ("Method", record.method),
    ]


def run_summary(run: RunRow | None, zone: tzinfo) -> str:
    """Describe the run that found a spike in one line, times in `zone`."""
    if run is None:
        return "Run: not in the store"
    scheduled = run.scheduled_at.astimezone(zone).strftime(_SHORT_TIME_PATTERN)
    by_hand = " by hand" if run.manual else ""
    spikes = "1 spike" if run.spikes_found == 1 else f"{run.spikes_found} spikes"
    return (
        f"Found by run #{run.id}{by_hand} at {scheduled} ({run.status}, {format_duration(run.duration)}):"
        f" {run.symbols_ok} symbols ok, {run.symbols_failed} failed, {spikes}"
    )


class ChartScreen(ModalScreen[None]):
    """A symbol's last candles on one timeframe, ending at `until` (default: now)."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", tooltip="Close this chart"),
    ]

    DEFAULT_CSS = """
    ChartScreen {
        align: center middle;

        #chart-dialog {
            width: 100%;
            height: 100%;
            max-width: 160;
            border: round $primary;
            border-title-color: $foreground;
            background: $surface;
        }
    }
    """

    def __init__(self, runtime: Runtime, symbol: str, timeframe: str, until: datetime | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.symbol = symbol
        self.timeframe = timeframe
        self.until = until
        self.display_zone = runtime.service.display_zone

    def compose(self) -> ComposeResult:
        with Vertical(id="chart-dialog") as dialog:
            dialog.border_title = self.dialog_title()
            yield from self.compose_details()
        yield Footer()

    def dialog_title(self) -> str:
        return f"{self.symbol} · {self.timeframe}"

    def compose_details(self) -> ComposeResult:
        return iter(())

    async def on_mount(self) -> None:
        from tui.widgets.spike_chart import SpikeChart

        chart = SpikeChart(self.display_zone, daily=self._is_daily(), id="chart")
        await self.query_one("#chart-dialog").mount(chart)
        self.load_chart()

    def _is_daily(self) -> bool:
        if self.timeframe not in self.runtime.registry:
            return False
        return self.runtime.registry.get(self.timeframe).minutes >= _DAY_MINUTES

    @work(exclusive=True, group="chart")
    async def load_chart(self) -> None:
        """Fetch the candles and hand them to the chart; a failure shows in the chart's place."""
        from tui.widgets.spike_chart import SpikeChart

        chart = self.query_one("#chart", SpikeChart)
        try:
            data = await self.runtime.chart_data(self.symbol, self.timeframe, until=self.until)
        except (SourceError, InvalidTimeframe, ValueError) as error:
            chart.show_error(f"No chart: {error}")
            return
        chart.show_data(data)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)


class SpikeDetailScreen(ChartScreen):
    """One spike: every field of its record, the run that found it, and the chart up to its candle."""

    DEFAULT_CSS = """
    SpikeDetailScreen {
        #spike-fields {
            height: auto;
            padding: 0 1;
        }
        #spike-run {
            height: auto;
            padding: 0 1;
            color: $foreground-muted;
        }
    }
    """

    def __init__(self, runtime: Runtime, record: SpikeRecord) -> None:
        super().__init__(runtime, record.symbol, record.timeframe, until=record.close_time)
        self.record = record

    def dialog_title(self) -> str:
        level = self.record.level.value if self.record.level is not None else "no level"
        return f"{self.record.symbol} · {self.record.timeframe} · {level} spike"

    def compose_details(self) -> ComposeResult:
        yield Static(self._fields_table(), id="spike-fields")
        yield Static(Text(run_summary(self._run(), self.display_zone)), id="spike-run")

    def _run(self) -> RunRow | None:
        store = self.runtime.store
        if store is None:
            return None
        record = self.record
        return store.run_for_spike(record.symbol, record.timeframe, record.open_time)

    def _fields_table(self) -> Table:
        # Two label/value pairs per row keep the fields to seven lines at 80 columns.
        table = Table.grid(padding=(0, 1), expand=True)
        for _ in range(2):
            table.add_column(style="bold", no_wrap=True)
            table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        fields = spike_fields(self.record, self.display_zone)
        for index in range(0, len(fields), 2):
            cells: list[Text] = []
            for label, value in fields[index : index + 2]:
                cells += [Text(label), Text(value)]
            table.add_row(*cells)
        return table
