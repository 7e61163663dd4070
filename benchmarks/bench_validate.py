"""How long parse_calls takes on a large calls/list body, against json.loads of the same bytes.

.venv/bin/python benchmarks/bench_validate.py [--records 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _records import body, record

from notifier.clickfono.models import parse_calls


def best_of(repeat: int, func: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raw = body([record(n) for n in range(args.records)])
    one_bad = raw[:-1] + b',{"status": "SPAM"}]'  # forces the per-record fallback

    floor_best, floor_median = best_of(args.repeat, lambda: json.loads(raw))
    fast_best, fast_median = best_of(args.repeat, lambda: parse_calls(raw))
    slow_best, slow_median = best_of(args.repeat, lambda: parse_calls(one_bad))
    parsed = parse_calls(one_bad)
    assert len(parsed.calls) == args.records and len(parsed.rejected) == 1

    print(f"body: {args.records:,} records, {len(raw) / 1e6:.1f} MB")
    print(f"json.loads (floor)          best {floor_best:.3f}s  median {floor_median:.3f}s")
    print(
        f"parse_calls (fast path)     best {fast_best:.3f}s  median {fast_median:.3f}s  "
        f"ratio {fast_best / floor_best:.2f}x  target < 0.5s: "
        f"{'met' if fast_best < 0.5 else 'MISSED'}"
    )
    print(
        f"parse_calls (1 bad record)  best {slow_best:.3f}s  median {slow_median:.3f}s  "
        f"ratio {slow_best / floor_best:.2f}x"
    )


if __name__ == "__main__":
    main()
