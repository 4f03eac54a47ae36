import Synchronization

/// What the stream mode knows about each write: acknowledged, and whether it was seen committed
/// by the server instance that acknowledged it. A transno from before an OSS restart says
/// nothing after it (the new instance numbers anew), so a write counts as committed only if
/// `last_committed` reached it with no restart in between.
final class StreamLog: Sendable {
    struct Write: Sendable {
        var job: Int
        var transno: UInt64
        /// OSS restarts seen when the write was answered.
        var epoch: UInt64
        var committedInEpoch: UInt64?
    }

    private struct State {
        var writes: [Write] = []
        /// Writes not yet seen committed, as indexes into `writes`.
        var uncommitted: [Int] = []
        var errors = 0
        var lastError: String?
    }

    private let state = Mutex(State())

    func acknowledged(job: Int, transno: UInt64, epoch: UInt64) {
        state.withLock {
            $0.uncommitted.append($0.writes.count)
            $0.writes.append(Write(job: job, transno: transno, epoch: epoch))
        }
    }

    func failed(_ error: String) {
        state.withLock {
            $0.errors += 1
            $0.lastError = error
        }
    }

    /// Marks the writes of `epoch` up to `lastCommitted` as committed.
    func committed(upTo lastCommitted: UInt64, epoch: UInt64) {
        state.withLock { state in
            var still: [Int] = []
            for index in state.uncommitted {
                if state.writes[index].epoch == epoch, state.writes[index].transno <= lastCommitted {
                    state.writes[index].committedInEpoch = epoch
                } else if state.writes[index].epoch >= epoch {
                    still.append(index)
                }
                // Writes of an earlier epoch never seen committed may have died with that instance.
            }
            state.uncommitted = still
        }
    }

    var writes: [Write] { state.withLock { $0.writes } }
    var errors: (count: Int, last: String?) { state.withLock { ($0.errors, $0.lastError) } }
}
