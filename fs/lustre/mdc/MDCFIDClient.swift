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
/// already knows it by. The grant is durable on the MDS before it answers: no FID is ever handed
/// out twice.
///
/// A restarted MDS may be one restored from an older backup, which never granted the sequence
/// in use: as Lustre's MDC (`seq_client_flush` at an import's reconnect), the sequence is
/// dropped then (`flush`) and a new one asked for at the next create.
final class MDCFIDClient: Sendable {
    private struct State {
        var sequence: UInt64 = 0
        var width: UInt32 = 0
        var next: UInt32 = 1
        /// The MDS does not grant sequences: it allocates every FID.
        var refused = false
        /// The `SEQ_QUERY` on its way, which every create short of a FID waits for.
        var query: Task<LustreError?, Never>?
        /// Bumped by `flush`: a query sent before answers for a server that may be gone.
        var generation: UInt64 = 0
        /// Sequences dropped by `flush` (the latest few): a create that took its FID from one
        /// before and is refused may take another.
        var flushed: [UInt64] = []
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

    /// Drops the sequence (and whether the MDS refused to grant any): the next create asks the
    /// MDS for a new one. A query on its way is answered for nobody.
    func flush() {
        state.withLock { state in
            if state.sequence != 0 {
                state.flushed.append(state.sequence)
                if state.flushed.count > 8 { state.flushed.removeFirst() }
            }
            (state.sequence, state.width, state.next, state.refused) = (0, 0, 1, false)
            state.generation += 1
            state.query = nil
        }
    }

    /// Whether `sequence` was dropped by `flush`.
    func wasFlushed(_ sequence: UInt64) -> Bool {
        state.withLock { $0.flushed.contains(sequence) }
    }

    /// One `SEQ_QUERY`: the new sequence (or the MDS's refusal) for every create waiting on it.
    /// An answer that comes after a `flush` is dropped (the waiters ask again).
    private func ask() async -> LustreError? {
        let generation = state.withLock { $0.generation }
        do throws(LustreError) {
            let granted = try await query()
            state.withLock { state in
                guard state.generation == generation else { return }
                (state.sequence, state.width, state.next) = (granted.sequence, granted.width, 1)
                state.query = nil
            }
            return nil
        } catch {
            let refused = error.errno == EOPNOTSUPP
            let current = state.withLock { state -> Bool in
                guard state.generation == generation else { return false }
                state.refused = refused
                state.query = nil
                return true
            }
            guard current else { return nil }
            if refused { CWARN("mdc: the MDS grants no FID sequences: it allocates the FIDs of new files") }
            return refused ? nil : error.adding(context: "FID sequence")
        }
    }
}
