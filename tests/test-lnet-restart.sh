#!/usr/bin/env bash
# A responder SIGKILLed and restarted mid-run: the load generator reports the gap
# and resumes by itself (reconnect, incarnation change noticed).
. "$(dirname "$0")/test-framework.sh"

NID=$TEST_NET.5@tcp
start_responder server "$NID"
start_daemon client "$LUSTRE_BIN/lnet-selftest" run "$NID" --accept-port "$TEST_PORT" --test ping \
    --concurrency 8 --duration 20
CLIENT=$LAST_PID
wait_for_log client "\[4s\]"

kill -KILL "${STARTED_PIDS[0]}"
log "responder killed"
sleep 2
start_daemon server2 "$LUSTRE_BIN/lnet-selftest" serve "$NID" --accept-port "$TEST_PORT"
wait_for_log server2 "serving on"
log "responder restarted"

wait "$CLIENT" || fail "load generator failed"
gap=$(sed -n 's/^longest gap: \([0-9.]*\) s/\1/p' "$TEST_DIR/client.log")
log "longest gap ${gap}s"
awk -v g="$gap" 'BEGIN { exit !(g >= 1.5) }' || fail "no gap reported (longest gap $gap s)"
# The last seconds of the run completed RPCs again.
tail_rates=$(grep -E '^\[(1[6-9]|20)s\]' "$TEST_DIR/client.log" | awk '{print $2}')
[ -n "$tail_rates" ] || fail "no per-second lines at the end of the run"
for rate in $tail_rates; do [ "$rate" -gt 0 ] || fail "no RPCs after the restart ($rate RPC/s)"; done
assert_contains "$TEST_DIR/client.log" "restarted\|Connection restored"
pass
