import LibCFS
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Job ids of local processes by pid, for a client serving other processes (mount.lustre: the
/// pid of each FUSE request), read from `/proc/PID/comm` and `/proc/PID/environ` and cached, as
/// Lustre caches its pid → job id map: a 4 KiB write costs a table lookup, not a /proc read.
///
/// An entry is trusted for `revalidateAfter` seconds; then the process's start time
/// (`/proc/PID/stat`) is read again, and a different one (the pid was reused) or a changed
/// `jobid_var` makes the entry be read afresh. The name is refreshed at that point too.
public final class JobIDProcessTable: Sendable {
    private struct Entry {
        var startTime: UInt64
        var name: String
        /// The variable `environmentValue` was read for, and its value.
        var variable: String?
        var environmentValue: String?
        var checkedAt: UInt64
        var lastUse: UInt64
        /// The job id last made, for `generation` of the policy and these credentials.
        var jobID: String
        var generation: UInt64
        var uid: UInt32
        var gid: UInt32
    }

    public let policy: JobIDPolicy
    private let revalidateNanoseconds: UInt64
    private let capacity: Int
    private let entries = Mutex<[Int32: Entry]>([:])

    /// A table for `policy`, trusting an entry for `revalidateAfter` seconds, keeping at most
    /// `capacity` processes.
    public init(policy: JobIDPolicy = .shared, revalidateAfter: Double = 1, capacity: Int = 4096) {
        self.policy = policy
        self.revalidateNanoseconds = UInt64(max(revalidateAfter, 0) * 1e9)
        self.capacity = max(capacity, 1)
    }

    /// The job id of the process `pid` acting as `uid`/`gid`; empty when job ids are disabled or
    /// there is no process to look at (pid 0, or gone), unless `nodelocal` names the node's job.
    public func jobID(pid: Int32, uid: UInt32, gid: UInt32) -> String {
        guard policy.isEnabled else { return "" }
        let generation = policy.generation
        let now = MonotonicClock.nanoseconds()
        let cached = entries.withLock { table -> String? in
            guard var entry = table[pid], now &- entry.checkedAt < revalidateNanoseconds,
                  entry.generation == generation, entry.uid == uid, entry.gid == gid else { return nil }
            entry.lastUse = now
            table[pid] = entry
            return entry.jobID
        }
        if let cached { return cached }
        return refresh(pid: pid, uid: uid, gid: gid, generation: generation, now: now)
    }

    private func refresh(pid: Int32, uid: UInt32, gid: UInt32, generation: UInt64, now: UInt64) -> String {
        guard pid > 0, let startTime = Self.startTime(pid: pid) else {
            // No process to look at (a kernel request, or it exited): only a node-wide job applies.
            guard policy.source == .nodelocal else { return "" }
            return policy.jobID(for: .init(pid: pid, uid: uid, gid: gid, name: "", environmentJobID: nil))
        }
        let variable = policy.environmentVariable
        var entry = entries.withLock { $0[pid] }
        if entry == nil || entry?.startTime != startTime {
            entry = Entry(startTime: startTime, name: "", variable: nil, environmentValue: nil, checkedAt: now,
                          lastUse: now, jobID: "", generation: generation, uid: uid, gid: gid)
        }
        guard var entry else { return "" }
        entry.name = Self.name(pid: pid) ?? entry.name
        if let variable, entry.variable != variable {
            entry.variable = variable
            entry.environmentValue = Self.readFile("/proc/\(pid)/environ").flatMap {
                Self.environmentValue(named: variable, in: $0)
            }
        }
        let process = JobIDPolicy.Process(pid: pid, uid: uid, gid: gid, name: entry.name,
                                          environmentJobID: variable == nil ? nil : entry.environmentValue)
        entry.jobID = policy.jobID(for: process)
        entry.generation = generation
        entry.uid = uid
        entry.gid = gid
        entry.checkedAt = now
        entry.lastUse = now
        let stored = entry
        entries.withLock { table in
            if table.count >= capacity && table[pid] == nil {
                // Forget processes idle for a minute; if all are busy, start over.
                table = table.filter { now &- $0.value.lastUse < 60_000_000_000 }
                if table.count >= capacity { table.removeAll() }
            }
            table[pid] = stored
        }
        return stored.jobID
    }

    /// Processes remembered now.
    public var count: Int { entries.withLock { $0.count } }

    // MARK: /proc

    /// The value of `name` in an environment block (`NAME=value` entries separated by NULs, as
    /// `/proc/PID/environ`); nil when absent.
    public static func environmentValue(named name: String, in environ: [UInt8]) -> String? {
        let key = Array(name.utf8) + [UInt8(ascii: "=")]
        var start = 0
        while start < environ.count {
            let end = environ[start...].firstIndex(of: 0) ?? environ.count
            if end - start >= key.count, environ[start..<(start + key.count)].elementsEqual(key) {
                return String(decoding: environ[(start + key.count)..<end], as: UTF8.self)
            }
            start = end + 1
        }
        return nil
    }

    /// The process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    static func startTime(pid: Int32) -> UInt64? {
        guard let stat = readFile("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After "pid (comm) ": state is field 3, so start time (22) is the 20th from there.
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// `/proc/PID/comm` without its newline.
    static func name(pid: Int32) -> String? {
        guard let bytes = readFile("/proc/\(pid)/comm") else { return nil }
        return String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    /// A whole (small, /proc) file; nil if it cannot be read.
    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return result }
            result += chunk[0..<count]
        }
    }
}
