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
        /// The `SEQ_QUERY` on its way, which every create short of a FID waits for.
        var query: Task<LustreError?, Never>?
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
        enum Next { case fid(LustreFID?), wait(Task<LustreError?, Never>) }
        while true {
            let next = state.withLock { state -> Next in
                if state.refused { return .fid(nil) }
                if state.sequence != 0 && state.next <= state.width {
                    defer { state.next += 1 }
                    return .fid(LustreFID(sequence: state.sequence, objectID: state.next))
                }
                let query = state.query ?? Task { await self.ask() }
                state.query = query
                return .wait(query)
            }
            switch next {
            case .fid(let fid): return fid
            case .wait(let query): if let error = await query.value { throw error }
            }
        }
    }

    /// One `SEQ_QUERY`: the new sequence (or the MDS's refusal) for every create waiting on it.
    private func ask() async -> LustreError? {
        do throws(LustreError) {
            let granted = try await query()
            state.withLock { state in
                (state.sequence, state.width, state.next) = (granted.sequence, granted.width, 1)
                state.query = nil
            }
            return nil
        } catch {
            let refused = error.errno == EOPNOTSUPP
            if refused { CWARN("mdc: the MDS grants no FID sequences: it allocates the FIDs of new files") }
            state.withLock { state in
                state.refused = refused
                state.query = nil
            }
            return refused ? nil : error.adding(context: "FID sequence")
        }
    }
}
