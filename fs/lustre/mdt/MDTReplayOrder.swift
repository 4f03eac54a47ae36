import LibCFS
import Synchronization

/// Decides when a client's replay (`MSG_REPLAY`) is made again after a restart, as Lustre's
/// recovery orders replays by `obd_next_recovery_transno`.
///
/// A replay at or below `lastTransnoAtStart`, the last transno in the log when this start opened
/// it, survived and has nothing to redo. Not `lastCommitted`: after a power loss the transnos go
/// on from what survived, so what this start made and committed since may already have reached
/// the numbers the lost changes had. A replay above it was lost and is made again once every
/// lower lost transno has been: a file one client created in a directory another client made is
/// made after the directory, whichever client reconnects first.
///
/// No list of clients tells which lost transnos will ever come back (the MDT's own changes, a
/// client that died), so a gap no replay has filled for `gapTimeout` is passed over: the lowest
/// replay a client is trying goes. A replay below the next transno (its turn was passed over)
/// goes at once. A replay waits in the service for a while at most, then its client is told to
/// send it again (`EAGAIN`), so neither a service thread nor the client's timeout is spent on a
/// long wait.
final class MDTReplayOrder: Sendable {
    /// What to do with a replay now.
    enum Turn: Equatable {
        /// Its change survived: answer with its transno, redo nothing.
        case survived
        /// Make it again now; then call `done(transno)`.
        case now
        /// Not yet: the client sends it again (`EAGAIN`).
        case later
    }

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

    let lastTransnoAtStart: UInt64
    private let state: Mutex<State>
    private let gapTimeout: UInt64

    /// Orders the replays of transnos above `lastTransnoAtStart`; a gap is passed over after
    /// `gapTimeout` seconds.
    init(lastTransnoAtStart: UInt64, gapTimeout: Double) {
        self.lastTransnoAtStart = lastTransnoAtStart
        state = Mutex(State(next: lastTransnoAtStart &+ 1))
        self.gapTimeout = UInt64(max(gapTimeout, 0) * 1e9)
    }

    /// The turn of the replay of `transno` (0: a replay with no change of its own, an open
    /// again: `now`, and no `done` needed), waiting `within` seconds at most for it.
    func turn(_ transno: UInt64, within seconds: Double) async -> Turn {
        guard transno != 0 else { return .now }
        guard transno > lastTransnoAtStart else { return .survived }
        let wait = UInt64(max(seconds, 0.01) * 1e9)
        let went = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let now = MonotonicClock.nanoseconds()
            let registered = state.withLock { state -> (id: UInt64, startTimer: Bool)? in
                guard transno > state.next else { return nil }
                // The gap clock starts with the first replay that waits (one passed over and
                // never sent again does not count).
                if !state.tried.contains(where: { $0 > state.next }) { state.progress = now }
                state.tried.insert(transno)
                state.nextID &+= 1
                state.waiting[transno, default: []].append(Waiter(id: state.nextID, continuation: continuation))
                defer { state.timerRunning = true }
                return (state.nextID, !state.timerRunning)
            }
            guard let registered else {
                continuation.resume(returning: true)
                return
            }
            CDEBUG(.ha, "mdt: replay of transno \(transno) waits for the lower ones")
            if registered.startTimer { Task { [self] in await passGaps() } }
            Task { [self] in
                try? await Task.sleep(nanoseconds: wait)
                let expired = state.withLock { state -> Waiter? in
                    guard let index = state.waiting[transno]?.firstIndex(where: { $0.id == registered.id }) else { return nil }
                    let waiter = state.waiting[transno]!.remove(at: index)
                    if state.waiting[transno]!.isEmpty { state.waiting.removeValue(forKey: transno) }
                    return waiter
                }
                expired?.continuation.resume(returning: false)
            }
        }
        return went ? .now : .later
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
