#!/usr/bin/env bash
# A full OST through a real mount (tests/llmount.sh with 160 MiB OSTs): a writer filling a file
# striped on OST 0 gets ENOSPC from write(2) itself (the client writes through once the OST is
# nearly full, as Lustre's does when its grant runs out), not only at close after its writes were
# cached; every byte write(2) acknowledged is in the file, and the file is no longer than that,
# an O_APPEND write refused as well.
# The other OST still takes writes; once the file is removed, OST 0 takes them again.
# A full MDT (24 MiB: its inodes run out first): creates fail with ENOSPC while the MDT keeps
# inodes for itself, the MDS restarts on it, the files are removed (their objects destroyed
# through the destroy log, which needs a new file of its own) and creates work again.
TEST_NET=${TEST_NET:-127.0.11}
TEST_PORT=${TEST_PORT:-19911}
TEST_OSTSIZE=$((160 * 1024))
TEST_MDSSIZE=$((24 * 1024))
. "$(dirname "$0")/test-framework.sh"
start_llmount
LFS=$LUSTRE_BIN/lfs

"$LFS" setstripe -c 1 -i 0 "$MOUNT/full" || fail "lfs setstripe -i 0"
# Writes 1 MiB blocks of random data until write(2) fails; prints the errno's name, where the
# write failed, the bytes acknowledged and their sha256, then whether close(2) failed.
python3 - "$MOUNT/full" >"$TEST_DIR/fill.out" 2>&1 <<'PY' || fail "the filling writer: $(cat "$TEST_DIR/fill.out")"
import errno, hashlib, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
digest, written, failure = hashlib.sha256(), 0, None
while written < (1 << 30):
    block = os.urandom(1 << 20)
    try:
        n = os.write(fd, block)
    except OSError as e:
        failure = errno.errorcode.get(e.errno, str(e.errno))
        break
    digest.update(block[:n])
    written += n
try:
    os.close(fd)
    closed = 'ok'
except OSError as e:
    closed = errno.errorcode.get(e.errno, str(e.errno))
print(failure, written, digest.hexdigest(), closed)
PY
read -r failure written digest closed <"$TEST_DIR/fill.out"
log "write(2) failed with $failure after $written bytes; close: $closed"
[ "$failure" = ENOSPC ] || fail "write(2) to a full OST did not fail with ENOSPC: $failure after $written bytes, close $closed"
[ "$closed" = ok ] || fail "close(2) failed ($closed) after write(2) had reported ENOSPC: an acknowledged write was lost"
[ "$written" -gt $((100 << 20)) ] || fail "only $written bytes written to a 160 MiB OST before ENOSPC"
size=$(stat -c %s "$MOUNT/full")
[ "$size" = "$written" ] || fail "the file has $size bytes, write(2) acknowledged $written"
[ "$(head -c "$written" "$MOUNT/full" | sha256sum | cut -d' ' -f1)" = "$digest" ] ||
    fail "the file does not hold the bytes write(2) acknowledged"
# An O_APPEND writer (a log) on the full OST: ENOSPC, and the file does not grow.
python3 - "$MOUNT/full" >"$TEST_DIR/append.out" 2>&1 <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
try:
    os.write(fd, os.urandom(4 << 20))
    print('written')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
os.close(fd)
PY
[ "$(cat "$TEST_DIR/append.out")" = ENOSPC ] || fail "an O_APPEND write to the full OST: $(cat "$TEST_DIR/append.out")"
size=$(stat -c %s "$MOUNT/full")
[ "$size" = "$written" ] || fail "an O_APPEND write refused with ENOSPC left the file at $size bytes, not $written"

"$LFS" setstripe -c 1 -i 1 "$MOUNT/other" && head -c $((20 << 20)) /dev/urandom >"$MOUNT/other" ||
    fail "writing to the OST that is not full"
rm "$MOUNT/full" || fail "rm of the full file"
# The OST frees the objects once the MDS's destroys reach it.
for _ in $(seq 100); do
    avail=$("$LFS" df "$MOUNT" | awk '/OST:0/ { print $4 }')
    [ "${avail:-0}" -gt $((100 * 1024)) ] && break
    sleep 0.2
done
"$LFS" setstripe -c 1 -i 0 "$MOUNT/again" && head -c $((60 << 20)) /dev/urandom >"$MOUNT/again" ||
    fail "writing to OST 0 after its space came back (lfs df: ${avail:-?} KiB available)"
[ "$(stat -c %s "$MOUNT/again")" = $((60 << 20)) ] || fail "the file written after the space came back is short"

# The MDT's inodes.
mkdir "$MOUNT/many" || fail "mkdir many"
python3 - "$MOUNT/many" >"$TEST_DIR/creates.out" 2>&1 <<'PY'
import errno, os, sys
n = 0
while n < 100000:
    try:
        os.close(os.open('%s/f%06d' % (sys.argv[1], n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), n)
        break
    n += 1
PY
read -r failure made <"$TEST_DIR/creates.out"
log "creates failed with $failure after $made files"
[ "$failure" = ENOSPC ] || fail "creates on a full MDT: $(cat "$TEST_DIR/creates.out")"
[ "${made:-0}" -gt 1000 ] || fail "only $made files on the MDT before ENOSPC"
ifree=$("$LFS" df -i "$MOUNT" | awk '/MDT:0/ { print $4 }')
[ "${ifree:-0}" -ge 64 ] || fail "the MDT kept ${ifree:-no} inodes for itself when creates failed"
state=$TEST_DIR/lustre-$FSNAME
mds=$(llmount_save_mds_argv)
kill_and_wait TERM "$mds"
new=$(llmount_start_mds) || fail "the MDS did not start again on its full MDT"
sed -i "s/^mds $mds\b/mds $new/" "$state/pids"
rm -r "$MOUNT/many" || fail "rm -r of the files of the full MDT"
for i in $(seq 50); do echo "$i" >"$MOUNT/after$i" || fail "a create after the files were removed"; done
if grep -i "no space left" "$state/mds.log" >"$TEST_DIR/mds-enospc.out"; then
    fail "the MDS ran out of room for its own files: $(head -3 "$TEST_DIR/mds-enospc.out")"
fi
pass
