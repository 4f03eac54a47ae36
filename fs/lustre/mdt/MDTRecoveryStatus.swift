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
/// (`MDTReplayOrder`): while some wait for a lower lost transno, the status is `RECOVERING` too,
/// with `next_transno` (the lowest not made again yet) and `queued_requests` (those waiting).
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
        // Replays waiting for a lower lost transno are recovery too, as in Lustre's.
        let replaysWait = replayOrder.queued > 0
        var lines = ["status: \(completed == nil || replaysWait ? "RECOVERING" : "COMPLETE")", "recovery_start: \(start)"]
        if completed == nil {
            lines.append("time_remaining: \(max(0, (graceEnd ?? now) - now))")
        } else if let completed, !replaysWait {
            lines.append("recovery_duration: \(completed - start)")
        }
        lines += ["connected_clients: \(connectedClients)", "replayed_requests: \(replayedRequests)"]
        if replaysWait {
            lines += ["next_transno: \(replayOrder.next)", "queued_requests: \(replayOrder.queued)"]
        }
        lines += [
            "reopened_files: \(reopened)",
            "orphans_at_start: \(orphans.count)",
            "orphans_waiting: \(completed == nil ? waiting : 0)",
            "last_transno: \(lastTransno)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
