"""Write SVG screenshots of the dashboard's main views into screenshots/.

Run from the repository root with `python tests/tui/make_screenshots.py`. The app states are
the ones the snapshot tests use: the seeded demo market after every timeframe ran at the
frozen time in app_fixtures, so the pictures change only when the screen does.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from app_fixtures import make_app, prerun_timeframes, wait_until_started  # noqa: E402

OUTPUT = HERE.parents[1] / "screenshots"

# (file name, terminal size, keys pressed after start-up)
VIEWS = [
    ("main-80x24.svg", (80, 24), []),
    ("main-160x48.svg", (160, 48), []),
    ("spike-detail.svg", (100, 34), ["tab", "enter"]),
    ("history.svg", (100, 30), ["h"]),
    ("help.svg", (100, 34), ["question_mark"]),
]


async def capture(name: str, size: tuple[int, int], keys: list[str], folder: Path) -> None:
    await prerun_timeframes(folder)
    app = make_app(folder)
    async with app.run_test(size=size) as pilot:
        await wait_until_started(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.3)
        await pilot.pause(0.3)
        svg = app.export_screenshot(title=f"volscope – {name.removesuffix('.svg')}")
    (OUTPUT / name).write_text(svg, encoding="utf-8")
    print(f"wrote screenshots/{name}")


async def main() -> None:
    OUTPUT.mkdir(exist_ok=True)
    for name, size, keys in VIEWS:
        with tempfile.TemporaryDirectory() as folder:
            await capture(name, size, keys, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
