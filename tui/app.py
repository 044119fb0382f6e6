"""The volscope dashboard: timeframe jobs with their countdowns, and the latest spikes.

The app turns the scheduler service's events into `CoreEvent` messages and calls the service
for every user action. It computes no analysis and never reads a candle source itself.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from core.analysis.records import Level, SpikeRecord
from core.events import (
    JobStarted,
    JobStopped,
    RunFailed,
    RunFinished,
    RunMissed,
    RunSkipped,
    RunStarted,
    SchedulerEvent,
)
from core.runtime import Runtime
from core.scheduler import JobError
from tui.commands import VolscopeCommands
from tui.formatting import format_close_time, format_distance, format_ratio
from tui.messages import CoreEvent
from tui.widgets.header import DashboardHeader
from tui.widgets.overview import SpikeOverview
from tui.widgets.spikes import SpikeFeed, SpikeTable
from tui.widgets.timeframes import LastRun, TimeframeTable

log = logging.getLogger(__name__)

SPIKE_ROWS = 200
"""Spikes kept in the table; older ones stay in the store."""

WIDE = 120
"""Terminal width from which the overview shows by default and the spike feed's keys fit in the Footer."""


def shown_when_wide(key: str, action: str, description: str, tooltip: str) -> list[Binding]:
    """Bind `key` to `action` twice: shown in the Footer on wide screens, hidden on narrow ones.

    At 80 columns the Footer has room only for the job keys, so there these keys are found in
    the help and the command palette. check_action turns the shown binding off below WIDE
    columns, and the key then falls through to the hidden one.
    """
    return [
        Binding(key, f"shown_when_wide({action!r})", description, tooltip=tooltip),
        Binding(key, action, description, tooltip=tooltip, show=False),
    ]


class VolscopeApp(App[int]):
    """The main screen. `start_paused` keeps APScheduler from firing on its own (tests, previews)."""

    CSS_PATH = "app.tcss"
    TITLE = "volscope"

    # The palette lists every action by name; the deeper screens load only when opened.
    COMMANDS = App.COMMANDS | {VolscopeCommands}

    BINDINGS = [
        Binding("space", "toggle_job", "Toggle", tooltip="Start or stop the selected timeframe's job"),
        Binding("r", "run_now", "Run now", tooltip="Run the selected timeframe once now"),
        Binding("a", "start_all", "Start all", tooltip="Start every stopped timeframe's job"),
        Binding("x", "stop_all", "Stop all", tooltip="Stop every running timeframe's job"),
        Binding("enter", "open_spike", "Details", show=False, tooltip="Open the selected spike's fields, run and chart"),
        Binding("q", "quit", "Quit", tooltip="Stop the scheduler and quit"),
        Binding("question_mark", "help", "Keys", key_display="?", tooltip="Show every key and what it does"),
        *shown_when_wide("h", "history", "History", "Open the run history of every timeframe"),
        *shown_when_wide("s", "cycle_spike_sort", "Sort", "Sort the spikes by time, level, distance or symbol"),
        *shown_when_wide("t", "cycle_spike_timeframe", "TF", "Show the spikes of every timeframe or of one"),
        *shown_when_wide("slash", "filter_spikes", "Filter", "Filter the spikes by symbol as you type"),
        *shown_when_wide("o", "toggle_overview", "Overview", "Show or hide the overview of every symbol's latest level"),
    ]
    FEED_ACTIONS = {"cycle_spike_sort", "cycle_spike_timeframe", "filter_spikes", "toggle_overview"}

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    def __init__(self, runtime: Runtime, *, start_paused: bool = False) -> None:
        super().__init__()
        self.runtime = runtime
        self.start_paused = start_paused
        self.display_zone = ZoneInfo(runtime.settings.display_timezone)
        self._stopping = False

    def compose(self) -> ComposeResult:
        # A replay's clock shows a past date, so the header says why.
        source_name = f"{self.runtime.source.name} REPLAY" if self.runtime.replay else self.runtime.source.name
        yield DashboardHeader(source_name, self.runtime.source.is_demo, self.display_zone)
        timeframes = TimeframeTable(self.display_zone, id="timeframes")
        timeframes.border_title = "Timeframes"
        yield timeframes
        with Horizontal(id="lower"):
            timeframe_keys = self.runtime.registry.keys()
            spikes = SpikeTable(self.display_zone, max_rows=SPIKE_ROWS, timeframes=timeframe_keys, id="spikes")
            yield SpikeFeed(spikes, id="spike-feed")
            overview = SpikeOverview(timeframe_keys, id="overview")
            overview.border_title = "Latest level"
            overview.border_subtitle = "small: earlier"
            yield overview
        yield Footer()

    @property
    def timeframe_table(self) -> TimeframeTable:
        return self.query_one("#timeframes", TimeframeTable)

    @property
    def spike_table(self) -> SpikeTable:
        return self.query_one("#spikes", SpikeTable)

    @property
    def spike_feed(self) -> SpikeFeed:
        return self.query_one("#spike-feed", SpikeFeed)

    @property
    def overview(self) -> SpikeOverview:
        return self.query_one("#overview", SpikeOverview)

    @property
    def header(self) -> DashboardHeader:
        return self.query_one(DashboardHeader)

    # Start and stop

    async def on_mount(self) -> None:
        self.header.show_time(self.runtime.clock.now())
        if self.runtime.store is not None:
            self._show_spikes(self.runtime.store.spikes(limit=SPIKE_ROWS), self._stored_evaluated_opens())
        self.timeframe_table.focus()

        self.runtime.service.subscribe(self._post_core_event)
        self.set_interval(1, self._tick)
        # Starting the scheduler takes milliseconds, and runs import pandas in worker threads,
        # so the job rows can be in the first frame.
        await self._start_runtime()

    async def _start_runtime(self) -> None:
        await self.runtime.start(paused=self.start_paused)
        # The rows are added only now, so they never show a job as stopped that is about to start.
        self.timeframe_table.show_jobs(self.runtime.service.jobs(), self.runtime.clock.now(), self._stored_last_runs())
        if self.runtime.caught_up:
            caught_up = ", ".join(self.runtime.caught_up)
            self.notify(
                escape(f"Running {caught_up} once: their scheduled runs were missed while volscope was closed."),
                title="Catching up",
            )

    async def _stop_runtime(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        await self.runtime.stop()

    async def action_quit(self) -> None:
        """Stop the scheduler, cancelling any run in progress, then exit with status 0."""
        await self._stop_runtime()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self._stop_runtime()

    def _stored_last_runs(self) -> dict[str, LastRun]:
        if self.runtime.store is None:
            return {}
        last_runs = {}
        for timeframe in self.runtime.registry:
            rows = self.runtime.store.runs(timeframe.key, limit=1)
            if rows:
                last_runs[timeframe.key] = LastRun.from_stored(rows[0], timeframe.interval)
        return last_runs

    def _stored_evaluated_opens(self) -> dict[str, datetime]:
        """Return the candle each timeframe's newest stored ok run evaluated, for the overview."""
        evaluated = {}
        for timeframe in self.runtime.registry:
            for row in self.runtime.store.runs(timeframe.key, limit=5):
                if row.status == "ok" and row.evaluated_open is not None:
                    evaluated[timeframe.key] = row.evaluated_open
                    break
        return evaluated

    # The once-a-second tick

    def _tick(self) -> None:
        if self._stopping:
            return
        now = self.runtime.clock.now()
        try:
            header = self.header
            table = self.timeframe_table
        except NoMatches:
            # The timer can fire once more while the app tears its widgets down at exit.
            return
        header.show_time(now)
        table.refresh_countdowns(self.runtime.service.jobs(), now)

    # Core events

    def _post_core_event(self, event: SchedulerEvent) -> None:
        self.post_message(CoreEvent(event))

    @on(CoreEvent)
    def _handle_core_event(self, message: CoreEvent) -> None:
        if self._stopping:
            return
        event = message.event
        table = self.timeframe_table
        if isinstance(event, (JobStarted, JobStopped)):
            table.update_job(self.runtime.service.info(event.timeframe), self.runtime.clock.now())
        elif isinstance(event, RunStarted):
            table.set_running(event.timeframe, True)
        elif isinstance(event, RunFinished):
            table.set_running(event.timeframe, False)
            table.set_last_run(event.timeframe, LastRun.from_result(event.result))
            self._run_finished(event)
        elif isinstance(event, RunFailed):
            table.set_running(event.timeframe, False)
            table.set_last_run(event.timeframe, LastRun.from_failed(event))
            self.notify(escape(event.reason), title=f"{event.timeframe} run failed", severity="error")
        elif isinstance(event, RunSkipped):
            table.set_last_run(event.timeframe, LastRun.from_skipped(event))
            self.notify(escape(event.reason), title=f"{event.timeframe} run skipped", severity="warning")
        elif isinstance(event, RunMissed):
            table.set_last_run(event.timeframe, LastRun.from_missed(event))
            self.notify(
                "The fire came later than the misfire grace time (sleep or suspend); the next one runs as usual.",
                title=f"{event.timeframe} run missed",
                severity="warning",
            )

    def _run_finished(self, event: RunFinished) -> None:
        result = event.result
        spikes = result.spikes
        self._show_spikes(result.records, {event.timeframe: result.evaluated_open})

        if result.failures:
            failed = ", ".join(sorted(result.failures))
            self.notify(
                escape(f"{len(result.failures)} symbols could not be read: {failed}"),
                title=f"{event.timeframe} run incomplete",
                severity="warning",
            )
        if result.manual:
            found = f"{len(spikes)} spike" if len(spikes) == 1 else f"{len(spikes)} spikes"
            self.notify(f"{found} in {len(result.records)} symbols", title=f"{event.timeframe} run finished")
        high = [record for record in spikes if record.level is Level.HIGH]
        for record in high:
            self.notify(
                escape(
                    f"{record.symbol}: volume {format_distance(record.distance, record.method)} above its baseline"
                    f" ({format_ratio(record.ratio)} the mean), candle closed"
                    f" {format_close_time(record.close_time, self.display_zone)}"
                ),
                title=f"High spike on {event.timeframe}",
                severity="warning",
            )
        if self.runtime.settings.bell_on_high and high:
            self.bell()

    def _show_spikes(self, records: Iterable[SpikeRecord], evaluated: dict[str, datetime]) -> None:
        """Show the records' spikes in the feed and the overview; `evaluated` maps timeframes to run candles."""
        records = list(records)
        self.spike_feed.show_spikes(records)
        self.overview.show_records(records, evaluated)

    # Actions

    def action_toggle_job(self) -> None:
        key = self.timeframe_table.selected_key
        if key is None:
            return
        try:
            self.runtime.service.toggle_job(key)
        except JobError as error:
            self._warn(error)

    def action_run_now(self) -> None:
        key = self.timeframe_table.selected_key
        if key is None:
            return
        try:
            self.runtime.service.run_now(key)
        except JobError as error:
            self._warn(error)

    def action_start_all(self) -> None:
        try:
            started = self.runtime.service.start_all()
        except JobError as error:
            self._warn(error)
            return
        if not started:
            self.notify("Every timeframe's job is already running.")

    def action_stop_all(self) -> None:
        try:
            stopped = self.runtime.service.stop_all()
        except JobError as error:
            self._warn(error)
            return
        if not stopped:
            self.notify("No timeframe's job is running.")

    # Deeper views

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        self.push_screen(HistoryScreen(self.runtime, self.timeframe_table.selected_key))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_spike(self) -> None:
        """Open the detail of the spike under the spike table's cursor."""
        table = self.spike_table
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        try:
            record = table.record(key)
        except KeyError:
            return
        from tui.screens.spike_detail import SpikeDetailScreen

        self.push_screen(SpikeDetailScreen(self.runtime, record))

    @on(DataTable.RowSelected, "#spikes")
    def _spike_selected(self) -> None:
        self.action_open_spike()

    def open_chart(self, symbol: str, timeframe: str) -> None:
        """Open the chart of `symbol` on `timeframe` up to now."""
        from tui.screens.spike_detail import ChartScreen

        self.push_screen(ChartScreen(self.runtime, symbol, timeframe))

    # The spike feed and the overview

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "shown_when_wide":
            return self.screen.has_class("-wide") and self._on_main_screen()
        if action in self.FEED_ACTIONS:
            return self._on_main_screen()
        return True

    def _on_main_screen(self) -> bool:
        return len(self.screen_stack) == 1

    async def action_shown_when_wide(self, action: str) -> None:
        await self.run_action(action)

    def action_cycle_spike_sort(self) -> None:
        """Sort the spikes by the next order: time, level, distance, symbol, then time again."""
        self.spike_feed.cycle_sort()

    def action_cycle_spike_timeframe(self) -> None:
        """Show the spikes of the next timeframe: every one, then each timeframe key, then every one again."""
        self.spike_feed.cycle_timeframe_filter()

    def action_filter_spikes(self) -> None:
        self.spike_feed.open_filter()

    def action_toggle_overview(self) -> None:
        """Hide the overview if shown, else show it; the choice then holds at every width."""
        shown = self.overview.display
        lower = self.query_one("#lower")
        lower.set_class(not shown, "-overview-shown")
        lower.set_class(shown, "-overview-hidden")

    def _warn(self, error: JobError) -> None:
        log.warning("job action rejected: %s", error)
        self.notify(escape(str(error)), severity="warning")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start/stop timeframe", "Start or stop the selected timeframe's job", self.action_toggle_job)
        yield SystemCommand("Run now", "Run the selected timeframe once now", self.action_run_now)
        yield SystemCommand("Start all", "Start every stopped timeframe's job", self.action_start_all)
        yield SystemCommand("Stop all", "Stop every running timeframe's job", self.action_stop_all)
        yield SystemCommand("Sort spikes", "Sort the spikes by the next order: time, level, distance, symbol", self.action_cycle_spike_sort)
        yield SystemCommand("Filter spikes by timeframe", "Show the spikes of every timeframe or of the next one", self.action_cycle_spike_timeframe)
        yield SystemCommand("Filter spikes by symbol", "Type part of a symbol to show only its spikes", self.action_filter_spikes)
        yield SystemCommand("Show/hide overview", "The latest level of every symbol in every timeframe", self.action_toggle_overview)
