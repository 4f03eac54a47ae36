#!/usr/bin/env bash
# An MDS (MDT + MGS) and two OSSs, each formatted by mkfs.lustre and served by its own process:
# the OSTs register with the MGS and show in the configuration a client fetches; files with one
# and two objects are created, looked up, changed and unlinked over RPC, and a short namespace
# storm's tree reads back as journaled; SIGTERM stops every
# server cleanly; tunefs.lustre --dryrun reads the MDT afterwards.
TEST_NET=${TEST_NET:-127.0.3}
TEST_PORT=${TEST_PORT:-19983}
. "$(dirname "$0")/test-framework.sh"

trap stop_and_unmount EXIT
MDS_NID=$TEST_NET.1@tcp
CLIENT_NID=$TEST_NET.10@tcp
MKFS=$LUSTRE_BIN/mkfs.lustre

# Images when root (the servers loop-mount them), --backfs-dir directories otherwise.
format_target() {
    local name=$1; shift
    if [ "$(id -u)" = 0 ]; then
        TARGET=$TEST_DIR/$name.img
        "$MKFS" "$@" --device-size=$((256 * 1024)) "$TARGET" >"$TEST_DIR/mkfs-$name.log" 2>&1 ||
            fail "mkfs.lustre $name failed"
    else
        TARGET=$TEST_DIR/$name
        mkdir -p "$TARGET"
        "$MKFS" "$@" --backfs-dir="$TARGET" --force-backfs >"$TEST_DIR/mkfs-$name.log" 2>&1 ||
            fail "mkfs.lustre $name failed"
    fi
}
format_target mdt0 --mgs --mdt --fsname=testfs --index=0
MDT=$TARGET
format_target ost0 --ost --fsname=testfs --index=0 --mgsnode="$MDS_NID"
OST0=$TARGET
format_target ost1 --ost --fsname=testfs --index=1 --mgsnode="$MDS_NID"
OST1=$TARGET

start_daemon mds "$LUSTRE_BIN/lustre-mds" --nid "$MDS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$MDT"
MDS_PID=$LAST_PID
wait_for_log mds "serving testfs-MDT0000"
start_daemon oss0 "$LUSTRE_BIN/lustre-oss" --nid "$TEST_NET.2@tcp" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$OST0"
OSS0_PID=$LAST_PID
start_daemon oss1 "$LUSTRE_BIN/lustre-oss" --nid "$TEST_NET.3@tcp" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" "$OST1"
OSS1_PID=$LAST_PID
wait_for_log oss0 "serving testfs-OST0000 on $TEST_NET.2@tcp"
wait_for_log oss1 "serving testfs-OST0001 on $TEST_NET.3@tcp"
log "MDS pid $MDS_PID, OSS pids $OSS0_PID $OSS1_PID"

# Both OSTs register with the MGS ...
wait_for_log mds "registered testfs-OST0000" 30
wait_for_log mds "registered testfs-OST0001" 30

# ... and a client fetching the configuration sees the MDT and both OSTs with their NIDs.
SURVEY=("$LUSTRE_BIN/mds-survey")
COMMON=(--accept-port "$TEST_PORT" --fsname testfs --source "$CLIENT_NID")
"${SURVEY[@]}" config --mgs "$MDS_NID" "${COMMON[@]}" >"$TEST_DIR/config.log" 2>&1 || fail "mds-survey config failed"
cat "$TEST_DIR/config.log"
assert_contains "$TEST_DIR/config.log" "^fsname testfs "
assert_contains "$TEST_DIR/config.log" "^mdt 0 testfs-MDT0000 $MDS_NID"
assert_contains "$TEST_DIR/config.log" "^ost 0 testfs-OST0000 $TEST_NET.2@tcp"
assert_contains "$TEST_DIR/config.log" "^ost 1 testfs-OST0001 $TEST_NET.3@tcp"
# An unknown filesystem is a clear error, not an empty configuration.
"${SURVEY[@]}" config --mgs "$MDS_NID" --accept-port "$TEST_PORT" --fsname nosuchfs --source "$CLIENT_NID" \
    >"$TEST_DIR/config-unknown.log" 2>&1 && fail "mds-survey config accepted an unknown fsname"
grep -q "nosuchfs" "$TEST_DIR/config-unknown.log" || fail "the error for an unknown fsname does not name it"

# The MDS learnt both OSTs from the MGS and uses them for objects.
wait_for_log mds "added testfs-OST0000" 30
wait_for_log mds "added testfs-OST0001" 30

# Create, lookup, getattr, setattr (chmod) and unlink over RPC from 3 threads: files with one
# object and with two (the survey checks each create's layout names that many objects).
for stripes in 1 2; do
    "${SURVEY[@]}" --mds "$MDS_NID" "${COMMON[@]}" --threads 3 --files 40 --stripe-count $stripes \
        --dir "survey$stripes" >"$TEST_DIR/survey$stripes.log" 2>&1 || fail "mds-survey with stripe count $stripes failed"
    cat "$TEST_DIR/survey$stripes.log"
    for op in create lookup getattr setattr destroy; do
        assert_contains "$TEST_DIR/survey$stripes.log" "^RESULT mds-survey stripe${stripes}_$op "
        assert_contains "$TEST_DIR/survey$stripes.log" "^$op .*(120 in "
    done
done

# A short namespace storm (no restarts): every operation committed, the tree read back as modelled.
"${SURVEY[@]}" storm --mds "$MDS_NID" "${COMMON[@]}" --threads 2 --count 200 --commit-every 0.5 \
    --dir storm --journal "$TEST_DIR/storm.journal" >"$TEST_DIR/storm.log" 2>&1 || fail "mds-survey storm failed"
cat "$TEST_DIR/storm.log"
assert_contains "$TEST_DIR/storm.log" "0 lost, 0 unexplained errors"
"${SURVEY[@]}" verify --mds "$MDS_NID" "${COMMON[@]}" --journal "$TEST_DIR/storm.journal" \
    >"$TEST_DIR/verify.log" 2>&1 || { cat "$TEST_DIR/verify.log"; fail "mds-survey verify failed"; }
cat "$TEST_DIR/verify.log"
assert_contains "$TEST_DIR/verify.log" "verify: OK"

# SIGTERM: every server stops cleanly, exits 0 and unmounts what it mounted.
for pid in "$MDS_PID" "$OSS0_PID" "$OSS1_PID"; do kill -TERM "$pid"; done
for pid in "$MDS_PID" "$OSS0_PID" "$OSS1_PID"; do
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && fail "pid $pid ignored SIGTERM"
    wait "$pid" || fail "pid $pid exited with status $? on SIGTERM"
done
if [ "$(id -u)" = 0 ]; then
    for target in testfs-MDT0000 testfs-OST0000 testfs-OST0001; do
        mountpoint -q "$RUN_DIR/mnt/$target" && fail "$target is still mounted after SIGTERM"
    done
fi

# tunefs.lustre reads the MDT's identity back.
if [ -d "$MDT" ]; then MDT_ARGS=(--backfs-dir="$MDT"); else MDT_ARGS=("$MDT"); fi
"$LUSTRE_BIN/tunefs.lustre" --dryrun "${MDT_ARGS[@]}" >"$TEST_DIR/tunefs.log" 2>&1 || fail "tunefs.lustre --dryrun failed"
cat "$TEST_DIR/tunefs.log"
assert_contains "$TEST_DIR/tunefs.log" "^Target:     testfs-MDT0000$"
assert_contains "$TEST_DIR/tunefs.log" "^Lustre FS:  testfs$"
assert_contains "$TEST_DIR/tunefs.log" "MDT MGS"
assert_contains "$TEST_DIR/tunefs.log" "exiting before disk write."
pass
