"""The dashboard's header line: app name, candle source and the clock in the display time zone."""

from __future__ import annotations

from datetime import datetime, tzinfo

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from tui.formatting import format_clock


class DashboardHeader(Horizontal):
    """A one-line header. The app sets its clock from the runtime's clock, not from the wall clock."""

    def __init__(self, source_name: str, is_demo: bool, display_zone: tzinfo, **kwargs) -> None:
        super().__init__(**kwargs)
        self.source_name = source_name
        self.is_demo = is_demo
        self.display_zone = display_zone

    def compose(self) -> ComposeResult:
        yield Label("volscope", id="app-name")
        yield Label(self.source_name, id="source-name", classes="-demo" if self.is_demo else "", markup=False)
        yield Label("", id="clock")

    def show_time(self, now: datetime) -> None:
        zone_name = getattr(self.display_zone, "key", None) or str(self.display_zone)
        # The clock's width is fixed by CSS, so a new time needs no layout pass.
        self.query_one("#clock", Label).update(f"{format_clock(now, self.display_zone)} {zone_name}", layout=False)

    @property
    def clock_text(self) -> str:
        return str(self.query_one("#clock", Label).content)
