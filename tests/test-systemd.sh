#!/usr/bin/env bash
# make install / uninstall into a DESTDIR, systemd-analyze verify on every unit with its
# ExecStart found in that tree, and sd_notify: each server started with a fake NOTIFY_SOCKET
# sends READY=1 only once a client can connect (checked the moment READY=1 arrives), and
# STOPPING=1 on SIGTERM.
TEST_NET=${TEST_NET:-127.0.7}
TEST_PORT=${TEST_PORT:-19908}
. "$(dirname "$0")/test-framework.sh"
trap stop_and_unmount EXIT
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEST=$TEST_DIR/root

# --- make install / uninstall ----------------------------------------------------------------
make -s -C "$SRC" install DESTDIR="$DEST" LUSTRE_BIN="$LUSTRE_BIN" >"$TEST_DIR/install.log" 2>&1 \
    || fail "make install failed: $(tail -3 "$TEST_DIR/install.log")"
for f in usr/sbin/lctl usr/sbin/mkfs.lustre usr/sbin/tunefs.lustre usr/sbin/lustre-mds usr/sbin/lustre-oss \
         usr/bin/lfs sbin/mount.lustre lib/systemd/system/lustre-oss@.service \
         lib/systemd/system/lustre-mds@.service lib/systemd/system/lustre.target; do
    [ -e "$DEST/$f" ] || fail "make install did not install /$f"
done
for t in "$DEST"/usr/sbin/* "$DEST"/usr/bin/* "$DEST"/sbin/*; do
    [ -x "$t" ] || fail "$t is not executable"
    "$t" --help >/dev/null 2>&1 || fail "$(basename "$t") --help failed"
done
# Every ExecStart of every unit exists in the installed tree.
for unit in "$DEST"/lib/systemd/system/*.service; do
    exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
    [ -n "$exe" ] || fail "$(basename "$unit") has no ExecStart"
    [ -x "$DEST$exe" ] || fail "$(basename "$unit"): ExecStart $exe is not under DESTDIR"
done
log "make install: $(find "$DEST" -type f | wc -l) files, every ExecStart present"

# --- systemd-analyze verify --------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null; then
    log "systemd-analyze missing: installing Debian's systemd package"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; } \
        >"$TEST_DIR/apt.log" 2>&1; then
        log "SKIP systemd-analyze verify: apt cannot install systemd ($(tail -1 "$TEST_DIR/apt.log"))"
    fi
fi
if command -v systemd-analyze >/dev/null; then
    # The units name /usr/sbin/…: point them at the DESTDIR tree so verify checks those files.
    UNITS=$TEST_DIR/units
    mkdir -p "$UNITS"
    for u in "$DEST"/lib/systemd/system/*; do
        sed "s|/usr/sbin/|$DEST/usr/sbin/|g" "$u" >"$UNITS/$(basename "$u")"
    done
    cp "$UNITS/lustre-oss@.service" "$UNITS/lustre-oss@testfs-OST0000.service"
    cp "$UNITS/lustre-mds@.service" "$UNITS/lustre-mds@testfs-MDT0000.service"
    (cd "$UNITS" && systemd-analyze verify ./lustre-oss@.service ./lustre-mds@.service ./lustre.target \
        ./lustre-oss@testfs-OST0000.service ./lustre-mds@testfs-MDT0000.service) >"$TEST_DIR/verify.log" 2>&1 \
        || fail "systemd-analyze verify: $(cat "$TEST_DIR/verify.log")"
    [ -s "$TEST_DIR/verify.log" ] && fail "systemd-analyze verify warned: $(cat "$TEST_DIR/verify.log")"
    log "systemd-analyze verify: every unit clean"
fi

make -s -C "$SRC" uninstall DESTDIR="$DEST" >"$TEST_DIR/uninstall.log" 2>&1 || fail "make uninstall failed"
left=$(find "$DEST" -type f | wc -l)
[ "$left" = 0 ] || fail "make uninstall left $left files: $(find "$DEST" -type f | head -5)"

# --- sd_notify -----------------------------------------------------------------------------
# A fake systemd: a datagram socket; when READY=1 arrives it runs CHECK at once (before the
# daemon can do anything more that matters) and records its outcome.
notify_listener() {   # notify_listener NAME SOCKET CHECK...
    local name=$1 sock=$2; shift 2
    python3 - "$sock" "$TEST_DIR/$name.notify" "$@" <<'PY' &
import socket, subprocess, sys
path, out, check = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(120)
with open(out, "w", buffering=1) as log:
    while True:
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            log.write("TIMEOUT\n"); break
        for line in data.split("\n"):
            log.write(line + "\n")
        if "READY=1" in data.split("\n"):
            ok = subprocess.run(check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            log.write("CLIENT_AT_READY=" + ("ok" if ok else "failed") + "\n")
        if "STOPPING=1" in data.split("\n"):
            break
PY
    LISTENER_PID=$!
    STARTED_PIDS+=("$LISTENER_PID")
    for _ in $(seq 50); do [ -S "$sock" ] && return 0; sleep 0.1; done
    fail "notify listener did not start"
}

format_ost $((128 * 1024))
notify_listener oss "$TEST_DIR/oss-notify.sock" \
    "$LUSTRE_BIN/lctl" ping "$OSS_NID" 5 --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp"
# Started as the unit starts it: by label, the device found in ldev.conf (LUSTRE_LDEV_CONF
# points at a test copy; the unit reads /etc/lustre/ldev.conf).
printf '# local foreign label device\n%s - testfs-OST0000 %s\n' "$(hostname)" "$TARGET" >"$TEST_DIR/ldev.conf"
LUSTRE_LDEV_CONF=$TEST_DIR/ldev.conf NOTIFY_SOCKET=$TEST_DIR/oss-notify.sock start_daemon oss \
    "$LUSTRE_BIN/lustre-oss" --nid "$OSS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" --ldev testfs-OST0000
OSS_PID=$LAST_PID
wait_for_log oss "serving testfs-OST0000 on $OSS_NID"
for _ in $(seq 100); do grep -q CLIENT_AT_READY "$TEST_DIR/oss.notify" 2>/dev/null && break; sleep 0.1; done
cat "$TEST_DIR/oss.notify"
assert_contains "$TEST_DIR/oss.notify" "^READY=1$"
assert_contains "$TEST_DIR/oss.notify" "^STATUS=serving testfs-OST0000"
assert_contains "$TEST_DIR/oss.notify" "^CLIENT_AT_READY=ok$"
kill -TERM "$OSS_PID"
for _ in $(seq 100); do alive "$OSS_PID" || break; sleep 0.1; done
for _ in $(seq 50); do alive "$LISTENER_PID" || break; sleep 0.1; done
assert_contains "$TEST_DIR/oss.notify" "^STOPPING=1$"

# The MDS (MGS + MDT) the same way.
if [ -x "$LUSTRE_BIN/lustre-mds" ]; then
    MDT=$TEST_DIR/mdt
    mkdir -p "$MDT"
    "$LUSTRE_BIN/mkfs.lustre" --mgs --mdt --fsname=testfs --index=0 --backfs-dir="$MDT" --force-backfs \
        >"$TEST_DIR/mkfs-mdt.log" 2>&1 || fail "mkfs.lustre --mgs --mdt failed"
    MDS_NID=$TEST_NET.1@tcp
    notify_listener mds "$TEST_DIR/mds-notify.sock" \
        "$LUSTRE_BIN/lctl" ping "$MDS_NID" 5 --accept-port "$TEST_PORT" --source "$TEST_NET.10@tcp"
    printf '%s - testfs-MDT0000 %s\n' "$(hostname)" "$MDT" >>"$TEST_DIR/ldev.conf"
    LUSTRE_LDEV_CONF=$TEST_DIR/ldev.conf NOTIFY_SOCKET=$TEST_DIR/mds-notify.sock start_daemon mds \
        "$LUSTRE_BIN/lustre-mds" --nid "$MDS_NID" --accept-port "$TEST_PORT" --run-dir "$RUN_DIR" --ldev testfs-MDT0000
    MDS_PID=$LAST_PID
    wait_for_log mds "serving testfs-MDT0000" 60
    for _ in $(seq 100); do grep -q CLIENT_AT_READY "$TEST_DIR/mds.notify" 2>/dev/null && break; sleep 0.1; done
    cat "$TEST_DIR/mds.notify"
    assert_contains "$TEST_DIR/mds.notify" "^READY=1$"
    assert_contains "$TEST_DIR/mds.notify" "^CLIENT_AT_READY=ok$"
    kill -TERM "$MDS_PID"
    for _ in $(seq 100); do alive "$MDS_PID" || break; sleep 0.1; done
    assert_contains "$TEST_DIR/mds.notify" "^STOPPING=1$"
else
    fail "no lustre-mds in $LUSTRE_BIN"
fi
pass
