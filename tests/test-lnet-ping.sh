#!/usr/bin/env bash
# Two LNet processes on their own loopback addresses ping each other.
. "$(dirname "$0")/test-framework.sh"

A=$TEST_NET.2@tcp
B=$TEST_NET.3@tcp
start_responder a "$A"
start_responder b "$B"

"$LUSTRE_BIN/lctl" ping "$B" --source "$A" --accept-port "$TEST_PORT" >"$TEST_DIR/a-to-b.out" 2>&1 \
    || fail "ping $B from $A: $(cat "$TEST_DIR/a-to-b.out")"
assert_contains "$TEST_DIR/a-to-b.out" "^12345-$B\$"
assert_contains "$TEST_DIR/a-to-b.out" "^12345-0@lo\$"
"$LUSTRE_BIN/lctl" ping "$A" --source "$B" --accept-port "$TEST_PORT" >"$TEST_DIR/b-to-a.out" 2>&1 \
    || fail "ping $A from $B: $(cat "$TEST_DIR/b-to-a.out")"
assert_contains "$TEST_DIR/b-to-a.out" "^12345-$A\$"

# Nobody listens on .9: a clear error and a non-zero exit, quickly.
start=$(date +%s)
if "$LUSTRE_BIN/lctl" ping "$TEST_NET.9@tcp" 2 --accept-port "$TEST_PORT" >"$TEST_DIR/dead.out" 2>&1; then
    fail "ping of a dead NID succeeded"
fi
assert_contains "$TEST_DIR/dead.out" "failed to ping $TEST_NET.9@tcp"
[ $(( $(date +%s) - start )) -le 5 ] || fail "ping of a dead NID took too long"

# A malformed NID is refused with a message quoting it.
if "$LUSTRE_BIN/lctl" ping "1.2.3@tcp" >"$TEST_DIR/bad.out" 2>&1; then fail "bad NID accepted"; fi
assert_contains "$TEST_DIR/bad.out" "1.2.3@tcp"

"$LUSTRE_BIN/lctl" list_nids | grep -Eq '^[0-9.]+@tcp[0-9]*$' || fail "list_nids printed no NID"
"$LUSTRE_BIN/lctl" --version | grep -q '^lctl ' || fail "lctl --version"
pass
