import LibCFS
import ObdClass
import Synchronization

/// Files the MDS reported without an SELinux label (`MDTAttributeHints.noSELinuxLabel`), each
/// trusted for `lifetime` after the report: `ls -l` asks every file for `security.selinux`, and
/// the attributes the lookup just brought already say there is none, so the answer (`ENODATA`)
/// costs no MDS round trip. The staleness allowed is the attributes' own (the mount's attribute
/// timeout); this client's own changes of a label drop its file's entry.
final class LLiteLabelCache: Sendable {
    /// Files remembered at most; past it, expired entries go, then all.
    static let capacity = 8192

    private let lifetime: UInt64
    private let unlabelledUntil = Mutex<[LustreFID: UInt64]>([:])

    init(lifetime: Double) {
        self.lifetime = UInt64(max(0, lifetime) * 1e9)
    }

    /// Takes in what `attributes` (fresh from the MDS) say of their file's label.
    func note(_ attributes: MDTAttributes) {
        guard lifetime > 0 else { return }
        let now = MonotonicClock.nanoseconds()
        unlabelledUntil.withLock { table in
            guard attributes.hints.contains(.noSELinuxLabel) else {
                table.removeValue(forKey: attributes.fid)
                return
            }
            if table.count >= Self.capacity && table[attributes.fid] == nil {
                table = table.filter { $0.value > now }
                if table.count >= Self.capacity { table.removeAll(keepingCapacity: true) }
            }
            table[attributes.fid] = now + lifetime
        }
    }

    /// Whether `fid` is known to have no SELinux label.
    func isUnlabelled(_ fid: LustreFID) -> Bool {
        let now = MonotonicClock.nanoseconds()
        return unlabelledUntil.withLock { ($0[fid] ?? 0) > now }
    }

    func forget(_ fid: LustreFID) {
        _ = unlabelledUntil.withLock { $0.removeValue(forKey: fid) }
    }
}
