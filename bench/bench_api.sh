#!/usr/bin/env bash
# bench_api.sh - HTTP throughput and latency of `driftmon serve` on loopback.
#
#   bench/bench_api.sh [BUILD_DIR] [SECONDS]     (defaults: build-rel, 10)
#
# Seeds a temporary SQLite store with 1,000 drift checks (one every 6 hours,
# see DM_BENCH_SPAN_DAYS below) and 5,000 + 5,000 synthetic feedback rows (bench_api_seed), starts
# `driftmon serve --no-monitor` on a free port (access log to a file, as in
# production), then drives it with wrk (Debian's `wrk`):
#   1. GET /health
#   2. GET /drift/metrics?days=30   (the 120 checks of the last 30 days)
#   3. both again while drift checks run back to back (POST /drift/check
#      in a loop: 5,000-row windows, 384-d hashing embedder, 200
#      permutations)
# and prints requests/s and the p99 latency of each.  Targets on a 2-core
# machine: >= 20,000 req/s for /health, p99 < 10 ms for both.
# Environment: DM_BENCH_CONNECTIONS (16), DM_BENCH_THREADS (2),
# DM_BENCH_SPAN_DAYS (250).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build="${1:-$here/build-rel}"
secs="${2:-10}"
conns="${DM_BENCH_CONNECTIONS:-16}"
# 1,000 checks over SPAN days: 250 = one check every 6 hours (the default
# monitoring.check_interval_hours), so ?days=30 returns the last 120;
# DM_BENCH_SPAN_DAYS=30 puts all 1,000 into the answer (worst case).
span="${DM_BENCH_SPAN_DAYS:-250}"
threads="${DM_BENCH_THREADS:-2}"
bin="$build/driftmon"
seed="$build/bench/bench_api_seed"

for x in "$bin" "$seed"; do
    [ -x "$x" ] || { echo "bench_api: $x not built (ninja -C $build)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench_api: wrk not installed (scripts/bootstrap)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-bench-api.XXXXXX")
pid=""
loop=""
cleanup() {
    [ -n "$loop" ] && kill "$loop" 2>/dev/null || true
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/bench.yaml" <<EOF
monitoring:
  min_samples: 100
  check_interval_hours: 1000
embeddings:
  model: "hashing"
  dimension: 384
significance:
  permutations: 200
alerts:
  enabled: false
fine_tuning:
  auto_trigger: false
database:
  backend: sqlite
  path: "$tmp/bench.db"
api:
  host: "127.0.0.1"
  port: $port
logging:
  level: info
EOF

"$seed" --config "$tmp/bench.yaml" --checks 1000 --days "$span" --rows 5000
"$bin" serve --config "$tmp/bench.yaml" --no-monitor 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
n=$(curl -fs "http://127.0.0.1:$port/drift/metrics?days=30" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
size=$(curl -fs "http://127.0.0.1:$port/drift/metrics?days=30" | wc -c)
echo "service up on port $port; /drift/metrics?days=30 returns $n checks ($size bytes)"
echo "wrk: $threads threads, $conns connections, ${secs}s per run; $(nproc) cores shared by wrk and driftmon"
echo

# run LABEL PATH: one wrk run, one summary line
run() {
    local label="$1" path="$2" out rps p99 errs
    out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$port$path")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr -s ' ' | paste -sd';' - || true)
    printf '%-44s %10s req/s   p50 %8s   p99 %8s   %s\n' "$label" "$rps" "$p50" "$p99" "$errs"
}

run "GET /health" /health
run "GET /drift/metrics?days=30" "/drift/metrics?days=30"

# Back-to-back checks while wrk runs.
( while true; do
      curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST \
          "http://127.0.0.1:$port/drift/check" >>"$tmp/checks.txt"
  done ) &
loop=$!
sleep 0.5
run "GET /health (checks running)" /health
run "GET /drift/metrics?days=30 (checks running)" "/drift/metrics?days=30"
kill "$loop" 2>/dev/null || true
wait "$loop" 2>/dev/null || true
loop=""
echo
awk '{n++; s += $2; if ($1 != 200) bad++} END {printf "drift checks during the runs: %d (mean %.2f s each, %d not 200)\n", n, n ? s / n : 0, bad}' "$tmp/checks.txt"
echo "access log lines written: $(grep -c ' GET /' "$tmp/serve.log")"
