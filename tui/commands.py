"""The command palette's volscope commands: every dashboard action by name, per timeframe and symbol.

The provider expects the app to have `runtime`, `action_history()`, `action_help()` and
`open_chart(symbol, timeframe)`, as VolscopeApp does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from core.scheduler import JobError


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    help: str
    callback: Callable[[], object]
    discoverable: bool = True
    """Listed before anything is typed; the many chart commands appear only when searched for."""


class VolscopeCommands(Provider):
    """Start, stop and run each timeframe; open a chart, the run history or the help; switch theme."""

    async def startup(self) -> None:
        # The symbol list may come from the source, so it is read once per palette opening.
        self._symbols = await self.app.runtime.pipeline.symbols()

    def commands(self) -> list[PaletteCommand]:
        app = self.app
        runtime = app.runtime
        commands = [
            PaletteCommand("Open run history", "Past runs of every timeframe, with their errors", app.action_history),
            PaletteCommand("Show keys", "Every key of the dashboard and its screens", app.action_help),
            PaletteCommand("Switch dark/light theme", "Toggle between Textual's dark and light themes", self._switch_theme),
        ]
        for timeframe in runtime.registry:
            key = timeframe.key
            commands += [
                PaletteCommand(f"Start {key} job", f"Schedule the {timeframe.name} analysis ({timeframe.cron})", partial(self._job, "start_job", key)),
                PaletteCommand(f"Stop {key} job", f"Unschedule the {timeframe.name} analysis", partial(self._job, "stop_job", key)),
                PaletteCommand(f"Run {key} now", f"Run the {timeframe.name} analysis once now", partial(self._job, "run_now", key)),
            ]
        for symbol in getattr(self, "_symbols", []):
            for timeframe in runtime.registry:
                commands.append(
                    PaletteCommand(
                        f"Chart {symbol} {timeframe.key}",
                        f"Volume and close of {symbol}'s last {timeframe.name} candles",
                        partial(app.open_chart, symbol, timeframe.key),
                        discoverable=False,
                    )
                )
        return commands

    async def discover(self) -> Hits:
        for command in self.commands():
            if command.discoverable:
                yield DiscoveryHit(command.name, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.callback, text=command.name, help=command.help)

    def _job(self, operation: str, key: str) -> None:
        service = self.app.runtime.service
        try:
            getattr(service, operation)(key)
        except JobError as error:
            self.app.notify(escape(str(error)), severity="warning")

    def _switch_theme(self) -> None:
        app = self.app
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
