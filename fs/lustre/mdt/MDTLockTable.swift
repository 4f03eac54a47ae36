import LibCFS
import ObdClass
import Synchronization

/// Per-object exclusive locks for namespace operations, keyed by FID (a directory whose entries
/// change, an inode whose names or attributes change). An operation takes all its keys at once,
/// in FID order, so two operations never wait on each other in a cycle; waiting suspends the
/// task, never a thread. `LustreFID.zero` is the rename lock (directory moves between parents).
final class MDTLockTable: Sendable {
    private let held = Mutex<[LustreFID: [CheckedContinuation<Void, Never>]]>([:])

    /// Locks every key (deduplicated, in order); release with `unlock`.
    func lock(_ keys: [LustreFID]) async -> [LustreFID] {
        let sorted = Array(Set(keys)).sorted()
        for key in sorted {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let acquired = held.withLock { held -> Bool in
                    if held[key] == nil {
                        held[key] = []
                        return true
                    }
                    held[key]!.append(continuation)
                    return false
                }
                if acquired { continuation.resume() }
            }
        }
        return sorted
    }

    /// Releases keys taken by `lock`; each goes to its first waiter, if any.
    func unlock(_ keys: [LustreFID]) {
        for key in keys {
            let next = held.withLock { held -> CheckedContinuation<Void, Never>? in
                guard var waiters = held[key] else { return nil }
                if waiters.isEmpty {
                    held.removeValue(forKey: key)
                    return nil
                }
                let first = waiters.removeFirst()
                held[key] = waiters
                return first
            }
            next?.resume()
        }
    }
}
