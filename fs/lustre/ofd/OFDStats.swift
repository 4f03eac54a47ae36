import LibCFS

/// The counters of `obdfilter.<target>.stats` (and of each client NID's
/// `exports.<NID>.stats` and each job's entry in `job_stats`), in Lustre's order and units:
/// bytes moved per direction, then the service time of each operation; with the sum of squares,
/// as Lustre 2.15 prints them (`LPROCFS_TYPE_BYTES_FULL`, `LPROCFS_TYPE_LATENCY`).
enum OFDCounter: Int, CaseIterable {
    case readBytes, writeBytes, read, write, getattr, setattr, punch, sync, destroy, create, statfs, fallocate, seek

    var name: String {
        switch self {
        case .readBytes: "read_bytes"
        case .writeBytes: "write_bytes"
        default: "\(self)"
        }
    }

    var declaration: LProcStats.Counter {
        let unit = self == .readBytes || self == .writeBytes ? "bytes" : "usecs"
        return LProcStats.Counter(name, unit: unit, keepsSumSquare: true)
    }

    static var declarations: [LProcStats.Counter] { allCases.map(\.declaration) }

    static func makeStats() -> LProcStats { LProcStats(declarations) }
}
