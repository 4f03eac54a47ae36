#!/usr/bin/env bash
# An OST formatted by mkfs.lustre, served by lustre-oss: 256 MiB written and read back through
# the OSC with verified contents; a second OSS on the same target is refused; SIGTERM stops the
# OSS cleanly and unmounts the target.
. "$(dirname "$0")/test-framework.sh"

OSS_NID=$TEST_NET.2@tcp
RUN_DIR=$TEST_DIR/run

# Daemons first (a stopped OSS unmounts its target), then whatever a killed one left mounted.
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
trap stop_and_unmount EXIT

# An image as the issue asks when we may loop-mount it; a --backfs-dir target otherwise.
if [ "$(id -u)" = 0 ]; then
    TARGET=$TEST_DIR/ost0.img
    "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=testfs --index=0 --mgsnode="$TEST_NET.1@tcp" \
        --device-size=$((768 * 1024)) "$TARGET" >"$TEST_DIR/mkfs.log" 2>&1 || fail "mkfs.lustre failed"
else
    log "not root: serving a --backfs-dir target instead of an image"
    TARGET=$TEST_DIR/ost0
    mkdir -p "$TARGET"
    "$LUSTRE_BIN/mkfs.lustre" --ost --fsname=testfs --index=0 --mgsnode="$TEST_NET.1@tcp" \
        --backfs-dir="$TARGET" --force-backfs >"$TEST_DIR/mkfs.log" 2>&1 || fail "mkfs.lustre failed"
fi

start_daemon oss "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$TARGET"
OSS_PID=$LAST_PID
wait_for_log oss "serving testfs-OST0000 on $OSS_NID"
assert_contains "$TEST_DIR/oss.log" "testfs-OST0000: new disk, initializing"
log "lustre-oss serving testfs-OST0000 (pid $OSS_PID)"

# A second OSS on the same target must be refused, naming the first.
"$LUSTRE_BIN/lustre-oss" --nid "$TEST_NET.3@tcp" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$TARGET" \
    >"$TEST_DIR/second.log" 2>&1 && fail "a second lustre-oss served the same target"
assert_contains "$TEST_DIR/second.log" "already served by pid $OSS_PID"
alive "$OSS_PID" || fail "the first OSS died when the second was refused"

# 256 MiB through OSC -> LNet -> OFD, written, rewritten and read back with a checked pattern.
"$LUSTRE_BIN/ost-survey" --ost "$OSS_NID" --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp" \
    --target testfs-OST0000 --objects 4 --size 256M --io 1M --concurrency 8 --verify \
    >"$TEST_DIR/survey.log" 2>&1 || fail "ost-survey failed"
cat "$TEST_DIR/survey.log"
assert_contains "$TEST_DIR/survey.log" "read: 256 MiB"
assert_contains "$TEST_DIR/survey.log" "0 mismatches"
assert_contains "$TEST_DIR/survey.log" "verify: OK"

# A target that does not exist here is refused at connect.
"$LUSTRE_BIN/ost-survey" --ost "$OSS_NID" --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp" \
    --target testfs-OST0009 --objects 1 --size 1M >"$TEST_DIR/wrong.log" 2>&1 && fail "connected to testfs-OST0009"
assert_contains "$TEST_DIR/wrong.log" "No such device"

# SIGTERM: a clean stop that unmounts what it mounted.
kill -TERM "$OSS_PID"
for _ in $(seq 100); do alive "$OSS_PID" || break; sleep 0.1; done
alive "$OSS_PID" && fail "lustre-oss ignored SIGTERM"
wait "$OSS_PID" || fail "lustre-oss exited with status $? on SIGTERM"
if [ "$(id -u)" = 0 ]; then
    mountpoint -q "$RUN_DIR/mnt/testfs-OST0000" && fail "the target is still mounted after SIGTERM"
fi
pass
