#!/usr/bin/env bash
# llmountcleanup.sh: unmounts the client and stops the servers llmount.sh started (same FSNAME and
# TMP), exactly those: by the PIDs recorded in $TMP/lustre-$FSNAME/pids, never by name. The client
# is unmounted first (mount.lustre flushes its dirty data and exits), then each server gets
# SIGTERM (it unmounts its target). Target images stay in $TMP/lustre-$FSNAME (REFORMAT=no
# llmount.sh restarts them); CLEANUP_TARGETS=yes removes them too.
set -uo pipefail

FSNAME=${FSNAME:-testfs}
TMP=${TMP:-/tmp}
STATE=$TMP/lustre-$FSNAME
PIDS=$STATE/pids
status=0

say() { echo "llmountcleanup: $*"; }

# stop PID ROLE SECONDS: waits for PID to exit after whatever asked it to; SIGKILL after SECONDS.
wait_exit() {
    local pid=$1 role=$2 seconds=$3
    for _ in $(seq $((seconds * 10))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "$role (pid $pid) did not stop in ${seconds}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    status=1
}

# Mounted, even when its daemon died (then `mountpoint` fails with ENOTCONN).
mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

# Only our processes: the pid must still run one of our programs.
ours() {
    local pid=$1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'lustre-mds|lustre-oss|mount\.lustre'
}

if [ ! -s "$PIDS" ]; then
    say "nothing recorded in $PIDS: nothing to stop"
    exit 0
fi

# The client first: umount makes mount.lustre flush and exit.
while read -r role pid mnt; do
    [ "$role" = client ] || continue
    if mounted "$mnt"; then
        if ! umount "$mnt" 2>/dev/null; then
            say "$mnt is busy: lazy unmount"
            umount -l "$mnt" || status=1
        fi
    fi
    if ours "$pid"; then
        wait_exit "$pid" "mount.lustre" 120
    fi
    say "unmounted $mnt (mount.lustre pid $pid)"
done <"$PIDS"

# Then the servers, OSSs before the MDS.
for pass in oss mds; do
    while read -r role pid _; do
        [[ "$role" == "$pass"* ]] || continue
        if ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            wait_exit "$pid" "$role" 60
            say "stopped $role (pid $pid)"
        fi
    done <"$PIDS"
done

# A server killed hard leaves its loop-mounted target behind.
for m in "$STATE"/run/mnt/*; do
    [ -d "$m" ] || continue
    if mountpoint -q "$m" 2>/dev/null; then
        umount "$m" && say "unmounted target $m" || status=1
    fi
done
rm -f "$PIDS"
if [ "${CLEANUP_TARGETS:-no}" = yes ]; then
    rm -rf "$STATE"
    say "removed $STATE"
fi
exit $status
