internal import CFuse3

/// The settings negotiated with the kernel at INIT: what the filesystem asks for, and, once
/// initialised, what was granted.
public struct FuseConnection: Hashable, Sendable {
    /// Largest write request, bytes. Above 1 MiB (256 pages) the kernel rejects the session
    /// (PLATFORM-NOTES, pitfall 4), so larger values are clamped to 1 MiB.
    public var maxWrite: UInt32 = 1 << 20
    /// Largest read-ahead request, bytes (the bdi's `read_ahead_kb` caps it further).
    public var maxReadahead: UInt32 = 1 << 20
    /// Background requests (read-ahead, async reads) in flight before the kernel queues.
    public var maxBackground: UInt16 = 64
    public var congestionThreshold: UInt16 = 48
    /// Several reads of one file in flight at once (`FUSE_CAP_ASYNC_READ`).
    public var asyncRead = true
    /// The kernel caches writes and sends them later (`FUSE_CAP_WRITEBACK_CACHE`).
    public var writebackCache = false
    /// `O_TRUNC` is passed to `open` instead of a separate `setattr` (`FUSE_CAP_ATOMIC_O_TRUNC`).
    public var atomicOpenTruncate = false
    /// The kernel drops a file's cached pages whenever a getattr shows another mtime
    /// (`FUSE_CAP_AUTO_INVAL_DATA`, libfuse's default). Off, only another size drops them
    /// (and an open without `FOPEN_KEEP_CACHE`).
    public var autoInvalidateData = true
    /// The filesystem drops setuid and setgid bits itself on write, truncate and chown
    /// (`FUSE_CAP_HANDLE_KILLPRIV`): the kernel then neither asks for the attributes before a
    /// chown nor sends the mode it computed with the change (which a writer who is not the owner
    /// may not set, so its write or truncate failed with `EPERM`).
    public var handleKillPriv = false
    /// Lookups and creates in one directory run in parallel (`FUSE_CAP_PARALLEL_DIROPS`).
    public var parallelDirectoryOperations = true
    /// Files opened with `FOPEN_DIRECT_IO` may still be mapped `MAP_SHARED`
    /// (`FUSE_DIRECT_IO_ALLOW_MMAP`, Linux 6.6); once initialised, whether the kernel agreed.
    /// libfuse 3.14 cannot ask for it: `FuseInitExtension` does.
    public var directIOAllowMmap = false
    /// Requests through io_uring, a queue per CPU served on that CPU (`FUSE_OVER_IO_URING`,
    /// Linux 6.14, offered when the `fuse` module's `enable_uring` parameter is on); once
    /// initialised, whether the kernel agreed. libfuse 3.14 has no such transport: `FuseURing`.
    public var overIOURing = false
    /// The kernel's FUSE protocol version, once initialised.
    public internal(set) var protocolMajor: UInt32 = 0
    public internal(set) var protocolMinor: UInt32 = 0

    public init() {}

    static let maxWriteLimit: UInt32 = 1 << 20

    /// Applies the request to libfuse's connection at INIT and records what the kernel offers.
    mutating func apply(to connection: UnsafeMutablePointer<fuse_conn_info>) {
        let c = connection
        c.pointee.max_write = min(maxWrite, Self.maxWriteLimit)
        c.pointee.max_readahead = min(c.pointee.max_readahead, maxReadahead)
        c.pointee.max_background = UInt32(maxBackground)
        c.pointee.congestion_threshold = UInt32(congestionThreshold)
        func want(_ flag: Int32, _ on: Bool) {
            let bit = UInt32(flag)
            if on && c.pointee.capable & bit != 0 { c.pointee.want |= bit } else { c.pointee.want &= ~bit }
        }
        want(FUSE_CAP_ASYNC_READ, asyncRead)
        want(FUSE_CAP_WRITEBACK_CACHE, writebackCache)
        want(FUSE_CAP_ATOMIC_O_TRUNC, atomicOpenTruncate)
        want(FUSE_CAP_PARALLEL_DIROPS, parallelDirectoryOperations)
        want(FUSE_CAP_AUTO_INVAL_DATA, autoInvalidateData)
        want(FUSE_CAP_HANDLE_KILLPRIV, handleKillPriv)
        // Splice moves pages between pipes; our data comes from the network, not a file.
        want(FUSE_CAP_SPLICE_READ, false)
        want(FUSE_CAP_SPLICE_WRITE, false)
        want(FUSE_CAP_SPLICE_MOVE, false)
        asyncRead = c.pointee.want & UInt32(FUSE_CAP_ASYNC_READ) != 0
        writebackCache = c.pointee.want & UInt32(FUSE_CAP_WRITEBACK_CACHE) != 0
        atomicOpenTruncate = c.pointee.want & UInt32(FUSE_CAP_ATOMIC_O_TRUNC) != 0
        parallelDirectoryOperations = c.pointee.want & UInt32(FUSE_CAP_PARALLEL_DIROPS) != 0
        autoInvalidateData = c.pointee.want & UInt32(FUSE_CAP_AUTO_INVAL_DATA) != 0
        handleKillPriv = c.pointee.want & UInt32(FUSE_CAP_HANDLE_KILLPRIV) != 0
        maxWrite = c.pointee.max_write
        maxReadahead = c.pointee.max_readahead
        protocolMajor = c.pointee.proto_major
        protocolMinor = c.pointee.proto_minor
    }
}
