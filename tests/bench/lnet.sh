#!/usr/bin/env bash
# LNet/PtlRPC benchmark: iperf3 single stream on loopback, then lnet-selftest
# bulk_write and bulk_read (1 MiB, concurrency 8) and ping (concurrency 32)
# against one responder, all in one run. Prints RESULT and RATIO lines.
# Not a test: it asserts nothing.
set -uo pipefail
cd "$(dirname "$0")/../.."
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
NET=${BENCH_NET:-127.0.3}
PORT=${BENCH_PORT:-19989}
DURATION=${DURATION:-10}
SIZE=${SIZE:-1M}
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"' EXIT

command -v iperf3 >/dev/null || { echo "lnet.sh: iperf3 missing (make deps)" >&2; exit 1; }
iperf3 -s -B "$NET.1" -p $((PORT + 1)) >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
iperf_bps=$(iperf3 -c "$NET.1" -p $((PORT + 1)) -t "$DURATION" -J | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
iperf_mbs=$(python3 -c "print(round($iperf_bps / 8 / 1e6, 1))")

"$LUSTRE_BIN/lnet-selftest" serve "$NET.2@tcp" --accept-port "$PORT" >"$dir/server.log" 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 100); do grep -q "serving on" "$dir/server.log" && break; sleep 0.1; done

run() { # test concurrency
    "$LUSTRE_BIN/lnet-selftest" run "$NET.2@tcp" --accept-port "$PORT" --test "$1" --size "$SIZE" \
        --concurrency "$2" --duration "$DURATION" --quiet > "$dir/$1.out" 2>&1
    cat "$dir/$1.out" >&2
}
peak_rss=0
sample_rss() { local r; r=$(awk '/VmHWM/ {print $2}' /proc/$server/status 2>/dev/null); [ -n "$r" ] && peak_rss=$r; }

run bulk_write 8; sample_rss
run bulk_read 8; sample_rss
run ping 32; sample_rss

write_mbs=$(sed -n 's/^MB\/s: //p' "$dir/bulk_write.out")
read_mbs=$(sed -n 's/^MB\/s: //p' "$dir/bulk_read.out")
ping_rate=$(sed -n 's/^RPCs\/s: //p' "$dir/ping.out")
ratio() { python3 -c "print(round(${1:-0} / $2, 3))"; }

printf '\n%-28s %12s %10s\n' "figure" "value" "ratio"
printf '%-28s %9s MB/s %10s\n' "iperf3 single stream" "$iperf_mbs" "1.000"
printf '%-28s %9s MB/s %10s\n' "bulk_write 1M x8" "$write_mbs" "$(ratio "$write_mbs" "$iperf_mbs")"
printf '%-28s %9s MB/s %10s\n' "bulk_read 1M x8" "$read_mbs" "$(ratio "$read_mbs" "$iperf_mbs")"
printf '%-28s %7s RPC/s %10s\n' "ping x32" "$ping_rate" "(goal 30000)"
printf '%-28s %9s MiB\n' "responder peak RSS" "$((peak_rss / 1024))"
echo
echo "RESULT lnet iperf3 $iperf_mbs MB/s"
echo "RESULT lnet bulk_write $write_mbs MB/s"
echo "RESULT lnet bulk_read $read_mbs MB/s"
echo "RESULT lnet ping $ping_rate RPC/s"
echo "RESULT lnet responder_peak_rss $((peak_rss / 1024)) MiB"
echo "RATIO lnet bulk_write $(ratio "$write_mbs" "$iperf_mbs")"
echo "RATIO lnet bulk_read $(ratio "$read_mbs" "$iperf_mbs")"
echo "RATIO lnet ping $(ratio "$ping_rate" 30000)"
