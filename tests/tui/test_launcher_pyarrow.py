"""The dashboard on the demo source runs without pyarrow, and a run still works; other sources keep it.

Each check opens the dashboard in a fresh interpreter with the app's event loop replaced by a
no-op, because this test process has long imported pandas and pyarrow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / ".." / "shared" / "data" / "binance-2018-01"

PROBE = """
import asyncio, json, sys
import tui.app
from tui.launcher import main

opened = []
tui.app.VolscopeApp.run = lambda app, *args, **kwargs: opened.append(app)
code = main(sys.argv[1:])
blocked = "pyarrow" in sys.modules and sys.modules["pyarrow"] is None

async def run_once(runtime):
    await runtime.start(paused=True)
    try:
        await runtime.service.run_now("1h")
        return [row.status for row in runtime.store.runs("1h")]
    finally:
        await runtime.stop()

statuses = asyncio.run(run_once(opened[0].runtime)) if sys.argv[2] == "demo" else []
print(json.dumps({"code": code, "opened": len(opened), "pyarrow_blocked": blocked, "statuses": statuses}))
"""


def open_dashboard_in_fresh_interpreter(tmp_path: Path, *arguments: str) -> dict:
    environment = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, "--source", *arguments, "--store", str(tmp_path / "store.sqlite")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_demo_dashboard_runs_without_pyarrow(tmp_path):
    probe = open_dashboard_in_fresh_interpreter(tmp_path, "demo")
    assert probe["code"] == 0
    assert probe["opened"] == 1
    assert probe["pyarrow_blocked"] is True
    assert probe["statuses"] == ["ok"]


def test_files_dashboard_keeps_pyarrow(tmp_path):
    if not DATA.is_dir():
        pytest.skip(f"the Binance candles are not at {DATA.resolve()}")
    probe = open_dashboard_in_fresh_interpreter(tmp_path, "files", "--data", str(DATA))
    assert probe["code"] == 0
    assert probe["opened"] == 1
    assert probe["pyarrow_blocked"] is False
