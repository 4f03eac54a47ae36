#!/usr/bin/env bash
# Shared helpers for the system tests: start daemons, stop exactly those, assert.
# A test sources this, calls start_daemon/… and ends with `pass`.

set -uo pipefail

LUSTRE_BIN=${LUSTRE_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && swift build --show-bin-path)}
# Tests use their own loopback range and port so a user's `make run` (127.0.0.x, port 988) is untouched.
TEST_NET=${TEST_NET:-127.0.2}
TEST_PORT=${TEST_PORT:-19988}
# llmount.sh's settings are the test's own: none comes from the caller's environment (a user's
# `FSNAME=lm STRIPE_COUNT=4 make test` must not change what the tests check). Tests set the
# ones they want after sourcing this.
unset MDS_OPTS OSS_OPTS MOUNT_OPTS STRIPE_COUNT STRIPE_SIZE
TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lustre-${TEST_NAME}.XXXXXX")
STARTED_PIDS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    [ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$TEST_DIR"
}
trap cleanup EXIT

# A whole local filesystem for the test (tests/llmount.sh: lustre-mds, OSTCOUNT lustre-oss and
# mount.lustre on TEST_NET, images in TEST_DIR, mounted at $MOUNT), stopped by llmountcleanup.sh
# when the test exits. Sets LCTL and TESTS_HOME. Set MDS_OPTS/OSS_OPTS/MOUNT_OPTS (and TEST_MDSSIZE,
# TEST_OSTSIZE, in KiB, default 512 MiB) before calling.
start_llmount() {
    TESTS_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    export FSNAME=testfs MDSCOUNT=1 OSTCOUNT=2 REFORMAT=yes MOUNT=$TEST_DIR/mnt TMP=$TEST_DIR
    export NETADDR=$TEST_NET PORT=$TEST_PORT MDSSIZE=${TEST_MDSSIZE:-$((512 * 1024))} OSTSIZE=${TEST_OSTSIZE:-$((512 * 1024))}
    export LUSTRE_BIN
    # mount.lustre and lctl find the daemons' admin sockets in LUSTRE_RUN_DIR.
    export LUSTRE_RUN_DIR=$TEST_DIR/lustre-$FSNAME/run
    mkdir -p "$MOUNT"
    trap stop_llmount EXIT
    bash "$TESTS_HOME/llmount.sh" >"$TEST_DIR/llmount.log" 2>&1 || fail "llmount.sh failed: $(tail -5 "$TEST_DIR/llmount.log")"
    LCTL="$LUSTRE_BIN/lctl"
}

# Saves the arguments of the llmount's MDS (its pid in the llmount's pids file) in
# $TEST_DIR/mds.argv for llmount_start_mds; prints that pid.
llmount_save_mds_argv() {
    local mds
    mds=$(awk '$1 == "mds" { print $2 }' "$TEST_DIR/lustre-$FSNAME/pids")
    tr '\0' '\n' <"/proc/$mds/cmdline" >"$TEST_DIR/mds.argv"
    echo "$mds"
}

# Starts the MDS with the arguments llmount_save_mds_argv saved plus "$@", its output added to the
# llmount's mds.log and its pid put in the llmount's pids file (llmountcleanup.sh stops it, even
# if it never serves); prints its pid once it serves.
llmount_start_mds() {
    local pid argv log=$TEST_DIR/lustre-$FSNAME/mds.log
    mapfile -t argv <"$TEST_DIR/mds.argv"
    setsid "${argv[@]}" "$@" >>"$log" 2>&1 </dev/null &
    pid=$!
    sed -i "s/^mds [0-9]*\b/mds $pid/" "$TEST_DIR/lustre-$FSNAME/pids"
    for _ in $(seq 600); do grep -q "serving $FSNAME-MDT0000.*pid $pid" "$log" && break; sleep 0.1; done
    grep -q "serving $FSNAME-MDT0000.*pid $pid" "$log" || return 1
    echo "$pid"
}

# kill_and_wait SIGNAL PID: signals PID and waits (30 s at most) until it is gone.
kill_and_wait() {
    kill "-$1" "$2"
    for _ in $(seq 300); do [ -e "/proc/$2" ] && [ "$(awk '{print $3}' "/proc/$2/stat" 2>/dev/null)" != Z ] || break; sleep 0.1; done
}

stop_llmount() {
    bash "$TESTS_HOME/llmountcleanup.sh" >"$TEST_DIR/cleanup.log" 2>&1
    cleanup
}

log() { echo "[$TEST_NAME] $*"; }

fail() {
    echo "[$TEST_NAME] FAIL: $*" >&2
    for f in "$TEST_DIR"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f") (last 20 lines)" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

pass() { log "PASS"; exit 0; }

# start_daemon NAME CMD...: runs CMD in the background, output in $TEST_DIR/NAME.log;
# sets LAST_PID and remembers it for cleanup.
start_daemon() {
    local name=$1; shift
    "$@" >"$TEST_DIR/$name.log" 2>&1 &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
}

# wait_for_log NAME PATTERN [SECONDS]
wait_for_log() {
    local name=$1 pattern=$2 seconds=${3:-20}
    for _ in $(seq $((seconds * 10))); do
        grep -q -- "$pattern" "$TEST_DIR/$name.log" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "timed out waiting for '$pattern' in $name.log"
}

# start_responder NAME NID: an lnet-selftest responder, waited for until it serves.
start_responder() {
    start_daemon "$1" "$LUSTRE_BIN/lnet-selftest" serve "$2" --accept-port "$TEST_PORT"
    wait_for_log "$1" "serving on"
}

assert_contains() {
    local file=$1 pattern=$2
    grep -q -- "$pattern" "$file" || fail "expected '$pattern' in $(basename "$file")"
}

alive() { kill -0 "$1" 2>/dev/null; }

# --- OSS tests ---------------------------------------------------------------

OSS_NID=$TEST_NET.2@tcp
RUN_DIR=$TEST_DIR/run

# Stops the daemons first (a stopped OSS unmounts its target), then unmounts whatever a
# killed one left mounted. Tests that start lustre-oss set `trap stop_and_unmount EXIT`.
stop_and_unmount() {
    local pid m
    for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    for m in "$RUN_DIR"/mnt/*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
    cleanup
}

# format_ost SIZE_KB: formats testfs-OST0000 and sets TARGET: an image when we may loop-mount
# it (root), as the issue asks; a --backfs-dir target otherwise.
format_ost() {
    if [ "$(id -u)" = 0 ]; then
        TARGET=$TEST_DIR/ost0.img
        "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=testfs --index=0 --mgsnode="$TEST_NET.1@tcp" \
            --device-size="$1" "$TARGET" >"$TEST_DIR/mkfs.log" 2>&1 || fail "mkfs.lustre failed"
    else
        log "not root: serving a --backfs-dir target instead of an image"
        TARGET=$TEST_DIR/ost0
        mkdir -p "$TARGET"
        "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=testfs --index=0 --mgsnode="$TEST_NET.1@tcp" \
            --backfs-dir="$TARGET" --force-backfs >"$TEST_DIR/mkfs.log" 2>&1 || fail "mkfs.lustre failed"
    fi
}
