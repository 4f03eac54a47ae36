#!/usr/bin/env bash
# mkfs.lustre and tunefs.lustre on image files and an ext4 directory: labels, CONFIGS/mountdata,
# e2fsck-clean images, refusal to overwrite a target, and clear errors for bad options.
. "$(dirname "$0")/test-framework.sh"

MKFS=$LUSTRE_BIN/mkfs.lustre
TUNEFS=$LUSTRE_BIN/tunefs.lustre
MGSNODE=$TEST_NET.1@tcp:$TEST_NET.2@tcp

# run NAME CMD...: runs CMD with its output in $TEST_DIR/NAME.log; fails the test if CMD fails.
run() {
    local name=$1; shift
    "$@" >"$TEST_DIR/$name.log" 2>&1 || fail "$name: '$*' exited $?"
}

# refuse NAME PATTERN CMD...: CMD must fail, saying PATTERN.
refuse() {
    local name=$1 pattern=$2; shift 2
    if "$@" >"$TEST_DIR/$name.log" 2>&1; then fail "$name: '$*' succeeded"; fi
    assert_contains "$TEST_DIR/$name.log" "$pattern"
}

# --- An OST on a new image file
OST=$TEST_DIR/ost0.img
refuse ost-no-size "does not exist; give --device-size" \
    "$MKFS" --ost --fsname=testfs --index=0 --mgsnode="$MGSNODE" "$OST"
[ -e "$OST" ] && fail "mkfs.lustre created $OST without --device-size"
run mkfs-ost "$MKFS" --ost --fsname=testfs --index=0 --mgsnode="$MGSNODE" --device-size=65536 "$OST"
assert_contains "$TEST_DIR/mkfs-ost.log" "Permanent disk data:"
assert_contains "$TEST_DIR/mkfs-ost.log" "^Target:     testfs-OST0000$"
assert_contains "$TEST_DIR/mkfs-ost.log" "(OST first_time update )"
assert_contains "$TEST_DIR/mkfs-ost.log" "formatting backing filesystem ldiskfs on $OST"
assert_contains "$TEST_DIR/mkfs-ost.log" "Writing CONFIGS/mountdata"
[ "$(stat -c %s "$OST")" -eq $((65536 * 1024)) ] || fail "image is not 64 MiB"
[ "$(e2label "$OST")" = testfs-OST0000 ] || fail "label is '$(e2label "$OST")'"
run fsck-ost e2fsck -fn "$OST"

run tunefs-ost "$TUNEFS" --dryrun "$OST"
for line in "checking for existing Lustre data: found" "Reading CONFIGS/mountdata" "Read previous values:" \
    "^Target:     testfs-OST0000$" "^Index:      0$" "^Lustre FS:  testfs$" "^Mount type: ldiskfs$" \
    "^Flags:      0x62$" "^Parameters: mgsnode=$MGSNODE$" "exiting before disk write."; do
    assert_contains "$TEST_DIR/tunefs-ost.log" "$line"
done

# --- A second format without --reformat is refused and leaves the target as it was
sum_before=$(md5sum <"$OST")
refuse mkfs-again "previously formatted for lustre. Use --reformat" \
    "$MKFS" --ost --fsname=other --index=5 --mgsnode="$MGSNODE" "$OST"
[ "$(md5sum <"$OST")" = "$sum_before" ] || fail "refused mkfs.lustre changed $OST"
run mkfs-reformat "$MKFS" --reformat --ost --fsname=other --index=5 --mgsnode="$MGSNODE" "$OST"
[ "$(e2label "$OST")" = other-OST0005 ] || fail "label after --reformat is '$(e2label "$OST")'"
run tunefs-reformatted "$TUNEFS" --dryrun "$OST"
assert_contains "$TEST_DIR/tunefs-reformatted.log" "^Target:     other-OST0005$"
assert_contains "$TEST_DIR/tunefs-reformatted.log" "^Index:      5$"

# --- tunefs.lustre changes are written back, through libext2fs
run tunefs-set "$TUNEFS" --param sys.timeout=40 --param sys.timeout=50 --writeconf "$OST"
run tunefs-check "$TUNEFS" --dryrun "$OST"
assert_contains "$TEST_DIR/tunefs-check.log" "^Parameters: mgsnode=$MGSNODE sys.timeout=50$"
assert_contains "$TEST_DIR/tunefs-check.log" "(OST first_time update writeconf )"
run tunefs-erase "$TUNEFS" --erase-params --mgsnode="$TEST_NET.9@tcp" "$OST"
run tunefs-check2 "$TUNEFS" --dryrun "$OST"
assert_contains "$TEST_DIR/tunefs-check2.log" "^Parameters: mgsnode=$TEST_NET.9@tcp$"
run fsck-tuned e2fsck -fn "$OST"

# --- An MDT that is also the MGS
MDT=$TEST_DIR/mdt0.img
run mkfs-mdt "$MKFS" --mdt --mgs --fsname=testfs --index=0 --device-size=131072 "$MDT"
assert_contains "$TEST_DIR/mkfs-mdt.log" "^Target:     testfs-MDT0000$"
assert_contains "$TEST_DIR/mkfs-mdt.log" "^Flags:      0x65$"
assert_contains "$TEST_DIR/mkfs-mdt.log" "(MDT MGS first_time update )"
assert_contains "$TEST_DIR/mkfs-mdt.log" "-I 1024"
[ "$(e2label "$MDT")" = testfs-MDT0000 ] || fail "MDT label is '$(e2label "$MDT")'"
run fsck-mdt e2fsck -fn "$MDT"
run tunefs-mdt "$TUNEFS" --dryrun "$MDT"
assert_contains "$TEST_DIR/tunefs-mdt.log" "(MDT MGS first_time update )"

# --- A lone MGS has no index
run mkfs-mgs "$MKFS" --mgs --device-size=32768 "$TEST_DIR/mgs.img"
assert_contains "$TEST_DIR/mkfs-mgs.log" "^Target:     MGS$"
assert_contains "$TEST_DIR/mkfs-mgs.log" "^Index:      unassigned$"
[ "$(e2label "$TEST_DIR/mgs.img")" = MGS ] || fail "MGS label is '$(e2label "$TEST_DIR/mgs.img")'"

# --- --dryrun writes nothing
run mkfs-dryrun "$MKFS" --dryrun --ost --fsname=testfs --index=2 --mgsnode="$MGSNODE" --device-size=65536 \
    "$TEST_DIR/dry.img"
assert_contains "$TEST_DIR/mkfs-dryrun.log" "exiting before disk write."
[ -e "$TEST_DIR/dry.img" ] && fail "--dryrun created an image"

# --- A directory on ext4 (TEST_DIR is under /tmp)
DIR=$TEST_DIR/ost1.dir
mkdir "$DIR"
run mkfs-dir "$MKFS" --ost --fsname=testfs --index=1 --mgsnode="$MGSNODE" --backfs-dir="$DIR"
[ "$(stat -c %s "$DIR/CONFIGS/mountdata")" -eq 12288 ] || fail "directory mountdata is not 12288 bytes"
[ "$(cat "$DIR/CONFIGS/label")" = testfs-OST0001 ] || fail "label file says '$(cat "$DIR/CONFIGS/label")'"
run tunefs-dir "$TUNEFS" --dryrun --backfs-dir="$DIR"
assert_contains "$TEST_DIR/tunefs-dir.log" "^Target:     testfs-OST0001$"
assert_contains "$TEST_DIR/tunefs-dir.log" "^Parameters: mgsnode=$MGSNODE$"
refuse mkfs-dir-again "previously formatted for lustre" \
    "$MKFS" --ost --fsname=testfs --index=1 --mgsnode="$MGSNODE" --backfs-dir="$DIR"
run mkfs-dir-reformat "$MKFS" --reformat --ost --fsname=testfs --index=7 --mgsnode="$MGSNODE" --backfs-dir="$DIR"
[ "$(cat "$DIR/CONFIGS/label")" = testfs-OST0007 ] || fail "label file after --reformat says '$(cat "$DIR/CONFIGS/label")'"
if [ -d /dev/shm ] && [ "$(stat -f -c %t /dev/shm)" != ef53 ]; then
    mkdir "/dev/shm/$(basename "$TEST_DIR")"
    refuse mkfs-tmpfs "is not on ext4" \
        "$MKFS" --ost --fsname=testfs --index=1 --mgsnode="$MGSNODE" --backfs-dir="/dev/shm/$(basename "$TEST_DIR")"
    rmdir "/dev/shm/$(basename "$TEST_DIR")"
fi

# --- tunefs.lustre on something that is not a target
truncate -s 16M "$TEST_DIR/blank.img"
refuse tunefs-blank "has not been formatted with mkfs.lustre" "$TUNEFS" --dryrun "$TEST_DIR/blank.img"

# --- Bad options: a message and exit status 2
bad_option() {
    local name=$1 pattern=$2; shift 2
    "$MKFS" "$@" >"$TEST_DIR/$name.log" 2>&1
    local status=$?
    [ "$status" -eq 2 ] || fail "$name: mkfs.lustre $* exited $status, expected 2"
    assert_contains "$TEST_DIR/$name.log" "$pattern"
}
IMG=$TEST_DIR/never.img
bad_option no-type "must specify --ost, --mdt or --mgs" --fsname=testfs --index=0 "$IMG"
bad_option ost-and-mdt "cannot be combined" --ost --mdt --fsname=testfs --index=0 --mgsnode="$MGSNODE" "$IMG"
bad_option bad-fsname "invalid filesystem name" --ost --fsname=much_too_long --index=0 --mgsnode="$MGSNODE" "$IMG"
bad_option bad-index "invalid index '65535'" --ost --fsname=testfs --index=65535 --mgsnode="$MGSNODE" "$IMG"
bad_option no-index "--index" --ost --fsname=testfs --mgsnode="$MGSNODE" "$IMG"
bad_option bad-nid "bad NID '10.0.0.1'" --ost --fsname=testfs --index=0 --mgsnode=10.0.0.1 "$IMG"
bad_option no-mgsnode "must specify --mgs or --mgsnode" --ost --fsname=testfs --index=0 "$IMG"
bad_option bad-param "expected KEY=VALUE" --ost --fsname=testfs --index=0 --mgsnode="$MGSNODE" --param=foo "$IMG"
bad_option no-device "no device given" --ost --fsname=testfs --index=0 --mgsnode="$MGSNODE"
bad_option unknown "Unknown option '--frobnicate'" --frobnicate --ost "$IMG"
[ -e "$IMG" ] && fail "a refused command created $IMG"

pass
