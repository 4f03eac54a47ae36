#!/usr/bin/env bash
# SIGKILL the OSS during a write stream and restart it: the client replays what was not yet
# committed, so every acknowledged write (committed before the crash or not) reads back intact
# and the writes in flight complete once the OSC has reconnected.
. "$(dirname "$0")/test-framework.sh"

trap stop_and_unmount EXIT
format_ost $((2048 * 1024))

start_oss() {
    start_daemon "$1" "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$TARGET"
    OSS_PID=$LAST_PID
    wait_for_log "$1" "serving testfs-OST0000 on $OSS_NID"
}

start_oss oss1
log "first OSS pid $OSS_PID"

STREAM_SECONDS=${STREAM_SECONDS:-12}
start_daemon stream "$LUSTRE_BIN/ost-survey" --ost "$OSS_NID" --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp" \
    --target testfs-OST0000 --objects 4 --io 1M --concurrency 8 --stream "$STREAM_SECONDS"
STREAM_PID=$LAST_PID

# Let the stream run past a few commits, then kill the OSS mid-stream.
sleep 4
alive "$STREAM_PID" || fail "the stream ended early"
kill -KILL "$OSS_PID"
wait "$OSS_PID" 2>/dev/null
log "OSS killed with SIGKILL; restarting in 1 s"
sleep 1
start_oss oss2
log "second OSS pid $OSS_PID"

for _ in $(seq $(( (STREAM_SECONDS + 120) * 10 ))); do alive "$STREAM_PID" || break; sleep 0.1; done
alive "$STREAM_PID" && fail "the stream never finished"
wait "$STREAM_PID"
status=$?
grep -v '^<' "$TEST_DIR/stream.log"
[ "$status" = 0 ] || fail "ost-survey --stream exited with $status"
assert_contains "$TEST_DIR/stream.log" "1 OSS restart(s), 0 errors"
assert_contains "$TEST_DIR/stream.log" "seen committed): OK"
grep -h "replaying" "$TEST_DIR/stream.log" || log "nothing was uncommitted at the kill: no replay needed"
before=$(sed -n 's/.* \([0-9]*\) of them before a restart.*/\1/p' "$TEST_DIR/stream.log")
[ "${before:-0}" -gt 0 ] || fail "no write was seen committed before the restart: nothing was tested"
alive "$OSS_PID" || fail "the restarted OSS died"
pass
