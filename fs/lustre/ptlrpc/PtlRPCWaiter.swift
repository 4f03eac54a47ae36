import Synchronization

/// One value an RPC waits for (its reply, its read bulk), handed over without an event loop.
///
/// An `EventLoopPromise` awaited from a task thread registers its callback through the loop, a
/// wake-up of that loop for every RPC; here the first of `succeed`/`fail` (from any thread) wins,
/// and resumes the waiter directly if it is already waiting. Later results are dropped.
final class PtlRPCWaiter<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var continuation: CheckedContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    func succeed(_ value: Value) { complete(.success(value)) }

    func fail(_ error: any Error) { complete(.failure(error)) }

    private func complete(_ result: Result<Value, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        waiting?.resume(with: result)
    }

    /// The value, once there; waits for it. One waiter only.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
