import LibCFS
import Synchronization

/// Counts what the load generator did and the longest stretch with no RPC completing.
final class SelftestCounters: Sendable {
    struct Snapshot {
        var ops = 0
        var bytes = 0
        var errors = 0
        var lastError: String?
        var lastSuccess: UInt64 = MonotonicClock.nanoseconds()
        var longestGap: UInt64 = 0
    }

    private let state = Mutex(Snapshot())

    func succeeded(bytes: Int) {
        state.withLock {
            let now = MonotonicClock.nanoseconds()
            $0.ops += 1
            $0.bytes += bytes
            $0.longestGap = max($0.longestGap, now > $0.lastSuccess ? now - $0.lastSuccess : 0)
            $0.lastSuccess = now
        }
    }

    func failed(_ error: String) {
        state.withLock {
            $0.errors += 1
            $0.lastError = error
        }
    }

    func snapshot() -> Snapshot { state.withLock { $0 } }
}
