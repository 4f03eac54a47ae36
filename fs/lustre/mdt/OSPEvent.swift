import LibCFS
import Synchronization

/// A wake-up for the OSP's background loops and for creators waiting on an empty pool:
/// `signal()` resumes everyone waiting now, or the next `wait` if nobody is (so a signal sent
/// between a check and a wait is not lost).
final class OSPEvent: Sendable {
    private struct State {
        var pending = false
        var nextTicket: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    /// Wakes every waiter; if none waits, the next `wait` returns at once.
    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll(keepingCapacity: true) }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns on a signal or after `timeout` seconds, whichever comes first.
    func wait(timeout: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // The pending check and the registration are one step, so no signal falls between.
            let ticket: UInt64? = state.withLock { state in
                if state.pending {
                    state.pending = false
                    return nil
                }
                state.nextTicket &+= 1
                state.waiters[state.nextTicket] = continuation
                return state.nextTicket
            }
            guard let ticket else {
                continuation.resume()
                return
            }
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int64(max(timeout, 0) * 1000)))
                self?.expire(ticket)
            }
        }
    }

    private func expire(_ ticket: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: ticket) }?.resume()
    }
}
