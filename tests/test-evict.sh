#!/usr/bin/env bash
# Eviction: a client that dies without unmounting (its mount.lustre SIGKILLed) is evicted by the
# MDS and the OSSs once they have not heard from it for one and a half obd_timeouts (timeout=2
# here: 3 s), and what it held is released: its grant on the OSTs, and its open files on the
# MDS (a file it held open after unlinking it is destroyed, objects and all). The other mount,
# idle meanwhile, pings its servers and is not evicted; then, unused for its OSCs' idle_timeout,
# it disconnects from the OSTs, which free its grant, and connects again at its next I/O.
TEST_NET=${TEST_NET:-127.0.6}
TEST_PORT=${TEST_PORT:-19906}
. "$(dirname "$0")/test-framework.sh"
start_llmount
LFS=$LUSTRE_BIN/lfs
MNT2=$TEST_DIR/mnt2
mkdir -p "$MNT2"
trap 'kill -KILL "${holder:-}" 2>/dev/null; umount -l "$MNT2" 2>/dev/null; stop_llmount' EXIT
"$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail "second mount"
client2=$(pgrep -f "mount.lustre .*$MNT2" | head -1)
[ -n "$client2" ] || fail "no mount.lustre serving $MNT2"
"$LCTL" set_param timeout=2 >/dev/null || fail "lctl set_param timeout=2"
[ "$("$LCTL" get_param -n timeout | sort -u)" = 2 ] || fail "timeout is not 2 in every daemon: $("$LCTL" get_param timeout)"

exports() { "$LCTL" get_param -n "obdfilter.$FSNAME-OST000$1.num_exports"; }
granted() { "$LCTL" get_param -n "obdfilter.$FSNAME-OST000$1.tot_granted"; }
used() { "$LFS" df "$MOUNT" | awk '/OST:/ { used += $3 } END { print used }'; }
# wait_exports N: waits up to 15 s until both OSTs count N exports; false if they do not.
wait_exports() {
    for _ in $(seq 150); do
        [ "$(exports 0)" = "$1" ] && [ "$(exports 1)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
for ost in 0 1; do
    # The MDS's OSP and the two mounts.
    [ "$(exports $ost)" = 3 ] || fail "OST $ost has $(exports $ost) exports, not 3"
done
before=$(used)

# Mount 2 writes 16 MiB to a file striped over both OSTs, keeps it open, unlinks it.
"$LFS" setstripe -c 2 "$MNT2/held" || fail "lfs setstripe held"
python3 - "$MNT2/held" >"$TEST_DIR/holder.out" 2>&1 <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, os.urandom(16 << 20))
os.fsync(fd)
os.unlink(sys.argv[1])
print('ready', flush=True)
time.sleep(3600)
PY
holder=$!
for _ in $(seq 300); do grep -q ready "$TEST_DIR/holder.out" && break; sleep 0.1; done
grep -q ready "$TEST_DIR/holder.out" || fail "the holder: $(cat "$TEST_DIR/holder.out")"
held=$(used)
[ "$held" -ge $((before + 15 * 1024)) ] || fail "16 MiB written and held open, OSTs' used $before -> $held KiB"
granted0=$(granted 0)
granted1=$(granted 1)

# Mount 2's node dies.
kill -KILL "$client2"
kill -KILL "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
umount -l "$MNT2" 2>/dev/null
wait_exports 2 || fail "the dead client is not evicted after 15 s: OST exports $(exports 0), $(exports 1)"
log "evicted: OST exports $(exports 0), $(exports 1); grant $granted0, $granted1 -> $(granted 0), $(granted 1) bytes"
[ "$(granted 0)" -lt "$granted0" ] && [ "$(granted 1)" -lt "$granted1" ] ||
    fail "the dead client's grant is still held: $(granted 0), $(granted 1) bytes (were $granted0, $granted1)"
grep -q "haven't heard from client" "$TEST_DIR/lustre-$FSNAME/mds.log" || fail "the MDS did not evict the dead client"
# Its open file, unlinked, is closed by the eviction and destroyed, objects and all.
for _ in $(seq 100); do
    [ "$(used)" -le $((before + 1024)) ] && break
    sleep 0.1
done
[ "$(used)" -le $((before + 1024)) ] ||
    fail "the dead client's open unlinked file was not destroyed: OSTs' used $before -> $held -> $(used) KiB"

# Mount 1, idle since before the eviction (pings only), was not evicted: its servers still count
# it, and it works on the same connections.
[ "$(exports 0)" = 2 ] && [ "$(exports 1)" = 2 ] || fail "mount 1 was evicted: OST exports $(exports 0), $(exports 1)"
head -c $((4 << 20)) /dev/urandom >"$TEST_DIR/after.ref"
cp "$TEST_DIR/after.ref" "$MOUNT/after" && cmp "$MOUNT/after" "$TEST_DIR/after.ref" || fail "mount 1 after the eviction"
grep -q "Connection restored" "$TEST_DIR/lustre-$FSNAME/client.log" && fail "mount 1 had to reconnect"

# Idle disconnect (osc.*.idle_timeout, 20 s by default; 2 here): mount 1, unused, leaves both
# OSTs (once they said its writes are committed), which free its export and its grant; its next
# I/O connects again, quietly.
"$LCTL" set_param "osc.$FSNAME-OST*.idle_timeout=2" >/dev/null || fail "lctl set_param osc.*.idle_timeout=2"
wait_exports 1 || fail "mount 1 did not go idle: OST exports $(exports 0), $(exports 1)"
states=$("$LCTL" get_param -n "osc.$FSNAME-OST*-osc-[0-9a-f]*.import" | awk '/state:/ { print $2 }' | sort -u | tr '\n' ' ')
[ "$states" = "IDLE " ] || fail "idle OSC imports are in states $states"
[ "$(granted 0)" = 0 ] && [ "$(granted 1)" = 0 ] || fail "idle mount 1 still holds grant: $(granted 0), $(granted 1) bytes"
log "mount 1 idle: OST exports $(exports 0), $(exports 1), grant $(granted 0), $(granted 1) bytes"
cmp "$MOUNT/after" "$TEST_DIR/after.ref" && cp "$TEST_DIR/after.ref" "$MOUNT/again" && cmp "$MOUNT/again" "$TEST_DIR/after.ref" ||
    fail "mount 1 after going idle"
[ "$(exports 0)" = 2 ] && [ "$(exports 1)" = 2 ] || fail "mount 1 back from idle: OST exports $(exports 0), $(exports 1)"
grep -q "Connection restored" "$TEST_DIR/lustre-$FSNAME/client.log" && fail "an idle reconnect was logged as a lost connection"
pass
