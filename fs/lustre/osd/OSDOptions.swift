import LustreCompat

extension OSDDevice {
    /// How an OSD is opened: the I/O engine, direct I/O, and the commit cadence.
    public struct Options: Sendable {
        /// The I/O engine; `nil` probes (io_uring, else libaio, else sync).
        public var engine: IOEngineKind? = nil
        /// Requests the engine keeps in the kernel at once.
        public var queueDepth = 64
        /// Bulk I/O through `O_DIRECT` when a piece's memory, offset and length are 4 KiB-aligned;
        /// other pieces go through the page cache.  libaio is only asynchronous this way.
        public var directIO = false
        /// Seconds between background commits (`syncfs`); 0 or less turns the committer off,
        /// leaving commits to `sync()` and `close()`.
        public var commitInterval: Double = 1.0
        /// Open objects kept in the descriptor cache.
        public var objectCacheSize = 256

        public init() {}
    }
}
