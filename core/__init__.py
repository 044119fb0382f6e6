"""volscope's core: timeframes, the scheduler service, candle sources, analysis and storage.

Nothing in this package imports Textual or the `tui` package, so a headless run,
the CLI or an API can use all of it.
"""
