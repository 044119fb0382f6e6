"""Run CPU-heavy work off the event loop in daemon threads.

asyncio.to_thread uses the loop's default executor, whose threads are joined when the
loop closes and at interpreter exit, so quitting during a long computation would wait
for it. A daemon thread lets the app exit at once; its result is then thrown away.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def run_in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)

    def hand_back(outcome: T | None, error: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(deliver, outcome, error)
        except RuntimeError:
            pass  # the loop closed while the work ran, so no task awaits the result

    def work() -> None:
        try:
            outcome = function(*args, **kwargs)
        except BaseException as error:  # handed to the awaiting task, which re-raises it
            hand_back(None, error)
            return
        hand_back(outcome, None)

    threading.Thread(target=work, name=f"volscope-{getattr(function, '__name__', 'work')}", daemon=True).start()
    return await future
