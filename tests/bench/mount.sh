#!/usr/bin/env bash
# mount.sh: the Lustre mount beside raw ext4, GlusterFS and MooseFS, in one run.
#
# ../shared/bench/fsbench.sh (BENCH_DIR) runs its standard workload on: raw ext4 (peers.sh up ext4),
# the same ext4 image with its loop device doing direct I/O (`ext4_dio`, as our servers run their
# images), our filesystem mounted with mount.lustre (llmount.sh: 1 MDS + 2 OSSs on loopback, root default
# layout stripe count 2, stripe size 1 MiB), the same filesystem mounted again with `-o direct_io`
# (`lustre_dio`: no page cache for file data), and GlusterFS and MooseFS brought up by peers.sh.
# llite-bench then streams 1 GiB through the client library alone (no FUSE) for the FUSE cost.
# Prints every figure as `RESULT <label> <workload> <value> <unit>` and, per workload, our figure
# divided by each baseline as `RATIO mount <workload>_vs_<peer> <value>` (higher is better) and
# against the better of the two peers (`_vs_best_peer`); `RATIO mount_dio ...` for `lustre_dio`. A peer that cannot be brought up is
# reported and skipped. Not a test: it asserts nothing. Needs root.
#
# Environment: BENCH_DIR (default ../shared/bench beside the repository), LUSTRE_BIN (release
# build), PEERS ("ext4 gluster moosefs"), BENCH_NET (127.0.7), BENCH_PORT (19997), FSBENCH_* (passed
# to fsbench.sh, e.g. FSBENCH_SIZE=256M for a quick run), KEEP_PEERS=1 to leave peers up.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
BENCH_DIR=${BENCH_DIR:-$REPO/../shared/bench}
LUSTRE_BIN=${LUSTRE_BIN:-$(swift build -c release --show-bin-path)}
PEERS=${PEERS:-"ext4 gluster moosefs"}
NET=${BENCH_NET:-127.0.7}
PORT=${BENCH_PORT:-19997}
WORK=$(mktemp -d /tmp/lustre-bench-mount.XXXXXX)
chmod 755 "$WORK"
OUT=$WORK/results
: >"$OUT"
export FSNAME=benchfs MDSCOUNT=1 OSTCOUNT=2 TMP=$WORK MOUNT=$WORK/mnt NETADDR=$NET PORT LUSTRE_BIN
export OSTSIZE=${OSTSIZE:-$((8 * 1024 * 1024))} MDSSIZE=${MDSSIZE:-$((4 * 1024 * 1024))}
export STRIPE_COUNT=2 STRIPE_SIZE=1M
started_peers=()

note() { echo "mount.sh: $*" >&2; }

finish() {
    mountpoint -q "$WORK/mnt-dio" 2>/dev/null && umount "$WORK/mnt-dio"
    bash "$REPO/tests/llmountcleanup.sh" >/dev/null 2>&1
    if [ -z "${KEEP_PEERS:-}" ]; then
        for peer in "${started_peers[@]}"; do bash "$BENCH_DIR/peers.sh" down "$peer" >/dev/null 2>&1; done
    fi
    rm -rf "$WORK"
}
trap finish EXIT

[ "$(id -u)" = 0 ] || { note "needs root (mounts, drop_caches)"; exit 1; }
[ -x "$BENCH_DIR/fsbench.sh" ] || { note "no fsbench.sh in $BENCH_DIR (set BENCH_DIR)"; exit 1; }
for tool in mount.lustre lustre-mds lustre-oss mkfs.lustre lfs; do
    [ -x "$LUSTRE_BIN/$tool" ] || { note "$LUSTRE_BIN/$tool missing (make release)"; exit 1; }
done

# fsbench LABEL MOUNTPOINT: one fsbench run, its RESULT lines collected.
fsbench() {
    note "fsbench on $1 ($2)"
    if bash "$BENCH_DIR/fsbench.sh" "$2" "$1" >"$WORK/fsbench-$1.out" 2>"$WORK/fsbench-$1.err"; then
        cat "$WORK/fsbench-$1.out"
        grep '^RESULT ' "$WORK/fsbench-$1.out" >>"$OUT"
    else
        note "fsbench on $1 failed:"; tail -5 "$WORK/fsbench-$1.err" >&2
    fi
}

peer_up() {
    if bash "$BENCH_DIR/peers.sh" up "$1" >"$WORK/peer-$1.log" 2>&1; then
        started_peers+=("$1")
        return 0
    fi
    note "peer $1 could not be brought up, going on without it:"; tail -3 "$WORK/peer-$1.log" >&2
    return 1
}

# --- raw ext4 first, then ours, then the peers -----------------------------------------
# peers.sh's ext4 (and the peers' bricks) sit on buffered loop devices; our servers switch the
# loop devices of their images to direct I/O (ServerTarget), so raw ext4 is measured both ways:
# `ext4` as peers.sh sets it up, `ext4_dio` on the same image with its loop device switched.
for peer in $PEERS; do
    [ "$peer" = ext4 ] || continue
    if peer_up ext4; then
        ext4_mount=$(bash "$BENCH_DIR/peers.sh" mountpoint ext4)
        fsbench ext4 "$ext4_mount"
        ext4_loop=$(findmnt -n -o SOURCE "$ext4_mount")
        if losetup --direct-io=on "$ext4_loop" 2>/dev/null; then
            fsbench ext4_dio "$ext4_mount"
            losetup --direct-io=off "$ext4_loop"
        else
            note "cannot switch $ext4_loop to direct I/O: no ext4_dio baseline"
        fi
    fi
done

if bash "$REPO/tests/llmount.sh" >"$WORK/llmount.out" 2>&1; then
    cat "$WORK/llmount.out" >&2
    fsbench lustre "$MOUNT"
    # The same filesystem through a second client mount with -o direct_io.
    mkdir -p "$WORK/mnt-dio"
    if "$LUSTRE_BIN/mount.lustre" "$NET.1@tcp:/$FSNAME" "$WORK/mnt-dio" -o "direct_io,accept_port=$PORT"; then
        fsbench lustre_dio "$WORK/mnt-dio"
        umount "$WORK/mnt-dio"
    else
        note "mount -o direct_io failed: no lustre_dio figures"
    fi
    # The library alone: the same stripes, 1 GiB streamed, durable at the end of the write.
    for mode in write read; do
        sync; echo 3 >/proc/sys/vm/drop_caches
        "$LUSTRE_BIN/llite-bench" --mgs "$NET.1@tcp" --fsname "$FSNAME" --accept-port "$PORT" --source "$NET.20@tcp" \
            --size 1024 --stripe-count 2 --stripe-size 1M --io 1M $([ $mode = write ] && echo --fsync) \
            $([ $mode = read ] && echo --unlink) "$mode" >"$WORK/llite-$mode.out" 2>&1 \
            || { note "llite-bench $mode failed:"; tail -3 "$WORK/llite-$mode.out" >&2; }
        cat "$WORK/llite-$mode.out"
        grep '^RESULT ' "$WORK/llite-$mode.out" >>"$OUT"
    done
    bash "$REPO/tests/llmountcleanup.sh" >&2
else
    note "llmount.sh failed:"; tail -20 "$WORK/llmount.out" >&2
fi

for peer in $PEERS; do
    [ "$peer" = ext4 ] && continue
    peer_up "$peer" && fsbench "$peer" "$(bash "$BENCH_DIR/peers.sh" mountpoint "$peer")"
    # One peer at a time on this small machine.
    if [ -z "${KEEP_PEERS:-}" ] && [[ " ${started_peers[*]} " == *" $peer "* ]]; then
        bash "$BENCH_DIR/peers.sh" down "$peer" >/dev/null 2>&1
    fi
done

# --- every figure, then the ratios ------------------------------------------------------
echo
echo "# all figures"
cat "$OUT"
echo
echo "# ours / baseline (higher is better)"
python3 - "$OUT" <<'PY'
import sys
figures = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 5 and parts[0] == 'RESULT':
        try:
            figures.setdefault(parts[1], {})[parts[2]] = float(parts[3])
        except ValueError:
            pass
ours = figures.get('lustre', {})
peers = [p for p in ('gluster', 'moosefs') if p in figures]
for label, prefix in (('lustre', 'mount'), ('lustre_dio', 'mount_dio')):
    for workload, value in figures.get(label, {}).items():
        if workload == 'elapsed':
            continue
        for base in ['ext4', 'ext4_dio'] + peers:
            b = figures.get(base, {}).get(workload)
            if b:
                print('RATIO %s %s_vs_%s %.2f' % (prefix, workload, base, value / b))
        best = max((figures[p][workload] for p in peers if workload in figures[p]), default=0)
        if best:
            print('RATIO %s %s_vs_best_peer %.2f' % (prefix, workload, value / best))
lib = figures.get('llite-bench', {})
for mode in ('write', 'read'):
    fuse = ours.get('seq_' + mode)
    if mode in lib and fuse:
        print('RATIO mount seq_%s_fuse_vs_library %.2f' % (mode, fuse / lib[mode]))
PY
