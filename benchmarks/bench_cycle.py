"""One poll cycle end to end, against its floor: fetching the same body and json.loads-ing it.

    .venv/bin/python benchmarks/bench_cycle.py [--sizes 1000,10000,100000] [--cycles 5]
        [--unchanged 3] [--change 0.01] [--repeat 1] [--json]

For each size, in a fresh process (so peak RSS belongs to that size alone): a private
redis-server (EmbeddedRedis), a body server in another process on 127.0.0.1, and the real
Poller with a ClickfonoClient and a Store, wired as the integration tests wire them. The
first cycle is the silent baseline (every call new). Then ``--cycles`` cycles in each of
which ``--change`` of the calls changed status, retry and durations (events are raised
and queued for a webhook sink), then ``--unchanged`` cycles over an identical body.

The floor is measured just before and just after every changed cycle (so a busy machine
slows both alike), plainly and with the cyclic GC paused during json.loads; the ratio
reported is the median of the per-cycle ratios. Also printed: median time per phase
(``CycleReport.timings``), Redis round trips per cycle (requests sent on the connection,
a pipeline counting once) and the server's command counts, peak RSS, and Redis memory.
Target at 100,000 calls: the whole cycle 1.5x the floor or less.
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

TARGET_RATIO = 1.5


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_rss(results: list[dict[str, Any]]) -> None:
    print("RSS (MB): between cycles; peak within a changed / unchanged / the baseline cycle")
    print("(the kernel's high-water mark reset before each); and the peak of a process that")
    print("only fetches the same bodies and json.loads them, keeping them all")
    print(
        f"{'calls':>8} {'between':>8} {'changed':>8} {'unchgd':>8} {'baseline':>8} "
        f"{'fetch+json':>10}"
    )
    for r in results:
        c, u = r["changed"], r["unchanged"]
        print(
            f"{r['calls']:>8,} {c['rss_before']:8.0f} {c['rss_peak']:8.0f} {u['rss_peak']:8.0f} "
            f"{r['baseline']['rss_peak']:8.0f} {r['floor_rss_mb']:10.0f}"
        )


def report(results: list[dict[str, Any]]) -> None:
    names = ["fetch", "validate", "index", "snapshots", "diff", "commit"]
    print("Changed cycles: median ms per phase ('rest': outside the named phases, mostly")
    print("freeing the cycle's objects); gc: time in the cyclic GC during the cycle")
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
            + " ".join(f"{fmt_ms(p):>9}" for p in [*phases, rest, c["total"]])
            + f" {c['gc'] * 1000:6.1f} {c['events']:>6.0f}"
        )
    print()
    print("Floor: GET the same body over the same HTTP (httpx) + json.loads, measured just")
    print("before and after each cycle. 'GC-paused' floor: json.loads with the cyclic GC off,")
    print("as the cycle has it while it validates (the stricter comparison).")
    print(
        f"{'calls':>8} {'fetch':>7} {'floor':>8} {'its gc':>7} {'GC-paused':>9} "
        f"{'cycle':>8} {'ratio':>6} {'best/best':>9} {'ratio GC-paused':>15}"
    )
    for r in results:
        c = r["changed"]
        print(
            f"{r['calls']:>8,} {fmt_ms(r['floor']['fetch']):>7} {fmt_ms(r['floor']['total'])} "
            f"{r['floor']['gc'] * 1000:7.1f} {fmt_ms(r['floor_nogc']['total']):>9} "
            f"{fmt_ms(c['total'])} {r['ratio']:5.2f}x "
            f"{r['cycle_best'] / r['floor_best']:8.2f}x {r['ratio_nogc']:14.2f}x"
        )
    print()
    print("Round trips per cycle (requests sent to Redis; a pipeline counts once); an unchanged")
    print("body (digest skip: no parse, no diff) against its fetch; the silent baseline")
    print(
        f"{'calls':>8} {'RTs chg':>7} {'replies':>7} {'MB sent':>7} {'RTs unch':>8} "
        f"{'unchanged':>9} {'its fetch':>9} {'baseline':>9}"
    )
    for r in results:
        c, u = r["changed"], r["unchanged"]
        print(
            f"{r['calls']:>8,} {','.join(map(str, c['sends'])):>7} "
            f"{','.join(map(str, c['replies'])):>7} {c['bytes_sent'] / 1e6:7.2f} "
            f"{','.join(map(str, u['sends'])):>8} "
            f"{fmt_ms(u['total']):>9} {fmt_ms(u['fetch']):>9} "
            f"{fmt_ms(r['baseline']['total']):>9}"
        )
    print()
    print_rss(results)
    print()
    print("Redis commands per changed cycle, those run by the commit script included")
    print("(INFO commandstats delta):")
    for r in results:
        cmds = ", ".join(f"{k} {v}" for k, v in sorted(r["changed"]["commands"].items()))
        print(f"{r['calls']:>8,}: {cmds}")
    print("Redis MEMORY USAGE per 1,000 calls, by key kind (bytes; outbox/payload hold the")
    print("events queued by all cycles, none delivered):")
    for r in results:
        per = {k: v * 1000 / r["calls"] for k, v in r["redis_memory"].items()}
        print(f"{r['calls']:>8,}: " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(per.items())))
    last = results[-1]
    for name, key in (("floor", "ratios"), ("GC-paused floor", "ratios_nogc")):
        ratio = statistics.median(last[key])
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"{last['calls']:,} calls: cycle {ratio:.2f}x the {name} (per-cycle ratios "
            f"{', '.join(f'{x:.2f}' for x in last[key])}); target {TARGET_RATIO}x: {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--unchanged", type=int, default=3)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument(
        "--repeat", type=int, default=1, help="floor runs before and after each cycle"
    )
    parser.add_argument("--json", action="store_true", help="also print raw results as JSON")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(
            measure(args.child, 1, args.cycles, args.unchanged, args.change, args.repeat)
        )
        print(json.dumps(result))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"... {size:,} calls", file=sys.stderr, flush=True)
        results.append(run_child(__file__, size, args))
    report(results)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
