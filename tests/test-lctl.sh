#!/usr/bin/env bash
# lctl over the admin sockets against a live lustre-oss: dl, get_param of the OST's stats,
# set_param of a tunable and a rejected value that keeps the old one, fail_loc making the OST
# drop a write's bulk so the client resends (ost-survey still verifies), stats counting exactly
# the bytes the test wrote, dk/clear, list_param, the socket's mode and its removal at stop.
TEST_NET=${TEST_NET:-127.0.7}
TEST_PORT=${TEST_PORT:-19907}
. "$(dirname "$0")/test-framework.sh"

trap stop_and_unmount EXIT
LCTL=("$LUSTRE_BIN/lctl" --run-dir "$RUN_DIR")

# No daemon yet: a clear error, not a hang.
mkdir -p "$RUN_DIR"
"${LCTL[@]}" dl >"$TEST_DIR/none.out" 2>&1 && fail "lctl dl succeeded with no daemon"
assert_contains "$TEST_DIR/none.out" "no Lustre daemon is running"

format_ost $((256 * 1024))
METRICS=$TEST_NET.2:$((TEST_PORT + 1))
start_daemon oss "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" \
    --metrics-address "$METRICS" "$TARGET"
OSS_PID=$LAST_PID
wait_for_log oss "serving testfs-OST0000 on $OSS_NID"

SOCK=$RUN_DIR/lustre-oss-$OSS_PID.sock
[ -S "$SOCK" ] || fail "no admin socket $SOCK"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "admin socket mode is $(stat -c %a "$SOCK"), not 600"

# dl: Lustre's rows.
"${LCTL[@]}" dl >"$TEST_DIR/dl.out" || fail "lctl dl failed"
cat "$TEST_DIR/dl.out"
grep -Eq '^ +[0-9]+ UP obdfilter testfs-OST0000 testfs-OST0000_UUID [0-9]+$' "$TEST_DIR/dl.out" \
    || fail "no obdfilter row in lctl dl"
grep -Eq '^ +[0-9]+ UP ost OSS OSS_UUID [0-9]+$' "$TEST_DIR/dl.out" || fail "no ost OSS row in lctl dl"
# The environment variable works as --run-dir does.
LUSTRE_RUN_DIR=$RUN_DIR "$LUSTRE_BIN/lctl" dl | grep -q "obdfilter testfs-OST0000" || fail "LUSTRE_RUN_DIR ignored"

# get_param / list_param.
"${LCTL[@]}" get_param obdfilter.*.stats >"$TEST_DIR/stats0.out" || fail "get_param obdfilter.*.stats failed"
head -1 "$TEST_DIR/stats0.out" | grep -qx "obdfilter.testfs-OST0000.stats=" || fail "stats not printed as name= then lines"
assert_contains "$TEST_DIR/stats0.out" "snapshot_time"
"${LCTL[@]}" list_param -F 'obdfilter.*.*' | grep -qx "obdfilter.testfs-OST0000.stats=" \
    || fail "list_param -F does not show the writable stats file"
"${LCTL[@]}" get_param nosuch.param >"$TEST_DIR/nosuch.out" 2>&1 && fail "get_param of a missing parameter succeeded"
assert_contains "$TEST_DIR/nosuch.out" "error: get_param: param_path 'nosuch.param': No such file or directory"

# set_param of a tunable, live, and a bad value rejected with the old value kept.
[ "$("${LCTL[@]}" get_param -n debug_mb)" = 4 ] || fail "debug_mb is not 4 by default"
"${LCTL[@]}" set_param debug_mb=8 | grep -qx "debug_mb=8" || fail "set_param debug_mb=8 did not echo"
[ "$("${LCTL[@]}" get_param -n debug_mb)" = 8 ] || fail "debug_mb did not change"
"${LCTL[@]}" set_param debug_mb=100000 >"$TEST_DIR/bad.out" 2>&1 && fail "debug_mb=100000 was accepted"
cat "$TEST_DIR/bad.out"
assert_contains "$TEST_DIR/bad.out" "error: set_param:"
assert_contains "$TEST_DIR/bad.out" "must be between 1 and 4096"
assert_contains "$TEST_DIR/bad.out" "Invalid argument"
[ "$("${LCTL[@]}" get_param -n debug_mb)" = 8 ] || fail "a rejected value changed debug_mb"
# -P needs the MGS: a node with only an OSS says so (tests/test-lctl-persist.sh covers the rest).
"${LCTL[@]}" set_param -P debug_mb=8 >"$TEST_DIR/perm.out" 2>&1 && fail "set_param -P claimed success"
assert_contains "$TEST_DIR/perm.out" "must run on the MGS node"

# Clear the stats (writing a stats file clears it), then arm OBD_FAIL_OST_BRW_WRITE_BULK once:
# the OST drops one write's bulk and answers -EAGAIN, the OSC resends.
"${LCTL[@]}" set_param -n obdfilter.testfs-OST0000.stats=clear || fail "clearing the stats failed"
"${LCTL[@]}" clear || fail "lctl clear failed"
"${LCTL[@]}" set_param fail_loc=0x8000020e >/dev/null || fail "set_param fail_loc failed"
"$LUSTRE_BIN/ost-survey" --ost "$OSS_NID" --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp" \
    --target testfs-OST0000 --objects 2 --size 16M --io 1M --concurrency 4 --verify \
    >"$TEST_DIR/survey.log" 2>&1 || fail "ost-survey failed with fail_loc set"
cat "$TEST_DIR/survey.log"
assert_contains "$TEST_DIR/survey.log" "verify: OK"
assert_contains "$TEST_DIR/survey.log" "0 mismatches"
# The point fired once: fail_loc keeps the OBD_FAIL_ONCE and gains the "failed" bit (0xc000020e).
[ "$("${LCTL[@]}" get_param -n fail_loc)" = $((0xc000020e)) ] \
    || fail "fail_loc did not fire: $("${LCTL[@]}" get_param -n fail_loc)"
"${LCTL[@]}" dk "$TEST_DIR/dk.log" | grep -q "^Debug log: [0-9]* lines" || fail "lctl dk FILE printed no summary"
assert_contains "$TEST_DIR/dk.log" "cfs_fail_loc=20e"
# The client saw the dropped bulk and resent the write.
assert_contains "$TEST_DIR/survey.log" "resending"
"${LCTL[@]}" set_param fail_loc=0 >/dev/null

# The stats count what the test did: write (16M) + rewrite (16M) = 33554432 bytes written, the
# dropped attempt not counted, read 16M for the verify.
"${LCTL[@]}" get_param -n obdfilter.testfs-OST0000.stats >"$TEST_DIR/stats.out"
cat "$TEST_DIR/stats.out"
written=$(awk '$1 == "write_bytes" { print $7 }' "$TEST_DIR/stats.out")
read_bytes=$(awk '$1 == "read_bytes" { print $7 }' "$TEST_DIR/stats.out")
[ "$written" = 33554432 ] || fail "write_bytes sum is '$written', expected 33554432"
[ "$read_bytes" = 16777216 ] || fail "read_bytes sum is '$read_bytes', expected 16777216"
# The resend shows in the server's stats: one write request more than the writes that landed.
write_rpcs=$(awk '$1 == "write" { print $2 }' "$TEST_DIR/stats.out")
landed=$(awk '$1 == "write_bytes" { print $2 }' "$TEST_DIR/stats.out")
[ "$write_rpcs" = $((landed + 1)) ] || fail "write requests $write_rpcs, writes landed $landed: no resend counted"

# The same figures as Prometheus series named as lustre_exporter names them.
curl -sf "http://$METRICS/metrics" >"$TEST_DIR/metrics.out" || fail "GET /metrics failed"
grep -qx 'lustre_write_bytes_total{component="ost",target="testfs-OST0000"} 33554432' "$TEST_DIR/metrics.out" \
    || fail "lustre_write_bytes_total wrong: $(grep write_bytes "$TEST_DIR/metrics.out")"
grep -qx 'lustre_read_bytes_total{component="ost",target="testfs-OST0000"} 16777216' "$TEST_DIR/metrics.out" \
    || fail "lustre_read_bytes_total wrong: $(grep read_bytes "$TEST_DIR/metrics.out")"
grep -q '^lustre_stats_total{component="ost",target="testfs-OST0000",operation="write"} ' "$TEST_DIR/metrics.out" \
    || fail "no lustre_stats_total for write"
curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/nothing" | grep -qx 404 || fail "/nothing did not answer 404"

# A peer that is not root and not the daemon's user is refused (the socket's mode already keeps
# it out; SO_PEERCRED is checked too).
if [ "$(id -u)" = 0 ] && command -v python3 >/dev/null; then
    python3 - "$SOCK" >"$TEST_DIR/nobody.out" 2>&1 <<'PY' && fail "uid 65534 reached the admin socket"
import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("refused by mode"); sys.exit(1)
print("connected"); sys.exit(0)
PY
    assert_contains "$TEST_DIR/nobody.out" "refused by mode"
fi

# SIGTERM: the socket goes with the daemon.
kill -TERM "$OSS_PID"
for _ in $(seq 100); do alive "$OSS_PID" || break; sleep 0.1; done
alive "$OSS_PID" && fail "lustre-oss ignored SIGTERM"
[ -e "$SOCK" ] && fail "the admin socket outlived the daemon"
pass
