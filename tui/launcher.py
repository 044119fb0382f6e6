"""The `volscope` entry point: commands go to core.cli, no command opens the dashboard."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Sequence

import platformdirs

from core.cli import EXIT_USAGE, UsageError, parse, parse_fire_time, run_command, settings_from
from core.settings import APP_NAME, SettingsError
from core.sources.base import SourceConfigError
from core.store import StoreError


def _log_to_file() -> Path:
    # The dashboard owns the terminal, so logs go to a file instead of stderr.
    folder = Path(platformdirs.user_log_dir(APP_NAME))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "volscope.log"
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return path


def _keep_pyarrow_out() -> None:
    """Make `import pyarrow` fail in this process, so pandas loads without it.

    pandas 3 imports pyarrow whenever it is installed. Measured on Linux, the dashboard then
    holds 146 MiB after its first demo run instead of 106 MiB, over the 120 MiB it aims for.
    Only feather files need pyarrow, so a dashboard on the demo source does without it.

    NOTE: what this costs. pandas stores string columns as Python objects (the `str` dtype
    with storage "python") instead of Arrow arrays. Nothing in this process can import
    pyarrow afterwards, so the files source must never be opened from a demo dashboard.
    """
    if "pandas" in sys.modules or "pyarrow" in sys.modules:
        return  # too late: pandas has already looked for pyarrow, or pyarrow is loaded
    sys.modules["pyarrow"] = None  # the import system raises ImportError for a None entry


def open_dashboard(arguments) -> int:
    from core.runtime import build_runtime

    try:
        loaded = settings_from(arguments)
        replay_from = parse_fire_time(arguments.replay_at) if arguments.replay_at else None
        runtime = build_runtime(loaded.settings, replay_from=replay_from)
    except (SettingsError, SourceConfigError, StoreError, UsageError) as error:
        print(f"volscope: {error}", file=sys.stderr)
        return EXIT_USAGE
    _log_to_file()
    if runtime.source.is_demo:
        _keep_pyarrow_out()

    from tui.app import VolscopeApp

    app = VolscopeApp(runtime)
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    invocation = parse(argv)
    if invocation.command is None:
        return open_dashboard(invocation.arguments)
    return run_command(invocation)


if __name__ == "__main__":
    sys.exit(main())
