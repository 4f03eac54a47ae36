#!/usr/bin/env bash
# lctl on a whole local filesystem (tests/llmount.sh: lustre-mds, 2 lustre-oss, mount.lustre, all
# with their admin sockets in one run dir): dl lists every daemon's devices as one list, a client
# tunable is set live in mount.lustre, and the stats of the client and of the OSTs count exactly
# the bytes written through the mount.
TEST_NET=${TEST_NET:-127.0.7}
TEST_PORT=${TEST_PORT:-19910}
. "$(dirname "$0")/test-framework.sh"
start_llmount

"$LCTL" dl >"$TEST_DIR/dl.out" || fail "lctl dl failed"
cat "$TEST_DIR/dl.out"
for row in "mgs MGS" "mdt testfs-MDT0000 testfs-MDT0000_UUID" "obdfilter testfs-OST0000 testfs-OST0000_UUID" \
           "obdfilter testfs-OST0001 testfs-OST0001_UUID" "osc testfs-OST0000-osc-" "osc testfs-OST0001-osc-" \
           "mdc testfs-MDT0000-mdc-"; do
    grep -q " UP $row" "$TEST_DIR/dl.out" || fail "lctl dl has no '$row' row"
done
# One list: indices 0..N-1, each once.
awk '{ print $1 }' "$TEST_DIR/dl.out" | sort -n | awk 'NR - 1 != $1 { exit 1 }' || fail "dl indices are not 0..N-1"

# A client tunable, live in mount.lustre; a bad value refused with the old one kept.
"$LCTL" set_param osc.*.max_rpcs_in_flight=16 >/dev/null || fail "set_param osc.*.max_rpcs_in_flight=16 failed"
[ "$("$LCTL" get_param -n osc.*.max_rpcs_in_flight | sort -u)" = 16 ] || fail "max_rpcs_in_flight not 16 on every OSC"
"$LCTL" set_param osc.*.max_rpcs_in_flight=1000 2>"$TEST_DIR/bad.out" && fail "max_rpcs_in_flight=1000 accepted"
assert_contains "$TEST_DIR/bad.out" "out of range 1..256"
[ "$("$LCTL" get_param -n osc.*.max_rpcs_in_flight | sort -u)" = 16 ] || fail "a rejected value changed max_rpcs_in_flight"

# Bytes through the mount land in the OSTs' stats, exactly.
"$LCTL" set_param -n obdfilter.*.stats=clear
"$LUSTRE_BIN/lfs" setstripe -c 2 -S 1M "$MOUNT/striped" || fail "lfs setstripe failed"
dd if=/dev/urandom of="$MOUNT/striped" bs=1M count=8 conv=fsync status=none || fail "dd to the mount failed"
sum=0
for ost in testfs-OST0000 testfs-OST0001; do
    b=$("$LCTL" get_param -n "obdfilter.$ost.stats" | awk '$1 == "write_bytes" { print $7 }')
    [ -n "$b" ] && [ "$b" -gt 0 ] || fail "$ost wrote nothing"
    sum=$((sum + b))
done
[ "$sum" = $((8 << 20)) ] || fail "the OSTs counted $sum bytes written, the test wrote $((8 << 20))"
log "OST write_bytes: $sum = the 8 MiB written through the mount"

# The bound of data pinned until commit: writers wait at max_cached_mb while the OSTs commit, and
# what they wrote reads back whole. The OSTs' early commits for soft-sync writes are off meanwhile
# (soft_sync_limit=0): with them, commits could keep pace with dd and no writer need ever wait.
"$LCTL" get_param -n llite.*.max_cached_mb | grep -q "^max_cached_mb: 256$" || fail "max_cached_mb is not 128 MiB x 2 OSCs"
"$LCTL" set_param llite.*.max_cached_mb=4 >/dev/null || fail "set_param llite.*.max_cached_mb=4 failed"
"$LCTL" set_param llite.*.max_cached_mb=-1 2>/dev/null && fail "max_cached_mb=-1 accepted"
dd if=/dev/urandom of="$TEST_DIR/pinned" bs=1M count=32 status=none
"$LCTL" set_param obdfilter.*.soft_sync_limit=0 >/dev/null || fail "set_param obdfilter.*.soft_sync_limit=0 failed"
dd if="$TEST_DIR/pinned" of="$MOUNT/pinned" bs=1M conv=fsync status=none || fail "dd under max_cached_mb=4 failed"
"$LCTL" set_param obdfilter.*.soft_sync_limit=16 >/dev/null || fail "set_param obdfilter.*.soft_sync_limit=16 failed"
"$LCTL" get_param -n llite.*.max_cached_mb >"$TEST_DIR/cached.out"
cat "$TEST_DIR/cached.out"
assert_contains "$TEST_DIR/cached.out" "max_cached_mb: 4"
awk '$1 == "reclaim_count:" { exit !($2 > 0) }' "$TEST_DIR/cached.out" || fail "no writer waited at max_cached_mb=4"
cmp "$TEST_DIR/pinned" "$MOUNT/pinned" || fail "data written under max_cached_mb=4 reads back different"
"$LCTL" get_param osc.*.unstable_stats llite.*.unstable_stats | grep -q "unstable_mb:" || fail "no unstable_stats"
[ "$("$LCTL" get_param -n obdfilter.*.soft_sync_limit | sort -u)" = 16 ] || fail "soft_sync_limit is not 16"
pass
