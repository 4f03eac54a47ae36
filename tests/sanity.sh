#!/usr/bin/env bash
# sanity.sh: the filesystem as a shell user sees it, through a real mount.lustre mount of a
# filesystem started by llmount.sh (MDS + 2 OSSs on 127.0.5.x, port 19995, its own mount point):
# namespace operations and their errors (also as an unprivileged user), data at random offsets
# across stripe boundaries for stripe counts 1, 2 and -1 checked against a local reference,
# `lfs getstripe` checked against the OST objects on the targets, a sparse 5 GiB file, `cp -a` of a
# source tree, tar -x then at once tar -c, an open-unlinked file, two mounts of one filesystem, a `-o direct_io` mount, SEEK_DATA/SEEK_HOLE against ext4, writes
# that bypass the page cache (`direct_writes`),
# statahead of counting names across two mounts, lookups of names known absent answered locally,
# `ls -l` without a getxattr RPC per file, real tools (rsync with and without xattrs, dbench), fsx.py's random
# writes/truncates/mmap writes/punches/reopens against a reference, MDS restarts, a power loss and
# a restore from an older backup with clients mounted, and umount with dirty data.
# Each check is a function; the first failure stops the test with its message and the logs.
TEST_NET=${TEST_NET:-127.0.5}
TEST_PORT=${TEST_PORT:-19995}
. "$(dirname "$0")/test-framework.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
SRC_TREE=${SRC_TREE:-$HERE/../fs}
export FSNAME=sanity MDSCOUNT=1 OSTCOUNT=2 TMP=$TEST_DIR MOUNT=$TEST_DIR/mnt NETADDR=$TEST_NET PORT=$TEST_PORT
export MDSSIZE=$((2 * 1024 * 1024)) OSTSIZE=$((3 * 1024 * 1024)) LUSTRE_BIN
MNT=$MOUNT
MNT2=$TEST_DIR/mnt2
LFS=$LUSTRE_BIN/lfs
STATE=$TEST_DIR/lustre-$FSNAME
# llmount.sh puts every daemon's admin socket here, so lctl reaches this filesystem and no other.
export LUSTRE_RUN_DIR=$STATE/run
USER_ID=${SANITY_UID:-1000}

INSTALLED_HELPER=""
STOPPED_CLIENT=""   # a mount daemon a check holds stopped (SIGSTOP)
HELD_OPEN=()        # processes of a check holding files open on a mount
sanity_cleanup() {
    [ -n "$INSTALLED_HELPER" ] && rm -f "$INSTALLED_HELPER"
    [ -n "$STOPPED_CLIENT" ] && kill -CONT "$STOPPED_CLIENT" 2>/dev/null
    # A failed check leaves them waiting: they would keep their mounts busy.
    for pid in "${HELD_OPEN[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    # The extra mounts of the checks (a failure may leave one up; unmounting ends its daemon).
    for extra in "$MNT2" "$TEST_DIR/mnt3" "$TEST_DIR/mnt4" "$TEST_DIR/mnt5"; do
        mountpoint -q "$extra" 2>/dev/null && { umount "$extra" || umount -l "$extra"; }
    done
    bash "$HERE/llmountcleanup.sh" >/dev/null 2>&1
    cleanup
}
trap sanity_cleanup EXIT

fail_with_logs() {
    cp "$STATE"/*.log "$TEST_DIR"/ 2>/dev/null
    fail "$@"
}

# expect_error "MESSAGE" CMD...: CMD must fail and say MESSAGE (the errno's text) on stderr.
expect_error() {
    local message=$1; shift
    local out
    if out=$("$@" 2>&1); then fail_with_logs "'$*' succeeded; expected '$message'"; fi
    [[ "$out" == *"$message"* ]] || fail_with_logs "'$*' said '$out'; expected '$message'"
}

# renameat2(OLD, NEW, FLAGS) from python: 1 is RENAME_NOREPLACE, 2 RENAME_EXCHANGE; the errno's
# text on failure, as a tool prints it.
RENAME2='import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3])) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))'

as_user() { setpriv --reuid="$USER_ID" --regid="$USER_ID" --clear-groups "$@"; }

check_mounted() { mountpoint -q "$MNT" || fail_with_logs "$MNT is no longer mounted"; }

run_check() {
    local name=$1
    log "--- $name"
    "$name"
    check_mounted
    log "ok $name"
}

# --- checks --------------------------------------------------------------------

test_namespace() {
    local d=$MNT/ns
    mkdir "$d" || fail_with_logs "mkdir"
    echo data >"$d/file" || fail_with_logs "create"
    [ "$(cat "$d/file")" = data ] || fail_with_logs "read back"
    mkdir -p "$d/a/b/c" || fail_with_logs "mkdir -p"
    mv "$d/file" "$d/a/renamed" || fail_with_logs "rename"
    [ -e "$d/file" ] && fail_with_logs "the old name survived the rename"
    [ "$(cat "$d/a/renamed")" = data ] || fail_with_logs "content after rename"
    ln "$d/a/renamed" "$d/hard" || fail_with_logs "link"
    [ "$(stat -c %h "$d/hard")" = 2 ] || fail_with_logs "nlink after link is $(stat -c %h "$d/hard")"
    [ "$(stat -c %i "$d/hard")" = "$(stat -c %i "$d/a/renamed")" ] || fail_with_logs "hard link has another inode"
    ln -s a/renamed "$d/sym" || fail_with_logs "symlink"
    [ "$(readlink "$d/sym")" = a/renamed ] || fail_with_logs "readlink"
    [ "$(cat "$d/sym")" = data ] || fail_with_logs "read through the symlink"
    chmod 640 "$d/hard" && [ "$(stat -c %a "$d/a/renamed")" = 640 ] || fail_with_logs "chmod"
    touch -d '2001-02-03 04:05:06' "$d/a/b" && [ "$(stat -c %Y "$d/a/b")" = 981173106 ] || fail_with_logs "utimes of a directory"
    python3 -c "import os, sys; os.utime(sys.argv[1], (981173106, 981173106))" "$d/hard" \
        && [ "$(stat -c %X:%Y "$d/hard")" = 981173106:981173106 ] || fail_with_logs "utimes of a file"
    truncate -s 3 "$d/hard" && [ "$(cat "$d/hard")" = dat ] || fail_with_logs "truncate"
    mkfifo "$d/fifo" && [ -p "$d/fifo" ] || fail_with_logs "mkfifo"
    [ "$(ls "$d" | tr '\n' ' ')" = "a fifo hard sym " ] || fail_with_logs "ls shows '$(ls "$d" | tr '\n' ' ')'"
    # "." and ".." are listed (ls -a), with the directory's and its parent's inode numbers.
    [ "$(ls -a "$d/a" | grep -cx '\.\.\?')" = 2 ] || fail_with_logs "ls -a shows '$(ls -a "$d/a" | tr '\n' ' ')'"
    [ "$(ls -ai "$d/a" | awk '$2 == "." {print $1}')" = "$(stat -c %i "$d/a")" ] || fail_with_logs "inode of . in ls -ai"
    [ "$(ls -ai "$d/a" | awk '$2 == ".." {print $1}')" = "$(stat -c %i "$d")" ] || fail_with_logs "inode of .. in ls -ai"
    # Errors, as the tools print them.
    expect_error "File exists" mkdir "$d/a"
    expect_error "File exists" ln "$d/hard" "$d/sym"
    expect_error "No such file or directory" rm "$d/nothing"
    expect_error "No such file or directory" cat "$d/nothing"
    expect_error "Directory not empty" rmdir "$d/a"
    expect_error "Not a directory" mkdir "$d/hard/sub"
    expect_error "Is a directory" rm "$d/a"
    expect_error "File name too long" touch "$d/$(printf 'x%.0s' $(seq 256))"
    # mv refuses this itself; rename(2) must too.
    expect_error "Invalid argument" python3 -c "import os, sys; os.rename(sys.argv[1], sys.argv[2])" "$d/a" "$d/a/b/inside"
    # renameat2: RENAME_NOREPLACE onto a free name renames, onto a taken one is EEXIST and
    # changes nothing; RENAME_EXCHANGE is not supported.
    echo one >"$d/n1" && echo two >"$d/n2" || fail_with_logs "create n1, n2"
    python3 -c "$RENAME2" "$d/n1" "$d/n3" 1 || fail_with_logs "RENAME_NOREPLACE onto a free name"
    [ ! -e "$d/n1" ] && [ "$(cat "$d/n3")" = one ] || fail_with_logs "RENAME_NOREPLACE did not move n1 to n3"
    expect_error "File exists" python3 -c "$RENAME2" "$d/n3" "$d/n2" 1
    [ "$(cat "$d/n3")$(cat "$d/n2")" = onetwo ] || fail_with_logs "a refused RENAME_NOREPLACE changed a file"
    expect_error "Invalid argument" python3 -c "$RENAME2" "$d/n3" "$d/n2" 2
    rm "$d/n2" "$d/n3" || fail_with_logs "rm n2 n3"
    rm "$d/hard" "$d/sym" "$d/fifo" "$d/a/renamed" && rm -r "$d" || fail_with_logs "cleanup by rm -r"
    [ -e "$d" ] && fail_with_logs "$d survived rm -r"
    return 0
}

test_permissions() {
    id "$USER_ID" >/dev/null 2>&1 || log "(uid $USER_ID has no passwd entry: fine for setpriv)"
    local d=$MNT/perm
    as_user stat "$MNT" >/dev/null || fail_with_logs "uid $USER_ID cannot reach $MNT"
    mkdir -m 755 "$d" && echo secret >"$d/private" && chmod 600 "$d/private" || fail_with_logs "set-up"
    expect_error "Permission denied" as_user touch "$d/new"
    expect_error "Permission denied" as_user mkdir "$d/newdir"
    expect_error "Permission denied" as_user cat "$d/private"
    as_user test -r "$d/private" && fail_with_logs "access(2) lets the user read a 0600 root file"
    as_user test -w "$d" && fail_with_logs "access(2) lets the user write a 0755 root directory"
    as_user test -x "$d" || fail_with_logs "access(2) refuses search of a 0755 directory"
    expect_error "Permission denied" as_user rm -f "$d/private"
    expect_error "Operation not permitted" as_user chmod 777 "$d/private"
    expect_error "Operation not permitted" as_user chown "$USER_ID" "$d/private"
    chmod 1777 "$d" || fail_with_logs "chmod 1777"
    as_user sh -c "echo mine >'$d/user-file'" || fail_with_logs "the user cannot create in a 1777 directory"
    [ "$(stat -c %u:%g "$d/user-file")" = "$USER_ID:$USER_ID" ] || fail_with_logs "owner is $(stat -c %u:%g "$d/user-file")"
    as_user chmod 600 "$d/user-file" || fail_with_logs "the owner cannot chmod"
    expect_error "Operation not permitted" as_user rm -f "$d/private"   # sticky directory
    as_user rm "$d/user-file" || fail_with_logs "the owner cannot remove their file"
    # POSIX: the open(O_CREAT) that makes a file gets the access it asked for, whatever mode the
    # new file has (cp of a read-only file; git writes its objects 0444); a later open is checked.
    as_user "$(command -v perl)" -e 'use Fcntl; sysopen(my $f, $ARGV[0], O_WRONLY|O_CREAT|O_EXCL, 0444) or die "create: $!\n";
        syswrite($f, "ro\n") == 3 or die "write: $!\n"; close($f) or die "close: $!\n"' "$d/read-only" \
        || fail_with_logs "the user cannot write the 0444 file their open(O_CREAT) made"
    [ "$(cat "$d/read-only")" = ro ] || fail_with_logs "the 0444 file holds '$(cat "$d/read-only")'"
    [ "$(stat -c %a "$d/read-only")" = 444 ] || fail_with_logs "the new file's mode is $(stat -c %a "$d/read-only")"
    expect_error "Permission denied" as_user sh -c "echo more >>'$d/read-only'"
    # A directory the user may search but not read: its names resolve, its listing is refused at
    # opendir, as on a local filesystem.
    mkdir -m 711 "$d/search-only" && : >"$d/search-only/known" || fail_with_logs "set-up of search-only"
    as_user stat "$d/search-only/known" >/dev/null || fail_with_logs "the user cannot reach a name in a 0711 directory"
    expect_error "cannot open directory" as_user ls "$d/search-only"
    rm -r "$d"
}

# Setuid and setgid bits go as on a local filesystem: a chown drops them (setgid only with group
# execute), a write, a truncate and an O_TRUNC open by another user who may write the file drop
# them and succeed, root's write keeps them. The writer is not the owner, so a mode change in the
# same setattr (what the kernel sends unless the filesystem drops the bits itself) was EPERM.
test_setid_bits() {
    local d=$MNT/setid
    mkdir -m 777 "$d" || fail_with_logs "set-up"
    mode() { stat -c %A "$1"; }
    touch "$d/chown" && chmod 6755 "$d/chown" && chown "$USER_ID" "$d/chown" || fail_with_logs "chown of a 6755 file"
    [ "$(mode "$d/chown")" = -rwxr-xr-x ] || fail_with_logs "after chown: $(mode "$d/chown"), not -rwxr-xr-x"
    touch "$d/sgid" && chmod 2745 "$d/sgid" && chown "$USER_ID" "$d/sgid" || fail_with_logs "chown of a 2745 file"
    [ "$(mode "$d/sgid")" = -rwxr-Sr-x ] || fail_with_logs "setgid without group execute dropped by chown: $(mode "$d/sgid")"
    echo data >"$d/append" && chmod 6777 "$d/append" || fail_with_logs "set-up of append"
    as_user sh -c "echo more >>'$d/append'" || fail_with_logs "the user cannot append to a 6777 file"
    [ "$(mode "$d/append")" = -rwxrwxrwx ] || fail_with_logs "after the user's append: $(mode "$d/append")"
    echo data >"$d/rdwr" && chmod 6777 "$d/rdwr" || fail_with_logs "set-up of rdwr"
    as_user /usr/bin/python3 -c "import os, sys; f = os.open(sys.argv[1], os.O_RDWR); os.write(f, b'X'); os.close(f)" "$d/rdwr" \
        || fail_with_logs "the user cannot write a 6777 file through O_RDWR"
    [ "$(cat "$d/rdwr")" = Xata ] && [ "$(mode "$d/rdwr")" = -rwxrwxrwx ] || fail_with_logs "rdwr: $(mode "$d/rdwr") '$(cat "$d/rdwr")'"
    echo data >"$d/truncate" && chmod 6777 "$d/truncate" || fail_with_logs "set-up of truncate"
    as_user truncate -s 2 "$d/truncate" || fail_with_logs "the user cannot truncate a 6777 file"
    [ "$(stat -c %s "$d/truncate")" = 2 ] && [ "$(mode "$d/truncate")" = -rwxrwxrwx ] \
        || fail_with_logs "truncate: $(mode "$d/truncate") size $(stat -c %s "$d/truncate")"
    echo data >"$d/otrunc" && chmod 4766 "$d/otrunc" || fail_with_logs "set-up of otrunc"
    as_user sh -c "echo new >'$d/otrunc'" || fail_with_logs "the user cannot rewrite a 4766 file"
    [ "$(mode "$d/otrunc")" = -rwxrw-rw- ] || fail_with_logs "after the user's O_TRUNC open: $(mode "$d/otrunc")"
    touch "$d/root" && chmod 6755 "$d/root" && echo root >>"$d/root" || fail_with_logs "root's write"
    [ "$(mode "$d/root")" = -rwsr-sr-x ] || fail_with_logs "root's write dropped the bits: $(mode "$d/root")"
    mkdir "$d/dir" && chmod 2755 "$d/dir" && chown "$USER_ID" "$d/dir" || fail_with_logs "chown of a setgid directory"
    [ "$(mode "$d/dir")" = drwxr-sr-x ] || fail_with_logs "chown dropped a directory's setgid: $(mode "$d/dir")"
    touch "$d/other" && chmod 4666 "$d/other" || fail_with_logs "set-up of other"
    expect_error "Operation not permitted" as_user chmod 777 "$d/other"
    rm -r "$d"
}

# Random writes at offsets and sizes that cross stripe boundaries, the same on a local reference
# file, then compared byte for byte (read back through a fresh open after caches are dropped).
random_io_check() { # count
    local count=$1 f=$MNT/stripe$1 ref=$TEST_DIR/ref$1
    "$LFS" setstripe -c "$count" -S 64K "$f" || fail_with_logs "lfs setstripe -c $count"
    python3 - "$f" "$ref" <<'PY' || fail_with_logs "random writes (stripe count $count)"
import os, random, sys
random.seed(int.from_bytes(os.urandom(4), 'little'))
fs, ref = sys.argv[1], sys.argv[2]
a = os.open(fs, os.O_RDWR)
b = os.open(ref, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
stripe = 64 << 10
for i in range(120):
    # Offsets near stripe boundaries half the time; sizes from a byte to several stripes.
    off = random.randrange(0, 48) * stripe + random.choice([0, random.randrange(stripe), stripe - random.randrange(1, 64)])
    size = random.choice([1, 7, 4096, stripe - 1, stripe + 1, random.randrange(1, 4 * stripe)])
    data = os.urandom(size)
    assert os.pwrite(a, data, off) == size
    os.pwrite(b, data, off)
    if i % 40 == 39:
        os.ftruncate(a, off + size // 2); os.ftruncate(b, off + size // 2)
os.fsync(a)
os.close(a); os.close(b)
PY
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
    cmp "$f" "$ref" || fail_with_logs "stripe count $count: the file differs from the reference"
    local want=$count
    [ "$count" = -1 ] && want=$OSTCOUNT
    [ "$("$LFS" getstripe -c "$f")" = "$want" ] || fail_with_logs "stripe count $count: getstripe -c says $("$LFS" getstripe -c "$f")"
}
test_data_stripe_1() { random_io_check 1; }
test_data_stripe_2() { random_io_check 2; }
test_data_stripe_all() { random_io_check -1; }

# Reassembles a file from its OST objects on the targets' backing store, using the layout lfs
# getstripe prints: proves getstripe tells where the bytes are.
test_getstripe_matches_objects() {
    local f=$MNT/stripe2 out=$TEST_DIR/reassembled
    [ -f "$f" ] || random_io_check 2
    sync
    "$LFS" getstripe "$f" >"$TEST_DIR/getstripe.out" || fail_with_logs "lfs getstripe"
    python3 - "$TEST_DIR/getstripe.out" "$STATE" "$FSNAME" "$(stat -c %s "$f")" "$out" <<'PY' || fail_with_logs "reassembly from the OST objects"
import os, sys, glob
text, state, fsname, size, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
lines = open(text).read().splitlines()
field = {l.split(':')[0].strip(): l.split(':', 1)[1].strip() for l in lines if l.startswith('lmm_')}
stripe_size, count = int(field['lmm_stripe_size']), int(field['lmm_stripe_count'])
objects = [l.split() for l in lines if l.startswith('\t') and l.split()[0].isdigit()]
assert len(objects) == count, (objects, count)
def object_path(ost, oid, seq):
    name = '%s-OST%04x' % (fsname, ost)
    for root in glob.glob('%s/run/mnt/%s' % (state, name)) + glob.glob('%s/ost%d' % (state, ost + 1)):
        for p in glob.glob('%s/**/O/%d/d%d/%d' % (root, seq, oid % 32, oid), recursive=True) + \
                 ['%s/O/%d/d%d/%d' % (root, seq, oid % 32, oid)]:
            if os.path.exists(p):
                return p
    raise SystemExit('object %d of OST %d not found on the backing store' % (oid, ost))
stripes = [open(object_path(int(o[0]), int(o[1]), int(o[3])), 'rb').read() for o in objects]
result = bytearray()
chunk = 0
while len(result) < size:
    s = stripes[chunk % count]
    off = (chunk // count) * stripe_size
    piece = s[off:off + stripe_size]
    piece += bytes(stripe_size - len(piece))     # a hole or the object's short tail reads as zeros
    result += piece
    chunk += 1
open(out, 'wb').write(bytes(result[:size]))
PY
    cmp "$f" "$out" || fail_with_logs "the bytes on the OSTs are not where lfs getstripe says"
}

test_sparse_5g() {
    local f=$MNT/sparse
    truncate -s 5G "$f" || fail_with_logs "truncate -s 5G"
    printf 'middle' | dd of="$f" bs=1 seek=$((4 << 30)) conv=notrunc status=none || fail_with_logs "write at 4 GiB"
    printf 'end' | dd of="$f" bs=1 seek=$(((5 << 30) - 3)) conv=notrunc status=none || fail_with_logs "write at the end"
    [ "$(stat -c %s "$f")" = $((5 << 30)) ] || fail_with_logs "size is $(stat -c %s "$f")"
    [ "$(dd if="$f" bs=1 skip=$((4 << 30)) count=6 status=none)" = middle ] || fail_with_logs "read at 4 GiB"
    [ "$(tail -c 3 "$f")" = end ] || fail_with_logs "read at the end"
    [ "$(dd if="$f" bs=1M skip=2048 count=1 status=none | tr -d '\0' | wc -c)" = 0 ] || fail_with_logs "a hole is not zeros"
    local used=$(($(stat -c %b "$f") * 512))
    [ "$used" -lt $((64 << 20)) ] || fail_with_logs "a sparse 5 GiB file uses $used bytes"
    rm "$f"
}

test_cp_tree() {
    [ -d "$SRC_TREE" ] || fail "no source tree $SRC_TREE"
    cp -a "$SRC_TREE" "$MNT/tree" || fail_with_logs "cp -a"
    diff -r "$SRC_TREE" "$MNT/tree" >"$TEST_DIR/diff.out" || fail_with_logs "diff -r: $(head -5 "$TEST_DIR/diff.out")"
    local a b
    a=$(cd "$SRC_TREE" && find . -printf '%p %m\n' | sort | md5sum)
    b=$(cd "$MNT/tree" && find . -printf '%p %m\n' | sort | md5sum)
    [ "$a" = "$b" ] || fail_with_logs "cp -a did not keep names and modes"
    rm -r "$MNT/tree" || fail_with_logs "rm -r of the copy"
}

# tar -x of a tree into the mount, then at once what tar -c, du and backup tools see: every
# file's lstat before reading it equals its fstat after (tar -c says "file changed as we read it"
# otherwise: a close recorded the size after tar's setattrs and moved ctime, or the kernel kept
# the blocks of a setattr made before the writes reached the OSTs' disks), and tar -c succeeds.
test_tar_roundtrip() {
    [ -d "$SRC_TREE" ] || fail "no source tree $SRC_TREE"
    tar -cf "$TEST_DIR/tree.tar" -C "$SRC_TREE/.." "$(basename "$SRC_TREE")" || fail "tar -c of the source tree"
    mkdir "$MNT/tar" && tar -xf "$TEST_DIR/tree.tar" -C "$MNT/tar" || fail_with_logs "tar -x into the mount"
    python3 - "$MNT/tar" <<'PY' || fail_with_logs "files changed as they were read"
import os, sys
changed, count = [], 0
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(root, name)
        before = os.lstat(path)
        fd = os.open(path, os.O_RDONLY)
        while os.read(fd, 1 << 20):
            pass
        after = os.fstat(fd)
        os.close(fd)
        count += 1
        diff = [k for k in ('st_size', 'st_blocks', 'st_mtime_ns', 'st_ctime_ns', 'st_nlink')
                if getattr(before, k) != getattr(after, k)]
        if diff:
            changed.append('%s: %s' % (path, ', '.join('%s %d -> %d' % (k, getattr(before, k), getattr(after, k)) for k in diff)))
if changed:
    sys.exit('%d of %d files changed as they were read, e.g.\n%s' % (len(changed), count, '\n'.join(changed[:5])))
PY
    rm -r "$MNT/tar"; mkdir "$MNT/tar" && tar -xf "$TEST_DIR/tree.tar" -C "$MNT/tar" || fail_with_logs "tar -x into the mount"
    tar -cf "$TEST_DIR/again.tar" -C "$MNT/tar" . 2>"$TEST_DIR/tar.err" || fail_with_logs "tar -c right after tar -x: $(head -3 "$TEST_DIR/tar.err")"
    rm -r "$MNT/tar" "$TEST_DIR/tree.tar" "$TEST_DIR/again.tar"
}

test_open_unlinked() {
    python3 - "$MNT/unlinked" <<'PY' || fail_with_logs "open-unlinked file"
import os, sys
p = sys.argv[1]
data = os.urandom(3 << 20)
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, data)
os.unlink(p)
assert not os.path.exists(p), 'name survived unlink'
assert os.pread(fd, len(data), 0) == data, 'contents changed after unlink'
os.pwrite(fd, b'more', len(data))
assert os.pread(fd, 4, len(data)) == b'more'
os.close(fd)
PY
}

test_two_mounts() {
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    head -c 2500000 /dev/urandom >"$TEST_DIR/two.ref"
    cp "$TEST_DIR/two.ref" "$MNT/from1" || fail_with_logs "write on mount 1"
    mkdir "$MNT2/dir2" && cp "$TEST_DIR/two.ref" "$MNT2/dir2/from2" || fail_with_logs "write on mount 2"
    # FUSE sends the release after close(2) returns and the kernel caches attributes for a
    # second (there are no DLM locks to revoke them): give both time to pass.
    sleep 1.5
    cmp "$MNT2/from1" "$TEST_DIR/two.ref" || fail_with_logs "mount 2 does not see mount 1's file"
    cmp "$MNT/dir2/from2" "$TEST_DIR/two.ref" || fail_with_logs "mount 1 does not see mount 2's file"
    rm "$MNT2/from1" && sleep 1.5
    [ -e "$MNT/from1" ] && fail_with_logs "mount 1 still sees a file removed on mount 2"
    # RENAME_NOREPLACE is the MDS's to decide: mount 1 lists a directory (its names are then
    # known for the entry timeout), mount 2 makes "taken" there, and mount 1's no-replace rename
    # onto it reaches the MDS (mount 1's kernel believes the name free), which must refuse it
    # and keep mount 2's file.
    mkdir "$MNT/nr" && echo mine >"$MNT/nr/mine" && ls "$MNT/nr" >/dev/null || fail_with_logs "set up nr"
    echo theirs >"$MNT2/nr/taken" || fail_with_logs "create taken on mount 2"
    expect_error "File exists" python3 -c "$RENAME2" "$MNT/nr/mine" "$MNT/nr/taken" 1
    [ "$(cat "$MNT2/nr/taken")" = theirs ] && [ "$(cat "$MNT/nr/mine")" = mine ] \
        || fail_with_logs "a RENAME_NOREPLACE onto another mount's new file replaced it"
    rm -r "$MNT/nr" || fail_with_logs "rm -r nr"
    umount "$MNT2" || fail_with_logs "umount of the second mount"
    rm -r "$MNT/dir2"
}

# Statahead of counting names (llite.*.statahead_max): a second mount stats f000..f059 made on
# the first and finds each one, mostly from lookups it sent ahead (statahead_stats says so); a
# name it looked up ahead as missing and the first mount then creates is found once the
# statahead lifetime (the 1 s entry timeout) has passed, so another client's create is never
# hidden for longer than the kernel's own entry cache would hide it.
test_statahead() {
    local d=$MNT/sa i
    mkdir "$d" || fail_with_logs "mkdir"
    for i in $(seq -w 0 59); do : >"$d/f0$i"; done
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    for i in $(seq -w 0 59); do
        stat "$MNT2/sa/f0$i" >/dev/null || fail_with_logs "the second mount does not find f0$i"
    done
    "$LUSTRE_BIN/lctl" get_param -n "llite.*.statahead_stats" >"$TEST_DIR/sa.stats" || fail_with_logs "lctl get_param statahead_stats"
    grep -Eq "^fname_hit: ([2-9][0-9]|[1-9][0-9][0-9]+)" "$TEST_DIR/sa.stats" \
        || fail_with_logs "lookups were not answered from statahead: $(tr '\n' ' ' <"$TEST_DIR/sa.stats")"
    "$LUSTRE_BIN/lctl" get_param -n "mdc.*.stats" | grep -q "^mds_batch " \
        || fail_with_logs "statahead's lookups did not travel in MDS_BATCH RPCs (statahead_batch_max)"
    for i in 0 1 2 3 4; do
        stat "$MNT2/sa/g00$i" >/dev/null 2>&1 && fail_with_logs "g00$i exists before anyone made it"
    done
    : >"$d/g010" || fail_with_logs "create g010 on the first mount"
    sleep 1.5
    stat "$MNT2/sa/g010" >/dev/null || fail_with_logs "the second mount still misses g010 1.5 s after it was made"
    umount "$MNT2" || fail_with_logs "umount of the second mount"
    rm -r "$d"
}

# `ls -l` asks every file for its SELinux label: the attributes the lookups brought say there is
# none, so no getxattr reaches the MDS; a label set through the mount is read back at once, and
# its removal too.
test_selinux_label() {
    local d=$MNT/labels i
    mkdir "$d" || fail_with_logs "mkdir"
    for i in $(seq -w 1 30); do : >"$d/f$i"; done
    sleep 1.5    # the names' kernel entries expire: ls looks every one up again
    "$LUSTRE_BIN/lctl" set_param -n "mdc.*.stats=clear" >/dev/null || fail_with_logs "clear mdc stats"
    ls -l "$d" >/dev/null || fail_with_logs "ls -l"
    "$LUSTRE_BIN/lctl" get_param -n "mdc.*.stats" >"$TEST_DIR/label.stats"
    grep -q "^mds_getxattr " "$TEST_DIR/label.stats" \
        && fail_with_logs "ls -l sent getxattr RPCs: $(grep '^mds_getxattr' "$TEST_DIR/label.stats")"
    python3 - "$d/f01" <<'PY' || fail_with_logs "security.selinux set, read back and removed"
import errno, os, sys
path = sys.argv[1]
def label():
    try:
        return os.getxattr(path, 'security.selinux')
    except OSError as e:
        assert e.errno == errno.ENODATA, e
        return None
assert label() is None
os.setxattr(path, 'security.selinux', b'system_u:object_r:test_t:s0')
assert label() == b'system_u:object_r:test_t:s0', label()
os.removexattr(path, 'security.selinux')
assert label() is None
PY
    rm -r "$d"
}

# `-o direct_io`: file data bypasses the page cache (a read leaves no cached pages behind, where
# the default mount leaves them), data at odd offsets and sizes comes back intact through both
# mounts, and a file stays mappable MAP_SHARED (FUSE_DIRECT_IO_ALLOW_MMAP, negotiated past
# libfuse 3.14), its stores reaching the other mount.
test_direct_io() {
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o direct_io,accept_port="$TEST_PORT" \
        || fail_with_logs "mount -o direct_io"
    head -c 3000000 /dev/urandom >"$TEST_DIR/dio.ref"
    cp "$TEST_DIR/dio.ref" "$MNT/dio" || fail_with_logs "write through the default mount"
    sleep 1.5
    python3 - "$MNT2/dio" "$MNT/dio" "$TEST_DIR/dio.ref" <<'PY' || fail_with_logs "direct_io checks"
import ctypes, mmap, os, random, sys
dio, cached, ref = sys.argv[1], sys.argv[2], sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

def resident_after_read(path):
    """Pages of `path` in the page cache after reading it all through one descriptor."""
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    while os.read(fd, 1 << 20):
        pass
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), 'mmap failed: errno %d' % ctypes.get_errno()
    pages = (size + 4095) // 4096
    vec = (ctypes.c_ubyte * pages)()
    assert libc.mincore(addr, size, vec) == 0, 'mincore failed: errno %d' % ctypes.get_errno()
    libc.munmap(addr, size)
    os.close(fd)
    return sum(v & 1 for v in vec)

assert resident_after_read(cached) > 0, 'the default mount cached nothing: the check cannot tell'
left = resident_after_read(dio)
assert left == 0, 'direct_io left %d pages in the page cache' % left

want = bytearray(open(ref, 'rb').read())
fd = os.open(dio, os.O_RDWR)
random.seed(int.from_bytes(os.urandom(4), 'little'))
for _ in range(60):
    off = random.randrange(0, len(want) + 70000)
    data = os.urandom(random.choice([1, 511, 4096, 65537, random.randrange(1, 1 << 20)]))
    assert os.pwrite(fd, data, off) == len(data)
    if off > len(want):
        want.extend(bytes(off - len(want)))
    want[off:off + len(data)] = data
for _ in range(40):
    off = random.randrange(0, len(want)); n = random.randrange(1, 300000)
    assert os.pread(fd, n, off) == bytes(want[off:off + n]), 'direct_io read at %d+%d differs' % (off, n)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
assert m[:4096] == bytes(want[:4096]), 'shared mapping reads other bytes'
m[10:20] = b'0123456789'
want[10:20] = b'0123456789'
m.flush(); m.close()
os.fsync(fd)
os.close(fd)
open(ref, 'wb').write(want)
PY
    sleep 1.5
    cmp "$MNT/dio" "$TEST_DIR/dio.ref" || fail_with_logs "the default mount reads other bytes than direct_io wrote"
    cmp "$MNT2/dio" "$TEST_DIR/dio.ref" || fail_with_logs "direct_io reads back other bytes than it wrote"
    umount "$MNT2" || fail_with_logs "umount of the direct_io mount"
    rm "$MNT/dio"
}

# direct_writes (the default): a write-only open, or a read-write open of an empty file, bypasses
# the page cache (dd and fio leave no pages behind), while readers still cache; a reader's cached
# pages and its shared mapping see such a write at once; a read-write open of a file with data
# stays cached; and `-o nodirect_writes` keeps every write in the page cache.
test_direct_writes() {
    local d=$MNT/dw
    mkdir -p "$d" "$MNT2" || fail_with_logs "mkdir"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o nodirect_writes,accept_port="$TEST_PORT" \
        || fail_with_logs "mount -o nodirect_writes"
    python3 - "$d" "$MNT2/dw" <<'PY' || fail_with_logs "direct_writes checks"
import ctypes, mmap, os, sys
d, cached_dir = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
SIZE = 1 << 20

def resident(fd):
    """Pages of the file open as `fd` in the page cache now (mapped, not touched). Asked through
    a descriptor already open: an open drops the file's cached pages (no FOPEN_KEEP_CACHE)."""
    addr = libc.mmap(None, SIZE, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), 'mmap failed: errno %d' % ctypes.get_errno()
    vec = (ctypes.c_ubyte * (SIZE // 4096))()
    assert libc.mincore(addr, SIZE, vec) == 0, 'mincore failed: errno %d' % ctypes.get_errno()
    libc.munmap(addr, SIZE)
    return sum(v & 1 for v in vec)

def written(path, access):
    """Writes SIZE random bytes through a descriptor opened `access` on a new, empty file; returns
    them and how many of their pages the write left cached, seen by a reader open meanwhile."""
    w = os.open(path, access | os.O_CREAT | os.O_EXCL, 0o644)
    os.ftruncate(w, SIZE)
    r = os.open(path, os.O_RDONLY)
    data = os.urandom(SIZE)
    assert os.pwrite(w, data, 0) == SIZE
    left = resident(r)
    assert os.pread(r, SIZE, 0) == data, '%s reads back other bytes' % path
    assert resident(r) > 0, '%s: a reader cached nothing: the check cannot tell' % path
    os.close(w); os.close(r)
    return data, left

_, left = written(d + '/wronly', os.O_WRONLY)
assert left == 0, 'a write-only open left %d pages in the page cache' % left
data, left = written(d + '/rdwr', os.O_RDWR)
assert left == 0, 'a read-write open of an empty file left %d pages in the page cache' % left
_, left = written(cached_dir + '/nodirect', os.O_WRONLY)
assert left > 0, 'nodirect_writes: the write cached nothing'

# A reader's cached pages and shared mapping see a write-only descriptor's bytes at once.
r = os.open(d + '/wronly', os.O_RDONLY)
before = os.pread(r, SIZE, 0)
m = mmap.mmap(r, 0, mmap.MAP_SHARED, mmap.PROT_READ)
assert m[4096:4104] == before[4096:4104]
w = os.open(d + '/wronly', os.O_WRONLY)
os.pwrite(w, b'B' * 4096, 0)
os.pwrite(w, b'C' * 100, 4096 + 10)
os.close(w)
assert os.pread(r, 4096, 0) == b'B' * 4096, 'a cached reader reads stale bytes'
assert m[4096 + 10:4096 + 110] == b'C' * 100, 'a shared mapping shows stale bytes'
assert m[4096:4096 + 10] == before[4096:4096 + 10], 'bytes beside a partial-page write changed'
m.close(); os.close(r)

# A read-write open of a file with data stays cached: what it reads stays in the page cache.
fd = os.open(d + '/rdwr', os.O_RDWR)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
assert resident(fd) == 0, 'fadvise left pages cached: the check cannot tell'
assert os.pread(fd, SIZE, 0) == data
assert resident(fd) > 0, 'a read-write open of a file with data bypassed the page cache'
os.close(fd)
PY
    umount "$MNT2" || fail_with_logs "umount of the nodirect_writes mount"
    rm -r "$d"
}

# Names a client knows are not there (LLiteDirectoryNames): in a directory this mount made, new
# names with no pattern (no statahead) are created without a lookup RPC each, a name another
# mount made there meanwhile is found once the 1 s entry timeout has passed, and names removed
# here are gone at once.
test_negative_names() {
    local d=$MNT/nn before after i
    # Lookups sent: alone (mds_getattr_lock) or ahead (statahead; MDS_BATCH also carries closes).
    lookups() {
        { "$LUSTRE_BIN/lctl" get_param -n "mdc.*.stats"; "$LUSTRE_BIN/lctl" get_param -n "llite.*.statahead_stats"; } |
            awk '$1 == "mds_getattr_lock" { n += $2 } $1 == "statahead" && $2 == "total:" { n += $3 } END { print n + 0 }'
    }
    before=$(lookups)
    # Well within the names' 1 s lifetime: mkdir, then 10 creates (the kernel looks each name up first).
    python3 -c '
import os, random, string, sys
os.mkdir(sys.argv[1])
for _ in range(10):
    name = "".join(random.choices(string.ascii_lowercase, k=10))
    os.close(os.open(os.path.join(sys.argv[1], name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
' "$d" || fail_with_logs "mkdir and 10 creates in $d"
    after=$(lookups)
    # One lookup RPC: the kernel's of the new directory's own name, in a root not listed here.
    [ $((after - before)) -le 1 ] || fail_with_logs "10 creates in a directory made here sent $((after - before - 1)) lookup RPCs"
    [ "$(ls "$d" | wc -l)" = 10 ] || fail_with_logs "ls shows $(ls "$d" | wc -l) of the 10 files"
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    stat "$d/late" >/dev/null 2>&1 && fail_with_logs "late exists before anyone made it"
    : >"$MNT2/nn/late" || fail_with_logs "create late on the second mount"
    sleep 1.5
    stat "$d/late" >/dev/null || fail_with_logs "the first mount still misses late 1.5 s after the second made it"
    umount "$MNT2" || fail_with_logs "umount of the second mount"
    rm "$d/late" || fail_with_logs "rm late"
    stat "$d/late" >/dev/null 2>&1 && fail_with_logs "late is still there after rm"
    rm -r "$d"
}

# close(2) waits for a FLUSH round trip only where data can wait in the client: after writes.
# Read-only opens ask the kernel for none (FOPEN_NOFLUSH); `flush` in llite.*.stats counts
# those the kernel sent. A writer's close sends the data to the OSTs but does not wait for their
# commit (no OST_SYNC, as Lustre's close): fsync does.
test_close_flush() {
    local f=$MNT/flush before after syncs0
    flushes() { "$LUSTRE_BIN/lctl" get_param -n "llite.*.stats" | awk '$1 == "flush" { n += $2 } END { print n + 0 }'; }
    syncs() { "$LUSTRE_BIN/lctl" get_param -n "osc.*.stats" | awk '$1 == "ost_sync" { n += $2 } END { print n + 0 }'; }
    head -c 300000 /dev/urandom >"$TEST_DIR/flush.ref"
    before=$(flushes)
    syncs0=$(syncs)
    cp "$TEST_DIR/flush.ref" "$f" || fail_with_logs "cp to $f"
    after=$(flushes)
    [ "$after" -gt "$before" ] || fail_with_logs "a writer's close sent no FLUSH ($before -> $after)"
    [ "$(syncs)" = "$syncs0" ] || fail_with_logs "a writer's close sent OST_SYNC ($syncs0 -> $(syncs))"
    dd if="$TEST_DIR/flush.ref" of="$MNT/flush.fsync" bs=64k conv=fsync 2>/dev/null || fail_with_logs "dd conv=fsync"
    [ "$(syncs)" -gt "$syncs0" ] || fail_with_logs "fsync sent no OST_SYNC"
    cmp "$MNT/flush.fsync" "$TEST_DIR/flush.ref" || fail_with_logs "flush.fsync reads back other bytes"
    rm "$MNT/flush.fsync"
    after=$(flushes)
    for _ in $(seq 10); do cmp "$f" "$TEST_DIR/flush.ref" || fail_with_logs "$f reads back other bytes"; done
    before=$(flushes)
    [ "$before" = "$after" ] || fail_with_logs "10 read-only closes sent $((before - after)) FLUSHes"
    rm "$f"
}

# Close-to-open between two mounts: an open on mount 2 right after close(2) on mount 1 reads
# every byte, though mount 2's kernel still holds the size it saw before (its attributes are
# cached for a second; statahead fetched them): the open makes it drop them when they changed.
test_close_to_open() {
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    python3 - "$MNT/cto" "$MNT2/cto" <<'PY' || { umount "$MNT2"; fail_with_logs "close-to-open between two mounts"; }
import os, subprocess, sys, time
one, two = sys.argv[1], sys.argv[2]
reader = subprocess.Popen([sys.executable, '-c', '''
import os, sys
for line in sys.stdin:
    p = line.strip()
    os.stat(p)
    with open(p, 'rb') as f: data = f.read()
    print(len(data), int(data == b"q" * len(data)), flush=True)
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
os.mkdir(one)
for i in range(100): open(os.path.join(one, 'f%d' % i), 'wb').close()
time.sleep(1.5)
wrong = 0
for i in range(100):
    with open(os.path.join(one, 'f%d' % i), 'wb') as f: f.write(b'q' * 70000)
    reader.stdin.write(os.path.join(two, 'f%d' % i) + '\n'); reader.stdin.flush()
    n, same = map(int, reader.stdout.readline().split())
    wrong += n != 70000 or not same
reader.stdin.close(); reader.wait()
subprocess.run(['rm', '-r', one], check=True)
if wrong: sys.exit('%d of 100 files read back short or wrong on mount 2 right after close(2) on mount 1' % wrong)
PY
    umount "$MNT2" || fail_with_logs "umount of the second mount"
}

# A file's size is right as soon as close(2) returns: the kernel sends the close that tells the
# MDS the size (RELEASE) after close(2) returned, so a stat right after could see the MDS's old
# size (dbench read 0 bytes back that way), and the kernel then cut reads at it.
test_close_then_stat() {
    python3 - "$MNT/closestat" <<'PY' || fail_with_logs "sizes right after close(2)"
import os, sys
base = sys.argv[1]
os.mkdir(base)
stale = short = 0
for i in range(300):
    p = os.path.join(base, 'f%d' % i)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, b'x', 4607)
    os.fstat(fd)
    os.pwrite(fd, b'a' * 65536, 0)
    os.pwrite(fd, b'b' * 19979, 65536)
    os.close(fd)
    if os.stat(p).st_size != 85515:
        stale += 1
    fd = os.open(p, os.O_RDONLY)
    if os.pread(fd, 4096, 0) != b'a' * 4096:
        short += 1
    os.close(fd)
    os.unlink(p)
os.rmdir(base)
if stale or short:
    sys.exit('%d of 300 files showed another size right after close, %d read back short' % (stale, short))
PY
}

# A file's mtime is its last write's (the writes go to the OSTs; the close tells the MDS), and a
# time set with utime(2) stays set: right after close(2) as tar and rsync set it, later, and
# while the file is still open here.
test_mtimes() {
    python3 - "$MNT/mtimes" <<'PY' || fail_with_logs "mtimes"
import os, subprocess, sys, time
d = sys.argv[1]
os.mkdir(d)
fails = []
p = os.path.join(d, 'written')
os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
time.sleep(1.1)
fd = os.open(p, os.O_WRONLY); os.write(fd, b'hello'); os.close(fd)
w = time.time()
time.sleep(1.3)
if abs(os.stat(p).st_mtime - w) > 0.5:
    fails.append('a write then close(2): mtime %.3f, written at %.3f' % (os.stat(p).st_mtime, w))
SET = 1577934245
for i in range(50):
    p = os.path.join(d, 'set%d' % i)
    with open(p, 'wb') as f: f.write(b'x' * 1000)
    os.utime(p, (SET, SET))
    if os.stat(p).st_mtime != SET and not fails:
        fails.append('utime(2) right after close(2): %s shows %.3f' % (p, os.stat(p).st_mtime))
time.sleep(1.3)
for i in range(50):
    p = os.path.join(d, 'set%d' % i)
    if os.stat(p).st_mtime != SET:
        fails.append('utime(2) right after close(2), 1.3 s later: %s shows %.3f' % (p, os.stat(p).st_mtime)); break
p = os.path.join(d, 'open')
fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'a')
os.utime(p, (SET, SET))
if os.fstat(fd).st_mtime != SET:
    fails.append('utime(2) while open: fstat shows %.3f' % os.fstat(fd).st_mtime)
os.write(fd, b'b')
w = time.time()
os.close(fd)
time.sleep(1.3)
if abs(os.stat(p).st_mtime - w) > 0.5:
    fails.append('a write after utime(2): mtime %.3f, written at %.3f' % (os.stat(p).st_mtime, w))
p = os.path.join(d, 'touched')
subprocess.run('echo hi > %s && touch -d "2020-01-02 03:04:05 UTC" %s' % (p, p), shell=True, check=True)
if os.stat(p).st_mtime != SET:
    fails.append('touch -d right after echo >: %.3f' % os.stat(p).st_mtime)
subprocess.run(['rm', '-r', d], check=True)
if fails:
    sys.exit('\n'.join(fails))
PY
}

# rsync -a of a source tree: the copy has the sources' sizes and times right away (rsync sets
# each file's mtime right after close(2), then renames it), so a second rsync finds nothing to do.
test_rsync() {
    command -v rsync >/dev/null || fail_with_logs "rsync is missing (make deps installs it)"
    local src=$HERE/../fs dst=$MNT/rsync items
    rsync -a "$src/" "$dst/" || fail_with_logs "rsync -a"
    items=$(rsync -a -i "$src/" "$dst/") || fail_with_logs "second rsync -a"
    [ -z "$items" ] || { echo "$items" | head -5 >&2; fail_with_logs "a second rsync found $(echo "$items" | wc -l) items to transfer again"; }
    diff -r "$src" "$dst" || fail_with_logs "the rsync copy differs"
    rm -r "$dst"
    # rsync -aHX as root copies every xattr namespace: it finds lustre.lov on each file it made
    # and removes it (the source has none), and copies lustre.lov onto files it makes from the
    # mount; as on Lustre, neither fails (a file's layout stays), and user xattrs and hard links arrive.
    local xsrc=$TEST_DIR/xattr-src
    mkdir -p "$xsrc/d"; echo data >"$xsrc/f"; ln "$xsrc/f" "$xsrc/h"; : >"$xsrc/d/empty"
    setfattr -n user.k -v v "$xsrc/f" || fail_with_logs "setfattr on the local tree"
    rsync -aHX "$xsrc/" "$MNT/xattr/" || fail_with_logs "rsync -aHX into the mount"
    [ "$(getfattr --absolute-names -n user.k --only-values "$MNT/xattr/f")" = v ] || fail_with_logs "user.k did not arrive"
    [ "$(stat -c %h "$MNT/xattr/h")" = 2 ] || fail_with_logs "the hard link did not arrive"
    "$LFS" getstripe -c "$MNT/xattr/f" >/dev/null || fail_with_logs "the copy has no layout"
    rsync -aHX "$MNT/xattr/" "$MNT/xattr2/" || fail_with_logs "rsync -aHX from the mount into it"
    diff -r "$xsrc" "$MNT/xattr2" || fail_with_logs "the rsync -X copy differs"
    [ "$(getfattr --absolute-names -n user.k --only-values "$MNT/xattr2/f")" = v ] || fail_with_logs "user.k did not arrive in the mount's copy"
    setfattr -x lustre.lov "$MNT/xattr2/f" || fail_with_logs "removing a file's lustre.lov"
    "$LFS" getstripe -c "$MNT/xattr2/f" >/dev/null || fail_with_logs "removing lustre.lov removed a file's layout"
    rm -r "$xsrc" "$MNT/xattr" "$MNT/xattr2"
}

# fallocate(2) through the mount, on a file striped over every OST in 64 KiB units so each range
# crosses stripes: allocate (the size grows), keep-size allocate, punch a hole (zeros read back,
# the rest intact); unsupported modes are EOPNOTSUPP; sizes and blocks stay after close.
test_fallocate() {
    local f=$MNT/falloc
    "$LFS" setstripe -c -1 -S 64K "$f" || fail_with_logs "lfs setstripe -c -1 $f"
    fallocate -l 5M "$f" || fail_with_logs "fallocate -l 5M"
    [ "$(stat -c %s "$f")" = 5242880 ] || fail_with_logs "size after fallocate -l 5M: $(stat -c %s "$f")"
    [ "$(stat -c %b "$f")" -ge 10240 ] || fail_with_logs "blocks after fallocate -l 5M: $(stat -c %b "$f")"
    head -c 3000000 /dev/urandom >"$TEST_DIR/falloc.ref"
    dd if="$TEST_DIR/falloc.ref" of="$f" conv=notrunc 2>/dev/null || fail_with_logs "write over the allocated range"
    fallocate -p -o 1000000 -l 1500000 "$f" || fail_with_logs "fallocate -p"
    fallocate -n -o 0 -l 8M "$f" || fail_with_logs "fallocate -n (keep size)"
    fallocate -z -l 4096 "$f" 2>/dev/null && fail_with_logs "fallocate -z (zero range) succeeded: not supported"
    sleep 1.2    # past the kernel's attribute cache: the sizes are the MDS's now
    python3 - "$f" "$TEST_DIR/falloc.ref" <<'PY' || fail_with_logs "fallocate results"
import os, sys
f, ref = sys.argv[1], open(sys.argv[2], 'rb').read()
data = open(f, 'rb').read()
want = ref[:1000000] + bytes(1500000) + ref[2500000:] + bytes(5242880 - 3000000)
if data != want: sys.exit('the file reads back %d bytes, not the %d expected after the hole' % (len(data), len(want)))
st = os.stat(f)
if st.st_size != 5242880: sys.exit('size %d after keep-size fallocate' % st.st_size)
if st.st_blocks < 8 * 2048 - 1500000 // 512: sys.exit('blocks %d after fallocate -n 8M' % st.st_blocks)
PY
    rm "$f"
}

# fsx.py: random writes, truncates, shared-mmap writes, hole punches, allocations, fsyncs and
# reopens of one file, each followed by a read checked against a local reference; once on a file
# opened while empty (writes bypass the page cache) and once on one opened again (page cache).
# lseek(2) SEEK_DATA/SEEK_HOLE (OST_SEEK on every object) gives what ext4 gives for the same
# writes into a sparse file, at every 4 KiB offset, for stripe counts 1, 2 (64 KiB units) and -1;
# cp of a sparse 5 GiB file copies its one block (as it finds the data by SEEK_DATA).
test_seek_data_hole() {
    local count layout
    for layout in "1 1M" "2 64k" "-1 128k"; do
        set -- $layout
        "$LFS" setstripe -c "$1" -S "$2" "$MNT/seek" || fail_with_logs "lfs setstripe -c $1 -S $2"
        python3 - "$MNT/seek" "$TEST_DIR/seek.ref" <<'PY' || fail_with_logs "SEEK_DATA/SEEK_HOLE differ from ext4's (layout $layout)"
import os, random, sys
rnd = random.Random(7)
size = 3 << 20
fds = [os.open(p, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644) for p in sys.argv[1:3]]
for fd in fds:
    os.ftruncate(fd, size)
for _ in range(12):
    offset = rnd.randrange(0, size // 4096) * 4096
    data = os.urandom(rnd.choice([4096, 8192, 65536, 200704]))
    for fd in fds:
        os.pwrite(fd, data, offset)
end = os.fstat(fds[1]).st_size
def seeks(fd):
    found = []
    for offset in range(0, end + 8192, 4096):
        for whence in (os.SEEK_DATA, os.SEEK_HOLE):
            try:
                found.append((offset, whence, os.lseek(fd, offset, whence)))
            except OSError as e:
                found.append((offset, whence, -e.errno))
    return found
bad = [(a, b) for a, b in zip(seeks(fds[0]), seeks(fds[1])) if a != b]
if bad:
    sys.exit('%d of %d seeks differ, e.g. (offset, whence, mount) vs ext4: %s' % (len(bad), 2 * (end // 4096 + 2), bad[:3]))
PY
        rm -f "$MNT/seek" "$TEST_DIR/seek.ref"
    done
    truncate -s 5G "$MNT/sparse5g" && printf 'hi' | dd of="$MNT/sparse5g" bs=1 seek=$((3 << 30)) conv=notrunc status=none \
        || fail_with_logs "making a sparse 5 GiB file"
    timeout 60 cp "$MNT/sparse5g" "$TEST_DIR/sparse.copy" || fail_with_logs "cp of the sparse file"
    [ "$(du -k "$TEST_DIR/sparse.copy" | cut -f1)" -le 64 ] || fail_with_logs "cp wrote the holes of the sparse file: $(du -k "$TEST_DIR/sparse.copy")"
    [ "$(tail -c +$(((3 << 30) + 1)) "$TEST_DIR/sparse.copy" | head -c 2)" = hi ] || fail_with_logs "the copy lost the data"
    rm -f "$MNT/sparse5g" "$TEST_DIR/sparse.copy"
}

test_fsx() {
    python3 "$HERE/fsx.py" "$MNT/fsx1" "$TEST_DIR/fsx1.ref" --ops 1000 --seed 3 || fail_with_logs "fsx (seed 3)"
    python3 "$HERE/fsx.py" "$MNT/fsx2" "$TEST_DIR/fsx2.ref" --ops 1000 --seed 5 --reopen-first ||
        fail_with_logs "fsx (seed 5, reopened)"
    rm -f "$MNT/fsx1" "$MNT/fsx2"
}

# An open right after a truncate through another descriptor was closed sees the new size, not
# the one the MDS held before: the close that tells it comes after close(2) returned.
test_truncate_reopen() {
    python3 - "$MNT/trunc_reopen" <<'PY' || fail_with_logs "size of a file reopened after a truncate"
import os, sys
base = sys.argv[1]
os.mkdir(base)
wrong = []
for i in range(200):
    p = os.path.join(base, 'f%d' % i)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, b'a' * 4096, 3 << 20)
    os.close(fd)
    fd = os.open(p, os.O_RDWR)
    os.ftruncate(fd, 1 << 20)
    os.close(fd)
    fd = os.open(p, os.O_RDONLY)
    size, end = os.fstat(fd).st_size, os.lseek(fd, 0, os.SEEK_END)
    os.close(fd)
    if size != 1 << 20 or end != 1 << 20:
        wrong.append((size, end))
    os.unlink(p)
os.rmdir(base)
if wrong:
    sys.exit('%d of 200 reopened files had the size from before the truncate: %s' % (len(wrong), wrong[:3]))
PY
}

# Writes through a shared mapping read back at once: the kernel's read-around of each fault
# comes to the client while the page's write does, and what it fetched must not outlive that
# write in the client's read cache.
test_mmap_writes() {
    python3 - "$MNT/mmapw" <<'PY' || fail_with_logs "writes through mmap"
import mmap, os, random, sys
p = sys.argv[1]
rnd = random.Random(7)
size = 4 << 20
lost = []
for round in range(100):
    # Created, so opened while empty: its writes bypass the page cache, its mappings do not.
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    os.pwrite(fd, b'a' * size, 0)
    for _ in range(4):
        os.pread(fd, rnd.randrange(1, 1 << 18), rnd.randrange(0, size))
        offset, length = rnd.randrange(0, size - 65536), rnd.randrange(1, 65536)
        data = bytes([rnd.randrange(1, 256)]) * length
        mapped = mmap.mmap(fd, size)
        mapped[offset:offset + length] = data
        mapped.flush()
        mapped.close()
        if os.pread(fd, length, offset) != data:
            lost.append((round, offset, length))
    os.close(fd)
    os.unlink(p)
if lost:
    sys.exit('%d of 400 writes through mmap did not read back: %s' % (len(lost), lost[:3]))
PY
}

# A rewrite in place (read a block, write it back, as bonnie++'s rewrite and databases do) is
# read from the page cache: the mtime each write changes does not make the kernel drop the
# file's pages (it did, and every block came from the OSTs again: 2000 reads for 2000 blocks).
# The bytes are the ones written.
test_rewrite_cached() {
    local f=$MNT/rewrite ref=$TEST_DIR/rewrite.ref before after
    reads() { "$LUSTRE_BIN/lctl" get_param -n "llite.*.stats" | awk '$1 == "read_bytes" { n += $2 } END { print n + 0 }'; }
    head -c $((2000 * 8192)) /dev/urandom >"$ref"
    cp "$ref" "$f" || fail_with_logs "write $f"
    before=$(reads)
    for file in "$f" "$ref"; do
        python3 - "$file" <<'PY' || fail_with_logs "rewrite in place"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for i in range(2000):
    block = os.read(fd, 8192)
    os.lseek(fd, -len(block), os.SEEK_CUR)
    os.write(fd, bytes(b ^ 0xff for b in block[:16]) + block[16:])
os.close(fd)
PY
    done
    after=$(reads)
    [ $((after - before)) -lt 500 ] || fail_with_logs "2000 blocks rewritten in place cost $((after - before)) reads from the client"
    cmp "$f" "$ref" || fail_with_logs "the rewritten file differs from its reference"
    rm "$f" "$ref"
}

# dbench (a file server's mix of creates, writes, reads, renames, locks) on 2 processes: every
# read returns what the load file expects ("read failed" is a short read).
test_dbench() {
    command -v dbench >/dev/null || fail_with_logs "dbench is missing (make deps installs it)"
    local out=$TEST_DIR/dbench.out
    (cd "$TEST_DIR" && timeout 120 dbench -D "$MNT" -t 8 2) >"$out" 2>&1 || { tail -20 "$out" >&2; fail_with_logs "dbench failed"; }
    # dbench 4.0 says "failed to create barrier semaphore" when semget returns id 0, a valid id
    # (its check is `!(barrier = semget(...))`): the first semaphore of a fresh machine. It goes on.
    if grep -i "failed\|error" "$out" | grep -qv "failed to create barrier semaphore"; then
        grep -i "failed\|error" "$out" | head -5 >&2
        fail_with_logs "dbench saw failed operations"
    fi
    grep -q "^Throughput" "$out" || fail_with_logs "dbench did not finish"
}

# Unmounting while the client holds written data not yet on the OSTs loses nothing.
test_umount_dirty() {
    head -c 30000000 /dev/urandom >"$TEST_DIR/dirty.ref"
    cp "$TEST_DIR/dirty.ref" "$MNT/dirty" || fail_with_logs "write"
    local pid
    pid=$(awk '$1 == "client" { print $2 }' "$STATE/pids")
    umount "$MNT" || fail_with_logs "umount with dirty data"
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail_with_logs "mount.lustre (pid $pid) did not exit after umount"
    grep -q "unmounted" "$STATE/client.log" || fail_with_logs "mount.lustre did not report a clean unmount"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT" -o accept_port="$TEST_PORT" || fail_with_logs "remount"
    cmp "$MNT/dirty" "$TEST_DIR/dirty.ref" || fail_with_logs "data written before umount was lost"
    rm "$MNT/dirty"
}

test_mount_errors() {
    local m=$TEST_DIR/m3
    mkdir -p "$m"
    expect_error "No such file or directory" "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/nosuchfs" "$m" -o accept_port="$TEST_PORT"
    expect_error "Connection refused" "$LUSTRE_BIN/mount.lustre" "$TEST_NET.99@tcp:/$FSNAME" "$m" -o accept_port="$TEST_PORT"
    expect_error "mount point" "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$TEST_DIR/none" -o accept_port="$TEST_PORT"
    expect_error "unknown mount option 'bogus'" "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$m" -o bogus
    expect_error "fileset /nosuchdir: No such file or directory" \
        "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME/nosuchdir" "$m" -o accept_port="$TEST_PORT"
    echo x >"$MNT/plainfile" || fail_with_logs "create plainfile"
    expect_error "fileset /plainfile is not a directory" \
        "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME/plainfile" "$m" -o accept_port="$TEST_PORT"
    rm "$MNT/plainfile"
    expect_error "without '.' or '..'" "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME/../x" "$m" -o accept_port="$TEST_PORT"
    mountpoint -q "$m" && fail_with_logs "a failed mount left $m mounted"
    # mount(8)'s generic options, as an fstab line with _netdev passes them, are accepted.
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$m" -o "rw,_netdev,defaults,noauto,user_xattr,flock,accept_port=$TEST_PORT" \
        || fail_with_logs "mount with generic options"
    mountpoint -q "$m" || fail_with_logs "not mounted"
    umount "$m" || fail_with_logs "umount"
}

# A fileset: MGSNID:/FSNAME/SUBDIR mounts that directory as the root; what is made there shows
# in the whole filesystem's mount and back, fid2path answers paths relative to the fileset (and
# ENOENT for a file outside it), and ".." at its top leads out of the mount, not up the tree.
test_fileset() {
    local m=$TEST_DIR/m6
    mkdir -p "$m" "$MNT/proj/sub" && echo inside >"$MNT/proj/sub/f" && echo outside >"$MNT/top" \
        || fail_with_logs "set up proj"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME/proj/sub/" "$m" -o accept_port="$TEST_PORT" \
        || fail_with_logs "mount of the fileset proj/sub"
    [ "$(ls -A "$m")" = f ] && [ "$(cat "$m/f")" = inside ] || fail_with_logs "the fileset shows '$(ls -A "$m")'"
    grep -q " $m fuse.lustre" /proc/mounts && grep -q "^$TEST_NET.1@tcp:/$FSNAME/proj/sub/ $m " /proc/mounts \
        || fail_with_logs "/proc/mounts: $(grep " $m " /proc/mounts)"
    echo made >"$m/new" && mkdir "$m/d" || fail_with_logs "create in the fileset"
    sleep 1.5   # the other mount's cached names of proj/sub age out (1 s)
    [ "$(cat "$MNT/proj/sub/new")" = made ] && [ -d "$MNT/proj/sub/d" ] || fail_with_logs "the fileset's files are not in the filesystem"
    [ "$("$LUSTRE_BIN/lfs" fid2path "$m" "$("$LUSTRE_BIN/lfs" path2fid "$m/new")")" = "$m/new" ] \
        || fail_with_logs "fid2path in the fileset"
    expect_error "No such file or directory" "$LUSTRE_BIN/lfs" fid2path "$m" "$("$LUSTRE_BIN/lfs" path2fid "$MNT/top")"
    [ "$(cd "$m/.." && pwd -P)" = "$(cd "$TEST_DIR" && pwd -P)" ] || fail_with_logs "'..' of the fileset's top is $(cd "$m/.." && pwd -P)"
    [ "$("$LUSTRE_BIN/lfs" getname -n "$m")" = "$FSNAME $m" ] || fail_with_logs "lfs getname -n of the fileset: $("$LUSTRE_BIN/lfs" getname -n "$m")"
    umount "$m" || fail_with_logs "umount of the fileset"
    rm -r "$MNT/proj" "$MNT/top" || fail_with_logs "cleanup"
}

# mount(8) finds /sbin/mount.lustre for `mount -t lustre` and for fstab lines (with _netdev).
test_mount_t_lustre() {
    local helper=/sbin/mount.lustre m=$TEST_DIR/m5
    if [ ! -e "$helper" ]; then
        ln -s "$LUSTRE_BIN/mount.lustre" "$helper" || fail "cannot install $helper"
        INSTALLED_HELPER=$helper
    elif [ "$(readlink -f "$helper")" != "$(readlink -f "$LUSTRE_BIN/mount.lustre")" ]; then
        log "(using the installed $helper)"
    fi
    mkdir -p "$m"
    mount -t lustre "$TEST_NET.1@tcp:/$FSNAME" "$m" -o accept_port="$TEST_PORT" || fail_with_logs "mount -t lustre"
    [ "$(findmnt -n -o FSTYPE "$m")" = fuse.lustre ] || fail_with_logs "mount -t lustre did not mount Lustre"
    [ -d "$m/lfsdir" ] || ls "$m" >/dev/null || fail_with_logs "the mount does not serve"
    umount "$m" || fail_with_logs "umount after mount -t lustre"
    echo "$TEST_NET.1@tcp:/$FSNAME $m lustre defaults,_netdev,noauto,accept_port=$TEST_PORT 0 0" >"$TEST_DIR/fstab"
    mount -T "$TEST_DIR/fstab" "$m" || fail_with_logs "mount from an fstab line"
    mountpoint -q "$m" || fail_with_logs "the fstab mount is not there"
    umount "$m" || fail_with_logs "umount after the fstab mount"
    if [ -n "$INSTALLED_HELPER" ]; then rm -f "$INSTALLED_HELPER"; INSTALLED_HELPER=""; fi
}

# FUSE over io_uring (Linux 6.14): the mount serves requests from a ring thread per CPU; with
# noio_uring a second mount of the same filesystem goes through /dev/fuse, and both see the same.
test_fuse_io_uring() {
    if [ ! -e /sys/module/fuse/parameters/enable_uring ]; then
        log "(skipped: no FUSE over io_uring in this kernel; every other check ran through /dev/fuse)"
        return 0
    fi
    local pid
    pid=$(awk '$1 == "client" { print $2 }' "$STATE/pids")
    grep -q "FUSE over io_uring" "$STATE/client.log" || fail_with_logs "the mount did not use FUSE over io_uring"
    local possible
    possible=$(( $(tr ',-' '\n\n' </sys/devices/system/cpu/possible | sort -n | tail -1) + 1 ))
    [ "$(cat /proc/"$pid"/task/*/comm | grep -c '^fuse-ring-')" = "$possible" ] \
        || fail_with_logs "not one ring thread per possible CPU"
    mkdir -p "$MNT/uring" && for i in $(seq 50); do echo "$i" >"$MNT/uring/f$i"; done
    mkdir -p "$MNT2"
    LUSTRE_MOUNT_LOG=$TEST_DIR/client-noio_uring.log "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" \
        -o accept_port="$TEST_PORT",noio_uring || fail_with_logs "mount with noio_uring"
    ! grep -q "over io_uring" "$TEST_DIR/client-noio_uring.log" || fail_with_logs "noio_uring used io_uring"
    [ "$(cat "$MNT2/uring/f37")" = 37 ] || fail_with_logs "the /dev/fuse mount does not see the ring mount's file"
    echo changed >"$MNT2/uring/f37"
    sync; echo 2 >/proc/sys/vm/drop_caches
    [ "$(cat "$MNT/uring/f37")" = changed ] || fail_with_logs "the ring mount does not see the /dev/fuse mount's write"
    umount "$MNT2" || fail_with_logs "umount of the noio_uring mount"
    rm -r "$MNT/uring"
}

test_lfs() {
    local d=$MNT/lfsdir
    mkdir "$d"
    "$LFS" setstripe -c 2 -S 128K "$d" || fail_with_logs "lfs setstripe DIR"
    [ "$("$LFS" getstripe -d -c "$d")" = 2 ] || fail_with_logs "directory default count"
    echo x >"$d/inherits"
    [ "$("$LFS" getstripe -c "$d/inherits")" = 2 ] && [ "$("$LFS" getstripe -S "$d/inherits")" = 131072 ] \
        || fail_with_logs "a new file did not inherit the directory's layout"
    "$LFS" setstripe -c 1 -i 1 "$d/one" && [ "$("$LFS" getstripe -i "$d/one")" = 1 ] || fail_with_logs "setstripe -i 1"
    expect_error "File exists" "$LFS" setstripe -c 1 "$d/one"
    expect_error "stripe size" "$LFS" setstripe -S 100K "$d/bad"
    [ "$("$LFS" find "$MNT/lfsdir" --stripe-count 2 --type f)" = "$d/inherits" ] || fail_with_logs "lfs find --stripe-count"
    [ "$("$LFS" find "$MNT/lfsdir" --ost 1 --name 'o*')" = "$d/one" ] || fail_with_logs "lfs find --ost"
    local fid
    fid=$("$LFS" path2fid "$d/one") || fail_with_logs "lfs path2fid"
    [[ "$fid" =~ ^\[0x[0-9a-f]+:0x[0-9a-f]+:0x[0-9a-f]+\]$ ]] || fail_with_logs "path2fid printed '$fid'"
    [ "$("$LFS" fid2path "$MNT" "$fid")" = "$d/one" ] || fail_with_logs "fid2path"
    "$LFS" df "$MNT" >"$TEST_DIR/df.out" || fail_with_logs "lfs df"
    assert_contains "$TEST_DIR/df.out" "^UUID  *1K-blocks  *Used  *Available Use% Mounted on"
    assert_contains "$TEST_DIR/df.out" "^$FSNAME-MDT0000_UUID .* $MNT\[MDT:0\]"
    assert_contains "$TEST_DIR/df.out" "^$FSNAME-OST0001_UUID .* $MNT\[OST:1\]"
    assert_contains "$TEST_DIR/df.out" "^filesystem_summary: .* $MNT$"
    "$LFS" df -i "$MNT" | grep -q "IUsed" || fail_with_logs "lfs df -i"
    expect_error "not on a Lustre filesystem" "$LFS" getstripe /etc/hostname
    "$LFS" setstripe -d "$d" && echo x >"$d/after-delete" && echo x >"$MNT/root-file" \
        && [ "$("$LFS" getstripe -c "$d/after-delete")" = "$("$LFS" getstripe -c "$MNT/root-file")" ] \
        && [ "$("$LFS" getstripe -S "$d/after-delete")" = "$("$LFS" getstripe -S "$MNT/root-file")" ] \
        || fail_with_logs "lfs setstripe -d: a new file still takes the removed default"
    "$LFS" setstripe -d "$d" || fail_with_logs "lfs setstripe -d of a directory without a default"
    expect_error "Not a directory" "$LFS" setstripe -d "$d/one"
    rm -r "$d" "$MNT/root-file"

    # lfs find by size, times, owner, stripe size; --mindepth and -print0.
    local fd=$MNT/finddir
    mkdir "$fd" && head -c 3000 /dev/zero >"$fd/small" && truncate -s 2M "$fd/big" && touch "$fd/old" \
        && touch -d '10 days ago' "$fd/old" && chown 1234:4321 "$fd/small" && "$LFS" setstripe -S 2M -c 1 "$fd/wide" \
        || fail_with_logs "files for lfs find"
    [ "$("$LFS" find "$fd" --size +1M)" = "$fd/big" ] || fail_with_logs "lfs find --size +1M"
    [ "$("$LFS" find "$fd" -type f --size -1k | sort | tr '\n' ' ')" = "$fd/old $fd/wide " ] \
        || fail_with_logs "lfs find --size -1k: $("$LFS" find "$fd" -type f --size -1k)"
    [ "$("$LFS" find "$fd" --size 3k)" = "$fd/small" ] || fail_with_logs "lfs find --size 3k"
    [ "$("$LFS" find "$fd" --mtime +7)" = "$fd/old" ] || fail_with_logs "lfs find --mtime +7"
    [ "$("$LFS" find "$fd" -type f --mtime -1 | wc -l)" = 3 ] || fail_with_logs "lfs find --mtime -1"
    [ "$("$LFS" find "$fd" --uid 1234)" = "$fd/small" ] && [ "$("$LFS" find "$fd" --group 4321)" = "$fd/small" ] \
        || fail_with_logs "lfs find --uid / --group"
    [ "$("$LFS" find "$fd" --stripe-size +1M)" = "$fd/wide" ] || fail_with_logs "lfs find --stripe-size +1M"
    [ "$("$LFS" find "$fd" --mindepth 1 --print0 | tr '\0' '\n' | wc -l)" = 4 ] || fail_with_logs "lfs find --mindepth 1 --print0"
    [ "$("$LFS" find "$fd" -type f ! -name 's*' | sort | tr '\n' ' ')" = "$fd/big $fd/old $fd/wide " ] \
        || fail_with_logs "lfs find ! --name"
    [ "$("$LFS" find "$fd" -type f ! --uid 1234 | wc -l)" = 3 ] && [ "$("$LFS" find "$fd" ! --stripe-size +1M | wc -l)" = 3 ] \
        || fail_with_logs "lfs find ! --uid / ! --stripe-size"
    expect_error "mtime" "$LFS" find "$fd" --mtime 3x
    rm -r "$fd"

    # lfs mkdir / getdirstripe on a filesystem of one MDT.
    "$LFS" mkdir -i 0 -m 750 "$MNT/onmdt0" && [ "$(stat -c %a "$MNT/onmdt0")" = 750 ] || fail_with_logs "lfs mkdir -i 0 -m 750"
    [ "$("$LFS" getdirstripe "$MNT/onmdt0")" = "lmv_stripe_count: 0 lmv_stripe_offset: 0 lmv_hash_type: none" ] \
        && [ "$("$LFS" getdirstripe -i "$MNT/onmdt0")" = 0 ] || fail_with_logs "lfs getdirstripe"
    expect_error "no MDT index 1" "$LFS" mkdir -i 1 "$MNT/onmdt1"
    expect_error "has 1 MDT" "$LFS" setdirstripe -c 2 "$MNT/onmdt1"
    [ ! -e "$MNT/onmdt1" ] || fail_with_logs "a refused lfs mkdir made the directory"
    rmdir "$MNT/onmdt0"
}

# lfs check (a stopped OSS's ping fails and says so), osts, mdts, getname; getstripe's other
# views (-y, -v, -L, -g, -m, -F, -r -O); lctl's version.
test_lfs_status() {
    "$LFS" check servers "$MNT" >"$TEST_DIR/check.out" || fail_with_logs "lfs check servers"
    assert_contains "$TEST_DIR/check.out" "^$FSNAME-OST0001-osc-[0-9a-f]* active\.$"
    assert_contains "$TEST_DIR/check.out" "^$FSNAME-MDT0000-mdc-[0-9a-f]* active\.$"
    [ "$(wc -l <"$TEST_DIR/check.out")" = 3 ] || fail_with_logs "lfs check servers: $(cat "$TEST_DIR/check.out")"
    "$LFS" check all "$MNT" | grep -q "^MGC$NETADDR\.1@tcp active\.$" || fail_with_logs "lfs check all: no MGC line"
    local oss2 rc
    oss2=$(awk '$1 == "oss2" { print $2 }' "$STATE/pids")
    kill -STOP "$oss2"
    "$LFS" check osts "$MNT" >"$TEST_DIR/check2.out" 2>"$TEST_DIR/check2.err"; rc=$?
    # statfs leaves the silent OST out (lazystatfs) and lfs df says it is inactive, instead of
    # both waiting out the import's recovery (300 s before).
    timeout 30 df "$MNT" >"$TEST_DIR/df.out" 2>&1 || { kill -CONT "$oss2"; fail_with_logs "df with an OSS stopped: $(cat "$TEST_DIR/df.out")"; }
    timeout 30 "$LFS" df "$MNT" >"$TEST_DIR/lfsdf.out" 2>&1 || { kill -CONT "$oss2"; fail_with_logs "lfs df with an OSS stopped"; }
    kill -CONT "$oss2"
    assert_contains "$TEST_DIR/lfsdf.out" "^$FSNAME-OST0001_UUID *: inactive device$"
    assert_contains "$TEST_DIR/lfsdf.out" "^$FSNAME-OST0000_UUID .*\[OST:0\]$"
    [ "$rc" != 0 ] || fail_with_logs "lfs check osts succeeded with an OSS stopped"
    assert_contains "$TEST_DIR/check2.err" "^lfs check: error: check '$FSNAME-OST0001-osc-[0-9a-f]*': "
    assert_contains "$TEST_DIR/check2.out" "^$FSNAME-OST0000-osc-[0-9a-f]* active\.$"
    "$LFS" check osts "$MNT" >/dev/null || fail_with_logs "lfs check osts after the OSS resumed"
    # With the MDS (and MGS) stopped, check says so after its ping's few seconds, not after the
    # MGC's or MDC's long request timeouts (it took 25 s per getxattr, twice, before).
    local mds
    mds=$(awk '$1 == "mds" { print $2 }' "$STATE/pids")
    kill -STOP "$mds"
    timeout 20 "$LFS" check all "$MNT" >"$TEST_DIR/check3.out" 2>"$TEST_DIR/check3.err"; rc=$?
    timeout 30 "$LFS" df "$MNT" >"$TEST_DIR/lfsdf2.out" 2>&1 || { kill -CONT "$mds"; fail_with_logs "lfs df with the MDS stopped"; }
    kill -CONT "$mds"
    assert_contains "$TEST_DIR/lfsdf2.out" "^$FSNAME-MDT0000_UUID *: inactive device$"
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail_with_logs "lfs check all with the MDS stopped: exit $rc"
    assert_contains "$TEST_DIR/check3.err" "^lfs check: error: check '$FSNAME-MDT0000-mdc-[0-9a-f]*': "
    assert_contains "$TEST_DIR/check3.err" "^lfs check: error: check 'MGC$NETADDR\.1@tcp': "
    assert_contains "$TEST_DIR/check3.out" "^$FSNAME-OST0000-osc-[0-9a-f]* active\.$"
    local tries=0
    until "$LFS" check all "$MNT" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] || fail_with_logs "lfs check all after the MDS resumed"
        sleep 1
    done
    "$LFS" osts "$MNT" >"$TEST_DIR/osts.out" || fail_with_logs "lfs osts"
    assert_contains "$TEST_DIR/osts.out" "^OBDS:$"
    assert_contains "$TEST_DIR/osts.out" "^1: $FSNAME-OST0001_UUID ACTIVE$"
    [ "$("$LFS" mdts "$MNT")" = "$(printf 'MDTS:\n0: %s-MDT0000_UUID ACTIVE' "$FSNAME")" ] || fail_with_logs "lfs mdts"
    local name
    name=$("$LFS" getname "$MNT") || fail_with_logs "lfs getname"
    [[ "$name" =~ ^$FSNAME-[0-9a-f]+\ $MNT$ ]] || fail_with_logs "lfs getname printed '$name'"
    "$LUSTRE_BIN/lctl" get_param -N "llite.${name%% *}.*" | grep -q . || fail_with_logs "getname's ${name%% *} is no llite device"
    [ "$("$LFS" getname -n "$MNT")" = "$FSNAME $MNT" ] || fail_with_logs "lfs getname -n"

    local d=$MNT/lfsstatus f fid
    mkdir "$d"
    f=$d/two
    "$LFS" setstripe -c 2 -S 128K "$f" && head -c 300000 /dev/urandom >"$f" || fail_with_logs "setstripe -c 2"
    "$LFS" setstripe -c 1 -i 0 "$d/first" && echo x >"$d/first" || fail_with_logs "setstripe -i 0"
    "$LFS" getstripe -y "$f" >"$TEST_DIR/yaml.out" || fail_with_logs "getstripe -y"
    assert_contains "$TEST_DIR/yaml.out" "^lmm_stripe_count:  2$"
    assert_contains "$TEST_DIR/yaml.out" "^lmm_objects:$"
    assert_contains "$TEST_DIR/yaml.out" "^      - l_ost_idx: 1$"
    assert_contains "$TEST_DIR/yaml.out" "^        l_fid:     0x100010000:0x[0-9a-f]*:0x0$"
    fid=$("$LFS" path2fid "$f")
    [ "$("$LFS" getstripe -F "$f")" = "$fid" ] || fail_with_logs "getstripe -F"
    [ "$("$LFS" getstripe -L "$f")" = raid0 ] && [ "$("$LFS" getstripe -g "$f")" = 0 ] \
        && [ "$("$LFS" getstripe -m "$f")" = 0 ] || fail_with_logs "getstripe -L, -g or -m"
    [ "$("$LFS" getstripe -c -S "$f")" = "$(printf 'lmm_stripe_count:  2\nlmm_stripe_size:   131072')" ] \
        || fail_with_logs "getstripe -c -S: $("$LFS" getstripe -c -S "$f")"
    "$LFS" getstripe -v "$f" >"$TEST_DIR/verbose.out" || fail_with_logs "getstripe -v"
    assert_contains "$TEST_DIR/verbose.out" "^lmm_magic:         0x0BD10BD0$"
    assert_contains "$TEST_DIR/verbose.out" "^lmm_fid:           $(printf '%s' "$fid" | sed 's/[][]/\\&/g')$"
    mkdir "$d/sub" && "$LFS" setstripe -c 2 "$d/sub/deep" || fail_with_logs "setstripe in a subdirectory"
    "$LFS" getstripe -r -O 1 "$d" >"$TEST_DIR/obd.out" || fail_with_logs "getstripe -r -O 1"
    assert_contains "$TEST_DIR/obd.out" "^$d/two$"
    assert_contains "$TEST_DIR/obd.out" "^$d/sub/deep$"
    assert_contains "$TEST_DIR/obd.out" "^	 *1	.* \*$"
    ! grep -q "first" "$TEST_DIR/obd.out" || fail_with_logs "getstripe -O 1 listed a file with no object on OST 1"
    [ "$("$LUSTRE_BIN/lctl" get_param -n version)" = 2.16.0 ] || fail_with_logs "lctl get_param version"
    rm -r "$d"
}

# Files open across an MDS crash: SIGKILL, restart, and the MDC opens them again (Lustre's open
# replay). A close after the restart still records the size the client wrote, so a second mount
# sees it without opening the file (it showed the size from before the crash: 1 MiB, or 0), a
# creator's write open of its own 0444 file included; a file unlinked while open stays readable
# and goes at its last close.
# What the client logged after line $1 of its log (checks that restart servers read only their own).
client_log_since() { tail -n "+$(($1 + 1))" "$STATE/client.log"; }


test_mds_restart_open_files() {
    local d=$MNT/mdsrestart mds new logged
    logged=$(wc -l <"$STATE/client.log")
    mkdir "$d" || fail_with_logs "mkdir $d"
    mds=$(awk '$1 == "mds" { print $2 }' "$STATE/pids")
    new=$(python3 - "$mds" "$d" "$STATE/mds.log" <<'PY'
import os, subprocess, sys, time
mds, d, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
argv = open('/proc/%d/cmdline' % mds, 'rb').read().rstrip(b'\0').split(b'\0')
data = os.urandom(1 << 20)
a = os.open(d + '/ro', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
os.write(a, data)
b = os.open(d + '/gone', os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
os.write(b, data * 3)
os.fsync(b)
os.unlink(d + '/gone')
time.sleep(2)                        # past the MDT's group commit
os.kill(mds, 9)
def gone(pid):
    try:
        return open('/proc/%d/stat' % pid).read().split()[2] == 'Z'
    except FileNotFoundError:
        return True
while not gone(mds):
    time.sleep(0.05)
time.sleep(0.3)
server = subprocess.Popen(argv, stdout=open(log, 'ab'), stderr=subprocess.STDOUT, start_new_session=True)
print(server.pid, flush=True)
os.write(a, data)
os.fsync(a)
os.close(a)
os.lseek(b, 0, 0)
if os.read(b, 3 << 20) != data * 3:
    sys.exit('the file unlinked while open did not read back after the restart')
os.close(b)
PY
) || fail_with_logs "writes across the MDS restart"
    [ -n "$new" ] || fail_with_logs "no MDS restarted"
    sed -i "s/^mds $mds\b/mds $new/" "$STATE/pids"
    for _ in $(seq 600); do grep -q "serving $FSNAME-MDT0000.*pid $new" "$STATE/mds.log" && break; sleep 0.1; done
    grep -q "serving $FSNAME-MDT0000.*pid $new" "$STATE/mds.log" || fail_with_logs "the MDS did not come back"
    # The client reconnects on its own; the release of the file goes once it has (and, as in
    # test_two_mounts, after close(2) returned).
    for _ in $(seq 600); do client_log_since "$logged" | grep -q "open files again" && break; sleep 0.1; done
    client_log_since "$logged" | grep -q "opened 2 of 2 open files again" || fail_with_logs "the MDC did not open its files again"
    sleep 1.5
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    local size
    size=$(stat -c %s "$MNT2/mdsrestart/ro")
    umount "$MNT2"
    [ "$size" = 2097152 ] || fail_with_logs "a file closed after the MDS restart shows $size bytes to another mount, not 2097152"
    "$LUSTRE_BIN/lctl" get_param -n "mdt.*.recovery_status" >"$TEST_DIR/recovery.out" || fail_with_logs "recovery_status"
    assert_contains "$TEST_DIR/recovery.out" "^status: COMPLETE$"
    assert_contains "$TEST_DIR/recovery.out" "^reopened_files: 2$"
    [ "$("$LUSTRE_BIN/lctl" get_param -n "mdt.*.recovery_time_soft")" = 60 ] || fail_with_logs "recovery_time_soft is not 60"
    rm -r "$d"
}

# A power loss of the MDS: what it had not committed is gone from its disk, and the clients'
# replays make it again. Emulated with the MDT image: copied while the MDS is cleanly stopped
# (everything committed), the MDS restarted with no commits for an hour, a file created by each of
# two mounts, written, fsynced and held open (so only the clients know them), the MDS killed, its
# mount dropped and the copy put back with what the MDS did make durable meanwhile (seq_srv, its
# FID high-water mark, fsynced as it starts and at each grant; nothing else in that window). Each
# file must come back under the FID its client knew it by (Lustre's clients allocate FIDs; with
# the MDS allocating, the replay made a new one) and on the objects its data went to (the replay
# carries the layout; without it the two replays, in whatever order they come, could take each
# other's objects); the files are opened again, their writes land, a third mount checks them.
# A fourth client creates and writes a file and is killed before the MDS comes back: no one
# replays that create, and a new file must not get its object (nor read its data in its holes).
# Replays come back in transno order whichever client reconnects first: the first mount makes a
# directory (transno T+1) in which the second then creates its file (T+2), and the first mount is
# held stopped after the power loss while the second replays (its create waits for the
# directory) and a fifth mount makes new directories the MDS commits: they take the transnos the
# lost changes had, and the first mount's replays, coming after that commit, must still be made
# again (they were once skipped as committed) and let the second's create go.
test_mds_power_loss() {
    local d=$MNT/powerloss mds image=$STATE/mdt1.img mnt=$STATE/run/mnt/$FSNAME-MDT0000 logged
    local mnt3=$TEST_DIR/mnt3 writers=() i fids=() mnt4=$TEST_DIR/mnt4 client4 gone_objid fresh_objid client1 logged2
    local mnt5=$TEST_DIR/mnt5 paths=(made1 sub/made2)
    [ -f "$image" ] || { log "  (no MDT image: the MDT is a directory; skipped)"; return 0; }
    # One stripe on OST 0: both files' objects come from one OST's ids, in creation order.
    mkdir "$d" && "$LUSTRE_BIN/lfs" setstripe -c 1 -i 0 "$d" && echo before >"$d/before" || fail_with_logs "setup in $d"
    mkdir -p "$MNT2" "$mnt3"
    LUSTRE_MOUNT_LOG=$TEST_DIR/client2.log "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" ||
        fail_with_logs "second mount"
    echo before >"$MNT2/powerloss/before2" || fail_with_logs "a create from the second mount"
    mds=$(llmount_save_mds_argv)
    kill_and_wait TERM "$mds"
    mountpoint -q "$mnt" && fail_with_logs "the MDS left $mnt mounted at a clean stop"
    cp --sparse=always "$image" "$TEST_DIR/mdt-committed.img" || fail_with_logs "copy of the MDT image"
    mds=$(llmount_start_mds --commit-interval 3600) || fail_with_logs "the MDS did not start again"
    mkdir "$d/sub" || fail_with_logs "mkdir $d/sub after the restart"
    # Each writer: creates its file, writes 1 MiB of its letter, fsyncs, holds it open until
    # told to go on, then writes another MiB and closes. The second mount's first.
    for i in 2 1; do
        local dir=$MNT
        [ $i = 2 ] && dir=$MNT2
        python3 - "$dir/powerloss/${paths[$((i - 1))]}" "$TEST_DIR/powerloss$i" "$i" <<'PY' &
import os, sys, time
path, flag, letter = sys.argv[1], sys.argv[2], b'pq'[int(sys.argv[3]) - 1:int(sys.argv[3])]
data = letter * (1 << 20)
f = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
os.write(f, data)
os.fsync(f)
open(flag + '.made', 'w').close()
while not os.path.exists(flag + '.go'):
    time.sleep(0.05)
os.write(f, data)
os.fsync(f)
os.close(f)
PY
        writers+=($!)
        HELD_OPEN+=($!)
        for _ in $(seq 300); do [ -e "$TEST_DIR/powerloss$i.made" ] && break; sleep 0.1; done
        [ -e "$TEST_DIR/powerloss$i.made" ] || fail_with_logs "file $i was not made"
        fids[$i]=$("$LUSTRE_BIN/lfs" path2fid "$dir/powerloss/${paths[$((i - 1))]}") || fail_with_logs "path2fid before the power loss"
    done
    # Another client (mnt4) creates a file after them (the next object id of OST 0), writes 1 MiB of
    # 'z', fsyncs, and is gone before the MDS comes back: nobody replays that create.
    mkdir -p "$mnt4"
    setsid "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$mnt4" -o accept_port="$TEST_PORT",foreground \
        >"$TEST_DIR/client4.log" 2>&1 </dev/null &
    client4=$!
    for _ in $(seq 300); do mountpoint -q "$mnt4" && break; sleep 0.1; done
    head -c 1048576 /dev/zero | tr '\0' z | dd of="$mnt4/powerloss/gone" bs=1M conv=fsync status=none ||
        fail_with_logs "a create and fsync'd write from a third mount"
    gone_objid=$("$LUSTRE_BIN/lfs" getstripe "$mnt4/powerloss/gone" | awk '$1 == "0" { print $2 }')
    [ -n "$gone_objid" ] || fail_with_logs "no object of $mnt4/powerloss/gone"
    kill -KILL "$client4"; wait "$client4" 2>/dev/null
    umount -l "$mnt4"
    # Power loss: the MDS dies, and its disk has only what it had made durable.
    logged=$(wc -l <"$STATE/client.log")
    client1=$(awk '$1 == "client" { print $2 }' "$STATE/pids")
    logged2=$(wc -l <"$TEST_DIR/client2.log")
    STOPPED_CLIENT=$client1
    kill -STOP "$client1"
    kill_and_wait KILL "$mds"
    cp "$mnt/seq_srv" "$TEST_DIR/seq_srv.durable" || fail_with_logs "reading seq_srv"
    umount "$mnt" || fail_with_logs "umount $mnt"
    cp --sparse=always "$TEST_DIR/mdt-committed.img" "$image" || fail_with_logs "putting the committed image back"
    mkdir -p "$TEST_DIR/mdt-restore"
    mount -o loop "$image" "$TEST_DIR/mdt-restore" && cp "$TEST_DIR/seq_srv.durable" "$TEST_DIR/mdt-restore/seq_srv" \
        && umount "$TEST_DIR/mdt-restore" || fail_with_logs "putting the durable seq_srv back"
    llmount_start_mds >/dev/null || fail_with_logs "the MDS did not come back after the power loss"
    for _ in $(seq 300); do tail -n +$((logged2 + 1)) "$TEST_DIR/client2.log" | grep -q "replaying" && break; sleep 0.1; done
    mkdir -p "$mnt5"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$mnt5" -o accept_port="$TEST_PORT" || fail_with_logs "fifth mount"
    for i in 1 2 3; do mkdir "$mnt5/powerloss/during$i" || fail_with_logs "mkdir while the second mount replays"; done
    umount "$mnt5"
    tail -n +$((logged2 + 1)) "$TEST_DIR/client2.log" | grep -q "open files again" &&
        fail_with_logs "the second mount replayed its create before the directory it is in was made again"
    "$LUSTRE_BIN/lctl" get_param -n "mdt.*.recovery_status" >"$TEST_DIR/recovery.out" || fail_with_logs "recovery_status"
    grep -q "^status: RECOVERING$" "$TEST_DIR/recovery.out" && grep -q "^queued_requests: 1$" "$TEST_DIR/recovery.out" ||
        fail_with_logs "recovery_status does not show the second mount's replay waiting: $(tr '\n' ' ' <"$TEST_DIR/recovery.out")"
    sleep 1.5   # past the MDS's commit (every second)
    kill -CONT "$client1"
    STOPPED_CLIENT=
    for _ in $(seq 600); do tail -n +$((logged2 + 1)) "$TEST_DIR/client2.log" | grep -q "open files again" && break; sleep 0.1; done
    tail -n +$((logged2 + 1)) "$TEST_DIR/client2.log" | grep -q "opened 1 of 1 open files again" ||
        fail_with_logs "the second mount did not open its file again"
    for _ in $(seq 600); do client_log_since "$logged" | grep -q "open files again" && break; sleep 0.1; done
    client_log_since "$logged" | grep -q "opened 1 of 1 open files again" || fail_with_logs "the MDC did not open the file again"
    touch "$TEST_DIR/powerloss1.go" "$TEST_DIR/powerloss2.go"
    for i in 0 1; do wait "${writers[$i]}" || fail_with_logs "writes to file $((2 - i)) held open across the power loss"; done
    client_log_since "$logged" | grep -q "replaying .* uncommitted requests" || fail_with_logs "the client replayed nothing"
    umount "$MNT2"
    sleep 1.5
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$mnt3" -o accept_port="$TEST_PORT" || fail_with_logs "third mount"
    for i in 1 2; do
        local file=$mnt3/powerloss/${paths[$((i - 1))]} letter
        letter=$(printf 'pq' | cut -c$i)
        local other size foreign
        other=$("$LUSTRE_BIN/lfs" path2fid "$file")
        size=$(stat -c %s "$file")
        foreign=$(tr -d "$letter" <"$file" | wc -c)
        [ "$other" = "${fids[$i]}" ] || { umount "$mnt3"; fail_with_logs "file $i came back as $other, not ${fids[$i]}, the FID its client knew"; }
        [ "$size" = 2097152 ] || { umount "$mnt3"; fail_with_logs "file $i has $size bytes after the power loss, not 2097152"; }
        [ "$foreign" = 0 ] || { umount "$mnt3"; fail_with_logs "$foreign bytes of file $i are not what its client wrote"; }
    done
    # A new file on OST 0 never gets the object the lost create had written to: its holes
    # read as zeros, not as another file's data.
    dd if=/dev/zero of="$mnt3/powerloss/fresh" bs=1 count=1 seek=$((2 * 1048576 - 1)) conv=fsync status=none ||
        { umount "$mnt3"; fail_with_logs "a create after the power loss"; }
    fresh_objid=$("$LUSTRE_BIN/lfs" getstripe "$mnt3/powerloss/fresh" | awk '$1 == "0" { print $2 }')
    foreign=$(tr -d '\0' <"$mnt3/powerloss/fresh" | wc -c)
    [ -e "$mnt3/powerloss/gone" ] && { umount "$mnt3"; fail_with_logs "a create no client replayed is there after the power loss"; }
    [ "$fresh_objid" != "$gone_objid" ] || { umount "$mnt3"; fail_with_logs "object $gone_objid of a lost create handed out again"; }
    [ "$foreign" = 0 ] || { umount "$mnt3"; fail_with_logs "a new file reads $foreign bytes of a lost create's data"; }
    umount "$mnt3"
    rm -r "$d"
}

# The MDT restored from a backup older than the FID sequence a mounted client creates its files
# under: the restored MDT never granted that sequence. A second mount, made after the backup,
# creates a file (its grant comes after the backup too); after the restore its next create (its
# FID taken before it learnt of the restart) must succeed under a new sequence, never the lost one
# (which the restored MDT learns from the refused FID), and the first mount's files get FIDs of
# their own. What was made after the backup is gone, what was before is there.
test_mds_restore_backup() {
    local d=$MNT/restore mds image=$STATE/mdt1.img lost made theirs
    [ -f "$image" ] || { log "  (no MDT image: the MDT is a directory; skipped)"; return 0; }
    mkdir "$d" && echo before >"$d/before" || fail_with_logs "setup in $d"
    mds=$(llmount_save_mds_argv)
    kill_and_wait TERM "$mds"
    cp --sparse=always "$image" "$TEST_DIR/mdt-backup.img" || fail_with_logs "backup of the MDT image"
    mds=$(llmount_start_mds) || fail_with_logs "the MDS did not start again"
    mkdir -p "$MNT2"
    "$LUSTRE_BIN/mount.lustre" "$TEST_NET.1@tcp:/$FSNAME" "$MNT2" -o accept_port="$TEST_PORT" || fail_with_logs "second mount"
    echo lost >"$MNT2/restore/lost" && lost=$("$LFS" path2fid "$MNT2/restore/lost") ||
        { umount "$MNT2"; fail_with_logs "a create after the backup"; }
    kill_and_wait TERM "$mds"
    cp --sparse=always "$TEST_DIR/mdt-backup.img" "$image" || { umount "$MNT2"; fail_with_logs "restoring the MDT image"; }
    llmount_start_mds >/dev/null || { umount "$MNT2"; fail_with_logs "the MDS did not start from the restored image"; }
    echo made >"$MNT2/restore/made" && made=$("$LFS" path2fid "$MNT2/restore/made") ||
        { umount "$MNT2"; fail_with_logs "a create after the restore from an older backup"; }
    umount "$MNT2"
    [ "${made%%:*}" != "${lost%%:*}" ] || fail_with_logs "the restored MDT granted the lost sequence again: $made after $lost"
    echo theirs >"$d/theirs" && theirs=$("$LFS" path2fid "$d/theirs") || fail_with_logs "a create from the first mount"
    [ "${theirs%%:*}" != "${made%%:*}" ] && [ "${theirs%%:*}" != "${lost%%:*}" ] ||
        fail_with_logs "two clients share a FID sequence: $theirs, $made, $lost"
    [ "$(cat "$d/made")" = made ] || fail_with_logs "$d/made does not read back"
    [ -e "$d/lost" ] && fail_with_logs "a file made after the backup is there after its restore"
    [ "$(cat "$d/before")" = before ] || fail_with_logs "a file of the backup is not there after its restore"
    rm -r "$d"
}

# --- run -----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || { log "SKIP: needs root (FUSE mounts for other users, setpriv, drop_caches)"; exit 0; }
chmod 755 "$TEST_DIR"    # mktemp's 0700 would stop the unprivileged user before the mount
bash "$HERE/llmount.sh" >"$TEST_DIR/llmount.out" 2>&1 || { cat "$TEST_DIR/llmount.out" >&2; fail "llmount.sh failed"; }
cat "$TEST_DIR/llmount.out"
for check in ${ONLY_CHECKS:-test_namespace test_permissions test_setid_bits test_data_stripe_1 test_data_stripe_2 test_data_stripe_all \
        test_getstripe_matches_objects test_sparse_5g test_cp_tree test_tar_roundtrip test_open_unlinked test_lfs test_lfs_status test_two_mounts test_close_to_open \
        test_direct_io test_direct_writes test_statahead test_negative_names test_close_flush test_close_then_stat test_mtimes test_rsync test_fallocate test_seek_data_hole test_fsx test_truncate_reopen test_mmap_writes test_rewrite_cached test_dbench test_selinux_label test_mds_restart_open_files test_mds_power_loss test_mds_restore_backup test_mount_errors test_fileset test_mount_t_lustre test_fuse_io_uring test_umount_dirty}; do
    run_check "$check"
done
pass
