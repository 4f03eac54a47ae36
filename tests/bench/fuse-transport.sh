#!/usr/bin/env bash
# fuse-transport.sh: FUSE over io_uring against /dev/fuse, on the same filesystem in one run.
#
# llmount.sh brings up 1 MDS + 2 OSSs (stripe count 2, 1 MiB) and mounts the client with its
# default transport (FUSE over io_uring where the kernel offers it); a second mount.lustre of the
# same filesystem uses `-o noio_uring` (/dev/fuse, the baseline). ../shared/bench/fsbench.sh then
# runs on each mount in turn, ROUNDS times (alternating, so both see the same machine), with the
# workloads that tell the transports apart (FSBENCH_WORKLOADS, default meta,seq_read,rand_read:
# metadata round trips, streaming reads, cold 4 KiB reads). Prints `RESULT <label> <workload>
# <value> <unit>` for every run, the medians (../shared/bench/summarize.py), and `RATIO
# fuse-transport <workload>_io_uring_vs_dev_fuse <median of io_uring / median of /dev/fuse>`.
# Not a test: it asserts nothing. Needs root.
#
# Environment: BENCH_DIR (../shared/bench), LUSTRE_BIN (release build), ROUNDS (3), BENCH_NET
# (127.0.8), BENCH_PORT (19998), FSBENCH_* (passed to fsbench.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
BENCH_DIR=${BENCH_DIR:-$REPO/../shared/bench}
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
ROUNDS=${ROUNDS:-3}
NET=${BENCH_NET:-127.0.8}
PORT=${BENCH_PORT:-19998}
WORK=$(mktemp -d /tmp/lustre-bench-fuse.XXXXXX)
chmod 755 "$WORK"
OUT=$WORK/results
: >"$OUT"
export FSNAME=fusefs MDSCOUNT=1 OSTCOUNT=2 TMP=$WORK MOUNT=$WORK/mnt NETADDR=$NET PORT LUSTRE_BIN
export STRIPE_COUNT=2 STRIPE_SIZE=1M
export FSBENCH_WORKLOADS=${FSBENCH_WORKLOADS:-meta,seq_read,rand_read}

note() { echo "fuse-transport.sh: $*" >&2; }

finish() {
    mountpoint -q "$WORK/mnt-dev-fuse" 2>/dev/null && umount "$WORK/mnt-dev-fuse"
    bash "$REPO/tests/llmountcleanup.sh" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap finish EXIT

[ "$(id -u)" = 0 ] || { note "needs root (mounts, drop_caches)"; exit 1; }
[ -x "$BENCH_DIR/fsbench.sh" ] || { note "no fsbench.sh in $BENCH_DIR (set BENCH_DIR)"; exit 1; }
bash "$REPO/tests/llmount.sh" >"$WORK/llmount.out" 2>&1 || { note "llmount.sh failed:"; tail -20 "$WORK/llmount.out" >&2; exit 1; }
if ! grep -q "FUSE over io_uring" "$WORK/lustre-$FSNAME/client.log" 2>/dev/null; then
    note "the mount does not use FUSE over io_uring (kernel older than 6.14, or not root): both mounts use /dev/fuse"
fi
mkdir -p "$WORK/mnt-dev-fuse"
"$LUSTRE_BIN/mount.lustre" "$NET.1@tcp:/$FSNAME" "$WORK/mnt-dev-fuse" -o "noio_uring,accept_port=$PORT" \
    || { note "mount -o noio_uring failed"; exit 1; }

for round in $(seq "$ROUNDS"); do
    for label in io_uring dev_fuse; do
        mp=$MOUNT; [ "$label" = dev_fuse ] && mp=$WORK/mnt-dev-fuse
        note "round $round: fsbench on $label ($mp)"
        if bash "$BENCH_DIR/fsbench.sh" "$mp" "$label" >"$WORK/fsbench.out" 2>"$WORK/fsbench.err"; then
            grep '^RESULT ' "$WORK/fsbench.out" | grep -v ' elapsed ' | tee -a "$OUT"
        else
            note "fsbench on $label failed:"; tail -5 "$WORK/fsbench.err" >&2
        fi
    done
done

echo
echo "# medians of $ROUNDS rounds (min-max)"
python3 "$BENCH_DIR/summarize.py" "$OUT"
echo
echo "# io_uring / /dev/fuse, medians (higher is better)"
python3 "$BENCH_DIR/summarize.py" --tsv "$OUT" | awk -F'\t' '
    NR > 1 { median[$2 "/" $1] = $3; workloads[$1] = 1 }
    END {
        for (w in workloads)
            if (median["dev_fuse/" w] > 0 && ("io_uring/" w) in median)
                printf "RATIO fuse-transport %s_io_uring_vs_dev_fuse %.2f\n", w, median["io_uring/" w] / median["dev_fuse/" w]
    }' | sort
