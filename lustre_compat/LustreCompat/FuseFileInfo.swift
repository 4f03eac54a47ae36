internal import CFuse3

/// What the kernel says about an open file in a request: its `open(2)` flags and the handle the
/// filesystem chose at open.
public struct FuseFileInfo: Hashable, Sendable {
    /// The `open(2)` flags (in `open`, `create`, `release`; 0 elsewhere).
    public var flags: Int32
    /// The handle the filesystem returned from `open`/`create`/`opendir`.
    public var handle: UInt64
    /// A write from the page cache (credentials of the request are not the writer's).
    public var isWritePage: Bool
    /// The lock owner (in `flush` and `release`).
    public var lockOwner: UInt64

    init(_ info: UnsafeMutablePointer<fuse_file_info>) {
        flags = info.pointee.flags
        handle = info.pointee.fh
        isWritePage = info.pointee.writepage != 0
        lockOwner = info.pointee.lock_owner
    }
}

/// How the filesystem answers an `open`, `create` or `opendir`: the handle to send back with every
/// later request on the file, and cache behaviour.
public struct FuseOpenReply: Hashable, Sendable {
    public var handle: UInt64
    /// Bypass the page cache for this open file.
    public var directIO = false
    /// Keep cached pages from an earlier open (the file did not change in between).
    public var keepCache = false
    /// For `opendir`: let the kernel cache the entries.
    public var cacheDirectory = false
    /// `close(2)` of this open file sends no `FLUSH` (`FOPEN_NOFLUSH`, Linux 5.16): nothing
    /// written through it can wait in the filesystem. The kernel ignores it under its own
    /// writeback cache.
    public var noFlush = false

    public init(handle: UInt64, directIO: Bool = false, keepCache: Bool = false, noFlush: Bool = false) {
        self.handle = handle
        self.directIO = directIO
        self.keepCache = keepCache
        self.noFlush = noFlush
    }

    func fill(_ info: inout fuse_file_info) {
        info.fh = handle
        info.direct_io = directIO ? 1 : 0
        info.keep_cache = keepCache ? 1 : 0
        info.cache_readdir = cacheDirectory ? 1 : 0
        info.noflush = noFlush ? 1 : 0
    }
}
