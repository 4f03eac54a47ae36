import LibCFS

/// The counters of `llite.<fsname>-<instance>.stats`, in Lustre's order and with its names
/// (`ll_stats_ops_tally`).
enum LLiteStat: Int, CaseIterable {
    case readBytes, writeBytes, open, close, flush, seek, fsync, readdir, setattr, truncate, getattr, create,
         link, unlink, symlink, mkdir, rmdir, mknod, rename, statfs, setxattr, getxattr, listxattr,
         removexattr, fallocate

    var counter: LProcStats.Counter {
        switch self {
        case .readBytes: LProcStats.Counter("read_bytes", unit: "bytes")
        case .writeBytes: LProcStats.Counter("write_bytes", unit: "bytes")
        case .open: LProcStats.Counter("open", unit: "usecs")
        case .close: LProcStats.Counter("close", unit: "usecs")
        case .flush: LProcStats.Counter("flush", unit: "usecs")
        case .seek: LProcStats.Counter("seek", unit: "usecs")
        case .fsync: LProcStats.Counter("fsync", unit: "usecs")
        case .readdir: LProcStats.Counter("readdir", unit: "usecs")
        case .setattr: LProcStats.Counter("setattr", unit: "usecs")
        case .truncate: LProcStats.Counter("truncate", unit: "usecs")
        case .getattr: LProcStats.Counter("getattr", unit: "usecs")
        case .create: LProcStats.Counter("create", unit: "usecs")
        case .link: LProcStats.Counter("link", unit: "usecs")
        case .unlink: LProcStats.Counter("unlink", unit: "usecs")
        case .symlink: LProcStats.Counter("symlink", unit: "usecs")
        case .mkdir: LProcStats.Counter("mkdir", unit: "usecs")
        case .rmdir: LProcStats.Counter("rmdir", unit: "usecs")
        case .mknod: LProcStats.Counter("mknod", unit: "usecs")
        case .rename: LProcStats.Counter("rename", unit: "usecs")
        case .statfs: LProcStats.Counter("statfs", unit: "usecs")
        case .setxattr: LProcStats.Counter("setxattr", unit: "usecs")
        case .getxattr: LProcStats.Counter("getxattr", unit: "usecs")
        case .listxattr: LProcStats.Counter("listxattr", unit: "usecs")
        case .removexattr: LProcStats.Counter("removexattr", unit: "usecs")
        case .fallocate: LProcStats.Counter("fallocate", unit: "usecs")
        }
    }

    static func makeStats() -> LProcStats { LProcStats(allCases.map(\.counter)) }
}

extension LProcStats {
    /// Times `body` into `stat` (microseconds), whether it throws or not.
    func timed<T>(_ stat: LLiteStat, _ body: () async throws(LustreError) -> T) async throws(LustreError) -> T {
        let start = MonotonicClock.nanoseconds()
        defer { record(stat, Int64((MonotonicClock.nanoseconds() - start) / 1000)) }
        return try await body()
    }
}
