#!/usr/bin/env bash
# Runs pytest as if the wall clock read "$1" (UTC), to find tests that depend on the hour
# or the day they run: business hours, holidays, midnight in Santiago, the rollover grace.
#   bash tests/run_at.sh "2026-12-08 15:00:00" -q -n 3 --dist loadfile -m "not image"
# Needs libfaketime (Debian: faketime). Every process, the notifier's included, gets the
# same offset; redis-server runs on the real clock (jemalloc and libfaketime clash).
# Known artifacts: tests that time waits in threads (hang, trickle, latency, bounded
# concurrency, the kill -9 and SIGSTOP stories) fail under libfaketime at any offset
# but 0; compare with a run at "now".
set -euo pipefail
when="$1"
shift
command -v faketime >/dev/null || { echo "run_at: needs faketime (apt-get install faketime)" >&2; exit 2; }
real=$(command -v redis-server) || { echo "run_at: needs redis-server on PATH" >&2; exit 2; }
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$real" >"$shim/redis-server"
chmod +x "$shim/redis-server"
if [ "$when" = now ]; then
    offset=0
else
    target=$(date -u -d "$when" +%s) || { echo "run_at: not a time: $when" >&2; exit 2; }
    offset=$((target - $(date -u +%s)))
fi
cd "$(dirname "$0")/.."
PATH="$shim:$PATH" faketime -f "+${offset}s" .venv/bin/pytest -p no:cacheprovider "$@"
