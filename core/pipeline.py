"""One run of one timeframe: fetch the closed candles, evaluate the newest, return the result.

The scheduler service, `volscope scan` and a run started by hand all go through `RunPipeline.run`,
so they give the same answer for the same fire time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Sequence

from core.analysis.records import DetectionParams
from core.clock import Clock
from core.events import RunResult
from core.sources.base import CandleSource
from core.threads import run_in_thread
from core.timeframes import Timeframe


class RunError(Exception):
    """A run that produced nothing usable; the message says why."""


class RunPipeline:
    def __init__(
        self,
        source: CandleSource,
        params_for: Callable[[str], DetectionParams],
        clock: Clock,
        symbols: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.params_for = params_for
        self.clock = clock
        self._symbols = list(symbols)

    async def symbols(self) -> list[str]:
        """Return the watched symbols: the configured ones, else every symbol of the source."""
        if self._symbols:
            return list(self._symbols)
        return await self.source.symbols()

    async def run(self, timeframe: Timeframe, fired_at: datetime, manual: bool = False) -> RunResult:
        """Evaluate the newest candle of every watched symbol that closed at or before `fired_at`."""
        from core.analysis.engine import evaluate_last

        started_at = self.clock.now()
        evaluated_open = timeframe.evaluated_open(fired_at)
        params = self.params_for(timeframe.key)
        symbols = await self.symbols()

        fetched = await self.source.fetch(symbols, timeframe, params.candles_needed, until=fired_at)
        if symbols and not fetched.candles:
            reasons = "; ".join(f"{symbol}: {reason}" for symbol, reason in fetched.failures.items())
            raise RunError(f"no symbol could be read ({len(fetched.failures)} failed): {reasons}")

        records = await run_in_thread(evaluate_last, fetched.candles, timeframe, evaluated_open, params)
        return RunResult(
            timeframe=timeframe.key,
            scheduled_at=fired_at,
            evaluated_open=evaluated_open,
            interval=timeframe.interval,
            started_at=started_at,
            finished_at=self.clock.now(),
            records=records,
            failures=dict(fetched.failures),
            quality=dict(fetched.quality),
            manual=manual,
        )
