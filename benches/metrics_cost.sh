#!/usr/bin/env bash
# The CPU cost of the Prometheus metrics on the retrieve load, in one run, on loopback only.
#
#   benches/metrics_cost.sh                 # builds the release binaries, then about 70 s of load
#   SKIP_BUILD=1 benches/metrics_cost.sh    # reuses target/release
#
# Starts two demos (in-memory store, ADAPTER), one with `--metrics` and one without, and runs
# the load tool's retrieve mix against each in turn, ROUNDS times, which one goes first
# alternating, with no rate limit (as benches/compare.sh). The demo with metrics is scraped once after each of its runs, as a scraper
# would be. Reports each run's requests per second and the server's CPU time per answered
# request (user + system from /proc/<pid>/stat), then the medians.
#
# The engine counts whether or not `/metrics` is served, so "off" and "on" differ by the
# endpoint and its scrapes only. For the cost of the counting itself, give BASELINE_DEMO: a
# demo binary built from the commit before the metrics landed (a worktree of it, `cargo build
# --release -p chanbind-examples --bin demo`); it runs as a third column, "none", in the same
# rounds.
#
# Settings (environment): ADAPTER (async), BENCH_SECONDS (10), CONNECTIONS (64), ROUNDS (3),
# PORT_BASE (18800), BIN_DIR (target/release), BASELINE_DEMO (unset).
set -euo pipefail
cd "$(dirname "$0")/.."

adapter=${ADAPTER:-async}
seconds=${BENCH_SECONDS:-10}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}
port=${PORT_BASE:-18800}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
hz=$(getconf CLK_TCK)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p chanbind-examples --bin demo -p chanbind-benches --bin load >&2
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

start() {
    local program=$1 listen=$2
    shift 2
    # As benches/compare.sh: no rate limit and no connection caps, so the load measures serving.
    RUST_LOG=warn env -u DATABASE_URL "$program" --listen "$listen" --adapter "$adapter" \
        --rate-limit 0 --max-connections-per-user 1000000 --max-connections 1000000 "$@" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://$listen/api/openapi.json" && return 0
        sleep 0.1
    done
    echo "metrics_cost: the demo on $listen did not start" >&2
    exit 1
}

plain="127.0.0.1:$port"
metered="127.0.0.1:$((port + 1))"
start "$bin/demo" "$plain"
plain_pid=${pids[-1]}
start "$bin/demo" "$metered" --metrics
metered_pid=${pids[-1]}
columns="plain metered"
if [ -n "${BASELINE_DEMO:-}" ]; then
    bare="127.0.0.1:$((port + 2))"
    start "$BASELINE_DEMO" "$bare"
    bare_pid=${pids[-1]}
    columns="bare plain metered"
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

# run NAME ADDR PID: one load run; prints "NAME rps cpu_us_per_request".
run() {
    local before after json requests
    before=$(cpu_ticks "$3")
    json=$("$bin/load" --url "ws://$2/" --connections "$connections" --seconds "$seconds" --mix retrieve 2>/dev/null)
    after=$(cpu_ticks "$3")
    requests=$(field "$json" requests)
    awk -v n="$1" -v r="$(field "$json" rps)" -v t=$((after - before)) -v hz="$hz" -v q="$requests" \
        'BEGIN { printf "%s %.0f %.2f\n", n, r, (q > 0 ? 1e6 * t / hz / q : 0) }'
}

results=$(mktemp)
for round in $(seq 1 "$rounds"); do
    # Which one goes first turns round by round.
    order=$(tr ' ' '\n' <<<"$columns" | awk -v r="$round" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1] }')
    for which in $order; do
        if [ "$which" = bare ]; then
            run none "$bare" "$bare_pid" | tee -a "$results" >&2
        elif [ "$which" = plain ]; then
            run off "$plain" "$plain_pid" | tee -a "$results" >&2
        else
            run on "$metered" "$metered_pid" | tee -a "$results" >&2
            curl -sf "http://$metered/metrics" | grep -c '^chanbind_' | sed 's/^/metrics_cost: series scraped: /' >&2
        fi
    done
done

median() { grep "^$1 " "$results" | awk '{ print $'"$2"' }' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "| metrics | runs | median requests/s | median server CPU per request |"
echo "|---|---|---|---|"
for which in $( [ -n "${BASELINE_DEMO:-}" ] && echo none ) off on; do
    echo "| $which | $rounds | $(median "$which" 2) | $(median "$which" 3) µs |"
done
rm -f "$results"
