"""Shared fixtures: isolated settings that never read the real user config, and the real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BINANCE = SHARED_DATA / "binance-2018-01"
FORMATS = SHARED_DATA / "formats"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point the user config, data and log dirs at a temporary folder and clear VOLSCOPE_* variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    import os

    for name in list(os.environ):
        if name.startswith("VOLSCOPE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def binance_data() -> Path:
    if not BINANCE.is_dir():
        pytest.skip(f"real candles not found at {BINANCE}; they live in ../shared/data beside the repo")
    return BINANCE


@pytest.fixture
def formats_data() -> Path:
    if not FORMATS.is_dir():
        pytest.skip(f"real candle files not found at {FORMATS}; they live in ../shared/data beside the repo")
    return FORMATS
