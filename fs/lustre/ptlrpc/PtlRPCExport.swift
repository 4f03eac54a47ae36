import Atomics
import LNet
import LibCFS
import NIOCore
import Synchronization

/// The server's state for one connected client (`obd_export`): its handle,
/// and the replies it may ask for again after a resend.
public final class PtlRPCExport: Sendable {
    /// The client's UUID, stable across its reconnects.
    public let clientUUID: String
    /// The cookie the client puts in every request.
    public let handle: UInt64

    private struct State {
        var peer: ProcessID
        var connectionCount: UInt32
        /// Replies kept for reconstruction, by xid, until the client says it has them.
        var savedReplies: [UInt64: ByteBuffer] = [:]
        var savedOrder: [UInt64] = []
        var inProgress: Set<UInt64> = []
        var nidStats: LProcStats?
    }

    private let state: Mutex<State>
    /// When a request (a ping included) or a connect last came from the client (monotonic ns):
    /// the service evicts a client silent for `ObdTimeout.evictionTimeout`.
    private let lastHeard: ManagedAtomic<UInt64>
    /// Replies kept per export at most; the oldest go first.
    static let maxSavedReplies = 1024

    init(clientUUID: String, handle: UInt64, peer: ProcessID, connectionCount: UInt32) {
        self.clientUUID = clientUUID
        self.handle = handle
        self.state = Mutex(State(peer: peer, connectionCount: connectionCount))
        self.lastHeard = ManagedAtomic(MonotonicClock.nanoseconds())
    }

    /// The client was heard from now.
    func heard() {
        lastHeard.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
    }

    /// Nanoseconds since the client was last heard from.
    func silence(now: UInt64) -> UInt64 {
        now &- min(now, lastHeard.load(ordering: .relaxed))
    }

    /// Where replies to this client go now.
    public var peer: ProcessID { state.withLock { $0.peer } }

    /// The counters of this client's NID on the target it connected to (Lustre's
    /// `exp_nid_stats`, printed as `<target>.exports.<NID>.stats`): set by the target when the
    /// client connects, counted by its handlers; nil until then.
    public var nidStats: LProcStats? {
        get { state.withLock { $0.nidStats } }
        set { state.withLock { $0.nidStats = newValue } }
    }

    func reconnected(from peer: ProcessID, connectionCount: UInt32) {
        state.withLock {
            $0.peer = peer
            $0.connectionCount = connectionCount
        }
    }

    enum Admission {
        /// New work: handle it.
        case handle
        /// Already answered: send this reply again.
        case resend(ByteBuffer)
        /// Being handled right now: its reply is coming.
        case duplicate
    }

    /// Decides what to do with a request, forgetting replies the client confirmed.
    func admit(xid: UInt64, lastXid: UInt64) -> Admission {
        state.withLock { state in
            if lastXid > 0, let oldest = state.savedOrder.first, oldest <= lastXid {
                let keep = state.savedOrder.partitioningIndex { $0 > lastXid }
                for old in state.savedOrder[..<keep] { state.savedReplies[old] = nil }
                state.savedOrder.removeFirst(keep)
            }
            if let reply = state.savedReplies[xid] { return .resend(reply) }
            if state.inProgress.contains(xid) { return .duplicate }
            state.inProgress.insert(xid)
            return .handle
        }
    }

    /// Forgets a request that leaves nothing to reconstruct.
    func abandoned(xid: UInt64) {
        _ = state.withLock { $0.inProgress.remove(xid) }
    }

    /// Records the reply to `xid` so a resend can be answered without redoing the work.
    func finished(xid: UInt64, reply: ByteBuffer) {
        state.withLock { state in
            state.inProgress.remove(xid)
            state.savedReplies[xid] = reply
            // xids are mostly increasing; keep the order list sorted cheaply.
            if let last = state.savedOrder.last, last > xid {
                state.savedOrder.insert(xid, at: state.savedOrder.partitioningIndex { $0 > xid })
            } else {
                state.savedOrder.append(xid)
            }
            if state.savedOrder.count > Self.maxSavedReplies {
                state.savedReplies[state.savedOrder.removeFirst()] = nil
            }
        }
    }
}

extension Array where Element: Comparable {
    /// The index of the first element for which `belongs` holds, the array being partitioned by it.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
