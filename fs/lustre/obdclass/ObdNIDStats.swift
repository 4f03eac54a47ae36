import LibCFS
import Synchronization

/// The clients of one target by NID (Lustre's `nid_stat` hash of a server obd): for each client
/// NID with an export connected, `<device>.exports.<NID>.uuid` (one client UUID per line) and
/// `<device>.exports.<NID>.stats` (the target's counters, for that NID's requests only), plus
/// `<device>.num_exports` and `<device>.exports.clear`.
///
/// A NID's files appear with its first export and go with its last (Lustre keeps them until
/// `exports.clear` is written; dropping them with the last export bounds what an OSS serving
/// thousands of passing clients keeps).  All exports from one NID share its stats, as in Lustre.
public final class ObdNIDStats: Sendable {
    /// `obdfilter.testfs-OST0000`, `mdt.testfs-MDT0000`.
    public let device: String
    private let makeStats: @Sendable () -> LProcStats
    private let tree: ParamTree

    private struct Client {
        var stats: LProcStats
        /// Client UUID of each export from this NID, by export handle.
        var exports: [UInt64: String] = [:]
    }

    private struct Table {
        var clients: [String: Client] = [:]
        /// The NID of each export, by handle.
        var nids: [UInt64: String] = [:]
    }

    private let table = Mutex(Table())

    /// A table for `device` whose per-NID stats `makeStats` makes (the target's own counter set).
    public init(device: String, tree: ParamTree = .shared, makeStats: @escaping @Sendable () -> LProcStats) {
        self.device = device
        self.tree = tree
        self.makeStats = makeStats
    }

    /// Registers `num_exports` and `exports.clear`.
    public func register() throws(LustreError) {
        try tree.register("\(device).num_exports", get: { [self] in String(exportCount) })
        do {
            try tree.register("\(device).exports.clear",
                              get: { "Write into this file to clear all nid stats and stale nid entries" },
                              set: { [self] _ in clearStats() })
        } catch {
            tree.unregister("\(device).num_exports")
            throw error
        }
    }

    /// Removes every parameter of the table (the target stops).
    public func unregister() {
        table.withLock { table in
            for nid in table.clients.keys { unregisterFiles(nid) }
            table = Table()
        }
        tree.unregister("\(device).num_exports")
        tree.unregister("\(device).exports.clear")
    }

    /// Export `handle` of client `uuid` connected from `nid` (again, after a reconnect: then
    /// nothing changes unless it came from another NID).  Returns the stats its requests count in
    /// (`exp_nid_stats`).
    @discardableResult
    public func connect(handle: UInt64, uuid: String, nid: String) -> LProcStats {
        // The files change under the table's lock, so a racing connect and disconnect from one
        // NID cannot leave them registered for a NID with no export (the tree never calls back
        // into this table while holding its own lock).
        table.withLock { table in
            if let old = table.nids[handle], old != nid {
                table.clients[old]?.exports[handle] = nil
                if table.clients[old]?.exports.isEmpty == true {
                    table.clients[old] = nil
                    unregisterFiles(old)
                }
            }
            table.nids[handle] = nid
            if table.clients[nid] != nil {
                table.clients[nid]!.exports[handle] = uuid
                return table.clients[nid]!.stats
            }
            var client = Client(stats: makeStats())
            client.exports[handle] = uuid
            table.clients[nid] = client
            registerFiles(nid, client.stats)
            return client.stats
        }
    }

    /// Export `handle` is gone (disconnect or eviction); the NID's files go with its last export.
    public func disconnect(handle: UInt64) {
        table.withLock { table in
            guard let nid = table.nids.removeValue(forKey: handle) else { return }
            table.clients[nid]?.exports[handle] = nil
            guard table.clients[nid]?.exports.isEmpty == true else { return }
            table.clients[nid] = nil
            unregisterFiles(nid)
        }
    }

    /// Exports connected now (`num_exports`).
    public var exportCount: Int { table.withLock { $0.nids.count } }

    /// The NIDs with exports now, sorted.
    public var nids: [String] { table.withLock { Array($0.clients.keys) }.sorted() }

    /// The stats of `nid`; nil if no export from it is connected.
    public func stats(nid: String) -> LProcStats? { table.withLock { $0.clients[nid]?.stats } }

    /// Empties every NID's stats (`exports.clear`); the files stay while their exports do.
    public func clearStats() {
        for stats in table.withLock({ $0.clients.values.map(\.stats) }) { stats.reset() }
    }

    private func uuidText(_ nid: String) -> String {
        let uuids = table.withLock { $0.clients[nid]?.exports.values.sorted() } ?? []
        return uuids.map { $0 + "\n" }.joined()
    }

    private func registerFiles(_ nid: String, _ stats: LProcStats) {
        let prefix = "\(device).exports.\(nid)"
        do {
            try tree.register("\(prefix).uuid", get: { [self] in uuidText(nid) })
            try tree.register("\(prefix).stats", stats: stats)
        } catch {
            // A second target of the same name in one process (tests): serving matters more.
            CWARN("\(prefix): not registered: \(error)")
        }
    }

    private func unregisterFiles(_ nid: String) {
        tree.unregister("\(device).exports.\(nid).uuid")
        tree.unregister("\(device).exports.\(nid).stats")
    }
}
