"""The candle source interface and the frame layout every source returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from core.timeframes import Timeframe

OHLCV = ("open", "high", "low", "close", "volume")


class SourceError(Exception):
    """A failure to read one symbol's candles; the message names the symbol and the reason."""

    def __init__(self, symbol: str, reason: str) -> None:
        self.symbol = symbol
        self.reason = reason
        super().__init__(f"{symbol}: {reason}")


class SourceConfigError(ValueError):
    """A source that cannot start as configured (missing folder, unknown symbol, ...)."""


@dataclass(frozen=True)
class DataQuality:
    """Data-quality report of one symbol's candles: what was repaired or left out."""

    missing_candles: int = 0
    """Grid slots with no candle between the first and the last candle returned."""
    longest_gap: int = 0
    """Maximum number of consecutive missing candles."""
    dropped_rows: int = 0
    """Rows dropped for NaN, negative or non-numeric prices or volume."""

    @property
    def is_clean(self) -> bool:
        return not (self.missing_candles or self.dropped_rows)


@dataclass
class FetchResult:
    """Closed candles per symbol, the symbols that failed with the reason, and data-quality notes."""

    candles: dict[str, "pd.DataFrame"] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    quality: dict[str, DataQuality] = field(default_factory=dict)


class CandleSource(Protocol):
    name: str
    """Short name shown in the header, such as DEMO or FILES."""

    is_demo: bool

    async def symbols(self) -> list[str]:
        """Return every symbol this source can deliver, sorted."""
        ...

    async def fetch(
        self,
        symbols: Sequence[str],
        timeframe: "Timeframe",
        count: int,
        until: datetime,
    ) -> FetchResult:
        """Return up to `count` closed candles per symbol, the newest closing at or before `until`.

        A candle that opens at `t` is closed when `t + timeframe.interval <= until`.
        A symbol that fails is listed in `failures` and never stops the others.
        """
        ...


def candle_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Return `frame` in the shared layout: UTC `open_time` index, sorted, unique, float64 OHLCV.

    Duplicate open times keep the last row, as a re-downloaded candle replaces the old one.
    """
    import pandas as pd

    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    result = frame.loc[:, list(OHLCV)].astype("float64")
    result.index = index.rename("open_time")
    result = result[~result.index.duplicated(keep="last")]
    return result.sort_index(kind="stable")
