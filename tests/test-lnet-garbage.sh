#!/usr/bin/env bash
# A responder keeps serving a good client while other connections send garbage.
. "$(dirname "$0")/test-framework.sh"

NID=$TEST_NET.4@tcp
start_responder server "$NID"
start_daemon client "$LUSTRE_BIN/lnet-selftest" run "$NID" --accept-port "$TEST_PORT" --test ping \
    --concurrency 4 --duration 6
CLIENT=$LAST_PID
wait_for_log client "RPC/s"

for i in 1 2 3 4 5; do
    head -c 1M /dev/urandom > "/dev/tcp/$TEST_NET.4/$TEST_PORT" 2>/dev/null || true
    # A well-formed hello followed by garbage frames.
    printf '\xed\x0d\xbc\xee\x03\x00\x00\x00garbage' > "/dev/tcp/$TEST_NET.4/$TEST_PORT" 2>/dev/null || true
    sleep 0.5
done

wait "$CLIENT" || fail "the good client failed"
assert_contains "$TEST_DIR/client.log" "errors: 0"
grep -q "^RPCs/s: [1-9]" "$TEST_DIR/client.log" || fail "the good client made no progress"
assert_contains "$TEST_DIR/server.log" "closing connection"
alive "${STARTED_PIDS[0]}" || fail "the responder died"
"$LUSTRE_BIN/lctl" ping "$NID" --accept-port "$TEST_PORT" >/dev/null || fail "responder no longer answers ping"
pass
