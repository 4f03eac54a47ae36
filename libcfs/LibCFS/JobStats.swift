#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization

/// A target's counters per job (Lustre's `obd_job_stats`): each request carries the job id the
/// client gave it (`jobid_var`), and the target counts its operations under that id, printed as
/// `obdfilter.<target>.job_stats` or `mdt.<target>.job_stats` in Lustre's YAML, which
/// lustre_exporter and Telegraf parse:
///
/// ```
/// job_stats:
/// - job_id:          dd.1000
///   snapshot_time:   1700000010.123456789 secs.nsecs
///   start_time:      1700000000.000000000 secs.nsecs
///   elapsed_time:    10.123456789 secs.nsecs
///   write_bytes:     { samples:           1, unit: bytes, min:  1048576, max:  1048576, sum:          1048576, sumsq:     1099511627776 }
/// ```
///
/// Requests without a job id are not counted.  A job idle for longer than
/// `job_cleanup_interval` seconds (600 by default, 0 keeps jobs for ever) is dropped when a new
/// job arrives or the file is read; writing `clear` drops every job, writing a job id drops that one.
public final class JobStats: Sendable {
    /// Longest job id counted (`LUSTRE_JOBID_SIZE` less its NUL), as on the wire.
    public static let maxJobIDLength = 31
    /// Lustre's default `job_cleanup_interval`, in seconds.
    public static let defaultCleanupInterval = 600

    /// The counters kept per job, in print order.
    public let counters: [LProcStats.Counter]

    private final class Job: Sendable {
        let id: String
        /// Insertion order: jobs print oldest first, as Lustre's position tree does.
        let position: UInt64
        let stats: LProcStats
        /// Wall-clock nanoseconds of the latest sample (`js_time_latest`).
        let latest: ManagedAtomic<Int64>

        init(id: String, position: UInt64, counters: [LProcStats.Counter], now: Int64) {
            self.id = id
            self.position = position
            self.stats = LProcStats(counters)
            self.latest = ManagedAtomic(now)
        }
    }

    private struct Table {
        var jobs: [String: Job] = [:]
        var nextPosition: UInt64 = 0
        var lastCleanup: Int64
    }

    private let table: Mutex<Table>
    private let interval: ManagedAtomic<Int>

    /// Per-job stats with `counters`, no job yet.
    public init(_ counters: [LProcStats.Counter], cleanupInterval: Int = JobStats.defaultCleanupInterval) {
        self.counters = counters
        self.table = Mutex(Table(lastCleanup: WallClock.now().totalNanoseconds))
        self.interval = ManagedAtomic(cleanupInterval)
    }

    /// `job_cleanup_interval` in seconds; 0 never drops idle jobs.
    public var cleanupInterval: Int {
        get { interval.load(ordering: .relaxed) }
        set {
            interval.store(Swift.max(newValue, 0), ordering: .relaxed)
            cleanup(force: true)
        }
    }

    /// Adds one sample of `value` to counter `index` of job `jobID` (`lprocfs_job_stats_log`);
    /// an empty job id is not counted, one longer than 31 bytes is cut as on the wire.
    public func record(_ jobID: String, _ index: Int, _ value: Int64 = 1) {
        guard !jobID.isEmpty else { return }
        precondition(counters.indices.contains(index), "no counter \(index)")
        let id = jobID.utf8.count > Self.maxJobIDLength
            ? String(decoding: jobID.utf8.prefix(Self.maxJobIDLength), as: UTF8.self) : jobID
        let now = WallClock.now().totalNanoseconds
        let job = table.withLock { $0.jobs[id] } ?? insert(id, now: now)
        job.latest.store(now, ordering: .relaxed)
        job.stats.record(index, value)
    }

    /// Adds one sample to the counter whose index is `counter`'s raw value.
    public func record<C: RawRepresentable>(_ jobID: String, _ counter: C, _ value: Int64 = 1)
        where C.RawValue == Int {
        record(jobID, counter.rawValue, value)
    }

    private func insert(_ id: String, now: Int64) -> Job {
        cleanup(force: false)
        return table.withLock { table in
            if let existing = table.jobs[id] { return existing }
            let job = Job(id: id, position: table.nextPosition, counters: counters, now: now)
            table.nextPosition += 1
            table.jobs[id] = job
            return job
        }
    }

    /// The job ids counted now, oldest first.
    public var jobIDs: [String] { sortedJobs().map(\.id) }

    /// The totals of counter `index` for `jobID`; nil if the job is not there.
    public func snapshot(_ jobID: String, _ index: Int) -> LProcStats.Snapshot? {
        table.withLock { $0.jobs[jobID] }?.stats.snapshot(index)
    }

    /// Drops every job (`lctl set_param *.job_stats=clear`).
    public func clear() {
        table.withLock { $0.jobs.removeAll() }
    }

    /// Drops one job; false if there was none.
    @discardableResult
    public func remove(_ jobID: String) -> Bool {
        table.withLock { $0.jobs.removeValue(forKey: jobID) != nil }
    }

    /// What writing to `job_stats` does: `clear` drops all jobs, a job id (bare, or quoted with
    /// `\xHH` escapes as printed) drops that job.
    ///
    /// - Throws: `EINVAL` for an empty or unknown job id.
    public func write(_ text: String) throws(LustreError) {
        var id = text
        while id.hasSuffix("\n") { id.removeLast() }
        if id.count >= 2, id.hasPrefix("\""), id.hasSuffix("\"") {
            id = try Self.unescape(String(id.dropFirst().dropLast()))
        }
        if id == "clear" {
            clear()
            return
        }
        guard !id.isEmpty else { throw LustreError.invalid("empty job id") }
        guard remove(id) else { throw LustreError.invalid("no job '\(id)'") }
    }

    /// Drops jobs idle longer than the interval, at most every half interval unless forced
    /// (`lprocfs_job_cleanup`).
    public func cleanup(force: Bool = false, now: WallClock.Time = WallClock.now()) {
        let seconds = interval.load(ordering: .relaxed)
        guard seconds > 0 else { return }
        let nowNanoseconds = now.totalNanoseconds
        let span = Int64(seconds) * 1_000_000_000
        table.withLock { table in
            guard force || nowNanoseconds - table.lastCleanup >= span / 2 else { return }
            table.lastCleanup = nowNanoseconds
            table.jobs = table.jobs.filter { nowNanoseconds - $0.value.latest.load(ordering: .relaxed) <= span }
        }
    }

    private func sortedJobs() -> [Job] {
        table.withLock { Array($0.jobs.values) }.sorted { $0.position < $1.position }
    }

    /// The `job_stats` file text (`lprocfs_jobstats_seq_show`): nothing when no job is counted,
    /// else `job_stats:` and per job its id, times, and every counter, empty ones included.
    public func format(now: WallClock.Time = WallClock.now()) -> String {
        cleanup(force: false, now: now)
        let jobs = sortedJobs()
        guard !jobs.isEmpty else { return "" }
        var out = "job_stats:\n"
        for job in jobs {
            out += "- " + LProcText.left("job_id:", 16) + " " + Self.yamlJobID(job.id) + "\n"
            let latest = WallClock.Time(seconds: 0, nanoseconds: job.latest.load(ordering: .relaxed))
            let start = job.stats.startTime
            out += "  " + LProcText.left("snapshot_time:", 16) + " \(latest) secs.nsecs\n"
            out += "  " + LProcText.left("start_time:", 16) + " \(start) secs.nsecs\n"
            out += "  " + LProcText.left("elapsed_time:", 16) + " \(latest.since(start)) secs.nsecs\n"
            for (index, counter) in counters.enumerated() {
                let s = job.stats.snapshot(index)
                out += "  \(counter.name):" + String(repeating: " ", count: 15 - Swift.min(counter.name.count, 15))
                    + " { samples: " + LProcText.right(String(s.count), 11)
                if !counter.unit.isEmpty { out += ", unit: " + LProcText.right(counter.unit, 5) }
                if counter.keepsMinMaxSum {
                    out += ", min: " + LProcText.right(String(s.min), 8) + ", max: " + LProcText.right(String(s.max), 8)
                        + ", sum: " + LProcText.right(String(s.sum), 16)
                }
                if counter.keepsSumSquare { out += ", sumsq: " + LProcText.right(String(s.sumSquare), 18) }
                out += " }\n"
            }
        }
        return out
    }

    /// A job id as Lustre prints it: bare when it is letters, digits and `.@-_/`; otherwise in
    /// double quotes with other bytes as `\xHH`, so YAML parsers take it as one string.
    static func yamlJobID(_ id: String) -> String {
        var quoted = id.hasPrefix("@")
        var text = ""
        for byte in id.utf8 {
            let isAlnum = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            if isAlnum || ".@-_:/".utf8.contains(byte) {
                text.unicodeScalars.append(Unicode.Scalar(byte))
                if byte == UInt8(ascii: ":") { quoted = true }
            } else {
                quoted = true
                let hex = String(byte, radix: 16, uppercase: true)
                text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return quoted ? "\"" + text + "\"" : text
    }

    private static func unescape(_ text: String) throws(LustreError) -> String {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                continue
            }
            guard input.count >= 3, input.first == UInt8(ascii: "x"),
                  let value = UInt8(String(decoding: input.dropFirst().prefix(2), as: UTF8.self), radix: 16) else {
                throw LustreError.invalid("bad escape in job id '\(text)'")
            }
            bytes.append(value)
            input = input.dropFirst(3)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Registers `<device>.job_stats` (read; write `clear` or a job id) and
    /// `<device>.job_cleanup_interval` in `tree`.
    public func register(device: String, in tree: ParamTree = .shared) throws(LustreError) {
        try tree.register("\(device).job_stats", get: { [self] in format() }, set: { [self] text in try write(text) })
        do {
            try tree.register("\(device).job_cleanup_interval", get: { [self] in String(cleanupInterval) },
                              set: { [self] text in
                                  let value = try Int.parseTunable(text)
                                  guard value >= 0, value <= Int(Int32.max) else {
                                      throw LustreError.invalid("\(value) is out of range 0..\(Int32.max)")
                                  }
                                  cleanupInterval = value
                              })
        } catch {
            tree.unregister("\(device).job_stats")
            throw error
        }
    }

    /// Removes what `register(device:in:)` added.
    public func unregister(device: String, from tree: ParamTree = .shared) {
        tree.unregister("\(device).job_stats")
        tree.unregister("\(device).job_cleanup_interval")
    }
}
