import LibCFS
import PtlRPC
import Synchronization

/// `mdc.<device>.rpc_stats` (Lustre's `obd_mod_rpc_stats_seq_show` followed by the MDC's bulk
/// tables): the modify RPCs (reint, close, setxattr, removexattr, setlayout) in flight now, and
/// how many were in flight as each one left (itself included). Writing anything clears it.
///
/// The read/write tables that follow in Lustre count Data-on-MDT I/O, which this client does not
/// do: they are printed empty, as Lustre prints them for a client without DoM files.
final class MDCRPCStats: Sendable {
    private struct State {
        var inFlight = 0
        var start: WallClock.Time
    }

    private let state: Mutex<State>
    private let histogram = ObdHistogram()

    init(start: WallClock.Time = WallClock.now()) {
        state = Mutex(State(start: start))
    }

    /// A modify RPC leaves; returns nothing, `finished()` must follow.
    func started() {
        let inFlight = state.withLock { state in
            state.inFlight += 1
            return state.inFlight
        }
        histogram.tally(inFlight)
    }

    /// A modify RPC got its answer (or failed).
    func finished() {
        state.withLock { $0.inFlight -= 1 }
    }

    func clear() {
        histogram.clear()
        state.withLock { $0.start = WallClock.now() }
    }

    func format(now: WallClock.Time = WallClock.now()) -> String {
        let (inFlight, start) = state.withLock { ($0.inFlight, $0.start) }
        var out = PtlRPCClientStats.rpcStatsHeader(now: now, start: start)
        out += "modify_RPCs_in_flight:  \(inFlight)\n"
        out += "\n\t\t\tmodify\nrpcs in flight        rpcs   % cum %\n"
        let buckets = histogram.buckets
        let total = buckets.reduce(0, &+)
        var sum: UInt64 = 0
        for (bucket, count) in buckets.enumerated() {
            sum += count
            out += "\(bucket):\t\t" + LProcText.right(count, 10) + " " + LProcText.right(LProcText.percent(count, total), 3) + " "
                + LProcText.right(LProcText.percent(sum, total), 3) + "\n"
            if sum == total { break }
        }
        out += "\nread RPCs in flight:  0\nwrite RPCs in flight: 0\npending write pages:  0\npending read pages:   0\n"
        for (title, label) in [("pages per rpc", "1"), ("rpcs in flight", "1"), ("offset", "0")] {
            out += "\n\t\t\tread\t\t\twrite\n" + LProcText.left(title, 22)
                + "rpcs   % cum % |       rpcs   % cum %\n"
            out += label + ":\t\t         0   0   0   |          0   0   0\n"
        }
        return out
    }
}
