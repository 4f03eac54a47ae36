internal import CFuse3
import Glibc
import Synchronization

/// INIT flags of the kernel's FUSE protocol that libfuse 3.14 cannot ask for, added to its INIT
/// reply on the way to `/dev/fuse` (the session's I/O goes through `fuse_session_custom_io`).
///
/// - `FUSE_DIRECT_IO_ALLOW_MMAP` (protocol 7.39, Linux 6.6). Without it the kernel refuses
///   `mmap(MAP_SHARED)` of a file opened with `FOPEN_DIRECT_IO` (`ENODEV`), which the `direct_io`
///   mount option would otherwise cost every program that maps a file shared. libfuse 3.17 has
///   the bit (`FUSE_CAP_DIRECT_IO_ALLOW_MMAP` in `want_ext`); 3.14's `want` has 32 bits.
/// - `FUSE_OVER_IO_URING` (protocol 7.42, Linux 6.14, offered when the `fuse` module's
///   `enable_uring` is on): requests through per-CPU io_uring queues (`FuseURing`), started once
///   the INIT reply that grants it has been written.
///
/// - `FUSE_PARALLEL_DIROPS` and `FUSE_HANDLE_KILLPRIV`: libfuse 3.14 takes them into `want`
///   but leaves them out of its INIT reply (the flags it copies from `want` do not include
///   them), so without this the kernel serialises lookups and readdirs in a directory and
///   sends the mode it computed with a write's or truncate's setattr.
///
/// Only the INIT exchange is looked at: the request's `unique` when it is read, the reply with
/// that `unique` when it is written. Every other read and write passes through untouched, but
/// for replies to requests that came through io_uring, which go back to their ring entries.
final class FuseInitExtension: Sendable {
    /// `FUSE_INIT_EXT`: `flags2` carries the high 32 bits of the flags.
    static let initExt: UInt32 = 1 << 30
    /// `FUSE_DIRECT_IO_ALLOW_MMAP` (bit 36), as a `flags2` bit.
    static let directIOAllowMmapHigh: UInt32 = 1 << (36 - 32)
    /// `FUSE_OVER_IO_URING` (bit 41), as a `flags2` bit.
    static let overIOURingHigh: UInt32 = LUSTRE_FUSE_OVER_IO_URING_FLAGS2
    static let initOpcode: UInt32 = 26
    /// `struct fuse_in_header`, `struct fuse_out_header`.
    static let inHeaderSize = 40
    static let outHeaderSize = 16

    /// `FUSE_PARALLEL_DIROPS` and `FUSE_HANDLE_KILLPRIV`, as INIT flag bits.
    static let parallelDirops: UInt32 = 1 << 18
    static let handleKillPriv: UInt32 = 1 << 19

    /// Whether to ask for `FUSE_DIRECT_IO_ALLOW_MMAP`.
    let wantDirectIOMmap: Bool
    /// Low INIT flags to add to libfuse's reply (`parallelDirops`, `handleKillPriv`).
    let wantFlags: UInt32
    /// Those of `wantFlags` the kernel offered in its INIT request.
    private let offeredFlags = Atomic<UInt32>(0)
    /// The io_uring transport to start if the kernel offers it; nil: not wanted.
    let uring: FuseURing?
    /// The INIT request's `unique`, 0 before it is read.
    private let initUnique = Atomic<UInt64>(0)
    /// Whether the kernel offered `FUSE_DIRECT_IO_ALLOW_MMAP` in its INIT request.
    private let kernelOffersDirectIOMmap = Atomic<Bool>(false)
    /// Whether the kernel offered `FUSE_OVER_IO_URING` in its INIT request.
    private let kernelOffersIOURing = Atomic<Bool>(false)

    init(wantDirectIOMmap: Bool, wantFlags: UInt32 = 0, uring: FuseURing? = nil) {
        self.wantDirectIOMmap = wantDirectIOMmap
        self.wantFlags = wantFlags & (Self.parallelDirops | Self.handleKillPriv)
        self.uring = uring
    }

    /// Whether the session's I/O must go through `customIO()`.
    var isNeeded: Bool { wantDirectIOMmap || wantFlags != 0 || uring != nil }

    /// The `wantFlags` the INIT reply gets (known once INIT has been read).
    var grantedFlags: UInt32 { offeredFlags.load(ordering: .acquiring) }

    /// Whether the INIT reply gets `FUSE_DIRECT_IO_ALLOW_MMAP` (known once INIT has been read).
    var grantsDirectIOMmap: Bool { wantDirectIOMmap && kernelOffersDirectIOMmap.load(ordering: .acquiring) }

    /// Whether the INIT reply gets `FUSE_OVER_IO_URING` (known once INIT has been read).
    var grantsIOURing: Bool { uring != nil && kernelOffersIOURing.load(ordering: .acquiring) }

    /// Notes an INIT request in `bytes`, a message just read from `/dev/fuse`.
    func sawRequest(_ bytes: UnsafeRawBufferPointer) {
        // fuse_in_header { len, opcode, unique, ... }, then fuse_init_in { major, minor, max_readahead, flags, flags2 }.
        guard bytes.count >= Self.inHeaderSize + 20,
              bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == Self.initOpcode else { return }
        let flags = bytes.loadUnaligned(fromByteOffset: Self.inHeaderSize + 12, as: UInt32.self)
        let flags2 = bytes.loadUnaligned(fromByteOffset: Self.inHeaderSize + 16, as: UInt32.self)
        let extended = flags & Self.initExt != 0
        kernelOffersDirectIOMmap.store(extended && flags2 & Self.directIOAllowMmapHigh != 0, ordering: .releasing)
        kernelOffersIOURing.store(extended && flags2 & Self.overIOURingHigh != 0, ordering: .releasing)
        offeredFlags.store(flags & wantFlags, ordering: .releasing)
        initUnique.store(bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self), ordering: .releasing)
    }

    /// Adds the wanted flags to the INIT reply among `iov` (out header, then `fuse_init_out`).
    /// Returns the largest request or reply body the kernel will use (max_write, max_pages)
    /// when the reply grants io_uring, else nil.
    func amendReply(_ iov: UnsafeMutableBufferPointer<iovec>) -> Int? {
        let unique = initUnique.load(ordering: .acquiring)
        guard unique != 0, grantsDirectIOMmap || grantsIOURing || grantedFlags != 0, iov.count >= 2,
              let header = iov[0].iov_base, iov[0].iov_len >= Self.outHeaderSize,
              header.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == unique,
              header.loadUnaligned(fromByteOffset: 4, as: Int32.self) == 0,
              // fuse_init_out { major, minor, max_readahead, flags, ..., max_pages, map_alignment, flags2 }.
              let body = iov[1].iov_base, iov[1].iov_len >= 36 else { return nil }
        initUnique.store(0, ordering: .releasing)
        var flags2: UInt32 = 0
        if grantsDirectIOMmap { flags2 |= Self.directIOAllowMmapHigh }
        if grantsIOURing { flags2 |= Self.overIOURingHigh }
        body.storeBytes(of: body.loadUnaligned(fromByteOffset: 12, as: UInt32.self) | Self.initExt | grantedFlags,
                        toByteOffset: 12, as: UInt32.self)
        body.storeBytes(of: body.loadUnaligned(fromByteOffset: 32, as: UInt32.self) | flags2,
                        toByteOffset: 32, as: UInt32.self)
        guard grantsIOURing else { return nil }
        // The kernel's ring payload: max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
        let maxWrite = Int(body.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        let maxPages = Int(body.loadUnaligned(fromByteOffset: 28, as: UInt16.self))
        return max(8192, maxWrite, maxPages * Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// The session's I/O: plain `read`/`writev` on the `/dev/fuse` descriptor, with the INIT
    /// exchange looked at. Capture-less C callbacks: the extension is found through the
    /// session's userdata (the `FuseSessionContext`).
    static func customIO() -> fuse_custom_io {
        var io = fuse_custom_io()
        io.read = { fd, buffer, length, userdata in
            let count = Glibc.read(fd, buffer, length)
            // Only INIT is looked at: the opcode is checked before anything else.
            if count >= FuseInitExtension.inHeaderSize, let buffer, let userdata,
               buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == FuseInitExtension.initOpcode {
                let saved = errno
                FuseSessionContext.of(userdata: userdata).initExtension
                    .sawRequest(UnsafeRawBufferPointer(start: buffer, count: count))
                errno = saved
            }
            return count
        }
        io.writev = { fd, iov, count, userdata in
            guard let iov, let userdata else { return Glibc.writev(fd, iov, count) }
            let context = FuseSessionContext.of(userdata: userdata)
            let initExtension = context.initExtension
            // A reply to a request that came through a ring entry goes back the same way.
            if let uring = initExtension.uring, uring.isActive, let taken = uring.reply(iov, count: Int(count)) {
                return taken
            }
            // Only a reply with a body can be INIT's.
            let ringPayload = count >= 2 ? initExtension.amendReply(UnsafeMutableBufferPointer(start: iov, count: Int(count))) : nil
            let written = Glibc.writev(fd, iov, count)
            if written >= 0, let ringPayload, let uring = initExtension.uring, let session = context.session {
                // The kernel has taken the INIT reply: it accepts ring entries from now on.
                uring.start(session: session, fd: fd, payloadSize: ringPayload)
            }
            return written
        }
        return io
    }
}
