"""core must stay usable without Textual: a headless run, the CLI or an API import only core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"


def test_core_sources_never_import_ui():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"textual", "tui", "textual_plotext", "plotext"}:
                    offenders.append(f"{path.relative_to(CORE.parent)}:{node.lineno} imports {name}")
    assert offenders == []


def test_core_runtime_loads_without_textual():
    script = (
        "import sys, core.runtime, core.cli, core.scheduler, core.store, core.settings\n"
        "loaded = [name for name in sys.modules if name.split('.')[0] in ('textual', 'tui')]\n"
        "print(','.join(loaded))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == ""
