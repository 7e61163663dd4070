"""Profile one changed cycle and one unchanged cycle with pyinstrument.

    .venv/bin/pip install pyinstrument      # not a project dependency
    .venv/bin/python benchmarks/profile_cycle.py [--calls 100000] [--popups 1] [--html DIR]

Same setup as bench_cycle.py (private Redis, body server process, real Poller); prints
pyinstrument's call tree for the cycles after the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


async def main(calls: int, popups: int, change: float, html: str | None) -> None:
    from _harness import bench
    from pyinstrument import Profiler

    with bench(calls, popups) as b:
        await b.cycle("baseline")
        b.mutate(change, 1)
        await b.cycle("warm")
        for label, mutate in (("changed", True), ("unchanged", False)):
            if mutate:
                b.mutate(change, 2)
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
            figures, _ = await b.cycle(label)
            profiler.stop()
            print(f"===== {label} cycle: {figures.total * 1000:.0f} ms {figures.phases}")
            print(profiler.output_text(unicode=True, color=False, show_all=False))
            if html:
                Path(html, f"{label}.html").write_text(profiler.output_html())  # noqa: ASYNC240
        await b.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--popups", type=int, default=1)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--html", help="also write changed.html and unchanged.html here")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.popups, args.change, args.html))
