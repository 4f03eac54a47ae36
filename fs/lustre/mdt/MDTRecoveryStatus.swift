import LibCFS

/// What the MDT has done to recover its clients since it started: `mdt.*.recovery_status`, in
/// the words of Lustre's.
///
/// There is no window holding new requests here: a restarted MDS serves at once, and clients
/// replay what it had not committed and open their open files again as they reconnect. What
/// waits is the files unlinked while open that this start found in `PENDING/`: `RECOVERING`
/// while some of them are neither opened again nor destroyed and the orphan grace runs,
/// `COMPLETE` after.
struct MDTRecoveryStatus: Sendable {
    /// When the MDT started (wall clock, seconds).
    var start: Int64
    /// When the orphan grace ends or ended (nil: there was none, nothing waited).
    var graceEnd: Int64?
    /// Whether the grace is over (or there was none).
    var complete = true
    /// Orphans found at start, and those of them still waiting.
    var orphansAtStart = 0
    var orphansWaiting = 0
    /// Requests clients replayed (`MSG_REPLAY`), and of them the opens of files open before.
    var replayedRequests = 0
    var reopened = 0

    init(start: Int64) { self.start = start }

    /// The parameter's text at `now`, with `connectedClients` and `lastTransno` of the moment.
    func text(now: Int64, connectedClients: Int, lastTransno: UInt64) -> String {
        var lines = ["status: \(complete ? "COMPLETE" : "RECOVERING")", "recovery_start: \(start)"]
        if complete {
            lines.append("recovery_duration: \(max(0, (graceEnd ?? start) - start))")
        } else {
            lines.append("time_remaining: \(max(0, (graceEnd ?? now) - now))")
        }
        lines += [
            "connected_clients: \(connectedClients)",
            "replayed_requests: \(replayedRequests)",
            "reopened_files: \(reopened)",
            "orphans_at_start: \(orphansAtStart)",
            "orphans_waiting: \(orphansWaiting)",
            "last_transno: \(lastTransno)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
