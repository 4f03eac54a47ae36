import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The FIDs of the files this client creates (Lustre's `lu_client_seq`): object ids of a
/// sequence the MDS granted this client alone (`SEQ_QUERY`), taken in order, a new sequence
/// asked for when one runs out. A create then carries its FID, so when an MDS that lost it (a
/// crash before its commit) is sent it again, the file comes back under the FID this client
/// already knows it by. The grant is durable on the MDS before it answers, and survives MDS
/// restarts on this side: no FID is ever handed out twice.
final class MDCFIDClient: Sendable {
    private struct State {
        var sequence: UInt64 = 0
        var width: UInt32 = 0
        var next: UInt32 = 1
        /// The MDS does not grant sequences: it allocates every FID.
        var refused = false
        /// A `SEQ_QUERY` is on its way; these creates wait for it.
        var querying = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let query: @Sendable () async throws(LustreError) -> MDTSequenceReply

    /// `query` asks the MDS for a sequence.
    init(query: @escaping @Sendable () async throws(LustreError) -> MDTSequenceReply) {
        self.query = query
    }

    /// The sequence FIDs are taken from now (0 before the first).
    var sequence: UInt64 { state.withLock { $0.sequence } }

    /// `seq.cli-<mdc>.fid`: the last FID handed out, as Lustre prints it (zero before the first).
    var lastFID: LustreFID {
        state.withLock { $0.next > 1 ? LustreFID(sequence: $0.sequence, objectID: $0.next - 1) : .zero }
    }

    /// `seq.cli-<mdc>.width`: object ids per sequence (0 before the first grant).
    var width: UInt32 { state.withLock { $0.width } }

    /// The FID for the next new file; nil when the MDS allocates FIDs itself.
    func allocate() async throws(LustreError) -> LustreFID? {
        while true {
            enum Step { case fid(LustreFID?), ask, wait }
            let step = state.withLock { state -> Step in
                if state.refused { return .fid(nil) }
                if state.sequence != 0 && state.next <= state.width {
                    defer { state.next += 1 }
                    return .fid(LustreFID(sequence: state.sequence, objectID: state.next))
                }
                if state.querying { return .wait }
                state.querying = true
                return .ask
            }
            switch step {
            case .fid(let fid):
                return fid
            case .wait:
                await withCheckedContinuation { continuation in
                    let queued = state.withLock { state -> Bool in
                        guard state.querying else { return false }
                        state.waiters.append(continuation)
                        return true
                    }
                    if !queued { continuation.resume() }
                }
            case .ask:
                var failure: LustreError?
                do throws(LustreError) {
                    let granted = try await query()
                    state.withLock { state in
                        state.sequence = granted.sequence
                        state.width = granted.width
                        state.next = 1
                    }
                } catch {
                    if error.errno == EOPNOTSUPP {
                        CWARN("mdc: the MDS grants no FID sequences: it allocates the FIDs of new files")
                        state.withLock { $0.refused = true }
                    } else {
                        failure = error
                    }
                }
                let waiters = state.withLock { state in
                    defer { state.waiters = [] }
                    state.querying = false
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
                if let failure { throw failure.adding(context: "FID sequence") }
            }
        }
    }
}
