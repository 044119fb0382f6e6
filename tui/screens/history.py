"""Run history: each timeframe's past runs from the store, and the full error text of a failed run."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static, Tab, Tabs

from tui.formatting import NO_VALUE, format_duration

if TYPE_CHECKING:
    from core.runtime import Runtime
    from core.store import RunRow

HISTORY_ROWS = 200
"""Runs listed per timeframe; older ones stay in the store."""

_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("scheduled", "Scheduled", len("12-31 23:59")),
    ("took", "Took", len("10m00s")),
    ("status", "Status", len("failed (hand)")),
    ("ok", "OK", 4),
    ("failed", "Failed", 6),
    ("spikes", "Spikes", 6),
    ("error", "Error", None),
)
_ERROR_PREVIEW = 200


def run_cells(run: RunRow, zone: tzinfo) -> dict[str, Text]:
    """Return the history table's cells for one stored run, times in `zone`."""
    status = Text(run.status)
    if run.manual:
        status.append(" (hand)", style="dim")
    error = (run.error or "").splitlines()[0] if run.error else ""
    if len(error) > _ERROR_PREVIEW:
        error = error[: _ERROR_PREVIEW - 1] + "…"
    return {
        "scheduled": Text(run.scheduled_at.astimezone(zone).strftime("%m-%d %H:%M")),
        "took": Text(format_duration(run.duration), justify="right"),
        "status": status,
        "ok": Text(str(run.symbols_ok), justify="right"),
        "failed": Text(str(run.symbols_failed), justify="right"),
        "spikes": Text(str(run.spikes_found) if run.status == "ok" else NO_VALUE, justify="right"),
        "error": Text(error),
    }


class ErrorScreen(ModalScreen[None]):
    """The full text of a run's error, scrollable; markup in it is shown as typed."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", tooltip="Close the error"),
    ]

    DEFAULT_CSS = """
    ErrorScreen {
        align: center middle;

        #error-dialog {
            width: 90%;
            max-width: 120;
            height: auto;
            max-height: 80%;
            border: round $error;
            border-title-color: $foreground;
            background: $surface;
        }
        #error-text {
            height: auto;
            padding: 0 1;
        }
    }
    """

    def __init__(self, title: str, error: str) -> None:
        super().__init__()
        self.title_text = title
        self.error = error

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="error-dialog") as dialog:
            dialog.border_title = self.title_text
            dialog.border_subtitle = "escape closes"
            # markup=False: exception text often contains brackets that Textual would parse.
            yield Static(self.error, id="error-text", markup=False)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)


class HistoryScreen(ModalScreen[None]):
    """Past runs of one timeframe at a time; tabs or left/right switch the timeframe.

    Modal, so the dashboard's job keys do not act, or show in the Footer, while it is open.
    """

    BINDINGS = [
        Binding("escape", "close", "Close", tooltip="Back to the dashboard"),
        Binding("left", "previous_timeframe", "Previous TF", priority=True, tooltip="Show the previous timeframe's runs"),
        Binding("right", "next_timeframe", "Next TF", priority=True, tooltip="Show the next timeframe's runs"),
        Binding("enter", "show_error", "Error", tooltip="Show the selected run's full error"),
    ]

    DEFAULT_CSS = """
    HistoryScreen {
        background: $background;

        #history-title {
            height: 1;
            background: $panel;
            text-style: bold;
            padding: 0 1;
        }
        #history-runs {
            height: 1fr;
            border: round $primary-muted;
            border-title-color: $foreground;
            border-subtitle-color: $foreground-muted;
        }
        #history-runs:focus {
            border: round $accent;
        }
    }
    """

    def __init__(self, runtime: Runtime, timeframe: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.display_zone = runtime.service.display_zone
        keys = runtime.registry.keys()
        self.timeframe = timeframe if timeframe in keys else keys[0]
        self._runs: dict[int, RunRow] = {}

    def compose(self) -> ComposeResult:
        zone_name = getattr(self.display_zone, "key", None) or str(self.display_zone)
        yield Static(f"Run history · times in {zone_name}", id="history-title", markup=False)
        yield Tabs(
            *(Tab(timeframe.name, id=f"tf-{timeframe.key}") for timeframe in self.runtime.registry),
            active=f"tf-{self.timeframe}",
            id="history-tabs",
        )
        table = DataTable(cursor_type="row", id="history-runs")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history-runs", DataTable)
        for key, label, width in _COLUMNS:
            table.add_column(label, key=key, width=width)
        self.show_timeframe(self.timeframe)
        table.focus()

    @property
    def table(self) -> DataTable:
        return self.query_one("#history-runs", DataTable)

    def show_timeframe(self, key: str) -> None:
        """Fill the table with the stored runs of timeframe `key`, newest first."""
        self.timeframe = key
        table = self.table
        table.clear()
        self._runs = {}
        runs = self.runtime.store.runs(key, limit=HISTORY_ROWS) if self.runtime.store is not None else []
        for run in runs:
            cells = run_cells(run, self.display_zone)
            table.add_row(*(cells[column] for column, _, _ in _COLUMNS), key=str(run.id))
            self._runs[run.id] = run
        name = self.runtime.registry.get(key).name
        table.border_title = f"{name} runs"
        if self.runtime.store is None:
            table.border_subtitle = "no store: history is not kept"
        else:
            table.border_subtitle = f"{len(runs)} shown" if runs else "no runs yet"

    @property
    def selected_run(self) -> RunRow | None:
        table = self.table
        if not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._runs.get(int(row_key))

    @on(Tabs.TabActivated, "#history-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        key = event.tab.id.removeprefix("tf-")
        if key != self.timeframe:
            self.show_timeframe(key)

    @on(DataTable.RowSelected, "#history-runs")
    def _row_selected(self) -> None:
        self.action_show_error()

    def action_previous_timeframe(self) -> None:
        self.query_one("#history-tabs", Tabs).action_previous_tab()

    def action_next_timeframe(self) -> None:
        self.query_one("#history-tabs", Tabs).action_next_tab()

    def action_show_error(self) -> None:
        """Open the selected run's full error; a run without one gets a short note."""
        run = self.selected_run
        if run is None:
            return
        if not run.error:
            self.notify(f"The {run.status} run has no error text.", timeout=3)
            return
        scheduled = run.scheduled_at.astimezone(self.display_zone).strftime("%Y-%m-%d %H:%M")
        self.app.push_screen(ErrorScreen(f"{run.timeframe} run {scheduled} · {run.status}", run.error))

    def action_close(self) -> None:
        self.dismiss(None)
