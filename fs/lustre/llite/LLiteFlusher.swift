import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// The client's write-back flusher, as the kernel's flusher threads for a local file system (a
/// Lustre client's dirty pages are the kernel's): write data left cached longer than
/// `vm.dirty_expire_centisecs` (30 s by default) goes to its OSTs, checked every
/// `vm.dirty_writeback_centisecs` (5 s; 0 turns periodic write-back off, as for the kernel).
/// Without it, the tail of a file written slowly and kept open stayed cached until its close
/// or fsync, lost with the client node however old, and held the OSC connected
/// (`osc.*.idle_timeout` waits for nothing to be cached against grant).
struct LLiteFlusher: Sendable {
    /// The node's settings, read at each round so that `sysctl vm.dirty_*` counts at once.
    struct Settings: Equatable, Sendable {
        /// Nanoseconds after which cached data is written back.
        var expire: UInt64
        /// Nanoseconds between rounds; 0: no periodic write-back.
        var interval: UInt64

        static let kernelDefault = Settings(expire: 30_000_000_000, interval: 5_000_000_000)

        /// `/proc/sys/vm/dirty_expire_centisecs` and `dirty_writeback_centisecs`, or the
        /// kernel's defaults where they cannot be read.
        static func current() -> Settings {
            var settings = kernelDefault
            if let expire = centisecs("/proc/sys/vm/dirty_expire_centisecs") { settings.expire = expire * 10_000_000 }
            if let interval = centisecs("/proc/sys/vm/dirty_writeback_centisecs") { settings.interval = interval * 10_000_000 }
            return settings
        }

        private static func centisecs(_ path: String) -> UInt64? {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &bytes, bytes.count)
            guard count > 0 else { return nil }
            let digits = bytes[..<count].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return UInt64(String(decoding: digits, as: UTF8.self))
        }
    }

    /// Runs rounds until cancelled: each sends the runs of `inodes` cached before now less the
    /// expiry. `settings` is asked before each round (tests give their own).
    static func run(inodes: LLiteInodeTable, settings: @Sendable () -> Settings = Settings.current) async {
        while !Task.isCancelled {
            let current = settings()
            // Periodic write-back off: look again later, in case it is turned back on.
            let wait = current.interval > 0 ? current.interval : Settings.kernelDefault.interval
            try? await Task.sleep(for: .nanoseconds(Int(wait)))
            guard !Task.isCancelled, current.interval > 0 else { continue }
            let now = MonotonicClock.nanoseconds()
            inodes.sendExpired(before: now &- min(now, current.expire))
        }
    }
}
