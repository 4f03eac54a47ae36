#!/usr/bin/env bash
# OST benchmark: write, rewrite and read of N objects (1 MiB I/O) through OSC -> LNet -> OFD
# against a running lustre-oss, beside fio (same sizes and depth, io_uring, on a file in the same
# ext4 target) and iperf3 single stream on loopback, all in one run. The baseline of each figure
# is the slower of fio's same phase and iperf3 (the OSS can beat neither the disk nor the wire);
# fio keeps the page cache (--invalidate=0) as the OSS does, so reads are warm for both; writes
# are durable on both sides: the OSS commits (syncfs) as it goes and ost-survey --sync ends each
# write pass with OST_SYNC, fio ends with fsync (--end_fsync=1).
# Prints RESULT and RATIO lines. Not a test: it asserts nothing.
set -uo pipefail
cd "$(dirname "$0")/../.."
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
NET=${BENCH_NET:-127.0.3}
PORT=${BENCH_PORT:-19990}
SIZE_MB=${SIZE_MB:-1024}            # bytes per pass, all objects together
OBJECTS=${OBJECTS:-4}
DEPTHS=${DEPTHS:-"1 8 16"}          # ost-survey concurrency (I/O calls in flight); fio uses 8
DURATION=${DURATION:-3}             # iperf3 seconds per round
dir=$(mktemp -d)
pids=()
mnt=""
finish() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
    wait 2>/dev/null
    [ -n "$mnt" ] && mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
    rm -rf "$dir"
}
trap finish EXIT

for tool in fio iperf3 python3; do
    command -v "$tool" >/dev/null || { echo "ost-survey.sh: $tool missing" >&2; exit 1; }
done

# The target: an image when we may loop-mount it, else a --backfs-dir directory.
if [ "$(id -u)" = 0 ]; then
    target=$dir/ost0.img
    "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=bench --index=0 --mgsnode="$NET.1@tcp" \
        --device-size=$(( (SIZE_MB * 3 + 1024) * 1024 )) "$target" >"$dir/mkfs.log" 2>&1 \
        || { cat "$dir/mkfs.log" >&2; exit 1; }
    mnt=$dir/run/mnt/bench-OST0000
else
    target=$dir/ost0
    mkdir -p "$target"
    "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=bench --index=0 --mgsnode="$NET.1@tcp" --backfs-dir="$target" \
        --force-backfs >"$dir/mkfs.log" 2>&1 || { cat "$dir/mkfs.log" >&2; exit 1; }
fi
"$LUSTRE_BIN/lustre-oss" --nid "$NET.2@tcp" --accept-port "$PORT" --run-dir "$dir/run" "$target" >"$dir/oss.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "serving bench-OST0000" "$dir/oss.log" && break; sleep 0.1; done
grep -q "serving bench-OST0000" "$dir/oss.log" || { cat "$dir/oss.log" >&2; exit 1; }
root=${mnt:-$target}
engine=$(sed -n 's/.*(\(.*\) I\/O).*/\1/p' "$dir/oss.log" | head -1)

# Each figure is the median of ROUNDS rounds, every round measuring everything once, so a busy
# moment of the machine hits all figures alike instead of one.
ROUNDS=${ROUNDS:-3}
iperf3 -s -B "$NET.1" -p $((PORT + 1)) >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

# fio: the same bytes in the same number of files, 1 MiB blocks, depth 8, the OSS's engine, on the target's ext4.
fio_phase() { # name rw [fio options]
    fio --name="$1" ${3:-} --directory="$root" --filename_format='fio.$filenum' --nrfiles="$OBJECTS" \
        --file_service_type=roundrobin --rw="$2" --bs=1M --iodepth=8 --ioengine="${engine:-io_uring}" \
        --size="${SIZE_MB}M" --invalidate=0 --output-format=json >"$dir/fio-$1.json" 2>"$dir/fio-$1.err" \
        || { cat "$dir/fio-$1.err" >&2; echo 0; return; }
    python3 -c "import json; j=json.load(open('$dir/fio-$1.json'))['jobs'][0]; \
print(round((j['write']['bw_bytes'] + j['read']['bw_bytes']) / 1e6, 1))"
}

survey() { # key concurrency checksum
    "$LUSTRE_BIN/ost-survey" --ost "$NET.2@tcp" --accept-port "$PORT" --source "$NET.10@tcp" --target bench-OST0000 \
        --objects "$OBJECTS" --size "${SIZE_MB}M" --io 1M --concurrency "$2" --checksum "$3" --sync >"$dir/survey-$1.out" 2>&1 \
        || cat "$dir/survey-$1.out" >&2
    for phase in write rewrite read; do
        samples[$phase,$1]+=" $(sed -n "s/^ost-survey $phase \([0-9.]*\) MB\/s/\1/p" "$dir/survey-$1.out")"
    done
}

declare -A samples ours
for round in $(seq "$ROUNDS"); do
    samples[iperf3]+=" $(iperf3 -c "$NET.1" -p $((PORT + 1)) -t "$DURATION" -J | python3 -c \
        'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6, 1))')"
    samples[fio_write]+=" $(fio_phase write write --end_fsync=1)"
    samples[fio_rewrite]+=" $(fio_phase rewrite write --end_fsync=1)"
    samples[fio_read]+=" $(fio_phase read read)"
    rm -f "$root"/fio.*
    for depth in $DEPTHS; do survey "$depth" "$depth" crc32c; done
    # Depth 8 with bulk checksums off: what the wire alone allows (iperf3 checksums nothing).
    survey nocksum 8 none
done
median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]] or [0]; print(round(statistics.median(v), 1))" $1; }
iperf_mbs=$(median "${samples[iperf3]}")
fio_write=$(median "${samples[fio_write]}")
fio_rewrite=$(median "${samples[fio_rewrite]}")
fio_read=$(median "${samples[fio_read]}")
for depth in $DEPTHS nocksum; do
    for phase in write rewrite read; do ours[$phase,$depth]=$(median "${samples[$phase,$depth]:-}"); done
done

baseline() { python3 -c "print(min(${1:-0}, $iperf_mbs))"; }
ratio() { python3 -c "print(round(${1:-0} / $2, 3) if $2 > 0 else 0)"; }

printf '\n%-30s %12s %10s\n' "figure" "value" "ratio"
printf '%-30s %9s MB/s\n' "iperf3 single stream" "$iperf_mbs"
printf '%-30s %9s MB/s\n' "fio write 1M qd8 ($engine)" "$fio_write"
printf '%-30s %9s MB/s\n' "fio rewrite 1M qd8" "$fio_rewrite"
printf '%-30s %9s MB/s\n' "fio read 1M qd8" "$fio_read"
for depth in $DEPTHS nocksum; do
    for phase in write rewrite read; do
        eval "fio_mbs=\$fio_$phase"
        label="1M x$depth"; [ "$depth" = nocksum ] && label="1M x8 no checksum"
        printf '%-30s %9s MB/s %10s\n' "ost-survey $phase $label" "${ours[$phase,$depth]}" \
            "$(ratio "${ours[$phase,$depth]}" "$(baseline "$fio_mbs")")"
    done
done
echo
echo "RESULT ost-survey iperf3 $iperf_mbs MB/s"
echo "RESULT ost-survey fio_write $fio_write MB/s"
echo "RESULT ost-survey fio_rewrite $fio_rewrite MB/s"
echo "RESULT ost-survey fio_read $fio_read MB/s"
figure() { [ "$1" = nocksum ] && echo "${2}_qd8_nocksum" || echo "${2}_qd$1"; }
for depth in $DEPTHS nocksum; do
    for phase in write rewrite read; do
        echo "RESULT ost-survey $(figure "$depth" "$phase") ${ours[$phase,$depth]:-0} MB/s"
    done
done
for depth in $DEPTHS nocksum; do
    for phase in write rewrite read; do
        eval "fio_mbs=\$fio_$phase"
        echo "RATIO ost-survey $(figure "$depth" "$phase") $(ratio "${ours[$phase,$depth]}" "$(baseline "$fio_mbs")")"
    done
done
