"""One run of one timeframe: fetch the closed candles, evaluate the newest, return the result.

The scheduler service, `volscope scan` and a run started by hand all go through `RunPipeline.run`,
so they return the same records for the same fire time.
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
    """A run that produced nothing usable; the message gives the reason."""


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
        started_at = self.clock.now()
        evaluated_open = timeframe.evaluated_open(fired_at)
        params = self.params_for(timeframe.key)
        symbols = await self.symbols()

        fetched = await self.source.fetch(symbols, timeframe, params.candles_needed, until=fired_at)
        if symbols and not fetched.candles:
            reasons = "; ".join(f"{symbol}: {reason}" for symbol, reason in fetched.failures.items())
            raise RunError(f"no symbol could be read ({len(fetched.failures)} failed): {reasons}")

        if manual:
            evaluated_open = _newest_in_data(fetched.candles, evaluated_open)
        records = await run_in_thread(_evaluate_last, fetched.candles, timeframe, evaluated_open, params)
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


def _newest_in_data(candles: dict, evaluated_open: datetime) -> datetime:
    """Return the candle a run by hand evaluates: the newest in the data when all data ends earlier.

    A folder of past candles ends long before now, and a trader who presses "run now" on it
    means "the latest candle there", not "no candle for now". The record's candle times and
    the run's candle age show that the candle is old.
    """
    newest = [frame.index[-1] for frame in candles.values() if len(frame)]
    if not newest:
        return evaluated_open
    latest = max(newest).to_pydatetime()
    return min(latest, evaluated_open)


def _evaluate_last(candles: dict, timeframe: Timeframe, evaluated_open: datetime, params: DetectionParams) -> list:
    # Imported in the worker thread: the engine loads numpy and pandas, and the first run
    # would otherwise block the event loop, and with it the dashboard, while they load.
    from core.analysis.engine import evaluate_last

    return evaluate_last(candles, timeframe, evaluated_open, params)
