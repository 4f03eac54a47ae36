import LibCFS
import ObdClass

/// What the MDT has done to recover its clients since it started: `mdt.*.recovery_status`, in
/// the words of Lustre's.
///
/// There is no window holding new requests here: a restarted MDS serves at once, and clients
/// replay what it had not committed and open their open files again as they reconnect. What
/// waits is the files unlinked while open that this start found in `PENDING/`: `RECOVERING`
/// while some of them are neither opened again nor destroyed and the orphan grace runs,
/// `COMPLETE` after. Replays of changes a power loss took go in transno order
/// (`MDTReplayOrder`): `next_transno` is the lowest not made again yet, `queued_requests` the
/// replays above it that wait.
struct MDTRecoveryStatus: Sendable {
    /// When the MDT started (wall clock, seconds).
    let start: Int64
    /// The orphans this start found in `PENDING/`, and when their grace ends.
    var orphans: [LustreFID] = []
    var graceEnd: Int64?
    /// When recovery completed: at start when no orphan waited, else when the last one was
    /// opened again or destroyed (noticed by `text`) or the grace ended.
    var completed: Int64?
    /// Requests clients replayed (`MSG_REPLAY`), and opens of files they held open before.
    var replayedRequests = 0
    var reopened = 0

    init(start: Int64) {
        self.start = start
        completed = start
    }

    /// The parameter's text at `now`, with `waiting` (the orphans neither opened again nor
    /// destroyed), `connectedClients`, `lastTransno` and `replayOrder` of the moment.
    func text(now: Int64, waiting: Int, connectedClients: Int, lastTransno: UInt64,
              replayOrder: (next: UInt64, queued: Int)) -> String {
        var lines = ["status: \(completed == nil ? "RECOVERING" : "COMPLETE")", "recovery_start: \(start)"]
        if let completed {
            lines.append("recovery_duration: \(completed - start)")
        } else {
            lines.append("time_remaining: \(max(0, (graceEnd ?? now) - now))")
        }
        lines += [
            "connected_clients: \(connectedClients)",
            "replayed_requests: \(replayedRequests)",
            "next_transno: \(replayOrder.next)",
            "queued_requests: \(replayOrder.queued)",
            "reopened_files: \(reopened)",
            "orphans_at_start: \(orphans.count)",
            "orphans_waiting: \(completed == nil ? waiting : 0)",
            "last_transno: \(lastTransno)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
