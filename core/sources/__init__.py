"""Candle sources: where a run gets the closed candles it analyses.

Every source returns the same layout, built by `core.sources.base.candle_frame`: a
DataFrame indexed by UTC open time (`open_time`, sorted, unique) with float64 columns
open, high, low, close and volume. Only closed candles are returned.
"""
