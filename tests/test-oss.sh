#!/usr/bin/env bash
# An OST formatted by mkfs.lustre, served by lustre-oss: 256 MiB written (aligned bulk with
# O_DIRECT from page-aligned buffers, the default) and read back through the OSC with verified
# contents; an image's loop device does direct I/O; a second OSS on the same target is refused;
# SIGTERM stops the OSS cleanly and unmounts the target; restarted with --no-direct-writes
# (writes through the page cache) it writes and reads back verified data.
. "$(dirname "$0")/test-framework.sh"

trap stop_and_unmount EXIT
format_ost $((768 * 1024))

start_daemon oss "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$TARGET"
OSS_PID=$LAST_PID
wait_for_log oss "serving testfs-OST0000 on $OSS_NID"
assert_contains "$TEST_DIR/oss.log" "testfs-OST0000: new disk, initializing"
log "lustre-oss serving testfs-OST0000 (pid $OSS_PID)"

# An image is served through a loop device doing direct I/O when the image's filesystem can
# (ext4, xfs: O_DIRECT), and says it stays buffered when it cannot (tmpfs).
if [ "$(id -u)" = 0 ] && [ -f "$TARGET" ]; then
    loop=$(findmnt -n -o SOURCE "$RUN_DIR/mnt/testfs-OST0000")
    dio=$(cat "/sys/block/$(basename "$loop")/loop/dio")
    if [ "$(stat -f -c %T "$TARGET")" = tmpfs ]; then
        assert_contains "$TEST_DIR/oss.log" "$loop stays buffered"
    else
        [ "$dio" = 1 ] || fail "$loop under testfs-OST0000 does not do direct I/O (dio=$dio)"
        assert_contains "$TEST_DIR/oss.log" "$loop serves $TARGET with direct I/O"
    fi
fi

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

# Restarted with --no-direct-writes (the default writes aligned bulk with O_DIRECT): bulk goes
# through the page cache; what is written reads back the same.
start_daemon oss2 "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" \
    --no-direct-writes "$TARGET"
wait_for_log oss2 "serving testfs-OST0000 on $OSS_NID"
"$LUSTRE_BIN/ost-survey" --ost "$OSS_NID" --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp" \
    --target testfs-OST0000 --objects 2 --size 64M --io 1M --concurrency 8 --verify \
    >"$TEST_DIR/survey-direct.log" 2>&1 || fail "ost-survey against --no-direct-writes failed"
assert_contains "$TEST_DIR/survey-direct.log" "0 mismatches"
assert_contains "$TEST_DIR/survey-direct.log" "verify: OK"
pass
