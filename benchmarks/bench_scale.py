"""A busy account: 20 popups (one request per popup), up to 200,000 calls a day, 1% change.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 50000,100000,200000] [--popups 20]
        [--cycles 5] [--unchanged 3] [--change 0.01] [--repeat 1] [--json]

Same harness as bench_cycle.py (private redis-server, a body server process on
127.0.0.1 serving each popup's calls, the real Poller with CLICKFONO_POPUP_UUIDS set),
each size in a fresh process. The calls that change each cycle are drawn from all
popups, so nearly every popup's answer changes. Printed per size: the whole cycle and
its phases against the floor (the same 20 bodies fetched concurrently over the same
HTTP and json.loads-ed, plain and with the GC paused), Redis round trips, an unchanged
cycle against its fetch, Redis memory per 1,000 calls (``MEMORY USAGE`` of the snapshot,
index and answer keys), peak RSS; then how cost grows from one size to the next.
Target: the whole cycle within 1.3x the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, run_child
from bench_cycle import print_rss

TARGET_RATIO = 1.3
STATE_KEYS = ("snap", "index", "answers")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(results: list[dict[str, Any]]) -> None:
    names = ["fetch", "validate", "index", "snapshots", "diff", "commit"]
    popups = results[0]["popups"]
    print(f"{popups} popups, changed cycles: median ms per phase ('rest': outside them)")
    print(
        f"{'calls':>8} "
        + " ".join(f"{n:>9}" for n in [*names, "rest", "cycle"])
        + f" {'gc':>6} {'events':>6}"
    )
    for r in results:
        c = r["changed"]
        phases = [c["phases"].get(n, 0.0) for n in names]
        rest = c["phases"].get("rest", 0.0)
        print(
            f"{r['calls']:>8,} "
            + " ".join(f"{ms(p):>9}" for p in [*phases, rest, c["total"]])
            + f" {c['gc'] * 1000:6.1f} {c['events']:>6.0f}"
        )
    print()
    print("Against the floor (the same bodies fetched concurrently + json.loads each)")
    print(
        f"{'calls':>8} {'fetch':>8} {'floor':>8} {'its gc':>7} {'GC-paused':>9} {'cycle':>8} "
        f"{'ratio':>6} {'best/best':>9} {'ratio GC-paused':>15}"
    )
    for r in results:
        print(
            f"{r['calls']:>8,} {ms(r['floor']['fetch'])} {ms(r['floor']['total'])} "
            f"{r['floor']['gc'] * 1000:7.1f} {ms(r['floor_nogc']['total']):>9} "
            f"{ms(r['changed']['total'])} {r['ratio']:5.2f}x "
            f"{r['cycle_best'] / r['floor_best']:8.2f}x {r['ratio_nogc']:14.2f}x"
        )
    print()
    print("Round trips (requests; a pipeline counts once), unchanged cycles, memory")
    print(
        f"{'calls':>8} {'RTs chg':>7} {'RTs unch':>8} {'unchanged':>9} {'its fetch':>9} "
        f"{'baseline':>9} {'Redis bytes per 1,000 calls':>40}"
    )
    for r in results:
        c, u = r["changed"], r["unchanged"]
        memory = r["redis_memory"]
        per = {k: memory.get(k, 0) * 1000 / r["calls"] for k in STATE_KEYS}
        state = sum(per.values())
        detail = " + ".join(f"{k} {per[k]:,.0f}" for k in STATE_KEYS)
        print(
            f"{r['calls']:>8,} {','.join(map(str, c['sends'])):>7} "
            f"{','.join(map(str, u['sends'])):>8} {ms(u['total']):>9} {ms(u['fetch']):>9} "
            f"{ms(r['baseline']['total']):>9} {state:>10,.0f} ({detail})"
        )
    print()
    print_rss(results)
    print()
    print("Growth: ms per 1,000 calls, and each size against the previous one")
    print(
        f"{'calls':>8} {'cycle/1k':>9} {'floor/1k':>9} {'cycle x':>8} {'floor x':>8} {'calls x':>8}"
    )
    previous: dict[str, Any] | None = None
    for r in results:
        cycle, floor = r["changed"]["total"], r["floor"]["total"]
        grow = ""
        if previous:
            grow = (
                f" {cycle / previous['changed']['total']:7.2f}x"
                f" {floor / previous['floor']['total']:7.2f}x"
                f" {r['calls'] / previous['calls']:7.2f}x"
            )
        per_1k = f"{cycle * 1e6 / r['calls']:9.2f} {floor * 1e6 / r['calls']:9.2f}"
        print(f"{r['calls']:>8,} {per_1k}{grow}")
        previous = r
    last = results[-1]
    print()
    for name, key in (("floor", "ratios"), ("GC-paused floor", "ratios_nogc")):
        ratio = statistics.median(last[key])
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"{last['calls']:,} calls: cycle {ratio:.2f}x the {name} (per-cycle ratios "
            f"{', '.join(f'{x:.2f}' for x in last[key])}); target {TARGET_RATIO}x: {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50000,100000,200000")
    parser.add_argument("--popups", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--unchanged", type=int, default=3)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=1, help="floor runs per side of a cycle")
    parser.add_argument("--json", action="store_true", help="also print raw results as JSON")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(
            measure(args.child, args.popups, args.cycles, args.unchanged, args.change, args.repeat)
        )
        print(json.dumps(result))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"... {size:,} calls over {args.popups} popups", file=sys.stderr, flush=True)
        results.append(run_child(__file__, size, args, popups=args.popups))
    report(results)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
