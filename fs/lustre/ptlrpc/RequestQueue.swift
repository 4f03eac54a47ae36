import Synchronization

/// The queue between LNet delivering requests and a service's handler tasks.
///
/// Pushing never blocks (it runs on an event loop); a handler waiting in
/// `pop` is resumed directly with the item. Waiters are unsafe continuations:
/// each is resumed exactly once (by `push` or `close`, after leaving the
/// list under the lock), and a checked one costs an allocation per request. Memory stays bounded because LNet
/// stops reading a connection whose delivered messages are not yet released.
final class RequestQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var head = 0
        var waiters: [UnsafeContinuation<Item?, Never>] = []
        var closed = false
    }

    private let state = Mutex(State())

    func push(_ item: Item) {
        let waiter = state.withLock { state -> UnsafeContinuation<Item?, Never>? in
            if state.closed { return nil }
            if !state.waiters.isEmpty { return state.waiters.removeLast() }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    /// The next item, or nil once the queue is closed and drained.
    func pop() async -> Item? {
        if let item = state.withLock({ Self.take(&$0) }) { return item }
        return await withUnsafeContinuation { continuation in
            let ready = state.withLock { state -> Item?? in
                if let item = Self.take(&state) { return .some(item) }
                if state.closed { return .some(nil) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Whether nothing waits in the queue and `handlers - 1` handlers wait for work:
    /// the caller's request is the only one in the service.
    func isAlone(handlers: Int) -> Bool {
        state.withLock { $0.head == $0.items.count && $0.waiters.count >= handlers - 1 }
    }

    func close() {
        let waiters = state.withLock { state -> [UnsafeContinuation<Item?, Never>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    private static func take(_ state: inout State) -> Item? {
        guard state.head < state.items.count else { return nil }
        let item = state.items[state.head]
        state.head += 1
        if state.head == state.items.count {
            state.items.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head >= 1024 && state.head * 2 >= state.items.count {
            state.items.removeFirst(state.head)
            state.head = 0
        }
        return item
    }
}
