import LibCFS

/// The RPC counters of one client device (`obd_svc_stats` of an OSC or MDC, printed as
/// `osc.*.stats` and `mdc.*.stats`), kept by its `PtlRPCImport`: the wait for each reply
/// (`req_waittime`), the RPCs on the wire when each one left (`req_active`), the bytes each bulk
/// RPC asked to move (`read_bytes`, `write_bytes`) and the wait per opcode (`ost_write`,
/// `mds_getattr`…), in Lustre's names, units and order.
///
/// PtlRPC does not know the services' opcodes, so the device names them.
public final class PtlRPCClientStats: Sendable {
    /// The counters, ready for `ParamTree.register(_:stats:)`.
    public let stats: LProcStats
    private let opcodeIndex: [UInt32: Int]
    private let bulkReadOpcode: UInt32?
    private let bulkWriteOpcode: UInt32?

    private static let waitTime = 0
    private static let active = 1
    private static let readBytes = 2
    private static let writeBytes = 3

    /// Counters for `opcodes` (number and Lustre name, printed in the order given, which should
    /// be Lustre's: by number). `bulkRead`/`bulkWrite` name the opcodes whose averages the
    /// import file reports as `read_data_averages`/`write_data_averages`.
    public init(opcodes: [(opcode: UInt32, name: String)], bulkRead: UInt32? = nil, bulkWrite: UInt32? = nil) {
        var counters = [
            LProcStats.Counter("req_waittime", unit: "usecs", keepsSumSquare: true),
            LProcStats.Counter("req_active", unit: "reqs", keepsSumSquare: true),
            LProcStats.Counter("read_bytes", unit: "bytes", keepsSumSquare: true),
            LProcStats.Counter("write_bytes", unit: "bytes", keepsSumSquare: true),
        ]
        var index: [UInt32: Int] = [:]
        for (opcode, name) in opcodes where index[opcode] == nil {
            index[opcode] = counters.count
            counters.append(LProcStats.Counter(name, unit: "usecs", keepsSumSquare: true))
        }
        self.stats = LProcStats(counters)
        self.opcodeIndex = index
        self.bulkReadOpcode = bulkRead
        self.bulkWriteOpcode = bulkWrite
    }

    /// One RPC left while `inflight` (itself included) were on the wire.
    func sent(inflight: Int) {
        stats.record(Self.active, Int64(inflight))
    }

    /// The reply to an RPC of `opcode` came `microseconds` after it left.
    func replied(opcode: UInt32, microseconds: Int64) {
        stats.record(Self.waitTime, microseconds)
        if let index = opcodeIndex[opcode] { stats.record(index, microseconds) }
    }

    /// A bulk RPC asked to move `bytes` (`ptlrpc_lprocfs_brw`, once per RPC, not per resend).
    func bulk(isWrite: Bool, bytes: Int) {
        stats.record(isWrite ? Self.writeBytes : Self.readBytes, Int64(bytes))
    }

    /// Mean of `req_waittime`, microseconds (0 before any reply).
    public var averageWaitMicroseconds: Int64 { Self.mean(stats.snapshot(Self.waitTime)) }

    /// Per direction with bulk RPCs so far: mean bytes per RPC and mean microseconds per RPC of
    /// the bulk opcode (0 when it has no samples).
    func dataAverages(isWrite: Bool) -> (bytesPerRPC: Int64, microsecondsPerRPC: Int64)? {
        let bytes = Self.mean(stats.snapshot(isWrite ? Self.writeBytes : Self.readBytes))
        guard bytes > 0 else { return nil }
        let opcode = isWrite ? bulkWriteOpcode : bulkReadOpcode
        let time = opcode.flatMap { opcodeIndex[$0] }.map { Self.mean(stats.snapshot($0)) } ?? 0
        return (bytes, time)
    }

    /// The time header of the clients' `rpc_stats` files (`lprocfs_stats_header` with colons):
    /// `snapshot_time:`, `start_time:` (creation or last clear), `elapsed_time:`.
    public static func rpcStatsHeader(now: WallClock.Time, start: WallClock.Time) -> String {
        func line(_ key: String, _ value: WallClock.Time) -> String {
            key + String(repeating: " ", count: max(0, 25 - key.count)) + " \(value) secs.nsecs\n"
        }
        return line("snapshot_time:", now) + line("start_time:", start) + line("elapsed_time:", now.since(start))
    }

    private static func mean(_ snapshot: LProcStats.Snapshot) -> Int64 {
        snapshot.count > 0 ? snapshot.sum / snapshot.count : 0
    }
}
