"""The dashboard's first frame must not wait for numpy, pandas, pyarrow or plotext.

The import checks run in a fresh interpreter, because this test process has long imported them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.runtime import DeferredSource
from core.sources.demo import DemoSource
from core.timeframes import DEFAULT_TIMEFRAMES

HEAVY_MODULES = ("numpy", "pandas", "pyarrow", "plotext", "textual_plotext")
ONE_HOUR = next(timeframe for timeframe in DEFAULT_TIMEFRAMES if timeframe.key == "1h")
REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / ".." / "shared" / "data" / "binance-2018-01"

PROBE = """
import json, sys
from core.cli import parse, settings_from
from core.runtime import build_runtime
import tui.app

runtime = build_runtime(settings_from(parse(sys.argv[1:]).arguments).settings)
loaded = sorted(name for name in %r if name in sys.modules)
print(json.dumps({"source": type(runtime.source).__name__, "loaded": loaded}))
""" % (HEAVY_MODULES,)


def heavy_modules_after_build(tmp_path: Path, *arguments: str) -> dict:
    environment = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, "--store", str(tmp_path / "store.sqlite"), *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_demo_runtime_loads_no_heavy_module(tmp_path):
    probe = heavy_modules_after_build(tmp_path, "--source", "demo")
    assert probe["source"] == "DeferredSource"
    assert probe["loaded"] == []


def test_files_runtime_loads_no_heavy_module(tmp_path):
    if not DATA.is_dir():
        pytest.skip(f"the Binance candles are not at {DATA.resolve()}")
    probe = heavy_modules_after_build(tmp_path, "--source", "files", "--data", str(DATA))
    assert probe["source"] == "FilesSource"
    assert probe["loaded"] == []


async def test_deferred_source_matches_real_one():
    deferred = DeferredSource("DEMO", True, lambda: DemoSource(seed=3, symbol_count=4))
    real = DemoSource(seed=3, symbol_count=4)
    until = datetime(2025, 3, 3, tzinfo=timezone.utc)

    assert await deferred.symbols() == await real.symbols()
    expected = await real.fetch(["BTC/USDT"], ONE_HOUR, 30, until)
    fetched = await deferred.fetch(["BTC/USDT"], ONE_HOUR, 30, until)
    assert fetched.candles["BTC/USDT"].equals(expected.candles["BTC/USDT"])
    assert fetched.failures == expected.failures


async def test_deferred_source_builds_once():
    builds = []
    release = threading.Event()

    def build() -> DemoSource:
        builds.append(threading.get_ident())
        # Holds the first build until every caller has asked, so they overlap.
        release.wait(timeout=5)
        return DemoSource(symbol_count=2)

    deferred = DeferredSource("DEMO", True, build)
    calls = [asyncio.create_task(deferred.source()) for _ in range(4)]
    await asyncio.sleep(0.2)
    release.set()
    sources = await asyncio.gather(*calls)

    assert len(builds) == 1
    assert all(source is sources[0] for source in sources)
