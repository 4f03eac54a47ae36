#!/usr/bin/env bash
# llmount.sh: formats and starts a local Lustre filesystem and mounts the client, as Lustre's own
# lustre/tests/llmount.sh does: one lustre-mds (MGS + MDT) and OSTCOUNT lustre-oss, each its own
# process on its own loopback address, their targets image files in TMP (loop-mounted by the
# servers; --backfs-dir directories when not root), then mount.lustre on MOUNT.
#
# Environment (Lustre's names):
#   FSNAME=testfs  MDSCOUNT=1  OSTCOUNT=2  MOUNT=/mnt/lustre  TMP=/tmp
#   NETADDR=127.0.0   servers at NETADDR.1 (MDS), NETADDR.2, NETADDR.3, ... (OSSs)
#   PORT=988          the LNet acceptor port of every server
#   MDSSIZE, OSTSIZE  target sizes in KiB (sparse images; default 4 GiB and 8 GiB)
#   STRIPE_COUNT, STRIPE_SIZE  the filesystem's default layout (root directory), if set
#   LUSTRE_BIN        where the binaries are (default: the release build of this checkout)
#   REFORMAT=no       keep existing targets (restart with their data) instead of formatting
#   MDS_OPTS, OSS_OPTS  extra lustre-mds / lustre-oss arguments (--metrics-address HOST:PORT)
#   MOUNT_OPTS        extra mount.lustre -o options (metrics_address=HOST:PORT)
#
# Everything it starts is recorded in $TMP/lustre-$FSNAME/pids ("role pid [mountpoint]");
# llmountcleanup.sh (same environment) stops exactly those processes.
set -uo pipefail

FSNAME=${FSNAME:-testfs}
MDSCOUNT=${MDSCOUNT:-1}
OSTCOUNT=${OSTCOUNT:-2}
MOUNT=${MOUNT:-/mnt/lustre}
TMP=${TMP:-/tmp}
NETADDR=${NETADDR:-127.0.0}
PORT=${PORT:-988}
MDSSIZE=${MDSSIZE:-$((4 * 1024 * 1024))}
OSTSIZE=${OSTSIZE:-$((8 * 1024 * 1024))}
REFORMAT=${REFORMAT:-yes}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LUSTRE_BIN=${LUSTRE_BIN:-$HERE/../.build/release}
STATE=$TMP/lustre-$FSNAME
RUN=$STATE/run
PIDS=$STATE/pids
MGSNID=$NETADDR.1@tcp

say() { echo "llmount: $*"; }
die() {
    echo "llmount: ERROR: $*" >&2
    for log in "$STATE"/*.log; do
        [ -s "$log" ] || continue
        echo "--- $log (last 15 lines)" >&2
        tail -n 15 "$log" >&2
    done
    # Leave nothing half-started behind.
    [ -s "$PIDS" ] && FSNAME=$FSNAME TMP=$TMP MOUNT=$MOUNT bash "$HERE/llmountcleanup.sh" >&2
    exit 1
}

# wait_for FILE PATTERN SECONDS PID: until PATTERN shows in FILE, or PID dies, or time runs out.
wait_for() {
    local file=$1 pattern=$2 seconds=$3 pid=$4
    for _ in $(seq $((seconds * 10))); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

for tool in mkfs.lustre lustre-mds lustre-oss mount.lustre lfs; do
    [ -x "$LUSTRE_BIN/$tool" ] || die "$LUSTRE_BIN/$tool not found (run 'make' first, or set LUSTRE_BIN)"
done
[ "$MDSCOUNT" = 1 ] || die "MDSCOUNT=$MDSCOUNT: one MDT per filesystem is supported"
[[ "$OSTCOUNT" =~ ^[1-9][0-9]*$ ]] && [ "$OSTCOUNT" -le 250 ] || die "OSTCOUNT=$OSTCOUNT: 1-250"
if [ -s "$PIDS" ]; then
    while read -r role pid _; do
        kill -0 "$pid" 2>/dev/null && die "$FSNAME already runs ($role pid $pid): run llmountcleanup.sh first"
    done <"$PIDS"
fi
mountpoint -q "$MOUNT" 2>/dev/null && die "$MOUNT is already a mount point"

mkdir -p "$STATE" "$RUN" "$MOUNT" || die "cannot create $STATE or $MOUNT"
: >"$PIDS"
root=0; [ "$(id -u)" = 0 ] && root=1

# --- format ------------------------------------------------------------------
target_path() { # kind index
    if [ $root = 1 ]; then echo "$STATE/$1$2.img"; else echo "$STATE/$1$2"; fi
}
format() { # name mkfs-args... ; the target path is the last argument
    local name=$1; shift
    local target=${*: -1}
    if [ "$REFORMAT" = no ] && [ -e "$target" ]; then return 0; fi
    if [ $root = 1 ]; then
        rm -f "$target"
        "$LUSTRE_BIN/mkfs.lustre" "$@" >"$STATE/mkfs-$name.log" 2>&1 || die "mkfs.lustre $name failed"
    else
        local size=$1; shift   # --device-size is for images only
        rm -rf "$target"; mkdir -p "$target"
        "$LUSTRE_BIN/mkfs.lustre" "${@:1:$#-1}" --backfs-dir="$target" --force-backfs \
            >"$STATE/mkfs-$name.log" 2>&1 || die "mkfs.lustre $name failed"
    fi
}
MDT=$(target_path mdt 1)
format mdt1 --device-size="$MDSSIZE" --mgs --mdt --fsname="$FSNAME" --index=0 "$MDT"
OSTS=()
for i in $(seq 0 $((OSTCOUNT - 1))); do
    OSTS+=("$(target_path ost $((i + 1)))")
    format "ost$((i + 1))" --device-size="$OSTSIZE" --ost --fsname="$FSNAME" --index="$i" --mgsnode="$MGSNID" "${OSTS[$i]}"
done
[ $root = 1 ] || say "not root: --backfs-dir targets in $STATE instead of images"

# --- servers -------------------------------------------------------------------
"$LUSTRE_BIN/lustre-mds" --nid "$MGSNID" --accept-port "$PORT" --run-dir "$RUN" ${MDS_OPTS:-} "$MDT" >"$STATE/mds.log" 2>&1 &
MDS_PID=$!
echo "mds $MDS_PID" >>"$PIDS"
wait_for "$STATE/mds.log" "lustre-mds: serving" 60 $MDS_PID || die "lustre-mds did not start"
say "lustre-mds  pid $MDS_PID  $FSNAME-MDT0000 + MGS on $MGSNID port $PORT  (log $STATE/mds.log)"

for i in $(seq 0 $((OSTCOUNT - 1))); do
    nid=$NETADDR.$((i + 2))@tcp
    name=$(printf '%s-OST%04x' "$FSNAME" "$i")
    "$LUSTRE_BIN/lustre-oss" --nid "$nid" --accept-port "$PORT" --run-dir "$RUN" --mgsnode "$MGSNID" ${OSS_OPTS:-} "${OSTS[$i]}" \
        >"$STATE/oss$((i + 1)).log" 2>&1 &
    pid=$!
    echo "oss$((i + 1)) $pid" >>"$PIDS"
    wait_for "$STATE/oss$((i + 1)).log" "lustre-oss: serving" 60 $pid || die "lustre-oss $name did not start"
    wait_for "$STATE/oss$((i + 1)).log" "registered with the MGS" 60 $pid || die "$name did not register with the MGS"
    say "lustre-oss  pid $pid  $name on $nid  (log $STATE/oss$((i + 1)).log)"
done

# --- client --------------------------------------------------------------------
mopts=""
[ "$PORT" != 988 ] && mopts="accept_port=$PORT"
[ -n "${MOUNT_OPTS:-}" ] && mopts="${mopts:+$mopts,}$MOUNT_OPTS"
opts=${mopts:+-o $mopts}
: >"$STATE/client.log"
# Its admin socket beside the servers', so one `lctl --run-dir $RUN` reaches all four.
LUSTRE_RUN_DIR=$RUN LUSTRE_MOUNT_LOG=$STATE/client.log "$LUSTRE_BIN/mount.lustre" "$MGSNID:/$FSNAME" "$MOUNT" $opts \
    >"$STATE/mount.out" 2>&1 || { cat "$STATE/mount.out" >&2; die "mount.lustre failed"; }
CLIENT_PID=$(sed -n 's/.*mounted on .* (pid \([0-9]*\).*/\1/p' "$STATE/client.log" | tail -1)
[ -n "$CLIENT_PID" ] || die "mount.lustre did not report its pid"
echo "client $CLIENT_PID $MOUNT" >>"$PIDS"
mountpoint -q "$MOUNT" || die "$MOUNT is not mounted"
say "mount.lustre pid $CLIENT_PID  $MGSNID:/$FSNAME on $MOUNT  (log $STATE/client.log)"

if [ -n "${STRIPE_COUNT:-}${STRIPE_SIZE:-}" ]; then
    "$LUSTRE_BIN/lfs" setstripe ${STRIPE_COUNT:+-c "$STRIPE_COUNT"} ${STRIPE_SIZE:+-S "$STRIPE_SIZE"} "$MOUNT" \
        || die "lfs setstripe $MOUNT failed"
fi
say "$FSNAME is up: $(( OSTCOUNT + 2 )) processes, state in $STATE; stop with llmountcleanup.sh"
say "lctl reaches them with: export LUSTRE_RUN_DIR=$RUN  (or lctl --run-dir $RUN ...)"
