"""A symbol's recent candles as a chart: close price above, volume bars below, spikes coloured by level.

This module imports plotext (through textual-plotext) at import time, so the dashboard imports
it only when a chart is first shown and the first frame never waits for it.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from core.analysis.records import Level
from core.chart_data import ChartData

PLACEHOLDER_LOADING = "Loading candles…"
PLACEHOLDER_EMPTY = "No data: no closed candles for this symbol and timeframe yet"
PLACEHOLDER_ONE = "No data: one closed candle is not enough for a chart"
PLACEHOLDER_ZERO = "No data: every candle has zero volume"

# Volume is shown in thousands, millions or billions so the y-axis labels stay short.
_UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "K"))
# Time labels under the volume bars; more would overlap at 80 columns.
_TIME_TICKS = 5
_BAR_WIDTH = 0.7


def volume_unit(peak: float) -> tuple[float, str]:
    """Return the divisor and suffix (K, M, B) that keep `peak` below a thousand, or (1, "")."""
    for divisor, suffix in _UNITS:
        if peak >= divisor:
            return divisor, suffix
    return 1.0, ""


def format_volume(value: float) -> str:
    """Format a volume compactly: 950, 12.3K, 4.56M, 1.2B."""
    divisor, suffix = volume_unit(abs(value))
    scaled = value / divisor
    if not suffix:
        return f"{scaled:.0f}" if scaled >= 100 else f"{scaled:.3g}"
    return f"{scaled:.3g}{suffix}"


def placeholder_text(data: ChartData | None) -> str | None:
    """Return why `data` cannot be charted, or None when it can."""
    if data is None:
        return PLACEHOLDER_LOADING
    if not data.bars:
        return PLACEHOLDER_EMPTY
    if len(data.bars) == 1:
        return PLACEHOLDER_ONE
    if not data.is_plottable:
        return PLACEHOLDER_ZERO
    return None


def time_ticks(open_times: list[datetime], zone: tzinfo, daily: bool) -> tuple[list[int], list[str]]:
    """Pick up to five evenly spaced bar positions and label them with open times in `zone`."""
    count = len(open_times)
    if count == 0:
        return [], []
    step = max(1, round((count - 1) / (_TIME_TICKS - 1)))
    positions = list(range(0, count, step))
    if positions[-1] != count - 1:
        # The newest bar is the one a reader looks for, so it always gets a label.
        if count - 1 - positions[-1] < step / 2:
            positions[-1] = count - 1
        else:
            positions.append(count - 1)
    pattern = "%m-%d" if daily else "%H:%M"
    return positions, [open_times[index].astimezone(zone).strftime(pattern) for index in positions]


def _series_bar_width(positions: list[int]) -> float:
    """Return the plotext bar width that draws every bar of a series _BAR_WIDTH candles wide.

    plotext 5.3 scales a series' bar width by the mean spacing of its x values, so two
    spikes far apart in one series would otherwise be drawn as wide as the gap between them.
    """
    if len(positions) < 2:
        return _BAR_WIDTH
    mean_spacing = (positions[-1] - positions[0]) / (len(positions) - 1)
    return _BAR_WIDTH / mean_spacing


def _ticks(low: float, high: float, pattern: str) -> list[tuple[float, str]]:
    """Three y-axis ticks from `low` to `high`, labelled with `pattern`; one when they are equal."""
    if high <= low:
        return [(low, pattern.format(low))]
    values = (low, (low + high) / 2, high)
    return [(value, pattern.format(value)) for value in values]


class SpikeChart(Vertical):
    """Price and volume of a ChartData; call `show_data` with new data to redraw.

    Colours come from the component classes below, so the chart follows the app's theme
    and the same level colours as the spike table.
    """

    DEFAULT_CSS = """
    SpikeChart {
        height: 1fr;
        min-height: 8;

        #chart-caption {
            height: auto;
            color: $foreground-muted;
            padding: 0 1;
        }
        #chart-placeholder {
            height: 1fr;
            content-align: center middle;
            color: $foreground-muted;
            text-style: italic;
        }
        #chart-price {
            height: 1fr;
            min-height: 3;
        }
        #chart-volume {
            height: 2fr;
            min-height: 6;
        }
        & > .spike-chart--volume { color: $foreground-muted; }
        & > .spike-chart--baseline { color: $foreground; }
        & > .spike-chart--close { color: $accent; }
        & > .spike-chart--low { color: $primary; }
        & > .spike-chart--medium { color: $warning; }
        & > .spike-chart--high { color: $error; }
    }
    """

    COMPONENT_CLASSES = {
        "spike-chart--volume",
        "spike-chart--baseline",
        "spike-chart--close",
        "spike-chart--low",
        "spike-chart--medium",
        "spike-chart--high",
    }

    def __init__(self, display_zone: tzinfo, data: ChartData | None = None, daily: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.display_zone = display_zone
        self.data = data
        self.error: str | None = None
        """Why the data could not be loaded; shown in place of the chart until new data comes."""
        self.daily = daily
        """Label the time axis with dates instead of times of day (timeframes of a day or more)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="chart-caption", markup=False)
        yield Static(PLACEHOLDER_LOADING, id="chart-placeholder", markup=False)
        yield PlotextPlot(id="chart-price")
        yield PlotextPlot(id="chart-volume")

    def on_mount(self) -> None:
        # Component colours are recomputed after the theme's CSS is applied, so redraw a frame later.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.call_after_refresh(self._draw))
        self._draw()

    def show_data(self, data: ChartData | None, daily: bool | None = None) -> None:
        """Replace the chart's data and redraw; None shows the loading placeholder."""
        self.data = data
        self.error = None
        if daily is not None:
            self.daily = daily
        if self.is_mounted:
            self._draw()

    def show_error(self, message: str) -> None:
        """Show `message` in place of the chart, for a symbol whose candles cannot be read."""
        self.data = None
        self.error = message
        if self.is_mounted:
            self._draw()

    @property
    def placeholder(self) -> str | None:
        """The placeholder text on show, or None while the chart is drawn."""
        widget = self.query_one("#chart-placeholder", Static)
        return str(widget.content) if widget.display else None

    @property
    def caption(self) -> str:
        return str(self.query_one("#chart-caption", Static).content)

    # Drawing

    def _set_placeholder(self, message: str | None) -> None:
        placeholder = self.query_one("#chart-placeholder", Static)
        placeholder.display = message is not None
        if message is not None:
            placeholder.update(message)
        for plot in self.query(PlotextPlot):
            plot.display = message is None

    def _colour(self, name: str) -> tuple[int, int, int]:
        style: Style = self.get_component_rich_style(f"spike-chart--{name}", partial=True)
        colour = style.color
        if colour is None:
            return (128, 128, 128)
        red, green, blue = colour.get_truecolor()
        return (red, green, blue)

    def _draw(self) -> None:
        data = self.data
        message = self.error or placeholder_text(data)
        self._set_placeholder(message)
        if message is not None:
            self.query_one("#chart-caption", Static).update("")
            return
        assert data is not None

        bars = data.bars
        divisor, suffix = volume_unit(max(bar.volume for bar in bars))
        closes = [bar.close for bar in bars]
        price_ticks = _ticks(min(closes), max(closes), "{:.5g}")
        # The axis reaches the highest threshold line too, so no line is drawn above the last label.
        _, thresholds = data.latest_baseline
        top = max([bar.volume for bar in bars] + list(thresholds or ()))
        volume_ticks = _ticks(0.0, top / divisor, "{:.3g}")
        # Equal label widths line the two plots' y-axes up in the same column.
        width = max(len(label) for _, label in price_ticks + volume_ticks)
        time_positions, time_labels = time_ticks([bar.open_time for bar in bars], self.display_zone, self.daily)

        price = self.query_one("#chart-price", PlotextPlot)
        plt = price.plt
        plt.clear_figure()
        plt.plot(list(range(len(bars))), closes, color=self._colour("close"), marker="braille")
        self._axes(plt, len(bars), price_ticks, width)
        plt.xaxes(False, False)
        plt.xticks([])
        price.refresh()

        volume = self.query_one("#chart-volume", PlotextPlot)
        plt = volume.plt
        plt.clear_figure()
        self._plot_volume(plt, data, divisor)
        self._axes(plt, len(bars), volume_ticks, width)
        plt.xaxes(True, False)
        plt.xticks(time_positions, time_labels)
        volume.refresh()

        self.query_one("#chart-caption", Static).update(self._caption_text(data, suffix))

    def _axes(self, plt, count: int, ticks: list[tuple[float, str]], width: int) -> None:
        plt.xlim(-0.5, count - 0.5)
        plt.yaxes(True, False)
        plt.yticks([value for value, _ in ticks], [label.rjust(width) for _, label in ticks])

    def _plot_volume(self, plt, data: ChartData, divisor: float) -> None:
        groups: dict[Level | None, tuple[list[int], list[float]]] = {}
        for index, bar in enumerate(data.bars):
            positions, heights = groups.setdefault(bar.level, ([], []))
            positions.append(index)
            heights.append(bar.volume / divisor)
        for level in (None, Level.LOW, Level.MEDIUM, Level.HIGH):
            if level in groups:
                positions, heights = groups[level]
                colour = self._colour("volume" if level is None else level.value)
                plt.bar(positions, heights, color=colour, width=_series_bar_width(positions))

        mean, thresholds = data.latest_baseline
        if mean is not None:
            plt.hline(mean / divisor, self._colour("baseline"))
        if thresholds is not None:
            for level, value in zip((Level.LOW, Level.MEDIUM, Level.HIGH), thresholds):
                plt.hline(value / divisor, self._colour(level.value))

    def _caption_text(self, data: ChartData, unit: str) -> str:
        first = data.bars[0].open_time.astimezone(self.display_zone)
        last = data.bars[-1].open_time.astimezone(self.display_zone)
        pattern = "%Y-%m-%d" if self.daily else "%m-%d %H:%M"
        zone_name = getattr(self.display_zone, "key", None) or str(self.display_zone)
        parts = [f"{len(data.bars)} candles {first:{pattern}} – {last:{pattern}} {zone_name}"]
        if unit:
            parts.append(f"volume in {unit}")
        mean, thresholds = data.latest_baseline
        if mean is not None:
            parts.append(f"mean {format_volume(mean)}")
        if thresholds is not None:
            low, medium, high = thresholds
            parts.append(f"low {format_volume(low)} medium {format_volume(medium)} high {format_volume(high)}")
        return " · ".join(parts)
