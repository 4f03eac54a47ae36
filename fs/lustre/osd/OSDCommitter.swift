import LibCFS
import Synchronization

/// Transaction numbers and their commit: the OSD's half of Lustre's `last_committed`.
///
/// A transno is taken when an operation has *finished* changing the ext4 tree, so at any moment
/// every transno up to the counter belongs to completed work.  A commit snapshots the counter,
/// persists it (`last_transno`), runs `syncfs`, and only then declares the snapshot durable:
/// whatever completed before the sync started is on disk after it.  Commits are grouped
/// (`OSDGroupCommit`), so concurrent `sync()` callers share one `syncfs`.
final class OSDCommitter: Sendable {
    private let counter: Atomic<UInt64>
    private let committed: Atomic<UInt64>
    private let callbacks = Mutex<[@Sendable (UInt64) -> Void]>([])
    private let group = OSDGroupCommit()

    /// Starts numbering after `lastTransno` (read back from disk), which is also committed.
    init(lastTransno: UInt64) {
        counter = Atomic(lastTransno)
        committed = Atomic(lastTransno)
    }

    /// Numbers a completed operation.
    func assign() -> UInt64 {
        counter.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
    }

    /// The last number handed out.
    var lastAssigned: UInt64 { counter.load(ordering: .sequentiallyConsistent) }

    /// The highest number known durable.
    var lastCommitted: UInt64 { committed.load(ordering: .acquiring) }

    func addCallback(_ callback: @escaping @Sendable (UInt64) -> Void) {
        callbacks.withLock { $0.append(callback) }
    }

    /// Commits everything completed before this call.
    ///
    /// `persist(target)` must make every completed operation durable (and record `target`);
    /// it runs once per group of concurrent callers.
    func commit(_ persist: @escaping @Sendable (UInt64) async throws(LustreError) -> Void) async throws(LustreError) -> UInt64 {
        let result = await group.run { [self] () async -> Result<UInt64, LustreError> in
            let target = counter.load(ordering: .sequentiallyConsistent)
            do throws(LustreError) {
                try await persist(target)
            } catch {
                return .failure(error)
            }
            advance(to: target)
            return .success(lastCommitted)
        }
        return try result.get()
    }

    /// Publishes `target` as committed and tells the callbacks, if it moved forward.
    private func advance(to target: UInt64) {
        var current = committed.load(ordering: .acquiring)
        while current < target {
            let (exchanged, original) = committed.compareExchange(
                expected: current, desired: target, successOrdering: .acquiringAndReleasing,
                failureOrdering: .acquiring)
            if exchanged {
                for callback in callbacks.withLock({ $0 }) { callback(target) }
                return
            }
            current = original
        }
    }
}
