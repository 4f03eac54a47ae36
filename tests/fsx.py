#!/usr/bin/env python3
"""fsx.py: a file system exerciser in the spirit of fsx.

Random operations on one file through the filesystem under test, mirrored on a reference file
on a local filesystem: writes, shrinking and growing truncates, writes through a shared mmap,
hole punches, allocations, fsync and close/reopen. After every operation the sizes must agree
and a random range must read back the same. On a mismatch it prints the operation that caused
it, the last operations before it, and where the files differ, and exits 1.

    fsx.py FILE REFERENCE [--ops N] [--seed S] [--max-size BYTES]

The file is opened with O_RDWR|O_CREAT while empty, as fio and IOR open theirs; --reopen-first
makes it a non-empty file opened again (the page cache path of the mount).
"""
import argparse
import ctypes
import mmap
import os
import random
import sys

FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def punch(fd, offset, length):
    if libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, 'fallocate(PUNCH_HOLE): ' + os.strerror(errno))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('file')
    parser.add_argument('reference')
    parser.add_argument('--ops', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--max-size', type=int, default=8 << 20)
    parser.add_argument('--reopen-first', action='store_true')
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    for path in (args.file, args.reference):
        if os.path.exists(path):
            os.unlink(path)
    fa = os.open(args.file, os.O_RDWR | os.O_CREAT, 0o644)
    fb = os.open(args.reference, os.O_RDWR | os.O_CREAT, 0o644)
    if args.reopen_first:
        for fd in (fa, fb):
            os.pwrite(fd, b'\1', 0)
        os.close(fa)
        fa = os.open(args.file, os.O_RDWR)
    done = []

    def fail(message):
        a = open(args.file, 'rb').read()
        b = open(args.reference, 'rb').read()
        runs = []
        for k in range(min(len(a), len(b))):
            if a[k] != b[k]:
                if runs and runs[-1][1] == k:
                    runs[-1][1] = k + 1
                else:
                    runs.append([k, k + 1])
        print('fsx: seed %d, operation %d %s: %s' % (args.seed, len(done), done[-1], message))
        print('fsx: the operations before it: %s' % done[-8:-1])
        print('fsx: sizes %d and %d; differing ranges: %s' % (len(a), len(b), runs[:8]))
        sys.exit(1)

    def check():
        sa, sb = os.fstat(fa).st_size, os.fstat(fb).st_size
        if sa != sb:
            fail('size %d, expected %d' % (sa, sb))
        offset = rnd.randrange(0, max(sa, 1))
        length = rnd.randrange(1, 1 << 18)
        a, b = os.pread(fa, length, offset), os.pread(fb, length, offset)
        if a != b:
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            fail('read of %d bytes at %d differs from byte %d on' % (length, offset, offset + at))

    for _ in range(args.ops):
        op = rnd.choice(['write', 'write', 'write', 'truncate', 'read', 'mmap', 'punch', 'reopen', 'fsync', 'allocate'])
        size = os.fstat(fb).st_size
        if op == 'write':
            offset, length = rnd.randrange(0, args.max_size), rnd.randrange(1, 1 << 17)
            data = bytes([rnd.randrange(1, 256)]) * length
            os.pwrite(fa, data, offset)
            os.pwrite(fb, data, offset)
            done.append((op, offset, length))
        elif op == 'truncate':
            length = rnd.randrange(0, args.max_size)
            os.ftruncate(fa, length)
            os.ftruncate(fb, length)
            done.append((op, length))
        elif op == 'mmap' and size > 0:
            offset = rnd.randrange(0, size)
            length = min(rnd.randrange(1, 1 << 16), size - offset)
            data = bytes([rnd.randrange(1, 256)]) * length
            for fd in (fa, fb):
                mapped = mmap.mmap(fd, size)
                mapped[offset:offset + length] = data
                mapped.flush()
                mapped.close()
            done.append((op, offset, length))
        elif op == 'punch' and size > 0:
            offset, length = rnd.randrange(0, size), rnd.randrange(1, 1 << 18)
            punch(fa, offset, length)
            punch(fb, offset, length)
            done.append((op, offset, length))
        elif op == 'reopen':
            os.close(fa)
            fa = os.open(args.file, os.O_RDWR)
            done.append((op,))
        elif op == 'fsync':
            os.fsync(fa)
            done.append((op,))
        elif op == 'allocate':
            offset, length = rnd.randrange(0, args.max_size), rnd.randrange(1, 1 << 18)
            os.posix_fallocate(fa, offset, length)
            os.posix_fallocate(fb, offset, length)
            done.append((op, offset, length))
        else:
            done.append(('read',))
        check()
    os.close(fa)
    if open(args.file, 'rb').read() != open(args.reference, 'rb').read():
        done.append(('close',))
        fail('the file differs after close')
    os.close(fb)
    print('fsx: seed %d: %d operations, final size %d: ok' % (args.seed, args.ops, os.stat(args.reference).st_size))


if __name__ == '__main__':
    main()
