"""A whole ``clickfono-notifier once`` process against a bare fetch-and-parse script.

This is what a CronJob pays: interpreter start-up, imports, configuration, one cycle and
one delivery pass, exit. For each size (calls in one answer):

* **cycle**: the wall time of a fresh ``clickfono-notifier once`` process, after the
  body server changed 1 % of the calls' statuses (and retry and durations) since the
  previous cycle. One webhook sink is configured, whose ``WEBHOOK_EVENTS`` admits none of
  the call events (``notifier.source_recovered``), so what is timed is poll, diff and
  state, not a thousand HTTP posts. Its peak RSS comes from ``/usr/bin/time -f %M``
  (the ``ru_maxrss`` of that process alone), or else from ``wait4``.
* **floor**: the wall time of a fresh ``python -c`` process that does
  ``httpx.get(url, headers={'security-token': …})`` and ``json.loads(r.content)`` on the
  same body.
* **unchanged**: ``once`` again over an identical body, against a fresh process that
  only fetches it (``httpx.get``), and, from the cycle's own log line, the cycle's phases
  against its fetch phase.

Best of ``--runs`` (3) each, interleaved (floor, cycle, floor, cycle, …), in one run.
Before the timed runs one untimed ``once`` records the silent baseline. Everything runs on
127.0.0.1: the body server (``_bodyserver.py``) and a private ``redis-server`` on a free
port in a temporary directory; nothing touches the machine's Redis.

    .venv/bin/python benchmarks/bench_once.py                    # 1k, 10k, 100k, 200k
    .venv/bin/python benchmarks/bench_once.py --sizes 100000 --runs 5 --json
    git archive COMMIT notifier | tar -x -C /tmp/before            # an earlier commit …
    .venv/bin/python benchmarks/bench_once.py --before /tmp/before  # … timed alongside
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bodyserver import BodyServer

from notifier.embedded_redis import EmbeddedRedis

TOKEN = "bench-token"
PREFIX = "bench-once"
BIN = Path(sys.executable).parent
FLOOR = (
    "import httpx, json, sys\n"
    "r = httpx.get(sys.argv[1], headers={'security-token': sys.argv[2]}, timeout=120)\n"
    "json.loads(r.content)\n"
)
FETCH_ONLY = (
    "import httpx, sys\n"
    "r = httpx.get(sys.argv[1], headers={'security-token': sys.argv[2]}, timeout=120)\n"
    "r.content\n"
)
TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass
class Run:
    wall: float
    rss_mb: float
    stderr: str


def timed(command: list[str], env: dict[str, str], cwd: str | None = None) -> Run:
    """Run ``command`` to completion; its wall time and its own peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        # /usr/bin/time forks the command from its own tiny process, so the figure is the
        # command's alone: a child exec'd straight from this process starts its
        # ru_maxrss at this process's RSS.
        wrapped = [TIME, "-f", "%M", "-o", rss_file.name, *command] if TIME else command
        started = time.perf_counter()
        process = subprocess.Popen(
            wrapped, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        _, stderr = process.communicate(timeout=600)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            sys.stderr.write(stderr)
            raise SystemExit(f"{command[0]} exited {process.returncode}")
        if TIME:
            rss = int(rss_file.read().split()[-1]) / 1024
        else:  # pragma: no cover - machines without /usr/bin/time
            import resource

            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Run(wall, rss, stderr)


def cycle_line(stderr: str) -> dict[str, Any]:
    """The ``cycle`` log line of a ``once`` run (JSON logs)."""
    for line in stderr.splitlines():
        if line.startswith("{") and '"event": "cycle"' in line:
            return dict(json.loads(line))
    raise SystemExit(f"no cycle log line in once's stderr:\n{stderr[-2000:]}")


def measure(calls: int, runs: int, change: float, before: str = "") -> dict[str, Any]:
    redis_server = EmbeddedRedis().start()
    server = BodyServer(calls)
    try:
        base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        env = base_env | {
            "CLICKFONO_TOKEN": TOKEN,
            "CLICKFONO_BASE_URL": server.base_url,
            "CLICKFONO_TIMEOUT": "120",
            "REDIS_URL": redis_server.url,
            "NOTIFIER_REDIS_PREFIX": PREFIX,
            # One date per cycle whatever the hour, and no queue alert falls due mid-run.
            "NOTIFIER_ROLLOVER_GRACE": "0",
            "NOTIFIER_QUEUE_ALERT_MINUTES": "0",
            # A receiver that is never called: the filter admits none of the call events.
            "WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "WEBHOOK_EVENTS": "notifier.source_recovered",
        }
        # --before: another checkout's package (e.g. ``git archive`` of an earlier commit),
        # with its own prefix on the same Redis, run right after each timed cycle.
        before_env = env | {"PYTHONPATH": before, "NOTIFIER_REDIS_PREFIX": f"{PREFIX}-before"}
        once = [str(BIN / "clickfono-notifier"), "once"]
        # The console script names this checkout's entry point, which an older tree may
        # not have: ``python -m notifier``, run from the other tree (``-m`` puts the
        # working directory first on sys.path), runs that tree's package.
        before_once = [sys.executable, "-m", "notifier", "once"]
        url = f"{server.base_url}/calls/list?date=2026-11-24"
        floor_cmd = [sys.executable, "-c", FLOOR, url, TOKEN]
        fetch_cmd = [sys.executable, "-c", FETCH_ONLY, url, TOKEN]

        baseline = timed(once, env)  # every call new: the silent baseline, untimed
        if before:
            timed(before_once, before_env, cwd=before)
        cycles: list[Run] = []
        before_cycles: list[Run] = []
        floors: list[Run] = []
        logs: list[dict[str, Any]] = []
        for n in range(runs):
            answer = httpx.post(
                f"{server.base_url}/_mutate",
                params={"fraction": change, "round": n + 1},
                timeout=300,
            )
            answer.raise_for_status()
            floors.append(timed(floor_cmd, env))
            cycles.append(timed(once, env))
            logs.append(cycle_line(cycles[-1].stderr))
            if before:
                before_cycles.append(timed(before_once, before_env, cwd=before))
        quiet: list[Run] = []
        fetches: list[Run] = []
        quiet_logs: list[dict[str, Any]] = []
        for _ in range(runs):
            fetches.append(timed(fetch_cmd, env))
            quiet.append(timed(once, env))
            quiet_logs.append(cycle_line(quiet[-1].stderr))
    finally:
        server.stop()
        redis_server.cleanup()

    best = min(cycles, key=lambda r: r.wall)
    best_quiet = min(quiet, key=lambda r: r.wall)
    quiet_ratios = [sum(line["phases"].values()) / line["phases"]["fetch"] for line in quiet_logs]
    for line in quiet_logs:
        assert line["unchanged_answers"] == 1 and line["events"] == 0, line
    floor = min(r.wall for r in floors)
    compared: dict[str, Any] = {}
    if before_cycles:
        compared = {
            "before_cycle": min(r.wall for r in before_cycles),
            "before_cycles": [r.wall for r in before_cycles],
            "before_ratio": min(r.wall for r in before_cycles) / floor,
            "before_rss_mb": max(r.rss_mb for r in before_cycles),
        }
    return compared | {
        "calls": calls,
        "cycle": best.wall,
        "cycles": [r.wall for r in cycles],
        "floor": min(r.wall for r in floors),
        "floors": [r.wall for r in floors],
        "ratio": best.wall / min(r.wall for r in floors),
        "rss_mb": max(r.rss_mb for r in cycles),
        "floor_rss_mb": max(r.rss_mb for r in floors),
        "baseline": baseline.wall,
        "baseline_rss_mb": baseline.rss_mb,
        "phases": logs[cycles.index(best)]["phases"],
        "events": logs[cycles.index(best)]["events"],
        "unchanged": best_quiet.wall,
        "unchanged_rss_mb": max(r.rss_mb for r in quiet),
        "fetch_only": min(r.wall for r in fetches),
        "unchanged_phases": quiet_logs[quiet.index(best_quiet)]["phases"],
        "unchanged_over_its_fetch": min(quiet_ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,200000")
    parser.add_argument("--runs", type=int, default=3, help="best of this many, each")
    parser.add_argument("--change", type=float, default=0.01, help="fraction changed per cycle")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--before",
        default="",
        metavar="DIR",
        help="also time once from this directory's notifier package (PYTHONPATH), e.g. "
        "'git archive COMMIT notifier | tar -x -C DIR', interleaved with the cycle",
    )
    args = parser.parse_args()
    if not TIME:
        print("note: no /usr/bin/time; peak RSS from wait4 may include this process's RSS")
    results = []
    header = (
        f"{'calls':>8} {'floor s':>8} {'once s':>8} {'ratio':>6} {'RSS MB':>7} "
        f"{'floor RSS':>9} {'unchanged s':>11} {'fetch-only s':>12} {'unch/fetch':>10}  "
        "phases of the best cycle (ms)"
    )
    print(header)
    for calls in (int(s) for s in args.sizes.split(",")):
        r = measure(calls, args.runs, args.change, args.before)
        results.append(r)
        phases = " ".join(f"{k} {v * 1000:.0f}" for k, v in r["phases"].items())
        print(
            f"{calls:>8,} {r['floor']:>8.3f} {r['cycle']:>8.3f} {r['ratio']:>5.2f}x "
            f"{r['rss_mb']:>7.0f} {r['floor_rss_mb']:>9.0f} {r['unchanged']:>11.3f} "
            f"{r['fetch_only']:>12.3f} {r['unchanged_over_its_fetch']:>9.2f}x  {phases}",
            flush=True,
        )
        if args.before:
            print(
                f"{'':>8} before: once {r['before_cycle']:.3f} s, {r['before_ratio']:.2f}x the "
                f"floor, RSS {r['before_rss_mb']:.0f} MB",
                flush=True,
            )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
