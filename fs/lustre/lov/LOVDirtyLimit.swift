import LibCFS
import Synchronization

/// `osc.<device>.max_dirty_mb` of one OSC: how many bytes written by applications may be cached
/// for that OST and not yet acknowledged by it. Writers take bytes before caching and wait while
/// the limit is reached; bytes are given back when the OST has answered the RPC carrying them
/// (Lustre's `osc_enter_cache` / `osc_exit_cache`, without grants).
public final class LOVDirtyLimit: Sendable {
    /// `max_dirty_mb`, in MiB (1...4096; Lustre's default is 32).
    public let maxDirtyMB: Tunable<Int>
    private let box: Box

    private final class Box: Sendable {
        struct Waiter {
            var bytes: Int
            var continuation: CheckedContinuation<Void, Never>
        }
        struct State {
            var dirty = 0
            var waiters: [Waiter] = []
        }
        let state = Mutex(State())

        /// Wakes the waiters, oldest first, while they fit under `limit`.
        func wake(limit: Int) {
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                var ready: [CheckedContinuation<Void, Never>] = []
                while let first = state.waiters.first, state.dirty == 0 || state.dirty + first.bytes <= limit {
                    state.dirty += first.bytes
                    ready.append(first.continuation)
                    state.waiters.removeFirst()
                }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }
    }

    /// The limit of one OSC, starting at `maxDirtyMB`.
    public init(maxDirtyMB: Int = 32) {
        let box = Box()
        self.box = box
        self.maxDirtyMB = Tunable(min(max(maxDirtyMB, 1), 4096), range: 1...4096, unit: .mebibytes,
                                  onChange: { value in box.wake(limit: value << 20) })
    }

    /// Bytes cached and not yet acknowledged (`cur_dirty_bytes`).
    public var dirtyBytes: Int { box.state.withLock { $0.dirty } }

    /// Writers waiting for room.
    public var waiters: Int { box.state.withLock { $0.waiters.count } }

    /// Takes `bytes` of the limit, waiting while it is reached. A request larger than the whole
    /// limit is let through once nothing else is dirty, so it cannot wait forever.
    /// `beforeWaiting` runs once if the caller must wait: it should start sending whatever is
    /// cached but held back (partly filled RPCs), or the wait might never end.
    public func acquire(_ bytes: Int, beforeWaiting: @Sendable () -> Void) async {
        guard bytes > 0 else { return }
        let limit = maxDirtyMB.value << 20
        let taken = box.state.withLock { state -> Bool in
            guard state.waiters.isEmpty, state.dirty == 0 || state.dirty + bytes <= limit else { return false }
            state.dirty += bytes
            return true
        }
        if taken { return }
        beforeWaiting()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            box.state.withLock { $0.waiters.append(Box.Waiter(bytes: bytes, continuation: continuation)) }
            // Room may have appeared between the check and the enqueue.
            box.wake(limit: maxDirtyMB.value << 20)
        }
    }

    /// Gives back `bytes` taken by `acquire` and wakes writers that now fit.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        box.state.withLock { $0.dirty = max(0, $0.dirty - bytes) }
        box.wake(limit: maxDirtyMB.value << 20)
    }
}
