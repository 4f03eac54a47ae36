import LustreCompat

extension OSDDevice {
    /// How an OSD is opened: the I/O engine, direct I/O, and the commit cadence.
    public struct Options: Sendable {
        /// The I/O engine; `nil` probes (io_uring, else libaio, else sync).
        public var engine: IOEngineKind? = nil
        /// Requests the engine keeps in the kernel at once.
        public var queueDepth = 64
        /// Bulk reads and writes through `O_DIRECT` when a piece's memory, offset and length are
        /// 4 KiB-aligned; other pieces go through the page cache.  libaio is only asynchronous
        /// this way.  Reads lose the page cache's read-ahead and caching.
        public var directIO = false
        /// Aligned bulk writes through `O_DIRECT` even without `directIO` (Lustre's
        /// `writethrough_cache_enable=0`): the bulk goes to the disk from the buffer the
        /// network filled, as Lustre's OSD submits the bulk's pages, instead of being copied
        /// into the page cache to be written back at the next commit; reads stay cached. Half
        /// the OSS's CPU per byte written, but off by default: on image targets here, data
        /// written so came back ~20% slower on cold reads (docs/performance.md).
        public var directWrites = false
        /// Bulk reads longer than this many MiB bypass the page cache (`O_DIRECT`, read into
        /// the reply's buffer) where the object has a direct descriptor (`directWrites` or
        /// `directIO`): Lustre's `readcache_max_io_mb`, at run time
        /// `osd-ldiskfs.<target>.readcache_max_io_mb`. A streaming client's reads (read-ahead
        /// RPCs of several MiB) then cost the OSS no copy out of the page cache and no page
        /// cache upkeep, about half its CPU per byte read (docs/performance.md); short reads,
        /// random ones among them, stay cached. Lustre's default is 8; ours is lower because a
        /// cached read here is a copy in user space, not pages handed to the network.
        public var readCacheMaxIOMB = 1
        /// Seconds between background commits (`syncfs`); 0 or less turns the committer off,
        /// leaving commits to `sync()` and `close()`.
        public var commitInterval: Double = 1.0
        /// Open objects kept in the descriptor cache.
        public var objectCacheSize = 256

        public init() {}
    }
}
