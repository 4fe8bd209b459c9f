#!/usr/bin/env bash
# Measures each adapter against its raw echo baseline in one run, on loopback only.
#
#   benches/compare.sh                 # builds the release binaries, then about 75 s of load
#   SKIP_BUILD=1 benches/compare.sh    # reuses target/release
#
# For each adapter (async always; sync when `demo --adapter sync` starts) it starts the demo
# (in-memory store) and its echo server (echo_async, echo_sync), then runs the load tool in
# rounds: echo mix against the echo server, retrieve mix against the demo, same connection
# count, which one goes first alternating. The machine is shared and noisy, so only ratios of
# runs seconds apart are meant to be quoted: the median over the rounds of demo rps / echo rps,
# and the servers' CPU time per request (from /proc), which a neighbour's load disturbs far
# less than requests per second. Then it holds HOLD_CONNECTIONS connections against each demo
# (retrieve mix) and reports errors.
#
# Settings (environment): BENCH_SECONDS (4), CONNECTIONS (64), ROUNDS (3), HOLD_CONNECTIONS
# (1000), HOLD_SECONDS (10), PORT_BASE (18700), BIN_DIR (target/release), OUT_DIR (a new
# temporary folder that keeps the servers' logs and every run's JSON), ASYNC_READ_BUFFER and
# SYNC_READ_BUFFER (the echo servers' read buffers, see below).
#
# Prints a markdown table, then one JSON line with the same figures. Every server it starts is
# stopped on exit, whatever the exit.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-4}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}
hold_connections=${HOLD_CONNECTIONS:-1000}
hold_seconds=${HOLD_SECONDS:-10}
next_port=${PORT_BASE:-18700}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
# Each echo server reads with the same buffer as the adapter it stands for: tungstenite
# zero-fills that much before every read, a cost of the transport's configuration rather than
# of chanbind, so it belongs on both sides of the ratio. Keep these in step with the adapters:
# both adapters read 16 KiB at a time (async-adapter/src/upgrade.rs, sync-adapter/src/config.rs).
async_read_buffer=${ASYNC_READ_BUFFER:-16384}
sync_read_buffer=${SYNC_READ_BUFFER:-16384}
out=${OUT_DIR:-$(mktemp -d /tmp/chanbind-compare.XXXXXX)}
mkdir -p "$out"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p chanbind-examples -p chanbind-benches >&2
fi
for b in demo load echo_async echo_sync; do
    [ -x "$bin/$b" ] || { echo "compare: $bin/$b is missing; build first" >&2; exit 1; }
done

# Both ends of 1,000 connections live in this process tree: raise the descriptor limit to the
# hard limit (where allowed) before any server starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pids=()
stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop "$pid"; done
    pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The first port from next_port on that nothing on 127.0.0.1 answers.
free_port() {
    while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do
        next_port=$((next_port + 1))
    done
    port=$next_port
    next_port=$((next_port + 1))
}

# start NAME CMD...: runs CMD in the background with its output in $out/NAME.log, and waits
# until its port (the last argument's port) accepts; sets $pid. Fails if it exits first.
start() {
    local name=$1
    shift
    local p=${*: -1}
    p=${p##*:}
    "$@" >"$out/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "compare: $name exited: $(tail -n 3 "$out/$name.log" | tr '\n' ' ')" >&2
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "compare: $name did not listen on port $p within 10 s" >&2
    return 1
}

hz=$(getconf CLK_TCK)

# field JSON KEY: one value of the load tool's flat JSON object.
field() { sed -E "s/.*\"$2\":(\"[^\"]*\"|[^,}]*).*/\1/" <<<"$1"; }

# cpu_ticks PID: the process's user and system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# load NAME PORT MIX CONNECTIONS SECONDS SERVER_PID: one load run; its JSON in $json (empty if
# it failed) and the server's CPU time per answered request in $cpu_us. CPU per request is
# what a neighbour's build disturbs least, so it backs the requests-per-second ratio up.
load() {
    local name=$1 port=$2 mix=$3 conns=$4 secs=$5 server=$6 before after
    before=$(cpu_ticks "$server")
    # The load tool bounds itself; the outer timeout only guards against a bug in it.
    json=$(timeout --signal=INT $((secs + 40)) "$bin/load" --url "ws://127.0.0.1:$port/" --mix "$mix" \
        --connections "$conns" --seconds "$secs" 2>>"$out/load.log") || json=""
    after=$(cpu_ticks "$server")
    cpu_us=0
    if [ -n "$json" ] && [ "$(field "$json" requests)" -gt 0 ]; then
        cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$(field "$json" requests)" \
            'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    fi
    echo "$name $json {\"server_cpu_us_per_request\":$cpu_us}" >>"$out/runs.txt"
    echo "compare: $name ${json:-failed} server CPU ${cpu_us} µs/request" >&2
}

rows=()
holds=()
summary=()

# measure ADAPTER ECHO_BIN READ_BUFFER: the rounds of one adapter, then its hold run.
measure() {
    local adapter=$1 echo_bin=$2 read_buffer=$3
    local echo_port demo_port
    free_port
    echo_port=$port
    start "echo_$adapter" "$bin/$echo_bin" --read-buffer-bytes "$read_buffer" --listen "127.0.0.1:$echo_port" || return 0
    local echo_pid=$pid
    free_port
    demo_port=$port
    # DATABASE_URL would switch the demo to PostgreSQL; these figures are for the memory store.
    if ! start "demo_$adapter" env -u DATABASE_URL "$bin/demo" --adapter "$adapter" --listen "127.0.0.1:$demo_port" --rate-limit 0 --max-connections-per-user 1000000 --max-connections 1000000; then
        echo "compare: the $adapter adapter is not available; skipped" >&2
        summary+=("\"$adapter\":null")
        stop "$echo_pid"
        return 0
    fi
    local demo_pid=$pid
    local echo_sum=0 demo_sum=0 n=0 p50=0 p99=0 errors=0 r e d ec dc echo_cpu=0 demo_cpu=0
    local ratios=()
    for r in $(seq 1 "$rounds"); do
        # Alternate which server goes first, so a drift in the machine's load favours neither.
        if [ $((r % 2)) = 1 ]; then
            load "echo_$adapter#$r" "$echo_port" echo "$connections" "$seconds" "$echo_pid"
            e=$json ec=$cpu_us
            load "demo_$adapter#$r" "$demo_port" retrieve "$connections" "$seconds" "$demo_pid"
            d=$json dc=$cpu_us
        else
            load "demo_$adapter#$r" "$demo_port" retrieve "$connections" "$seconds" "$demo_pid"
            d=$json dc=$cpu_us
            load "echo_$adapter#$r" "$echo_port" echo "$connections" "$seconds" "$echo_pid"
            e=$json ec=$cpu_us
        fi
        if [ -z "$e" ] || [ -z "$d" ]; then continue; fi
        echo_sum=$(awk -v a="$echo_sum" -v b="$(field "$e" rps)" 'BEGIN { print a + b }')
        demo_sum=$(awk -v a="$demo_sum" -v b="$(field "$d" rps)" 'BEGIN { print a + b }')
        ratios+=("$(awk -v d="$(field "$d" rps)" -v e="$(field "$e" rps)" 'BEGIN { printf "%.1f", (e > 0 ? 100 * d / e : 0) }')")
        echo_cpu=$(awk -v a="$echo_cpu" -v b="$ec" 'BEGIN { print a + b }')
        demo_cpu=$(awk -v a="$demo_cpu" -v b="$dc" 'BEGIN { print a + b }')
        p50=$((p50 + $(field "$d" p50_us)))
        p99=$((p99 + $(field "$d" p99_us)))
        errors=$((errors + $(field "$d" errors) + $(field "$e" errors)))
        n=$((n + 1))
    done
    stop "$echo_pid"
    local target=70
    [ "$adapter" = sync ] && target=60
    if [ "$n" -gt 0 ]; then
        local ratio echo_rps demo_rps verdict each cpu_ratio
        echo_rps=$(awk -v s="$echo_sum" -v n="$n" 'BEGIN { printf "%.0f", s / n }')
        demo_rps=$(awk -v s="$demo_sum" -v n="$n" 'BEGIN { printf "%.0f", s / n }')
        # The median of the rounds' ratios: one round spoilt by a neighbour's build cannot move it.
        ratio=$(printf '%s\n' "${ratios[@]}" | sort -n |
            awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
        each=$(IFS=,; echo "${ratios[*]}")
        # Echo's CPU per request over the demo's: the rps ratio the server alone would give.
        cpu_ratio=$(awk -v e="$echo_cpu" -v d="$demo_cpu" 'BEGIN { printf "%.1f", (d > 0 ? 100 * e / d : 0) }')
        echo_cpu=$(awk -v s="$echo_cpu" -v n="$n" 'BEGIN { printf "%.1f", s / n }')
        demo_cpu=$(awk -v s="$demo_cpu" -v n="$n" 'BEGIN { printf "%.1f", s / n }')
        verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "met" : "MISSED" }')
        rows+=("| $adapter | $demo_rps | $echo_bin ($((read_buffer / 1024)) KiB reads) $echo_rps | **$ratio%** | ${each//,/, } | ≥ $target% ($verdict) | $demo_cpu / $echo_cpu = $cpu_ratio% | $((p50 / n)) | $((p99 / n)) | $errors |")
        summary+=("\"$adapter\":{\"rps\":$demo_rps,\"echo_rps\":$echo_rps,\"ratio_pct\":$ratio,\"round_ratios_pct\":[$each],\"target_pct\":$target,\"server_cpu_us_per_request\":$demo_cpu,\"echo_cpu_us_per_request\":$echo_cpu,\"cpu_ratio_pct\":$cpu_ratio,\"p50_us\":$((p50 / n)),\"p99_us\":$((p99 / n)),\"errors\":$errors")
    else
        rows+=("| $adapter | failed | failed | - | - | ≥ $target% | - | - | - | - |")
        summary+=("\"$adapter\":{\"failed\":true")
    fi
    if [ "$hold_connections" -gt 0 ]; then
        load "hold_$adapter" "$demo_port" retrieve "$hold_connections" "$hold_seconds" "$demo_pid"
        if [ -n "$json" ]; then
            holds+=("| $adapter | $hold_connections | $(field "$json" connected) | $(field "$json" rps) | $(field "$json" p99_us) | $(field "$json" errors) |")
            summary[-1]+=",\"hold\":{\"connections\":$hold_connections,\"connected\":$(field "$json" connected),\"rps\":$(field "$json" rps),\"errors\":$(field "$json" errors)}"
        else
            holds+=("| $adapter | $hold_connections | failed | - | - | - |")
            summary[-1]+=",\"hold\":null"
        fi
    fi
    summary[-1]+="}"
    stop "$demo_pid"
}

measure async echo_async "$async_read_buffer"
measure sync echo_sync "$sync_read_buffer"

echo
echo "retrieve mix (in-memory, \"subscribe\": false), $connections connections, $rounds rounds of ${seconds} s per server;"
echo "rps, p50, p99 and CPU are means over the rounds, the ratio is the median of the rounds' ratios;"
echo "server CPU is the server process's user + system time per answered request, and echo's over"
echo "the demo's is the ratio the server would reach with the machine to itself:"
echo
echo "| adapter | demo rps | echo baseline rps | ratio | rounds' ratios | target | server CPU µs/request, demo / echo | p50 µs | p99 µs | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "${#holds[@]}" -gt 0 ]; then
    echo
    echo "held connections, retrieve mix, ${hold_seconds} s:"
    echo
    echo "| adapter | connections | connected | rps | p99 µs | errors |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${holds[@]}"
fi
echo
(IFS=,; echo "{\"connections\":$connections,\"seconds\":$seconds,\"rounds\":$rounds,${summary[*]}}")
echo "compare: logs and every run's JSON in $out" >&2
