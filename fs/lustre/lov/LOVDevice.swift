import LibCFS
import OSC
import ObdClass

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The client's logical object volume (`testfs-clilov-<instance>`): the table of OSTs by index,
/// each with its OSC, from which striped files (`LOVObject`) find the OSC of every stripe. OSTs
/// can be added while mounted (a newer configuration from the MGS).
public final class LOVDevice: Sendable {
    /// `<fsname>-clilov-<instance>`.
    public let name: String
    private let targets = Mutex<[UInt32: LOVTarget]>([:])

    public init(name: String) {
        self.name = name
    }

    /// Adds the OSC of OST `index` with its `max_dirty_mb`, and registers
    /// `osc.<osc>.max_dirty_mb` and `osc.<osc>.cur_dirty_bytes`. `EEXIST` if the index is taken.
    @discardableResult
    public func add(_ osc: OSCDevice, index: UInt32, maxDirtyMB: Int) throws(LustreError) -> LOVTarget {
        let target = LOVTarget(index: index, osc: osc, dirtyLimit: LOVDirtyLimit(maxDirtyMB: maxDirtyMB))
        try targets.withLock { (table: inout [UInt32: LOVTarget]) throws(LustreError) in
            guard table[index] == nil else { throw LustreError(errno: EEXIST, "\(name): OST index \(index) is already set up") }
            table[index] = target
        }
        // Grant enough for max_dirty_mb and the two RPCs a writer may cache beyond it.
        let maxDirtyMB = target.dirtyLimit.maxDirtyMB
        let maxPages = osc.maxPagesPerRPC
        osc.grant.setWanted { UInt64(maxDirtyMB.value) << 20 + 2 * UInt64(maxPages.value * OSCDevice.pageSize) }
        let prefix = "osc.\(osc.name)."
        do {
            try ParamTree.shared.register(prefix + "max_dirty_mb", tunable: target.dirtyLimit.maxDirtyMB)
            let limit = target.dirtyLimit
            try ParamTree.shared.register(prefix + "cur_dirty_bytes", get: { String(limit.dirtyBytes) })
        } catch {
            CWARN("\(name): parameters of \(osc.name) not registered: \(error)")
        }
        return target
    }

    /// Whether OST `index` is set up.
    public func contains(_ index: UInt32) -> Bool { targets.withLock { $0[index] != nil } }

    /// The target of OST `index`; `EIO` if this client has no OSC for it (an OST the
    /// configuration does not list yet).
    public func target(_ index: UInt32) throws(LustreError) -> LOVTarget {
        guard let target = targets.withLock({ $0[index] }) else {
            throw LustreError(errno: EIO, "\(name): no OSC for OST index \(index)")
        }
        return target
    }

    /// Every target, by index.
    public var allTargets: [LOVTarget] {
        targets.withLock { Array($0.values) }.sorted { $0.index < $1.index }
    }

    /// Removes every target (their parameters too) and returns them, for disconnection.
    public func removeAll() -> [LOVTarget] {
        let all = targets.withLock { table -> [LOVTarget] in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for target in all {
            _ = ParamTree.shared.unregister("osc.\(target.osc.name).max_dirty_mb")
            _ = ParamTree.shared.unregister("osc.\(target.osc.name).cur_dirty_bytes")
        }
        return all.sorted { $0.index < $1.index }
    }
}
