"""The Textual message that carries core's scheduler events into the app."""

from __future__ import annotations

from textual.message import Message

from core.events import SchedulerEvent


class CoreEvent(Message):
    """A scheduler event (job started or stopped, run started, finished, failed, skipped, missed).

    The scheduler service calls its observers on the event loop's thread; the app's observer
    only posts this message, so widgets change in the app's own message handling.
    """

    def __init__(self, event: SchedulerEvent) -> None:
        super().__init__()
        self.event = event
