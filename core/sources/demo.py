"""The offline demo source: a deterministic simulated market of about twenty pairs.

Every candle is a pure function of (seed, symbol, open time), so any run at any time gets
the same history, and overlapping fetches return identical candles. The numbers come from
counter-based hashing (splitmix64 over the seed, the symbol and a time index), never from
a sequential random stream.

The market is built top-down as a multiplicative cascade. Hour candles are the root: log
price at hour boundaries is multi-scale value noise plus event jumps, an hour's high and
low are drawn from the Brownian-bridge maximum, and its volume carries the daily rhythm,
a slowly varying busy/quiet regime and spike events. Each hour is split into twelve
5-minute candles and each of those into five 1-minute candles: the children's opens and
closes follow a Brownian bridge between the parent's open and close, kept inside the
parent's range, one child reaches the parent's high and one its low, and the parent's
volume is shared out by normalised weights. Aggregating 1-minute candles therefore gives
the coarser candles exactly (up to float rounding of the volume sum), while a fetch of
daily candles only has to compute hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from core.sources.base import OHLCV, DataQuality, FetchResult, candle_frame
from core.timeframes import EPOCH

if TYPE_CHECKING:
    from core.timeframes import Timeframe


@dataclass(frozen=True)
class PairSpec:
    """One simulated pair: its level, how much it moves, and how much it trades."""

    symbol: str
    price: float
    """Typical price in the quote currency; the simulated price wanders around it."""
    hourly_volatility: float
    """Scale of hourly log returns; their measured standard deviation is about 1.1 times this."""
    daily_quote_volume: float
    """Typical traded value per day in the quote currency."""


# Levels roughly as major spot pairs traded in 2024. The first twenty form the default
# market, and a symbol's history never depends on which other symbols are listed.
_TABLE_PAIRS: tuple[PairSpec, ...] = (
    PairSpec("BTC/USDT", 64_000.0, 0.0044, 1.6e9),
    PairSpec("ETH/USDT", 3_100.0, 0.0056, 9.0e8),
    PairSpec("SOL/USDT", 145.0, 0.0080, 4.5e8),
    PairSpec("BNB/USDT", 580.0, 0.0056, 1.2e8),
    PairSpec("XRP/USDT", 0.55, 0.0072, 2.0e8),
    PairSpec("DOGE/USDT", 0.13, 0.0096, 1.8e8),
    PairSpec("ADA/USDT", 0.45, 0.0080, 6.0e7),
    PairSpec("AVAX/USDT", 28.0, 0.0092, 5.0e7),
    PairSpec("LINK/USDT", 14.0, 0.0088, 5.0e7),
    PairSpec("DOT/USDT", 6.2, 0.0084, 3.0e7),
    PairSpec("TRX/USDT", 0.13, 0.0048, 3.0e7),
    PairSpec("LTC/USDT", 75.0, 0.0072, 4.0e7),
    PairSpec("BCH/USDT", 390.0, 0.0080, 3.0e7),
    PairSpec("NEAR/USDT", 5.5, 0.0104, 4.0e7),
    PairSpec("ATOM/USDT", 7.5, 0.0084, 2.0e7),
    PairSpec("UNI/USDT", 8.5, 0.0096, 2.5e7),
    PairSpec("APT/USDT", 8.0, 0.0104, 2.5e7),
    PairSpec("ARB/USDT", 0.85, 0.0108, 3.0e7),
    PairSpec("OP/USDT", 1.9, 0.0108, 2.5e7),
    PairSpec("SUI/USDT", 1.1, 0.0120, 5.0e7),
    PairSpec("ETH/BTC", 0.048, 0.0036, 600.0),
    PairSpec("FIL/USDT", 4.5, 0.0096, 2.0e7),
    PairSpec("INJ/USDT", 24.0, 0.0112, 2.0e7),
    PairSpec("TON/USDT", 5.8, 0.0080, 1.5e7),
    PairSpec("ICP/USDT", 9.5, 0.0096, 1.5e7),
    PairSpec("AAVE/USDT", 140.0, 0.0092, 2.0e7),
    PairSpec("XLM/USDT", 0.11, 0.0072, 1.2e7),
    PairSpec("ETC/USDT", 23.0, 0.0084, 1.5e7),
    PairSpec("FET/USDT", 1.4, 0.0120, 3.0e7),
    PairSpec("SHIB/USDT", 0.000018, 0.0100, 3.0e7),
    PairSpec("PEPE/USDT", 0.0000095, 0.0136, 6.0e7),
    PairSpec("SOL/BTC", 0.0023, 0.0068, 150.0),
)

# Bases for markets larger than the table, with their rough USDT price in 2024. Their
# volatility and volume are drawn from a hash of the ticker.
_MORE_BASES = {
    "MKR": 2500.0, "GRT": 0.2, "IMX": 1.5, "STX": 1.8, "RUNE": 4.5, "SEI": 0.4,
    "TIA": 6.0, "WIF": 2.2, "BONK": 0.00002, "FLOKI": 0.00015, "JUP": 0.9, "PYTH": 0.35,
    "ALGO": 0.15, "VET": 0.025, "HBAR": 0.07, "EGLD": 30.0, "SAND": 0.3, "MANA": 0.3,
    "AXS": 5.5, "GALA": 0.02, "CHZ": 0.07, "CRV": 0.3, "LDO": 1.3, "SNX": 1.6,
    "COMP": 50.0, "DYDX": 1.2, "GMX": 25.0, "ENS": 18.0, "1INCH": 0.3, "SUSHI": 0.7,
    "YFI": 5500.0, "BAT": 0.17, "ZEC": 30.0, "DASH": 25.0, "XMR": 160.0, "EOS": 0.5,
    "NEO": 10.0, "IOTA": 0.15, "KAVA": 0.35, "ROSE": 0.07, "ZIL": 0.015, "QTUM": 2.5,
    "ONE": 0.013, "CELO": 0.5, "FLOW": 0.55, "MINA": 0.5, "KSM": 20.0, "THETA": 1.2,
    "FTM": 0.5, "AR": 20.0, "WLD": 2.0, "BLUR": 0.2, "ORDI": 30.0, "JTO": 2.2,
    "STRK": 0.4, "ENA": 0.35, "ETHFI": 1.5, "TAO": 300.0, "RENDER": 5.0, "CAKE": 1.8,
}
# Quote currencies of generated pairs: (quote, its value in USDT, volume relative to the USDT pair).
_QUOTES = (
    ("USDT", 1.0, 1.0),
    ("FDUSD", 1.0, 0.3),
    ("BTC", 64_000.0, 0.15),
    ("ETH", 3_100.0, 0.05),
    ("TRY", 0.031, 0.1),
    ("EUR", 1.08, 0.05),
)


def _generated_base(base: str, price: float) -> PairSpec:
    """Return a base's USDT pair, with volatility and volume drawn from a hash of its ticker."""
    digest = hashlib.blake2b(base.encode(), digest_size=8).digest()
    volatility = 0.007 + 0.005 * digest[0] / 255.0
    volume = math.exp(math.log(5e6) + digest[1] / 255.0 * math.log(4e7 / 5e6))
    return PairSpec(f"{base}/USDT", price, round(volatility, 4), round(volume, -5))


def _all_pairs() -> tuple[PairSpec, ...]:
    pairs = list(_TABLE_PAIRS)
    taken = {spec.symbol for spec in pairs}
    usdt = [spec for spec in _TABLE_PAIRS if spec.symbol.endswith("/USDT")]
    usdt += [_generated_base(base, price) for base, price in _MORE_BASES.items()]
    for quote, quote_price, volume_share in _QUOTES:
        for spec in usdt:
            base = spec.symbol.split("/")[0]
            symbol = f"{base}/{quote}"
            if base == quote or symbol in taken:
                continue
            taken.add(symbol)
            pairs.append(
                PairSpec(
                    symbol,
                    spec.price / quote_price,
                    spec.hourly_volatility,
                    spec.daily_quote_volume * volume_share / quote_price,
                )
            )
    return tuple(pairs)


DEMO_PAIRS: tuple[PairSpec, ...] = _all_pairs()
"""Every pair the demo market can list, in listing order: the table first, then generated pairs."""

_SPLIT_5M = 12
"""5-minute candles per hour."""
_SPLIT_1M = 5
"""1-minute candles per 5-minute candle."""

# Output candles computed per block, so that memory stays bounded for any timeframe.
_BLOCK_BASE_CANDLES = 100_000

# --- price model ------------------------------------------------------------------------

# Value-noise octaves of log price: (lattice spacing in hours, amplitude in units of the
# pair's hourly volatility). Amplitude grows about with the square root of the spacing, as
# for a random walk, so each octave moves the price similarly at its own scale. The longer
# ones grow more slowly, so that over years the price stays within a few times its level.
_PRICE_OCTAVES = tuple(
    (spacing, factor * math.sqrt(spacing))
    for spacing, factor in ((3, 0.75), (12, 0.75), (48, 0.7), (192, 0.6), (768, 0.5), (3072, 0.4))
)
# Octaves at or below this spacing swing harder in busy regimes (volatility clustering).
_CLUSTERED_SPACING = 12
# Independent noise at each hour boundary, in units of hourly volatility.
_BOUNDARY_NOISE = 0.38
# Share of price variance common to all pairs, so alts move with the market.
_MARKET_SHARE = 0.5

# --- activity regime --------------------------------------------------------------------

# Log-activity is value noise with lattice spacings of 14 h and 80 h (busy and quiet
# stretches of hours to days), half market-wide and half per pair, scaled to this std.
_REGIME_STD = 0.55
_REGIME_OCTAVES = ((14.0, 0.6), (80.0, 0.8))

# --- spike events -----------------------------------------------------------------------

# Each pair has exactly one event per 48-hour slot, at a hashed hour: a few per week.
_EVENT_SLOT_HOURS = 48
_EVENT_BURST_RANGE = (2.5, 8.0)
"""Event hour volume as a multiple of normal, drawn log-uniformly."""
_EVENT_MOVE_RANGE = (2.0, 5.0)
"""Event price move in units of hourly volatility, drawn log-uniformly."""
_EVENT_CONCENTRATION = (0.05, 0.35)
"""Range of the share of an event's extra volume that lands in one 5-minute candle.

The rest of the extra volume spreads over the whole hour.
"""
_EVENT_JUMP_SHARE = 0.6
"""Share of events whose move persists (a jump); the rest snap back (a reversal wick)."""
# An event hour, and the 5-minute candle that carries the event, move this much more.
_EVENT_VOLATILITY = 1.6
_EVENT_CHILD_VOLATILITY = 1.5
# Inside the event's 5-minute candle, one minute gets this burst range and concentration.
_EVENT_CHILD_BURST_RANGE = (3.0, 5.0)
_EVENT_CHILD_CONCENTRATION = 0.6
# A jump holds for a day, then fades out over the next three days.
_JUMP_HOLD_HOURS = 24.0
_JUMP_FADE_HOURS = 72.0
# After an event, volume stays elevated and decays with this time constant.
_AFTERMATH_HOURS = 5.0
_AFTERMATH_SHARE = 0.3
_AFTERMATH_SPAN = 48

# --- volume shape -----------------------------------------------------------------------

_HOUR_VOLUME_NOISE = 0.35
_FIVE_MINUTE_VOLUME_NOISE = 0.45
_MINUTE_VOLUME_NOISE = 0.6
# Rare large trades in single minutes: chance per minute, Pareto tail index, and a cap.
_WHALE_CHANCE = 0.025
_WHALE_TAIL_INDEX = 1.3
_WHALE_CAP = 40.0
# Hours with bigger moves trade more; this is the weight of |return| / volatility.
_MOVE_VOLUME_WEIGHT = 0.5
_MOVE_VOLUME_CAP = 4.0

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


# --- counter-based randomness -----------------------------------------------------------


# Sized for every stream of the largest market (about 40 streams per pair).
@lru_cache(maxsize=32_768)
def _stream_key(seed: int, symbol: str, stream: str) -> int:
    """Return the 64-bit key of one named random stream; symbol "" is market-wide."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _hash(key: int, index: np.ndarray) -> np.ndarray:
    """Hash each index under `key` with the splitmix64 finaliser; a pure function of both."""
    z = index.astype(np.int64).view(np.uint64) * _GOLDEN + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def _uniform(key: int, index: np.ndarray) -> np.ndarray:
    """Return uniform floats in the open interval (0, 1)."""
    return ((_hash(key, index) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _normal(key: int, index: np.ndarray) -> np.ndarray:
    """Return standard normal floats by Box-Muller on the two 32-bit halves of one hash."""
    bits = _hash(key, index)
    radius_uniform = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
    angle_uniform = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    return np.sqrt(-2.0 * np.log(radius_uniform)) * np.cos(2.0 * np.pi * angle_uniform)


def _value_noise(key: int, hours: np.ndarray, spacing: float) -> np.ndarray:
    """Return smooth noise of unit variance at lattice points, with quintic interpolation.

    Lattice values are hashed from (key, lattice index), so the noise at any time is the
    same however the window is chosen. A per-key phase keeps octaves from aligning.
    """
    phase = (key % 1_000_003) / 1_000_003
    position = hours / spacing + phase
    lattice_index = np.floor(position).astype(np.int64)
    fraction = position - lattice_index

    first = int(lattice_index.min())
    lattice = _normal(key, np.arange(first, int(lattice_index.max()) + 2, dtype=np.int64))
    left = lattice[lattice_index - first]
    right = lattice[lattice_index - first + 1]
    weight = fraction**3 * (fraction * (fraction * 6.0 - 15.0) + 10.0)
    return left + (right - left) * weight


def _log_uniform(uniform: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    low, high = bounds
    return np.exp(np.log(low) + uniform * (np.log(high) - np.log(low)))


def _bridge_excursion(delta: np.ndarray, sigma: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Draw how far a Brownian bridge rises above the higher of its two endpoints.

    The maximum of a bridge from 0 to `delta` with variance `sigma**2` over its span is
    (delta + sqrt(delta**2 - 2 sigma**2 ln U)) / 2 for U uniform on (0, 1).
    """
    return 0.5 * (np.sqrt(delta * delta - 2.0 * sigma * sigma * np.log(uniform)) - np.abs(delta))


def _sequential_sum(columns: np.ndarray) -> np.ndarray:
    """Sum along axis 1 in a fixed order, so a row's sum never depends on the batch shape."""
    total = columns[:, 0].copy()
    for column in range(1, columns.shape[1]):
        total += columns[:, column]
    return total


# --- candles at one level of the cascade ------------------------------------------------


@dataclass
class _Level:
    """Candles of one cascade level in log price, with what the next split needs.

    All arrays are aligned. `event_child` is the child that carries a spike event (-1 for
    none); `jump` is the log-price step inside that child; `reversal_side` is +1 or -1 when
    the event's extreme is a high or low wick that the child must reach; `burst` and
    `concentration` give how much volume the event adds and how much of it that child takes.
    """

    index: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sigma: np.ndarray
    event_child: np.ndarray
    jump: np.ndarray
    reversal_side: np.ndarray
    burst: np.ndarray
    concentration: np.ndarray

    def slice(self, start: int, stop: int) -> "_Level":
        return _Level(**{name: values[start:stop] for name, values in vars(self).items()})


@dataclass(frozen=True)
class _Events:
    """The spike event of each 48-hour slot in a range of slots."""

    first_slot: int
    hour: np.ndarray
    child: np.ndarray
    burst: np.ndarray
    concentration: np.ndarray
    jump: np.ndarray
    """Signed log move of a persisting jump; 0 for reversals."""
    reversal: np.ndarray
    """Signed log size of a reversal wick; 0 for jumps."""

    def at(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        position = slots - self.first_slot
        return {
            "hour": self.hour[position],
            "child": self.child[position],
            "burst": self.burst[position],
            "concentration": self.concentration[position],
            "jump": self.jump[position],
            "reversal": self.reversal[position],
        }


class _PairModel:
    """The simulated history of one pair under one seed."""

    def __init__(self, seed: int, spec: PairSpec) -> None:
        self.spec = spec
        self._seed = seed

    def _key(self, stream: str, market_wide: bool = False) -> int:
        return _stream_key(self._seed, "" if market_wide else self.spec.symbol, stream)

    # Hours -------------------------------------------------------------------------------

    def hours(self, first: int, stop: int) -> _Level:
        """Return the hour candles with indices first..stop-1 (hours since the epoch)."""
        spec = self.spec
        hour_index = np.arange(first, stop, dtype=np.int64)
        boundaries = np.arange(first, stop + 1, dtype=np.int64)
        centres = hour_index.astype(np.float64) + 0.5

        log_price = self._log_price(boundaries)
        open_, close = log_price[:-1], log_price[1:]
        regime = self._regime(centres)
        events = self._events(
            int(hour_index.min()) // _EVENT_SLOT_HOURS - 1,
            int(hour_index.max()) // _EVENT_SLOT_HOURS,
        )
        own = events.at(hour_index // _EVENT_SLOT_HOURS)
        is_event = own["hour"] == hour_index

        sigma = spec.hourly_volatility * np.exp(0.5 * regime)
        sigma = sigma * np.where(is_event, _EVENT_VOLATILITY, 1.0)
        jump = np.where(is_event, own["jump"], 0.0)
        reversal = np.where(is_event, own["reversal"], 0.0)

        # The hour's path is a bridge from open to close - jump, with the jump stepped in
        # at the event child, so its range must cover both sides of the step.
        body_high = np.maximum.reduce([open_, close, open_ + jump, close - jump])
        body_low = np.minimum.reduce([open_, close, open_ + jump, close - jump])
        drift = close - jump - open_
        high = body_high + _bridge_excursion(
            drift, sigma, _uniform(self._key("hour-high"), hour_index)
        )
        low = body_low - _bridge_excursion(
            drift, sigma, _uniform(self._key("hour-low"), hour_index)
        )
        high = high + np.maximum(reversal, 0.0)
        low = low + np.minimum(reversal, 0.0)

        # The event's own move is already paid for by its volume burst.
        move_in_sigmas = np.minimum(np.abs(close - jump - open_) / sigma, _MOVE_VOLUME_CAP)
        volume = self._hour_volume(hour_index, centres, regime, move_in_sigmas, events, own)
        return _Level(
            index=hour_index,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            sigma=sigma,
            event_child=np.where(is_event, own["child"], -1),
            jump=jump,
            reversal_side=np.sign(reversal).astype(np.int64),
            burst=np.where(is_event, own["burst"], 1.0),
            concentration=np.where(is_event, own["concentration"], 0.0),
        )

    def _log_price(self, boundaries: np.ndarray) -> np.ndarray:
        """Return log price at the given hour boundaries (hours since the epoch)."""
        hours = boundaries.astype(np.float64)
        activity = np.exp(0.5 * self._regime(hours))
        noise = math.sqrt(_MARKET_SHARE) * self._price_noise(hours, boundaries, activity, True)
        noise += math.sqrt(1.0 - _MARKET_SHARE) * self._price_noise(
            hours, boundaries, activity, False
        )
        return math.log(self.spec.price) + self.spec.hourly_volatility * noise + self._jumps(hours)

    def _price_noise(
        self, hours: np.ndarray, boundaries: np.ndarray, activity: np.ndarray, market_wide: bool
    ) -> np.ndarray:
        total = (
            _BOUNDARY_NOISE
            * activity
            * _normal(self._key("price-boundary", market_wide), boundaries)
        )
        for spacing, amplitude in _PRICE_OCTAVES:
            octave = amplitude * _value_noise(
                self._key(f"price-{spacing}", market_wide), hours, spacing
            )
            total += octave * activity if spacing <= _CLUSTERED_SPACING else octave
        return total

    def _regime(self, hours: np.ndarray) -> np.ndarray:
        """Return log activity: positive in busy stretches, negative in quiet ones."""
        total = np.zeros_like(hours)
        for market_wide in (True, False):
            for spacing, weight in _REGIME_OCTAVES:
                key = self._key(f"regime-{spacing:g}", market_wide)
                total += math.sqrt(0.5) * weight * _value_noise(key, hours, spacing)
        return _REGIME_STD * total

    def _events(self, first_slot: int, last_slot: int) -> _Events:
        slots = np.arange(first_slot, last_slot + 1, dtype=np.int64)
        is_jump = _uniform(self._key("event-kind"), slots) < _EVENT_JUMP_SHARE
        sign = np.where(_uniform(self._key("event-sign"), slots) < 0.5, -1.0, 1.0)
        move = (
            sign
            * self.spec.hourly_volatility
            * _log_uniform(_uniform(self._key("event-move"), slots), _EVENT_MOVE_RANGE)
        )
        return _Events(
            first_slot=first_slot,
            hour=slots * _EVENT_SLOT_HOURS
            + np.floor(_EVENT_SLOT_HOURS * _uniform(self._key("event-hour"), slots)).astype(
                np.int64
            ),
            child=np.floor(_SPLIT_5M * _uniform(self._key("event-child"), slots)).astype(np.int64),
            burst=_log_uniform(_uniform(self._key("event-burst"), slots), _EVENT_BURST_RANGE),
            concentration=_EVENT_CONCENTRATION[0]
            + (_EVENT_CONCENTRATION[1] - _EVENT_CONCENTRATION[0])
            * _uniform(self._key("event-concentration"), slots),
            jump=np.where(is_jump, move, 0.0),
            reversal=np.where(is_jump, 0.0, move),
        )

    def _jumps(self, hours: np.ndarray) -> np.ndarray:
        """Return the summed log-price effect of persisting jumps at the given boundaries.

        A jump lands inside its event hour, holds, then fades. A boundary looks only at the
        events of its own slot and the two before it, because older jumps have faded out.
        """
        slots = np.floor(hours / _EVENT_SLOT_HOURS).astype(np.int64)
        events = self._events(int(slots.min()) - 2, int(slots.max()))
        total = np.zeros_like(hours)
        for back in range(3):
            event = events.at(slots - back)
            age = hours - (event["hour"] + 0.5)
            fade = np.clip((age - _JUMP_HOLD_HOURS) / _JUMP_FADE_HOURS, 0.0, 1.0)
            weight = np.where(age > 0.0, 1.0 - fade * fade * (3.0 - 2.0 * fade), 0.0)
            total += event["jump"] * weight
        return total

    def _hour_volume(
        self,
        hour_index: np.ndarray,
        centres: np.ndarray,
        regime: np.ndarray,
        move_in_sigmas: np.ndarray,
        events: _Events,
        own: dict[str, np.ndarray],
    ) -> np.ndarray:
        spec = self.spec
        typical = spec.daily_quote_volume / 24.0 / spec.price
        noise = np.exp(
            _HOUR_VOLUME_NOISE * _normal(self._key("hour-volume"), hour_index)
            - 0.5 * _HOUR_VOLUME_NOISE**2
        )
        activity = np.exp(regime - 0.5 * _REGIME_STD**2)
        moves = (1.0 + _MOVE_VOLUME_WEIGHT * move_in_sigmas) / (1.0 + _MOVE_VOLUME_WEIGHT * 0.8)
        volume = typical * _daily_rhythm(centres) * activity * noise * moves

        burst = np.where(own["hour"] == hour_index, own["burst"], 1.0)
        aftermath = np.ones_like(centres)
        for back in range(2):
            event = own if back == 0 else events.at(hour_index // _EVENT_SLOT_HOURS - 1)
            age = hour_index - event["hour"]
            decay = np.exp(-age / _AFTERMATH_HOURS)
            aftermath += np.where(
                (age > 0) & (age <= _AFTERMATH_SPAN),
                _AFTERMATH_SHARE * (event["burst"] - 1.0) * decay,
                0.0,
            )
        return volume * burst * aftermath

    # Splits ------------------------------------------------------------------------------

    def five_minutes(self, first: int, stop: int) -> _Level:
        """Return the 5-minute candles with indices first..stop-1 (5-minute steps since epoch)."""
        first_hour = first // _SPLIT_5M
        hours = self.hours(first_hour, -(-stop // _SPLIT_5M))
        children = _split(
            hours, _SPLIT_5M, self._key, "5m", _FIVE_MINUTE_VOLUME_NOISE, whales=False
        )
        offset = first_hour * _SPLIT_5M
        return children.slice(first - offset, stop - offset)

    def minutes(self, first: int, stop: int) -> _Level:
        """Return the 1-minute candles with indices first..stop-1 (minutes since the epoch)."""
        first_parent = first // _SPLIT_1M
        parents = self.five_minutes(first_parent, -(-stop // _SPLIT_1M))
        children = _split(parents, _SPLIT_1M, self._key, "1m", _MINUTE_VOLUME_NOISE, whales=True)
        offset = first_parent * _SPLIT_1M
        return children.slice(first - offset, stop - offset)

    def level(self, minutes: int, first: int, stop: int) -> _Level:
        if minutes == 60:
            return self.hours(first, stop)
        if minutes == 5:
            return self.five_minutes(first, stop)
        return self.minutes(first, stop)


def _daily_rhythm(hour_centres: np.ndarray) -> np.ndarray:
    """Return the activity multiplier for the UTC hour of day and the day of the week.

    Busiest in the US session (peak near 14:30 UTC), with a smaller European morning
    peak and an Asian one around 01:00; weekends trade less and more evenly.
    """
    hour_of_day = np.mod(hour_centres, 24.0)

    def bump(centre: float, width: float) -> np.ndarray:
        distance = np.abs(hour_of_day - centre)
        distance = np.minimum(distance, 24.0 - distance)
        return np.exp(-0.5 * (distance / width) ** 2)

    weekday_shape = 0.55 + 0.35 * bump(8.0, 2.0) + 0.8 * bump(14.5, 2.5) + 0.25 * bump(1.0, 2.0)
    # 1970-01-01 was a Thursday, so Monday is day 0 after shifting by 3.
    weekday = (np.floor(hour_centres / 24.0).astype(np.int64) + 3) % 7
    weekend = weekday >= 5
    return np.where(weekend, 0.7 * (0.55 + 0.5 * (weekday_shape - 0.55)), weekday_shape)


def _split(
    parent: _Level, parts: int, key_of, level_name: str, volume_noise: float, whales: bool
) -> _Level:
    """Split each parent candle into `parts` children that aggregate back to it exactly.

    Opens, closes, highs and lows come from `_child_points` and `_child_ranges`; volume is
    the parent's, shared by weights normalised within the parent. The event child passes
    its event on to one of its own children, with a fresh, sharper volume burst there.
    """
    child_index = (parent.index[:, None] * parts + np.arange(parts)).ravel()
    child_sigma = parent.sigma / math.sqrt(parts)
    is_event = np.arange(parts) == parent.event_child[:, None]
    child_jump = np.where(is_event, parent.jump[:, None], 0.0)

    child_open, child_close = _child_points(
        parent, parts, child_index, child_sigma, key_of, level_name
    )
    child_high, child_low = _child_ranges(
        parent, child_open, child_close, child_jump, child_index, child_sigma, key_of, level_name
    )
    child_volume = _share_volume(
        parent, parts, child_index, is_event, key_of, level_name, volume_noise, whales
    )

    grandchild = np.floor(
        _SPLIT_1M * _uniform(key_of(f"{level_name}-event-child"), child_index)
    ).astype(np.int64)
    low_burst, high_burst = _EVENT_CHILD_BURST_RANGE
    child_burst = low_burst + (high_burst - low_burst) * _uniform(
        key_of(f"{level_name}-event-burst"), child_index
    )
    flat_event = is_event.ravel()
    event_sigma = np.where(flat_event, _EVENT_CHILD_VOLATILITY, 1.0)
    return _Level(
        index=child_index,
        open=child_open.ravel(),
        high=child_high.ravel(),
        low=child_low.ravel(),
        close=child_close.ravel(),
        volume=child_volume.ravel(),
        sigma=event_sigma * np.repeat(child_sigma, parts),
        event_child=np.where(flat_event, grandchild, -1),
        jump=child_jump.ravel(),
        reversal_side=np.where(flat_event, np.repeat(parent.reversal_side, parts), 0),
        burst=np.where(flat_event, child_burst, 1.0),
        concentration=np.where(flat_event, _EVENT_CHILD_CONCENTRATION, 0.0),
    )


def _child_points(
    parent: _Level,
    parts: int,
    child_index: np.ndarray,
    child_sigma: np.ndarray,
    key_of,
    level_name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the children's opens and closes, each of shape (parents, parts).

    They follow a Brownian bridge from the parent's open to its close minus the event
    jump, with the jump stepped in after the event child. Where the bridge would leave the
    parent's range, it is shrunk toward the straight line as a whole.
    """
    count = len(parent.index)
    inner = np.arange(1, parts)

    # Bridge noise at the inner boundaries 1..parts-1.
    steps = _normal(key_of(f"{level_name}-bridge"), child_index).reshape(count, parts)
    walk = np.cumsum(steps, axis=1) * child_sigma[:, None]
    bridge = (walk - (np.arange(1, parts + 1) / parts) * walk[:, -1:])[:, :-1]

    event = parent.event_child[:, None]
    jump = parent.jump[:, None]
    slope = (parent.close - parent.jump - parent.open)[:, None]
    line = parent.open[:, None] + slope * (inner / parts)
    line = line + jump * (inner >= event + 1) * (event >= 0)
    # The event child's open plus the jump and its close minus the jump must also stay
    # inside the parent's range, because the child's own range will cover them.
    shifted = line + jump * ((inner == event).astype(np.float64) - (inner == event + 1))

    high, low = parent.high[:, None], parent.low[:, None]
    room_up = np.maximum(np.minimum(high - line, high - shifted), 0.0)
    room_down = np.maximum(np.minimum(line - low, shifted - low), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        limit = np.where(
            bridge > 0, room_up / bridge, np.where(bridge < 0, room_down / -bridge, np.inf)
        )
    shrink = np.minimum(1.0, 0.95 * limit.min(axis=1, initial=np.inf))
    inner_points = np.clip(line + shrink[:, None] * bridge, low, high)
    points = np.concatenate([parent.open[:, None], inner_points, parent.close[:, None]], axis=1)
    return points[:, :-1], points[:, 1:]


def _child_ranges(
    parent: _Level,
    child_open: np.ndarray,
    child_close: np.ndarray,
    child_jump: np.ndarray,
    child_index: np.ndarray,
    child_sigma: np.ndarray,
    key_of,
    level_name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the children's highs and lows, with max(highs) and min(lows) exactly the parent's.

    Each child draws its own excursion beyond its body, capped at the parent's range.
    The child whose draw reaches highest, or the event child of a high reversal, then gets
    the parent's high itself, and lows work the same way.
    """
    shape = child_open.shape
    body_high = np.maximum.reduce(
        [child_open, child_close, child_open + child_jump, child_close - child_jump]
    )
    body_low = np.minimum.reduce(
        [child_open, child_close, child_open + child_jump, child_close - child_jump]
    )
    drift = child_close - child_jump - child_open
    sigma_grid = np.broadcast_to(child_sigma[:, None], shape)
    high_draw = _uniform(key_of(f"{level_name}-high"), child_index).reshape(shape)
    low_draw = _uniform(key_of(f"{level_name}-low"), child_index).reshape(shape)
    raw_high = body_high + _bridge_excursion(drift, sigma_grid, high_draw)
    raw_low = body_low - _bridge_excursion(drift, sigma_grid, low_draw)
    child_high = np.minimum(raw_high, parent.high[:, None])
    child_low = np.maximum(raw_low, parent.low[:, None])

    rows = np.arange(shape[0])
    reaches_high = np.where(
        parent.reversal_side == 1, parent.event_child, np.argmax(raw_high, axis=1)
    )
    reaches_low = np.where(
        parent.reversal_side == -1, parent.event_child, np.argmin(raw_low, axis=1)
    )
    child_high[rows, reaches_high] = parent.high
    child_low[rows, reaches_low] = parent.low
    return child_high, child_low


def _share_volume(
    parent: _Level,
    parts: int,
    child_index: np.ndarray,
    is_event: np.ndarray,
    key_of,
    level_name: str,
    volume_noise: float,
    whales: bool,
) -> np.ndarray:
    """Share each parent's volume among its children by weights normalised to sum to one.

    An event's extra volume (burst - 1 times normal) goes partly to the event child
    (the concentration) and is otherwise spread over all children.
    """
    count = len(parent.index)
    noise = _normal(key_of(f"{level_name}-volume"), child_index).reshape(count, parts)
    weight = np.exp(volume_noise * noise - 0.5 * volume_noise**2)
    if whales:
        chance = _uniform(key_of(f"{level_name}-whale"), child_index).reshape(count, parts)
        size = _uniform(key_of(f"{level_name}-whale-size"), child_index).reshape(count, parts)
        weight *= np.where(
            chance < _WHALE_CHANCE, np.minimum(size ** (-1.0 / _WHALE_TAIL_INDEX), _WHALE_CAP), 1.0
        )

    extra = (parent.burst - 1.0)[:, None]
    concentration = parent.concentration[:, None]
    weight *= (
        1.0 + (1.0 - concentration) * extra + np.where(is_event, concentration * parts * extra, 0.0)
    )
    return parent.volume[:, None] * weight / _sequential_sum(weight)[:, None]


# --- the source -------------------------------------------------------------------------


def _base_minutes(interval_minutes: int) -> int:
    """Return the cascade level whose candles tile this interval: 60, 5 or 1 minutes."""
    # NOTE: an interval that is not a multiple of 5 minutes is built from every minute it
    # covers, so long odd intervals are slow. On a 2-core x86_64 machine, 276 candles of
    # 1441 minutes for 20 pairs took about 2.4 s, against 0.12 s for 1d.
    for base in (60, 5):
        if interval_minutes % base == 0:
            return base
    return 1


def simulate_candles(
    seed: int, spec: PairSpec, interval_minutes: int, first_open: int, count: int
) -> pd.DataFrame:
    """Return `count` candles of `interval_minutes` for one pair, the first opening at `first_open`.

    `first_open` counts minutes since the UTC epoch and must be a multiple of the
    interval. Candles are aggregated from the coarsest cascade level that tiles the
    interval: hours for multiples of 60 minutes (1h, 4h, 1d), 5-minute candles for other
    multiples of 5, and 1-minute candles otherwise.
    """
    if first_open % interval_minutes:
        raise ValueError(
            f"first_open {first_open} is not aligned to a {interval_minutes}-minute interval"
        )
    model = _PairModel(seed, spec)
    base = _base_minutes(interval_minutes)
    ratio = interval_minutes // base
    first_base = first_open // base

    columns: dict[str, list[np.ndarray]] = {name: [] for name in OHLCV}
    block = max(1, _BLOCK_BASE_CANDLES // ratio)
    for done in range(0, count, block):
        candles = min(block, count - done)
        start = first_base + done * ratio
        level = model.level(base, start, start + candles * ratio)
        grid = (candles, ratio)
        columns["open"].append(level.open.reshape(grid)[:, 0])
        columns["high"].append(level.high.reshape(grid).max(axis=1))
        columns["low"].append(level.low.reshape(grid).min(axis=1))
        columns["close"].append(level.close.reshape(grid)[:, -1])
        columns["volume"].append(_sequential_sum(level.volume.reshape(grid)))

    data = {
        name: np.concatenate(parts) if parts else np.empty(0) for name, parts in columns.items()
    }
    for name in ("open", "high", "low", "close"):
        data[name] = np.exp(data[name])
    open_minutes = first_open + interval_minutes * np.arange(count, dtype=np.int64)
    # Nanoseconds, as the files source uses, so frames from either source compare directly.
    index = pd.DatetimeIndex((open_minutes * 60_000_000_000).astype("datetime64[ns]")).tz_localize(
        "UTC"
    )
    return candle_frame(pd.DataFrame(data, index=index))


class DemoSource:
    """A CandleSource over the simulated market; needs no network and no files."""

    name = "DEMO"
    is_demo = True

    def __init__(self, seed: int = 7, symbol_count: int = 20) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"demo seed must be an integer, got {seed!r}")
        if not 1 <= symbol_count <= len(DEMO_PAIRS):
            raise ValueError(
                f"demo symbol_count must be between 1 and {len(DEMO_PAIRS)}, got {symbol_count}"
            )
        self.seed = seed
        self._pairs = {spec.symbol: spec for spec in DEMO_PAIRS[:symbol_count]}

    async def symbols(self) -> list[str]:
        return sorted(self._pairs)

    async def fetch(
        self,
        symbols: Sequence[str],
        timeframe: "Timeframe",
        count: int,
        until: datetime,
    ) -> FetchResult:
        """Return up to `count` closed candles per symbol, the newest closing at or before `until`.

        Fewer than `count` come back only when the window would reach before the epoch.
        """
        if count < 0:
            raise ValueError(f"count must be zero or more candles, got {count}")
        if until.tzinfo is None:
            raise ValueError("until must be an aware datetime, got a naive one")
        return await asyncio.to_thread(self._fetch_now, list(symbols), timeframe, count, until)

    def _fetch_now(
        self, symbols: list[str], timeframe: "Timeframe", count: int, until: datetime
    ) -> FetchResult:
        interval = timeframe.minutes
        newest_open = (timeframe.evaluated_open(until) - EPOCH) // timedelta(minutes=1)
        first_open = max(0, newest_open - (count - 1) * interval)
        available = max(0, (newest_open - first_open) // interval + 1) if count else 0

        result = FetchResult()
        for symbol in symbols:
            spec = self._pairs.get(symbol)
            if spec is None:
                result.failures[symbol] = (
                    f"not in the demo market; available: {', '.join(sorted(self._pairs))}"
                )
                continue
            result.candles[symbol] = simulate_candles(
                self.seed, spec, interval, first_open, available
            )
            result.quality[symbol] = DataQuality()
        return result
