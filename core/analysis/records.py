"""The analysis record, its levels and signals, and the detection parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Level(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Signal(str, Enum):
    BEARISH = "bearish"
    """A spike with RSI above the overbought line: a potential top."""
    BULLISH = "bullish"
    """A spike with RSI below the oversold line: a potential bottom."""
    NEUTRAL = "neutral"


class Status(str, Enum):
    OK = "ok"
    WARMING_UP = "warming up"
    """Fewer than lookback + 1 closed candles: no level."""
    MISSING = "missing"
    """The evaluated candle itself is absent from the data."""
    FLAT = "flat baseline"
    """The baseline's spread is below the floor relative to its mean: no level."""


class Method(str, Enum):
    SIGMA = "sigma"
    ROBUST = "robust"
    RVOL = "rvol"


@dataclass(frozen=True)
class DetectionParams:
    """Detection method and thresholds of a timeframe: σ for sigma and robust, ratios for rvol."""

    method: Method = Method.SIGMA
    lookback: int = 25
    low: float = 2.5
    medium: float = 4.0
    high: float = 6.0
    rvol_low: float = 2.0
    rvol_medium: float = 3.0
    rvol_high: float = 5.0
    min_relative_std: float = 1e-3
    """A baseline whose σ is below this fraction of its mean gives no level."""
    rsi_period: int = 14
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    rsi_warmup: int = 250
    """Closed candles requested beyond the lookback so that Wilder's RSI has settled."""

    @property
    def thresholds(self) -> tuple[float, float, float]:
        if self.method is Method.RVOL:
            return (self.rvol_low, self.rvol_medium, self.rvol_high)
        return (self.low, self.medium, self.high)

    @property
    def candles_needed(self) -> int:
        """Closed candles a run requests per symbol, the evaluated one included."""
        return self.lookback + 1 + self.rsi_warmup

    def describe(self) -> str:
        """Return the method and thresholds in the form stored with every record."""
        low, medium, high = self.thresholds
        unit = "x" if self.method is Method.RVOL else "σ"
        return f"{self.method.value} n={self.lookback} {low:g}/{medium:g}/{high:g}{unit}"


@dataclass(frozen=True)
class SpikeRecord:
    """The verdict on one symbol's evaluated candle."""

    symbol: str
    timeframe: str
    open_time: datetime
    close_time: datetime
    status: Status
    method: str
    """The method and thresholds that produced the verdict, from DetectionParams.describe()."""
    volume: float | None = None
    baseline_mean: float | None = None
    baseline_std: float | None = None
    distance: float | None = None
    """How far the volume is above the baseline, in σ (sigma, robust) or as a ratio (rvol)."""
    ratio: float | None = None
    """Volume divided by the baseline mean."""
    level: Level | None = None
    rsi: float | None = None
    rsi_settled: bool = False
    """False while fewer than `rsi_warmup` candles preceded the RSI value."""
    signal: Signal | None = None
    close: float | None = None
    change_pct: float | None = None
    """The candle's close against its open, in percent."""
    note: str = ""
    """Human-readable reason when the status is not ok, such as "no candle for 14:00"."""

    @property
    def is_spike(self) -> bool:
        return self.level is not None
