"""Screens opened from the dashboard: spike detail and chart, run history, key help."""
