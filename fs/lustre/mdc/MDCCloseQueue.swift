import LibCFS
import Synchronization

/// Closes that tell the MDS nothing but the close itself (the file was not written here), sent
/// in the background, many per `MDS_BATCH` RPC: the FUSE release of a file does not wait for its
/// close, so each one need not cost an RPC of its own. A close waits at most `delay` for others
/// to join it, or goes at once with `limit` of them. Closes that carry a size (the client wrote
/// the file) are never queued: they get a transno and may need replay.
final class MDCCloseQueue: Sendable {
    /// How long a queued close waits for others.
    static let delay: Duration = .milliseconds(5)
    /// Closes per batch at most.
    static let limit = 64

    private struct State {
        var handles: [UInt64] = []
        var timerArmed = false
    }

    /// Closes the handles it is given (one batch), reporting its own errors.
    typealias Send = @Sendable ([UInt64]) async -> Void

    private let state = Mutex(State())

    var isEmpty: Bool { state.withLock { $0.handles.isEmpty } }

    func add(_ handle: UInt64, send: @escaping Send) {
        enum Next { case none, sendNow([UInt64]), armTimer }
        let next = state.withLock { state -> Next in
            state.handles.append(handle)
            if state.handles.count >= Self.limit {
                defer { state.handles = [] }
                return .sendNow(state.handles)
            }
            if state.timerArmed { return .none }
            state.timerArmed = true
            return .armTimer
        }
        switch next {
        case .none:
            break
        case .sendNow(let handles):
            Task { await send(handles) }
        case .armTimer:
            Task {
                try? await Task.sleep(for: Self.delay)
                let handles = state.withLock { state -> [UInt64] in
                    state.timerArmed = false
                    defer { state.handles = [] }
                    return state.handles
                }
                if !handles.isEmpty { await send(handles) }
            }
        }
    }

    /// Sends what is queued now and waits for it.
    func flush(send: Send) async {
        let handles = state.withLock { state -> [UInt64] in
            defer { state.handles = [] }
            return state.handles
        }
        if !handles.isEmpty { await send(handles) }
    }
}
