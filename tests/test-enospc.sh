#!/usr/bin/env bash
# A full OST through a real mount (tests/llmount.sh with 160 MiB OSTs): a writer filling a file
# striped on OST 0 gets ENOSPC from write(2) itself (the client writes through once the OST has
# no grant left to give it, as Lustre's), not only at close after its writes were cached; every
# byte write(2) acknowledged is in the file, and the file is no longer than that, an O_APPEND
# write refused as well.
# The other OST still takes writes; once the file is removed, OST 0 takes them again.
# Two clients racing for OST 0's last 48 MiB beyond grant: one holds 28 MiB of cached writes in open files
# while the other writes until ENOSPC; the first one's closes must all succeed with every byte
# (the OST reserved room for them: grant), the second's write(2) reports the ENOSPC.
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
# fill.py FILE MAX [append]: writes 1 MiB blocks of random data to FILE (with O_APPEND) until
# write(2) fails or MAX bytes are written; prints the errno's name (None), the bytes acknowledged
# and their sha256, whether close(2) failed, then how many write(2)s were short.
cat >"$TEST_DIR/fill.py" <<'PY'
import errno, hashlib, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | (os.O_APPEND if sys.argv[3:] == ['append'] else 0))
digest, written, failure, short = hashlib.sha256(), 0, None, 0
while written < int(sys.argv[2]):
    block = os.urandom(1 << 20)
    try:
        n = os.write(fd, block)
    except OSError as e:
        failure = errno.errorcode.get(e.errno, str(e.errno))
        break
    digest.update(block[:n])
    written += n
    short += n < len(block)
try:
    os.close(fd)
    closed = 'ok'
except OSError as e:
    closed = errno.errorcode.get(e.errno, str(e.errno))
print(failure, written, digest.hexdigest(), closed, short)
PY
python3 "$TEST_DIR/fill.py" "$MOUNT/full" $((1 << 30)) >"$TEST_DIR/fill.out" 2>&1 ||
    fail "the filling writer: $(cat "$TEST_DIR/fill.out")"
read -r failure written digest closed _ <"$TEST_DIR/fill.out"
log "write(2) failed with $failure after $written bytes; close: $closed"
[ "$failure" = ENOSPC ] || fail "write(2) to a full OST did not fail with ENOSPC: $failure after $written bytes, close $closed"
[ "$closed" = ok ] || fail "close(2) failed ($closed) after write(2) had reported ENOSPC: an acknowledged write was lost"
[ "$written" -gt $((100 << 20)) ] || fail "only $written bytes written to a 160 MiB OST before ENOSPC"
size=$(stat -c %s "$MOUNT/full")
[ "$size" = "$written" ] || fail "the file has $size bytes, write(2) acknowledged $written"
[ "$(head -c "$written" "$MOUNT/full" | sha256sum | cut -d' ' -f1)" = "$digest" ] ||
    fail "the file does not hold the bytes write(2) acknowledged"
# An O_APPEND writer (a log) on the full OST: ENOSPC, and the file grows by exactly what write(2)
# acknowledged. (Appends may take a few MiB first: under heavy writeback statfs showed less than
# the volume had while the file was written, ext4's block preallocation, so the writer above may
# have stopped early.)
python3 "$TEST_DIR/fill.py" "$MOUNT/full" $((64 << 20)) append >"$TEST_DIR/append.out" 2>&1 ||
    fail "the O_APPEND writer: $(cat "$TEST_DIR/append.out")"
read -r failure appended adigest closed _ <"$TEST_DIR/append.out"
log "O_APPEND writes failed with $failure after $appended bytes"
[ "$failure" = ENOSPC ] && [ "$closed" = ok ] || fail "O_APPEND writes to the full OST: $(cat "$TEST_DIR/append.out")"
size=$(stat -c %s "$MOUNT/full")
[ "$size" = $((written + appended)) ] ||
    fail "O_APPEND writes refused with ENOSPC after $appended bytes left the file at $size bytes, not $((written + appended))"
[ "$appended" = 0 ] || [ "$(tail -c "$appended" "$MOUNT/full" | sha256sum | cut -d' ' -f1)" = "$adigest" ] ||
    fail "the file does not end with the $appended bytes O_APPEND writes acknowledged"
# A file striped over both OSTs in 64 KiB units, its second stripe on the full OST: the 1 MiB
# write(2) the full OST refuses after its first bytes is short, ending where the refused piece
# begins, as on a local file system whose disk fills mid-write; the next one fails with ENOSPC,
# and the file holds exactly what was acknowledged. (The client's grant left on the full OST,
# and its last few blocks, may take a few writes whole first.)
"$LFS" setstripe -c 2 -S 64K -i 1 "$MOUNT/span" || fail "lfs setstripe -c 2 -S 64K -i 1"
[ "$("$LFS" getstripe -i "$MOUNT/span")" = 1 ] || fail "span's first stripe is not on OST 1"
python3 "$TEST_DIR/fill.py" "$MOUNT/span" $((64 << 20)) >"$TEST_DIR/span.out" 2>&1 ||
    fail "the spanning writer: $(cat "$TEST_DIR/span.out")"
read -r failure spanned sdigest closed short <"$TEST_DIR/span.out"
log "writes over a full OST and another: $failure after $spanned bytes, $short short write(s)"
[ "$failure" = ENOSPC ] && [ "$closed" = ok ] || fail "writes spanning the full OST: $(cat "$TEST_DIR/span.out")"
[ "$short" = 1 ] && [ $((spanned % (128 << 10))) = $((64 << 10)) ] ||
    fail "no short write(2) ending where a piece of the full OST began: $(cat "$TEST_DIR/span.out")"
[ "$(stat -c %s "$MOUNT/span")" = "$spanned" ] &&
    [ "$(sha256sum <"$MOUNT/span" | cut -d' ' -f1)" = "$sdigest" ] ||
    fail "span does not hold exactly the $spanned bytes write(2) acknowledged"
rm -f "$MOUNT/span"

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

# Grant: leave 48 MiB on OST 0 beyond the grant both mounts hold (each asked for it when it
# connected), cache 28 MiB on this mount, let a second mount write to it until ENOSPC.
rm "$MOUNT/again" || fail "rm again"
MNT2=$TEST_DIR/mnt2
mkdir -p "$MNT2"
trap 'umount "$MNT2" 2>/dev/null; stop_llmount' EXIT
"$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail "second mount"
avail=$("$LFS" df "$MOUNT" | awk '/OST:0/ { print $4 }')
granted=$("$LCTL" get_param -n "obdfilter.$FSNAME-OST0000.tot_granted")
count=$(( (avail * 1024 - granted - granted / 64) / 1048576 - 48 ))
"$LFS" setstripe -c 1 -i 0 "$MOUNT/filler" &&
    dd if=/dev/zero of="$MOUNT/filler" bs=1M count=$(( count > 0 ? count : 0 )) conv=fsync status=none ||
    fail "filling OST 0 to 48 MiB free beyond the grant (lfs df: $avail KiB available, $granted bytes granted)"
# What each side counts, in the log: for a failure's post-mortem.
grant_state() {
    log "$1: OST 0 $("$LFS" df "$MOUNT" | awk '/OST:0/ { print $4 }') KiB available;" \
        "$("$LCTL" get_param -n obdfilter.*.tot_granted 2>&1 | tr '\n' ' ')bytes granted (OST 0, 1);" \
        "clients hold $("$LCTL" get_param -n osc.*.cur_grant_bytes 2>&1 | tr '\n' ' ')"
}
grant_state "OST 0 filled"
for i in 1 2 3 4 5 6 7 8; do "$LFS" setstripe -c 1 -i 0 "$MOUNT/held$i" || fail "lfs setstripe held$i"; done
"$LFS" setstripe -c 1 -i 0 "$MNT2/race" || fail "lfs setstripe on the second mount"
# Writes 3.5 MiB to each file (held back in the client's cache: less than an RPC each), says
# so, waits for the go file, then closes them: prints each close's result and each file's sha256.
python3 - "$MOUNT" "$TEST_DIR/go" >"$TEST_DIR/held.out" 2>&1 <<'PY' &
import errno, hashlib, os, sys, time
mount, go = sys.argv[1:3]
fds, sums = [], []
for i in range(1, 9):
    fd, digest = os.open('%s/held%d' % (mount, i), os.O_WRONLY), hashlib.sha256()
    for _ in range(7):
        block = os.urandom(512 << 10)
        assert os.write(fd, block) == len(block)
        digest.update(block)
    fds.append(fd)
    sums.append(digest.hexdigest())
print('ready', flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
for i, fd in enumerate(fds, 1):
    try:
        os.close(fd)
        print('held%d ok %s' % (i, sums[i - 1]))
    except OSError as e:
        print('held%d %s %s' % (i, errno.errorcode.get(e.errno, str(e.errno)), sums[i - 1]))
PY
holder=$!
for _ in $(seq 300); do grep -q ready "$TEST_DIR/held.out" && break; sleep 0.1; done
grep -q ready "$TEST_DIR/held.out" || fail "the writer of cached data: $(cat "$TEST_DIR/held.out")"
grant_state "28 MiB cached"
python3 "$TEST_DIR/fill.py" "$MNT2/race" $((256 << 20)) >"$TEST_DIR/race.out" 2>&1 ||
    fail "the racing writer: $(cat "$TEST_DIR/race.out")"
grant_state "the racer stopped"
touch "$TEST_DIR/go"
wait "$holder"
read -r failure written digest closed _ <"$TEST_DIR/race.out"
log "the second mount's write(2) failed with $failure after $written bytes; close: $closed"
grep -c ' ok ' "$TEST_DIR/held.out" | grep -qx 8 ||
    fail "the first mount's cached writes were lost at close while the second mount wrote: $(grep -v ' ok ' "$TEST_DIR/held.out" | tr '\n' ' ')"
[ "$failure" = ENOSPC ] && [ "$closed" = ok ] || fail "the racing writer: $(cat "$TEST_DIR/race.out")"
[ "$(stat -c %s "$MNT2/race")" = "$written" ] &&
    [ "$(head -c "$written" "$MNT2/race" | sha256sum | cut -d' ' -f1)" = "$digest" ] ||
    fail "the racing writer's file does not hold the $written bytes write(2) acknowledged"
while read -r name _ sum; do
    [ "$(stat -c %s "$MOUNT/$name")" = $((3584 << 10)) ] && [ "$(sha256sum <"$MOUNT/$name" | cut -d' ' -f1)" = "$sum" ] ||
        fail "$name does not hold the bytes written to it"
done < <(grep '^held' "$TEST_DIR/held.out")
umount "$MNT2" || fail "umount of the second mount"
rm -f "$MOUNT"/held* "$MOUNT/filler" "$MOUNT/race" || fail "rm of the grant test's files"

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
llmount_start_mds >/dev/null || fail "the MDS did not start again on its full MDT"
rm -r "$MOUNT/many" || fail "rm -r of the files of the full MDT"
for i in $(seq 50); do echo "$i" >"$MOUNT/after$i" || fail "a create after the files were removed"; done
if grep -i "no space left" "$state/mds.log" >"$TEST_DIR/mds-enospc.out"; then
    fail "the MDS ran out of room for its own files: $(head -3 "$TEST_DIR/mds-enospc.out")"
fi
pass
