import LibCFS
import Synchronization

/// Batches concurrent requests for one expensive flush (`syncfs`, `fdatasync`) so that many
/// callers share it, the way a journal commit serves every handle that joined it.
///
/// The guarantee a caller gets is the one durability needs: the flush whose result it receives
/// *started after the caller asked*, so everything the caller did before asking is covered.  One
/// flush runs at a time; callers arriving meanwhile wait and are all served by the next one, run
/// by the first of them (leadership is handed over, so no caller does work for others longer
/// than one extra flush and no background task is needed).
final class OSDGroupCommit: Sendable {
    private enum Ticket: Sendable {
        case lead
        case done(Result<UInt64, LustreError>)
    }

    private struct State {
        var running = false
        var waiters: [UnsafeContinuation<Ticket, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Runs `flush` (or waits for a flush that starts after this call) and returns its result.
    ///
    /// Every caller passes an equivalent `flush`: whichever leads runs its own.
    func run(_ flush: @Sendable () async -> Result<UInt64, LustreError>) async -> Result<UInt64, LustreError> {
        let ticket = await withUnsafeContinuation { (continuation: UnsafeContinuation<Ticket, Never>) in
            let lead = state.withLock { s -> Bool in
                if s.running {
                    s.waiters.append(continuation)
                    return false
                }
                s.running = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        if case .done(let result) = ticket { return result }
        // Whoever waits now asked before this flush starts, so this flush covers them.
        let batch = state.withLock { s -> [UnsafeContinuation<Ticket, Never>] in
            let batch = s.waiters
            s.waiters.removeAll()
            return batch
        }
        let result = await flush()
        for waiter in batch { waiter.resume(returning: .done(result)) }
        let next = state.withLock { s -> UnsafeContinuation<Ticket, Never>? in
            if s.waiters.isEmpty {
                s.running = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume(returning: .lead)
        return result
    }
}
