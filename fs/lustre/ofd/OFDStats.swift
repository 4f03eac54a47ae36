import LibCFS

/// The counters of `obdfilter.<target>.stats`, in Lustre's order and units: bytes moved per
/// direction, then the service time of each operation.
enum OFDCounter: Int, CaseIterable {
    case readBytes, writeBytes, read, write, getattr, setattr, punch, sync, destroy, create, statfs

    var declaration: LProcStats.Counter {
        switch self {
        case .readBytes: LProcStats.Counter("read_bytes", unit: "bytes")
        case .writeBytes: LProcStats.Counter("write_bytes", unit: "bytes")
        case .read: LProcStats.Counter("read", unit: "usecs")
        case .write: LProcStats.Counter("write", unit: "usecs")
        case .getattr: LProcStats.Counter("getattr", unit: "usecs")
        case .setattr: LProcStats.Counter("setattr", unit: "usecs")
        case .punch: LProcStats.Counter("punch", unit: "usecs")
        case .sync: LProcStats.Counter("sync", unit: "usecs")
        case .destroy: LProcStats.Counter("destroy", unit: "usecs")
        case .create: LProcStats.Counter("create", unit: "usecs")
        case .statfs: LProcStats.Counter("statfs", unit: "usecs")
        }
    }

    static func makeStats() -> LProcStats { LProcStats(allCases.map(\.declaration)) }
}
