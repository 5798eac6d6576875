#!/usr/bin/env bash
# Load test: geoavail against an axum hello-world on the same machine, alternating A/B/A/B so
# that a noisy neighbour hurts both alike. Prints req/s, p50 and p99 per run and the ratio of
# medians. Sends traffic to 127.0.0.1 only, for a bounded time.
#
#   scripts/load-test.sh                 # 3 rounds of 10 s per target and route
#   ROUNDS=5 DURATION=20s scripts/load-test.sh
#
# Needs wrk (Debian package `wrk`; installed when missing and apt-get is available).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
GEOAVAIL_ADDR=127.0.0.1:${GEOAVAIL_PORT:-8091}
HELLO_ADDR=127.0.0.1:${HELLO_PORT:-8090}

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin geoavail --example hello-world-server
work=$(mktemp -d)
cleanup() {
  kill "${geoavail_pid:-}" "${hello_pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

GEOAVAIL_LISTEN=$GEOAVAIL_ADDR GEOAVAIL_LOG_LEVEL=warn target/release/geoavail serve &
geoavail_pid=$!
target/release/examples/hello-world-server "$HELLO_ADDR" &
hello_pid=$!
for addr in "$GEOAVAIL_ADDR" "$HELLO_ADDR"; do
  for _ in $(seq 100); do
    curl -fs "http://$addr/" -o /dev/null 2>/dev/null && break
    curl -s "http://$addr/healthz" -o /dev/null 2>/dev/null && break
    sleep 0.1
  done
done

cat > "$work/batch.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"ip": "192.0.2.100", "titles": ["maple-and-main", "golden-hour", "ironwood", "atlas-of-small-things", "harbor-league-live"]}'
LUA

# One wrk run: prints "req_per_s p50_ms p99_ms".
measure() {
  local url=$1 script=${2:-}
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

routes=(
  "availability|http://$GEOAVAIL_ADDR/v1/availability?ip=192.0.2.100&title=maple-and-main|"
  "titles|http://$GEOAVAIL_ADDR/v1/titles?ip=192.0.2.5|"
  "batch|http://$GEOAVAIL_ADDR/v1/availability|$work/batch.lua"
)
for route in "${routes[@]}"; do
  IFS='|' read -r name url script <<<"$route"
  : >"$work/ours" ; : >"$work/hello"
  for round in $(seq "$ROUNDS"); do
    read -r rps p50 p99 < <(measure "$url" "$script")
    echo "$rps" >>"$work/ours"
    printf '%-12s round %d  geoavail     %10s req/s  p50 %7s ms  p99 %7s ms\n' "$name" "$round" "$rps" "$p50" "$p99"
    read -r rps p50 p99 < <(measure "http://$HELLO_ADDR/")
    echo "$rps" >>"$work/hello"
    printf '%-12s round %d  hello-world  %10s req/s  p50 %7s ms  p99 %7s ms\n' "$name" "$round" "$rps" "$p50" "$p99"
  done
  ours=$(median <"$work/ours"); hello=$(median <"$work/hello")
  awk -v n="$name" -v a="$ours" -v b="$hello" 'BEGIN { printf "ratio %s: geoavail %.0f req/s, hello-world %.0f req/s -> %.2fx\n", n, a, b, a / b }'
done
