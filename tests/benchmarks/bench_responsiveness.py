"""Start-up time, idle CPU and resident memory of the real `volscope` dashboard in a pseudo-terminal.

Run with `python tests/benchmarks/bench_responsiveness.py` from the repository root; the default
run takes about ten minutes (`--idle-seconds` and `--memory-minutes` shorten it). Every child runs
on the demo source with a temporary store, temporary XDG folders, HOME and working directory, and
no VOLSCOPE_* variables, so the user's own config, `.env` and store are never read or written.

Figures and targets:
- first frame: from just before the fork to the first output in which the timeframe table's
  row "5 Minutes" appears (escape sequences removed), median of several starts. Target 1.0 s.
  A bare Textual app that imports pandas and plotext before its first frame is timed the same way.
- idle CPU: utime + stime from /proc/<pid>/stat over a window with all timeframes counting down
  and no scheduled fire (plus settle delay and run time) inside it, in percent of one core.
  Target 1.0 %.
- memory: VmRSS from /proc/<pid>/status the given minutes after start, after the 5m runs
  that fell in that time. Target 120 MB (MiB here, 2**20 bytes).
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import os
import platform
import re
import select
import shutil
import signal
import statistics
import struct
import sys
import sysconfig
import tempfile
import termios
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

FIRST_FRAME_TARGET_SECONDS = 1.0
IDLE_CPU_TARGET_PERCENT = 1.0
MEMORY_TARGET_MIB = 120.0

TABLE_ROW_TEXT = "5 Minutes"
TIMEFRAME_NAMES = ("5 Minutes", "1 Hour", "4 Hours", "1 Day")
TERMINAL_COLUMNS, TERMINAL_ROWS = 120, 40
FIRST_FRAME_TIMEOUT_SECONDS = 30.0

# The finest default timeframe fires every five minutes; every coarser fire lands on one of those.
FIRE_PERIOD_SECONDS = 300
SETTLE_DELAY_SECONDS = 10
# Time allowed for one demo run over twenty pairs after its settle delay, an estimate with margin.
RUN_ALLOWANCE_SECONDS = 20
# Lets the work queued right after the first frame (store reads, job start) finish before measuring.
AFTER_START_SECONDS = 5

_ESCAPE_SEQUENCE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")

BASELINE_APP = textwrap.dedent(
    """
    import pandas
    import plotext
    from textual.app import App
    from textual.widgets import Static

    class Baseline(App):
        def compose(self):
            yield Static("5 Minutes")

    Baseline().run()
    """
)

BARE_APP = textwrap.dedent(
    """
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("5 Minutes")

    Bare().run()
    """
)


@dataclass
class TerminalChild:
    """A program running in its own pseudo-terminal, its output drained by a thread."""

    pid: int
    master_fd: int
    started_at: float
    first_seen: dict[str, float] = field(default_factory=dict)
    watched_texts: tuple[str, ...] = ()
    output_bytes: int = 0
    _screen_text: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None
    exited: bool = False

    def drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master_fd], [], [], 0.5)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            try:
                chunk = os.read(self.master_fd, 65536)
            except OSError:  # EIO once the child has closed its side
                break
            received_at = time.monotonic()
            if not chunk:
                break
            with self._lock:
                self.output_bytes += len(chunk)
                if len(self.first_seen) < len(self.watched_texts):
                    self._screen_text += chunk
                    text = _ESCAPE_SEQUENCE.sub(b"", bytes(self._screen_text)).decode("utf-8", "replace")
                    for watched_text in self.watched_texts:
                        if watched_text not in self.first_seen and watched_text in text:
                            self.first_seen[watched_text] = received_at
                    if len(self.first_seen) == len(self.watched_texts):
                        self._screen_text.clear()
        self.exited = True

    def wait_for(self, text: str, timeout: float) -> float | None:
        """Return seconds from start to the first output showing `text`, or None on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if text in self.first_seen:
                    return self.first_seen[text] - self.started_at
            if self.exited:
                return None
            time.sleep(0.01)
        return None

    def bytes_written(self) -> int:
        with self._lock:
            return self.output_bytes


_children: dict[int, TerminalChild] = {}


def spawn(argv: list[str], env: dict[str, str], cwd: Path, watched_texts: tuple[str, ...]) -> TerminalChild:
    """Fork `argv` into a new pseudo-terminal of TERMINAL_COLUMNS x TERMINAL_ROWS."""
    started_at = time.monotonic()
    pid, master_fd = os.forkpty()
    if pid == 0:  # the child: size the terminal before exec so the first frame has it
        try:
            winsize = struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0)
            fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)

    child = TerminalChild(pid, master_fd, started_at, watched_texts=watched_texts)
    _children[pid] = child
    child._reader = threading.Thread(target=child.drain, daemon=True)
    child._reader.start()
    return child


def stop(child: TerminalChild) -> None:
    """Ask the app to quit with ctrl+q; kill its process group if it has not exited after 5 s."""
    if child.pid not in _children:
        return
    try:
        os.write(child.master_fd, b"\x11")
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reaped, _ = os.waitpid(child.pid, os.WNOHANG)
        if reaped:
            break
        time.sleep(0.05)
    else:
        # forkpty made the child a session leader, so its process group id is its pid.
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(child.pid, 0)
    del _children[child.pid]
    if child._reader is not None:
        child._reader.join(timeout=2)
    os.close(child.master_fd)


def stop_all() -> None:
    for child in list(_children.values()):
        stop(child)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def isolated_environment(root: Path) -> dict[str, str]:
    """Return an environment whose HOME and XDG folders are under `root`, without VOLSCOPE_* values."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOLSCOPE_")}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        folder = root / name.lower()
        folder.mkdir()
        env[name] = str(folder)
    env["TERM"] = "xterm-256color"
    env["COLUMNS"], env["LINES"] = str(TERMINAL_COLUMNS), str(TERMINAL_ROWS)
    return env


def volscope_command() -> Path:
    """Return the `volscope` console script installed for this interpreter.

    The script itself, not a shim on PATH (pyenv's, for one), so no interpreter lookup is timed.
    """
    script = Path(sysconfig.get_path("scripts")) / "volscope"
    if script.exists():
        return script
    found = shutil.which("volscope")
    if found is None:
        sys.exit("volscope is not installed for this Python; run `pip install -e .` first")
    return Path(found)


def cpu_seconds(pid: int) -> float:
    """Return user plus system CPU time of every thread of `pid`, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024  # the kernel reports kB (KiB)
    raise KeyError(f"{key} not in /proc/{pid}/status")


def quiet_window_start(earliest: float, seconds: float) -> tuple[float, int]:
    """Return the first wall-clock start >= `earliest` whose window of `seconds` avoids every
    fire's settle-and-run span, and how many fires the window still contains (0 unless it is
    longer than the gap between fires)."""
    busy = SETTLE_DELAY_SECONDS + RUN_ALLOWANCE_SECONDS
    if seconds > FIRE_PERIOD_SECONDS - busy:
        return earliest, int((earliest % FIRE_PERIOD_SECONDS + seconds) // FIRE_PERIOD_SECONDS)
    start = earliest
    previous_fire = start - start % FIRE_PERIOD_SECONDS
    if start < previous_fire + busy:
        start = previous_fire + busy
    next_fire = previous_fire + FIRE_PERIOD_SECONDS
    if start + seconds > next_fire:
        start = next_fire + busy
    return start, 0


def time_first_frames(label: str, argv: list[str], runs: int, scratch: Path) -> list[float]:
    """Start `argv` `runs` times after one untimed warm-up start; return the first-frame times."""
    times = []
    for attempt in range(runs + 1):
        root = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch))
        env = isolated_environment(root)
        run_argv = [part.replace("{root}", str(root)) for part in argv]
        child = spawn(run_argv, env, root, (TABLE_ROW_TEXT,))
        try:
            elapsed = child.wait_for(TABLE_ROW_TEXT, FIRST_FRAME_TIMEOUT_SECONDS)
        finally:
            stop(child)
        if elapsed is None:
            sys.exit(f"{label}: no frame showed {TABLE_ROW_TEXT!r} within {FIRST_FRAME_TIMEOUT_SECONDS:.0f} s")
        if attempt:
            times.append(elapsed)
    return times


def machine_description() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="length of the idle CPU window in seconds (default: 60)")
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="minutes after start at which VmRSS is read (default: 10)")
    parser.add_argument("--startup-runs", type=int, default=5, help="timed starts per program, after one warm-up start (default: 5)")
    arguments = parser.parse_args()
    if arguments.idle_seconds <= 0 or arguments.memory_minutes < 0 or arguments.startup_runs < 1:
        parser.error("--idle-seconds must be above 0, --memory-minutes 0 or more, --startup-runs 1 or more")

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)

    command = volscope_command()
    volscope_argv = [str(command), "--source", "demo", "--store", "{root}/store.sqlite", "--settle-delay", str(SETTLE_DELAY_SECONDS)]
    print(f"machine: {machine_description()}")
    print(f"command: {command} (terminal {TERMINAL_COLUMNS}x{TERMINAL_ROWS})")

    with tempfile.TemporaryDirectory(prefix="volscope-bench-") as scratch_name:
        scratch = Path(scratch_name)
        baseline_script = scratch / "baseline_app.py"
        baseline_script.write_text(BASELINE_APP)
        bare_script = scratch / "bare_app.py"
        bare_script.write_text(BARE_APP)

        progress("timing first frames")
        volscope_times = time_first_frames("volscope", volscope_argv, arguments.startup_runs, scratch)
        baseline_times = time_first_frames("baseline", [sys.executable, str(baseline_script)], arguments.startup_runs, scratch)
        bare_times = time_first_frames("bare", [sys.executable, str(bare_script)], arguments.startup_runs, scratch)
        first_frame = statistics.median(volscope_times)
        baseline = statistics.median(baseline_times)
        bare = statistics.median(bare_times)

        progress("starting the long-running dashboard")
        root = Path(tempfile.mkdtemp(prefix="volscope-long-", dir=scratch))
        env = isolated_environment(root)
        long_argv = [part.replace("{root}", str(root)) for part in volscope_argv]
        child = spawn(long_argv, env, root, TIMEFRAME_NAMES)
        wall_started = time.time()
        try:
            for name in TIMEFRAME_NAMES:
                if child.wait_for(name, FIRST_FRAME_TIMEOUT_SECONDS) is None:
                    sys.exit(f"the dashboard never showed the {name!r} row")

            window_start, fires_inside = quiet_window_start(time.time() + AFTER_START_SECONDS, arguments.idle_seconds)
            if window_start > time.time():
                progress(f"waiting {window_start - time.time():.0f} s so no scheduled run falls in the idle window")
                time.sleep(window_start - time.time())
            progress(f"measuring idle CPU for {arguments.idle_seconds:.0f} s")
            cpu_before, bytes_before, clock_before = cpu_seconds(child.pid), child.bytes_written(), time.monotonic()
            time.sleep(arguments.idle_seconds)
            cpu_after, bytes_after, clock_after = cpu_seconds(child.pid), child.bytes_written(), time.monotonic()
            window = clock_after - clock_before
            idle_cpu = 100 * (cpu_after - cpu_before) / window
            output_rate = (bytes_after - bytes_before) / window

            memory_at = wall_started + arguments.memory_minutes * 60
            if memory_at > time.time():
                progress(f"waiting {memory_at - time.time():.0f} s to read memory {arguments.memory_minutes:g} min after start")
                time.sleep(memory_at - time.time())
            rss = status_mib(child.pid, "VmRSS")
            peak_rss = status_mib(child.pid, "VmHWM")
            anonymous_rss = status_mib(child.pid, "RssAnon")
            file_rss = status_mib(child.pid, "RssFile")
            minutes_alive = (time.time() - wall_started) / 60
        finally:
            stop(child)

    print()
    print(f"first frame showing {TABLE_ROW_TEXT!r}, median of {len(volscope_times)}: {first_frame:.3f} s "
          f"(target <= {FIRST_FRAME_TARGET_SECONDS:.1f} s) {verdict(first_frame <= FIRST_FRAME_TARGET_SECONDS)}")
    print(f"  volscope runs:  {', '.join(f'{value:.3f}' for value in volscope_times)} s")
    print(f"  baseline (bare Textual app importing pandas and plotext first): median {baseline:.3f} s; "
          f"volscope / baseline = {first_frame / baseline:.2f}")
    print(f"  bare Textual app, no heavy imports: median {bare:.3f} s; volscope / bare = {first_frame / bare:.2f}")
    note = f"; {fires_inside} scheduled fire(s) inside the window" if fires_inside else ", no scheduled fire inside"
    print(f"idle CPU over {window:.0f} s: {idle_cpu:.2f} % of one core (target <= {IDLE_CPU_TARGET_PERCENT:.1f} %) "
          f"{verdict(idle_cpu <= IDLE_CPU_TARGET_PERCENT)}")
    print(f"  all four timeframes counting down{note}; terminal output {output_rate:.0f} bytes/s")
    print(f"resident memory after {minutes_alive:.1f} min: VmRSS {rss:.1f} MiB, peak VmHWM {peak_rss:.1f} MiB "
          f"(target <= {MEMORY_TARGET_MIB:.0f} MiB) {verdict(rss <= MEMORY_TARGET_MIB)}")
    print(f"  of which RssAnon {anonymous_rss:.1f} MiB (heap) and RssFile {file_rss:.1f} MiB (mapped libraries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
