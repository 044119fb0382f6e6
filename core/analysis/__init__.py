"""Volume-spike analysis: pure functions from closed candles to one record per symbol."""
