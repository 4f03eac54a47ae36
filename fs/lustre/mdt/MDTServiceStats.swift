import LibCFS

/// The counters of `mdt.<target>.md_stats` (and of each client NID's `exports.<NID>.stats` and
/// each job's entry in `job_stats`), with Lustre's names and order (`LPROC_MDT_*`) and service
/// times in microseconds with their sum of squares (`LPROCFS_TYPE_LATENCY`). Lustre counts a lookup as getattr, a removexattr and a layout
/// change as setxattr, a file, symlink or node creation as mknod; `readpage` (our readdir) and
/// `readlink` are added at the end, as they have no Lustre counter.
enum MDTServiceCounter: Int, CaseIterable {
    case open, close, mknod, link, unlink, mkdir, rmdir, rename, getattr, setattr, getxattr, setxattr, statfs, sync
    case readpage, readlink

    var name: String { "\(self)" }

    static var declarations: [LProcStats.Counter] {
        allCases.map { LProcStats.Counter($0.name, unit: "usecs", keepsSumSquare: true) }
    }

    static func makeStats() -> LProcStats { LProcStats(declarations) }
}
