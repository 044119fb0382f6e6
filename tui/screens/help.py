"""The key help: every binding of the app and of each screen, read from their BINDINGS so it never goes stale."""

from __future__ import annotations

from typing import Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def class_bindings(node_class: type[DOMNode], *, framework: bool = True) -> list[Binding]:
    """Return the bindings of `node_class` and its bases, a subclass's binding replacing its base's for a key.

    `framework=False` leaves out bindings that come from Textual's own classes, such as the
    focus keys every Screen has. Bindings marked `system` (such as ctrl+c's quit hint) and
    those without a description or tooltip are left out, since they give the reader nothing
    to act on.
    """
    by_key: dict[str, Binding] = {}
    for base in reversed(node_class.__mro__):
        own = base.__dict__.get("BINDINGS")
        if not own or (not framework and base.__module__.startswith("textual.")):
            continue
        for key, binding in BindingsMap(own):
            by_key[key] = binding
    return [binding for binding in by_key.values() if not binding.system and (binding.description or binding.tooltip)]


def help_sections(app: App, screens: Iterable[tuple[str, type[DOMNode]]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Return (title, [(key, what it does)]) for the app, then for each screen class in `screens`."""
    sections = []
    app_rows = [_row(app, binding) for binding in class_bindings(type(app))]
    if app.ENABLE_COMMAND_PALETTE:
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", key_display=app.COMMAND_PALETTE_DISPLAY)
        app_rows.append((app.get_key_display(palette), "Open the command palette: every action, by name"))
    sections.append(("Dashboard", app_rows))
    sections.append(("Every screen", [_row(app, binding) for binding in class_bindings(Screen)]))
    for title, screen_class in screens:
        rows = [_row(app, binding) for binding in class_bindings(screen_class, framework=False)]
        if rows:
            sections.append((title, rows))
    return sections


def _row(app: App, binding: Binding) -> tuple[str, str]:
    what = binding.tooltip or binding.description
    return app.get_key_display(binding), what


def _sections_table(sections: list[tuple[str, list[tuple[str, str]]]]) -> Group:
    # The key column is as wide as the longest key of any section, so the sections line up.
    key_width = max((len(key) for _, rows in sections for key, _ in rows), default=1)
    parts: list[Text | Table] = []
    for index, (title, rows) in enumerate(sections):
        parts.append(Text(title, style="bold underline"))
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style="bold", width=key_width)
        table.add_column()
        for key, what in rows:
            table.add_row(Text(key), Text(what))
        parts.append(table)
        if index < len(sections) - 1:
            parts.append(Text(""))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Every key of the app and of its screens, and what each does."""

    BINDINGS = [
        Binding("escape", "dismiss_screen", "Close", tooltip="Close the help"),
        Binding("q", "dismiss_screen", "Close", tooltip="Close the help"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;

        #help-dialog {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $primary;
            border-title-color: $foreground;
            background: $surface;
            padding: 0 1;
        }
        #help-keys {
            width: 100%;
            height: auto;
        }
    }
    """

    def __init__(self, screens: Iterable[tuple[str, type[DOMNode]]] | None = None) -> None:
        super().__init__()
        self.screens = list(screens) if screens is not None else default_screens()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "escape or q closes"
            yield Static(_sections_table(self.sections), id="help-keys")

    @property
    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return help_sections(self.app, self.screens)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)


def default_screens() -> list[tuple[str, type[DOMNode]]]:
    """Return the dashboard's screens with the title each gets in the help."""
    from tui.screens.history import ErrorScreen, HistoryScreen
    from tui.screens.spike_detail import SpikeDetailScreen

    return [
        ("Spike detail and chart", SpikeDetailScreen),
        ("Run history", HistoryScreen),
        ("Run error", ErrorScreen),
        ("This help", HelpScreen),
    ]
