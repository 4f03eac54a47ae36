import Synchronization

/// Lets the commit barrier stop the storm's threads between operations: threads `enter` before
/// each operation and `leave` after it; `pause` returns once none is inside and keeps them out
/// until `resume`.
final class StormGate: Sendable {
    private struct State {
        var paused = false
        var active = 0
        var resumeWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func enter() async {
        while true {
            let admitted = state.withLock { state -> Bool in
                guard !state.paused else { return false }
                state.active += 1
                return true
            }
            if admitted { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let open = state.withLock { state -> Bool in
                    guard state.paused else { return true }
                    state.resumeWaiters.append(continuation)
                    return false
                }
                if open { continuation.resume() }
            }
        }
    }

    func leave() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.active -= 1
            guard state.active == 0 else { return nil }
            defer { state.idleWaiter = nil }
            return state.idleWaiter
        }
        waiter?.resume()
    }

    func pause() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                state.paused = true
                guard state.active > 0 else { return true }
                state.idleWaiter = continuation
                return false
            }
            if idle { continuation.resume() }
        }
    }

    func resume() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.paused = false
            defer { state.resumeWaiters = [] }
            return state.resumeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
