#!/usr/bin/env bash
# MDS benchmark: mds-survey's create, lookup, getattr, setattr (chmod) and destroy (unlink)
# rates over RPC against a running lustre-mds with two OSTs (files with no objects, stripe count
# 0, and with one object each, stripe count 1), beside the same operations on raw ext4 on the
# same disk (open(O_CREAT)/close, fstatat, stat, chmod, unlink; as root on an ext4 image formatted
# and loop-mounted as the MDT's is), from the same harness, the same
# threads and files, in one run. Each figure is the median of ROUNDS rounds, every round
# measuring everything once. The issue's target: MDS creates >= 0.5 of raw ext4 creates.
# Also prints the MDS CPU per operation (user + system from /proc, over all five phases), the
# figure that decides throughput on a machine the MDS shares with its clients.
# Prints a table, `RESULT mds-survey <figure> <ops/s> ops/s` and `RATIO mds-survey <figure>
# <ours/ext4>`. Not a test: it asserts nothing.
#
# Environment: THREADS (4), FILES (2000 per thread), ROUNDS (3), BENCH_NET (127.0.6),
# BENCH_PORT (19986), DIR (/tmp: where the targets and the ext4 baseline live), LUSTRE_BIN.
set -uo pipefail
cd "$(dirname "$0")/../.."
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
NET=${BENCH_NET:-127.0.6}
PORT=${BENCH_PORT:-19986}
THREADS=${THREADS:-4}
FILES=${FILES:-2000}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp}
OPS="create lookup getattr setattr destroy"
for program in mkfs.lustre lustre-mds lustre-oss mds-survey; do
    [ -x "$LUSTRE_BIN/$program" ] || { echo "mds-survey.sh: $LUSTRE_BIN/$program missing (swift build -c release)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "mds-survey.sh: python3 missing" >&2; exit 1; }

dir=$(mktemp -d "$DIR/mds-survey.XXXXXX")
pids=()
finish() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    for m in "$dir"/run/mnt/* "$dir/ext4"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
    rm -rf "$dir"
}
trap finish EXIT

# Targets: images when we may loop-mount them, --backfs-dir directories otherwise.
format() { # name mkfs-options...
    local name=$1; shift
    if [ "$(id -u)" = 0 ]; then
        TARGET=$dir/$name.img
        "$LUSTRE_BIN/mkfs.lustre" "$@" --device-size=$((2048 * 1024)) "$TARGET" >"$dir/mkfs-$name.log" 2>&1
    else
        TARGET=$dir/$name
        mkdir -p "$TARGET"
        "$LUSTRE_BIN/mkfs.lustre" "$@" --backfs-dir="$TARGET" --force-backfs >"$dir/mkfs-$name.log" 2>&1
    fi || { cat "$dir/mkfs-$name.log" >&2; exit 1; }
}
wait_log() { # file pattern
    for _ in $(seq 300); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "mds-survey.sh: timed out waiting for '$2' in $1:" >&2; tail -20 "$1" >&2; exit 1
}
format mdt0 --mgs --mdt --fsname=bench --index=0
mdt=$TARGET
format ost0 --ost --fsname=bench --index=0 --mgsnode="$NET.1@tcp"
ost0=$TARGET
format ost1 --ost --fsname=bench --index=1 --mgsnode="$NET.1@tcp"
ost1=$TARGET

"$LUSTRE_BIN/lustre-mds" --nid "$NET.1@tcp" --accept-port "$PORT" --run-dir "$dir/run" "$mdt" >"$dir/mds.log" 2>&1 &
mds_pid=$!
pids+=($mds_pid)
wait_log "$dir/mds.log" "serving bench-MDT0000"
"$LUSTRE_BIN/lustre-oss" --nid "$NET.2@tcp" --accept-port "$PORT" --run-dir "$dir/run" "$ost0" >"$dir/oss0.log" 2>&1 &
pids+=($!)
"$LUSTRE_BIN/lustre-oss" --nid "$NET.3@tcp" --accept-port "$PORT" --run-dir "$dir/run" "$ost1" >"$dir/oss1.log" 2>&1 &
pids+=($!)
wait_log "$dir/oss0.log" "serving bench-OST0000"
wait_log "$dir/oss1.log" "serving bench-OST0001"
wait_log "$dir/mds.log" "registered bench-OST0001"
sleep 2   # the MDS connects to the OSTs and fills its precreated pools

# The baseline: as root, an ext4 image formatted as mkfs.lustre formats an MDT (1 KiB inodes, one
# per 4 KiB, dir_index) and loop-mounted like the MDT's (a loop device doing direct I/O to its
# image, as lustre-mds sets its own up), so both go through a loop device to the same disk;
# otherwise a directory beside the targets.
local_dir=$dir/ext4
mkdir -p "$local_dir"
if [ "$(id -u)" = 0 ]; then
    truncate -s $((2048 * 1024 * 1024)) "$dir/ext4.img"
    mkfs.ext4 -q -F -I 1024 -i 4096 -O dir_index -E lazy_itable_init=0,lazy_journal_init=0 "$dir/ext4.img" &&
        mount -o loop "$dir/ext4.img" "$local_dir" ||
        { echo "mds-survey.sh: cannot make the ext4 baseline image" >&2; exit 1; }
    losetup --direct-io=on "$(findmnt -n -o SOURCE "$local_dir")" ||
        echo "mds-survey.sh: the ext4 baseline's loop device stays buffered" >&2
fi
declare -A samples
record() { # label logfile
    for op in $OPS; do
        samples[$1,$op]+=" $(sed -n "s/^RESULT mds-survey $1_$op \([0-9.]*\) ops\/s/\1/p" "$2")"
    done
}
# CPU seconds (user + system) a process has used, from /proc (clock ticks).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
tick=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
    for stripes in 0 1; do
        mds_before=$(cpu_ticks "$mds_pid")
        # Bounded: if the MDS dies the MDC would wait out its whole recovery timeout.
        timeout "${SURVEY_TIMEOUT:-300}" "$LUSTRE_BIN/mds-survey" --mds "$NET.1@tcp" --accept-port "$PORT" \
            --source "$NET.10@tcp" --fsname bench --threads "$THREADS" --files "$FILES" --stripe-count "$stripes" \
            >"$dir/survey-$stripes.out" 2>&1 ||
            { echo "mds-survey (stripe count $stripes, round $round) failed:" >&2; tail -5 "$dir/survey-$stripes.out" >&2; }
        record "stripe$stripes" "$dir/survey-$stripes.out"
        # MDS CPU per operation: every phase does THREADS x FILES operations.
        samples[stripe$stripes,mds_cpu]+=" $(python3 -c "print(round(($(cpu_ticks "$mds_pid") - $mds_before) / $tick * 1e6 / ($THREADS * $FILES * 5), 1))")"
        kill -0 "$mds_pid" 2>/dev/null || { echo "mds-survey.sh: lustre-mds died:" >&2; grep -m3 -A12 "crashed\|Fatal" "$dir/mds.log" >&2; exit 1; }
    done
    sync
    "$LUSTRE_BIN/mds-survey" --local "$local_dir" --threads "$THREADS" --files "$FILES" --label ext4 \
        >"$dir/survey-local.out" 2>&1 || { echo "mds-survey --local failed:" >&2; tail -5 "$dir/survey-local.out" >&2; }
    record ext4 "$dir/survey-local.out"
    sync
    echo "round $round:" "$(for key in "${!samples[@]}"; do echo -n "$key=${samples[$key]##* } "; done)" >&2
done

median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:] if x]; print(round(statistics.median(v), 1) if v else 0)' "$@"; }
ratio() { python3 -c "print(round(${1:-0} / $2, 3) if float($2 or 0) > 0 else 0)"; }
declare -A value
for label in stripe0 stripe1 ext4; do
    for op in $OPS; do
        # shellcheck disable=SC2086
        value[$label,$op]=$(median ${samples[$label,$op]:-})
    done
done

echo
echo "mds-survey: $THREADS threads x $FILES files, median of $ROUNDS, MDS with 2 OSTs on $NET.x vs ext4 ($(df --output=fstype "$dir" | tail -1), $DIR)"
printf '%-10s %14s %14s %14s %9s %9s\n' op "stripe0 ops/s" "stripe1 ops/s" "ext4 ops/s" "ratio s0" "ratio s1"
for op in $OPS; do
    printf '%-10s %14s %14s %14s %9s %9s\n' "$op" "${value[stripe0,$op]}" "${value[stripe1,$op]}" "${value[ext4,$op]}" \
        "$(ratio "${value[stripe0,$op]}" "${value[ext4,$op]}")" "$(ratio "${value[stripe1,$op]}" "${value[ext4,$op]}")"
done
echo "target: stripe1 create >= 0.5 of ext4 create: $(ratio "${value[stripe1,create]}" "${value[ext4,create]}")"
# shellcheck disable=SC2086
echo "MDS CPU per operation (all five phases): stripe0 $(median ${samples[stripe0,mds_cpu]:-}) us, stripe1 $(median ${samples[stripe1,mds_cpu]:-}) us"
echo
for label in stripe0 stripe1 ext4; do
    for op in $OPS; do echo "RESULT mds-survey ${label}_$op ${value[$label,$op]} ops/s"; done
done
for label in stripe0 stripe1; do
    # shellcheck disable=SC2086
    echo "RESULT mds-survey ${label}_mds_cpu_per_op $(median ${samples[$label,mds_cpu]:-}) us"
done
for label in stripe0 stripe1; do
    for op in $OPS; do echo "RATIO mds-survey ${label}_$op $(ratio "${value[$label,$op]}" "${value[ext4,$op]}")"; done
done
