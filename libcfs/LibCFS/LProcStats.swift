#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization

/// A set of counters printed as a Lustre stats file (`osc.*.stats`,
/// `obdfilter.*.stats`, `mdt.*.md_stats`), in exactly the text that `lctl
/// get_param` shows and that lustre_exporter and Telegraf parse:
///
/// ```
/// snapshot_time             1700000000.123456789 secs.nsecs
/// start_time                1699999000.000000000 secs.nsecs
/// elapsed_time              1000.123456789 secs.nsecs
/// read_bytes                3 samples [bytes] 4096 1048576 1056768 1099528404992
/// ```
///
/// Counters are declared up front and addressed by index (an `Int` enum's
/// raw value reads best).  `record` is meant for the per-RPC hot path: like
/// Lustre's per-CPU counters, it updates the shard of the CPU it runs on
/// under that shard's own lock, so concurrent recorders rarely meet.
public final class LProcStats: Sendable {
    /// One counter's declaration.
    public struct Counter: Sendable, Hashable {
        /// The name in the first column (`read_bytes`, `ost_write`).
        public var name: String
        /// The unit in brackets (`bytes`, `usecs`, `reqs`, `pages`, `locks`).
        public var unit: String
        /// Whether min, max and sum are printed (`LPROCFS_CNTR_AVGMINMAX`).
        public var keepsMinMaxSum: Bool
        /// Whether the sum of squares is printed too (`LPROCFS_CNTR_STDDEV`).
        public var keepsSumSquare: Bool

        /// Declares a counter.
        public init(_ name: String, unit: String = "reqs", keepsMinMaxSum: Bool = true,
                    keepsSumSquare: Bool = false) {
            self.name = name
            self.unit = unit
            self.keepsMinMaxSum = keepsMinMaxSum
            self.keepsSumSquare = keepsSumSquare
        }
    }

    /// One counter's totals at one moment.
    public struct Snapshot: Sendable, Hashable {
        /// Number of samples.
        public var count: Int64 = 0
        /// Smallest sample (0 when there are none).
        public var min: Int64 = 0
        /// Largest sample (0 when there are none).
        public var max: Int64 = 0
        /// Sum of samples.
        public var sum: Int64 = 0
        /// Sum of squares of samples, wrapping as Lustre's u64 does.
        public var sumSquare: UInt64 = 0
    }

    /// The declared counters, in print order.
    public let counters: [Counter]

    private struct Raw {
        var count: Int64 = 0
        var sum: Int64 = 0
        var min: Int64 = .max
        var max: Int64 = .min
        var sumSquare: UInt64 = 0
    }

    private final class Shard: Sendable {
        let raw: Mutex<[Raw]>
        init(count: Int) { raw = Mutex(Array(repeating: Raw(), count: count)) }
    }

    private let shards: [Shard]
    private let startNanoseconds: ManagedAtomic<Int64>

    /// Stats with `counters`, all empty, started now.
    public init(_ counters: [Counter]) {
        self.counters = counters
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        self.shards = (0..<Swift.min(Swift.max(cpus, 1), 64)).map { _ in Shard(count: counters.count) }
        self.startNanoseconds = ManagedAtomic(WallClock.now().totalNanoseconds)
    }

    /// Adds one sample of `value` to counter `index` (`lprocfs_counter_add`).
    public func record(_ index: Int, _ value: Int64 = 1) {
        precondition(counters.indices.contains(index), "no counter \(index)")
        let cpu = Int(sched_getcpu())
        let shard = shards[cpu >= 0 ? cpu % shards.count : 0]
        shard.raw.withLock { raw in
            raw[index].count &+= 1
            raw[index].sum &+= value
            if value < raw[index].min { raw[index].min = value }
            if value > raw[index].max { raw[index].max = value }
            raw[index].sumSquare &+= UInt64(bitPattern: value) &* UInt64(bitPattern: value)
        }
    }

    /// Adds one sample to the counter whose index is `counter`'s raw value.
    public func record<C: RawRepresentable>(_ counter: C, _ value: Int64 = 1) where C.RawValue == Int {
        record(counter.rawValue, value)
    }

    /// The totals of counter `index` over all shards.
    public func snapshot(_ index: Int) -> Snapshot {
        var total = Raw()
        for shard in shards {
            let r = shard.raw.withLock { $0[index] }
            total.count &+= r.count
            total.sum &+= r.sum
            total.min = Swift.min(total.min, r.min)
            total.max = Swift.max(total.max, r.max)
            total.sumSquare &+= r.sumSquare
        }
        guard total.count > 0 else { return Snapshot() }
        return Snapshot(count: total.count, min: total.min, max: total.max,
                        sum: total.sum, sumSquare: total.sumSquare)
    }

    /// When counting started (creation or the last `reset`).
    public var startTime: WallClock.Time {
        WallClock.Time(seconds: 0, nanoseconds: startNanoseconds.load(ordering: .relaxed))
    }

    /// Empties every counter and restarts `start_time`, as writing anything
    /// to a Lustre stats file does (`lprocfs_stats_clear`).
    public func reset() {
        for shard in shards {
            shard.raw.withLock { raw in
                for i in raw.indices { raw[i] = Raw() }
            }
        }
        startNanoseconds.store(WallClock.now().totalNanoseconds, ordering: .relaxed)
    }

    /// The stats file text (`lprocfs_stats_seq_show`): the time header, then
    /// one line per counter with samples; empty counters are left out.
    public func format(now: WallClock.Time = WallClock.now()) -> String {
        var out = LProcStats.header(now: now, start: startTime)
        for (index, counter) in counters.enumerated() {
            let s = snapshot(index)
            guard s.count > 0 else { continue }
            out += LProcText.left(counter.name, 25) + " \(s.count) samples [\(counter.unit)]"
            if counter.keepsMinMaxSum {
                out += " \(s.min) \(s.max) \(s.sum)"
                if counter.keepsSumSquare { out += " \(s.sumSquare)" }
            }
            out += "\n"
        }
        return out
    }

    /// Lustre's stats header (`lprocfs_stats_header`, key column 25 wide):
    /// `snapshot_time`, `start_time` and `elapsed_time`, each `secs.nsecs`.
    public static func header(now: WallClock.Time, start: WallClock.Time) -> String {
        LProcText.left("snapshot_time", 25) + " \(now) secs.nsecs\n"
            + LProcText.left("start_time", 25) + " \(start) secs.nsecs\n"
            + LProcText.left("elapsed_time", 25) + " \(now.since(start)) secs.nsecs\n"
    }
}
