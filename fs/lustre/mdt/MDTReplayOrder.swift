import LibCFS
import Synchronization

/// Puts the replays of all clients in transno order after a restart that lost changes (a power
/// loss): a replay waits until every lower transno the MDT lost has been made again, as Lustre's
/// recovery makes replays wait for `obd_next_recovery_transno`. A file one client created in a
/// directory another client made is then made after the directory, whichever client reconnects
/// first.
///
/// Only transnos above `lastTransnoAtStart` take part (the others survived and are not redone).
/// No list of clients tells which lost transnos will ever come back (the MDT's own changes, a
/// client that died), so a gap no replay has filled for `gapTimeout` is passed over: the lowest
/// replay a client is trying goes. A replay below the next transno (its turn was passed over)
/// goes at once. A replay waits in the service for a while at most (`waitTurn(_:within:)`),
/// then its client is told to send it again (`EAGAIN`), so neither a service thread nor the
/// client's timeout is spent on a long wait.
final class MDTReplayOrder: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        /// The lowest transno not made again yet nor passed over.
        var next: UInt64
        /// Replays waiting in the service now, by transno.
        var waiting: [UInt64: [Waiter]] = [:]
        /// Transnos whose replays clients are trying (waiting now or told to send again).
        var tried: Set<UInt64> = []
        /// When a replay was last made again or a gap passed over, or a wait began (nanoseconds).
        var progress: UInt64 = 0
        var timerRunning = false
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    private let gapTimeout: UInt64

    /// Orders the replays of transnos above `base`; a gap is passed over after `gapTimeout` seconds.
    init(after base: UInt64, gapTimeout: Double) {
        state = Mutex(State(next: base &+ 1))
        self.gapTimeout = UInt64(max(gapTimeout, 0) * 1e9)
    }

    /// Whether the replay of `transno` may be made again now, waiting `within` seconds at most
    /// for its turn. After true, call `done(transno)` once it is made (or failed).
    func waitTurn(_ transno: UInt64, within seconds: Double) async -> Bool {
        let now = MonotonicClock.nanoseconds()
        let id: UInt64? = state.withLock { state in
            guard transno > state.next else { return nil }
            // The gap clock starts with the first replay that waits (one passed over and never
            // sent again does not count).
            if !state.tried.contains(where: { $0 > state.next }) { state.progress = now }
            state.tried.insert(transno)
            state.nextID &+= 1
            return state.nextID
        }
        guard let id else { return true }
        startTimer()
        CDEBUG(.ha, "mdt: replay of transno \(transno) waits for the lower ones")
        let wait = UInt64(max(seconds, 0.01) * 1e9)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let goes = state.withLock { state -> Bool in
                guard transno > state.next else { return true }
                state.waiting[transno, default: []].append(Waiter(id: id, continuation: continuation))
                return false
            }
            if goes {
                continuation.resume(returning: true)
                return
            }
            Task { [self] in
                try? await Task.sleep(nanoseconds: wait)
                let expired = state.withLock { state -> Waiter? in
                    guard let index = state.waiting[transno]?.firstIndex(where: { $0.id == id }) else { return nil }
                    let waiter = state.waiting[transno]!.remove(at: index)
                    if state.waiting[transno]!.isEmpty { state.waiting.removeValue(forKey: transno) }
                    return waiter
                }
                expired?.continuation.resume(returning: false)
            }
        }
    }

    /// `next_transno` and `queued_requests` of `recovery_status`: the lowest lost transno not
    /// made again nor passed over yet, and the replays above it clients are trying.
    var status: (next: UInt64, queued: Int) {
        state.withLock { state in (state.next, state.tried.count { $0 > state.next }) }
    }

    /// The replay of `transno` was made again (or failed): the next transno's replay goes.
    func done(_ transno: UInt64) {
        let now = MonotonicClock.nanoseconds()
        let wake = state.withLock { state -> [Waiter] in
            state.tried.remove(transno)
            guard transno >= state.next else { return [] }
            state.next = transno &+ 1
            state.progress = now
            return state.waiting.removeValue(forKey: state.next) ?? []
        }
        for waiter in wake { waiter.continuation.resume(returning: true) }
    }

    private func startTimer() {
        let start = state.withLock { state -> Bool in
            defer { state.timerRunning = true }
            return !state.timerRunning
        }
        if start { Task { [self] in await passGaps() } }
    }

    /// While clients try replays that must wait: each time none has been made again for
    /// `gapTimeout`, the lowest one tried goes (what lies below it is taken as lost for good).
    private func passGaps() async {
        while true {
            try? await Task.sleep(nanoseconds: max(gapTimeout / 4, 1_000_000))
            let now = MonotonicClock.nanoseconds()
            let (wake, skipped, stop) = state.withLock { state in
                // Tried transnos at or below `next` may go: only those above it wait.
                state.tried = state.tried.filter { $0 > state.next }
                guard let lowest = state.tried.min() else {
                    state.timerRunning = false
                    return ([Waiter](), ClosedRange<UInt64>?.none, true)
                }
                guard now &- state.progress >= gapTimeout else { return ([], nil, false) }
                let skipped = state.next...(lowest - 1)
                state.next = lowest
                state.progress = now
                return (state.waiting.removeValue(forKey: lowest) ?? [], skipped, false)
            }
            if let skipped {
                CWARN("mdt: no client replayed transnos \(skipped.lowerBound)-\(skipped.upperBound) within "
                      + "\(Double(gapTimeout) / 1e9) s: replaying on from \(skipped.upperBound + 1)")
            }
            for waiter in wake { waiter.continuation.resume(returning: true) }
            if stop { return }
        }
    }
}
