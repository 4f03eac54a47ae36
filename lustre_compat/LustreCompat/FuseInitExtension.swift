internal import CFuse3
import Glibc
import Synchronization

/// INIT flags of the kernel's FUSE protocol that libfuse 3.14 cannot ask for, added to its INIT
/// reply on the way to `/dev/fuse` (the session's I/O goes through `fuse_session_custom_io`).
///
/// The one used: `FUSE_DIRECT_IO_ALLOW_MMAP` (protocol 7.39, Linux 6.6). Without it the kernel
/// refuses `mmap(MAP_SHARED)` of a file opened with `FOPEN_DIRECT_IO` (`ENODEV`), which the
/// `direct_io` mount option would otherwise cost every program that maps a file shared. libfuse
/// 3.17 has the bit (`FUSE_CAP_DIRECT_IO_ALLOW_MMAP` in `want_ext`); 3.14's `want` has 32 bits.
///
/// Only the INIT exchange is looked at: the request's `unique` when it is read, the reply with
/// that `unique` when it is written. Every other read and write passes through untouched.
final class FuseInitExtension: Sendable {
    /// `FUSE_INIT_EXT`: `flags2` carries the high 32 bits of the flags.
    static let initExt: UInt32 = 1 << 30
    /// `FUSE_DIRECT_IO_ALLOW_MMAP` (bit 36), as a `flags2` bit.
    static let directIOAllowMmapHigh: UInt32 = 1 << (36 - 32)
    static let initOpcode: UInt32 = 26
    /// `struct fuse_in_header`, `struct fuse_out_header`.
    static let inHeaderSize = 40
    static let outHeaderSize = 16

    /// Whether to ask for `FUSE_DIRECT_IO_ALLOW_MMAP`.
    let wantDirectIOMmap: Bool
    /// The INIT request's `unique`, 0 before it is read.
    private let initUnique = Atomic<UInt64>(0)
    /// Whether the kernel offered `FUSE_DIRECT_IO_ALLOW_MMAP` in its INIT request.
    private let kernelOffersDirectIOMmap = Atomic<Bool>(false)

    init(wantDirectIOMmap: Bool) {
        self.wantDirectIOMmap = wantDirectIOMmap
    }

    /// Whether the INIT reply gets `FUSE_DIRECT_IO_ALLOW_MMAP` (known once INIT has been read).
    var grantsDirectIOMmap: Bool { wantDirectIOMmap && kernelOffersDirectIOMmap.load(ordering: .acquiring) }

    /// Notes an INIT request in `bytes`, a message just read from `/dev/fuse`.
    func sawRequest(_ bytes: UnsafeRawBufferPointer) {
        // fuse_in_header { len, opcode, unique, ... }, then fuse_init_in { major, minor, max_readahead, flags, flags2 }.
        guard bytes.count >= Self.inHeaderSize + 20,
              bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == Self.initOpcode else { return }
        let flags = bytes.loadUnaligned(fromByteOffset: Self.inHeaderSize + 12, as: UInt32.self)
        let flags2 = bytes.loadUnaligned(fromByteOffset: Self.inHeaderSize + 16, as: UInt32.self)
        let offered = flags & Self.initExt != 0 && flags2 & Self.directIOAllowMmapHigh != 0
        kernelOffersDirectIOMmap.store(offered, ordering: .releasing)
        initUnique.store(bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self), ordering: .releasing)
    }

    /// Adds the wanted flags to the INIT reply among `iov` (out header, then `fuse_init_out`).
    func amendReply(_ iov: UnsafeMutableBufferPointer<iovec>) {
        let unique = initUnique.load(ordering: .acquiring)
        guard unique != 0, grantsDirectIOMmap, iov.count >= 2,
              let header = iov[0].iov_base, iov[0].iov_len >= Self.outHeaderSize,
              header.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == unique,
              header.loadUnaligned(fromByteOffset: 4, as: Int32.self) == 0,
              // fuse_init_out { major, minor, max_readahead, flags, ..., max_pages, map_alignment, flags2 }.
              let body = iov[1].iov_base, iov[1].iov_len >= 36 else { return }
        initUnique.store(0, ordering: .releasing)
        body.storeBytes(of: body.loadUnaligned(fromByteOffset: 12, as: UInt32.self) | Self.initExt,
                        toByteOffset: 12, as: UInt32.self)
        body.storeBytes(of: body.loadUnaligned(fromByteOffset: 32, as: UInt32.self) | Self.directIOAllowMmapHigh,
                        toByteOffset: 32, as: UInt32.self)
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
            // Only a reply with a body can be INIT's.
            if let iov, let userdata, count >= 2 {
                FuseSessionContext.of(userdata: userdata).initExtension
                    .amendReply(UnsafeMutableBufferPointer(start: iov, count: Int(count)))
            }
            return Glibc.writev(fd, iov, count)
        }
        return io
    }
}
