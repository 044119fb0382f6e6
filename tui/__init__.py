"""The Textual dashboard: turns core events into widgets."""
