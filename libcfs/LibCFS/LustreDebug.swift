#if canImport(Glibc)
import Glibc
#endif
import CLibCFS
import Synchronization

/// The process's debug log: the `debug` mask, the `debug_mb` ring that
/// `lctl dk` dumps, and the formatting of every line.
///
/// Messages are written with `CDEBUG`, `CERROR`, `CWARN`, `CNETERR` and
/// `LCONSOLE`, or through swift-log with `LustreLogHandler`.  Errors,
/// warnings, console and network-error messages are always kept; other kinds
/// only when their bit is in `mask`.  Every kept message goes to the ring;
/// those whose kind is in `printk` (by default errors, warnings, console and
/// network errors, as Lustre's `printk` mask) also go to stderr, with a syslog
/// priority prefix (`<3>LustreError: …`) that journald turns into the record's
/// priority.
public enum LustreDebug {
    /// Kinds kept whatever the mask says (`D_CANTMASK` plus `neterror`).
    public static let alwaysKept: DebugMask = [.cantMask, .neterror]

    /// Kinds also written to stderr (`lctl get_param printk`).
    public static let defaultPrintk: DebugMask = [.warning, .error, .emerg, .console, .neterror]
    private static let printkBits = Atomic<UInt64>(UInt64(defaultPrintk.rawValue))

    /// The kinds written to stderr besides the ring (`printk`).
    public static var printk: DebugMask {
        get { DebugMask(rawValue: .init(truncatingIfNeeded: printkBits.load(ordering: .relaxed))) }
        set { printkBits.store(UInt64(newValue.rawValue), ordering: .relaxed) }
    }

    /// Applies `LUSTRE_DEBUG` from the environment (`"+net +rpctrace"`): the
    /// kinds are both kept and printed, for daemons and tools run by hand.
    public static func applyEnvironment() {
        guard let text = getenv("LUSTRE_DEBUG").map({ String(cString: $0) }), !text.isEmpty else { return }
        do {
            let mask = try setMask(text)
            printk = printk.union(mask)
        } catch {
            CERROR("LUSTRE_DEBUG: \(error)")
        }
    }

    /// The default ring size in MiB (`debug_mb`).
    public static let defaultBufferMegabytes = 4

    /// The largest `debug_mb` accepted.
    public static let maximumBufferMegabytes = 4096

    /// The current mask (`lctl get_param debug`); one relaxed atomic load.
    public static var mask: DebugMask {
        get { DebugMask(rawValue: libcfs_debug_get()) }
        set { libcfs_debug_set(newValue.rawValue) }
    }

    /// Applies `lctl set_param debug=<text>` (see `DebugMask.parse`) and
    /// returns the new mask; on error the mask is unchanged.
    @discardableResult
    public static func setMask(_ text: String) throws(LustreError) -> DebugMask {
        var old = libcfs_debug_get()
        while true {
            let new = try DebugMask.parse(text, relativeTo: DebugMask(rawValue: old))
            if libcfs_debug_cas(&old, new.rawValue) != 0 { return new }
        }
    }

    /// Whether a message of kind `mask` would be kept right now.
    @inlinable
    public static func isEnabled(_ mask: DebugMask) -> Bool {
        mask.rawValue & (libcfs_debug_get() | alwaysKeptRaw) != 0
    }

    /// The ring size in MiB (`debug_mb`).
    public static var bufferMegabytes: Int { ring.capacityBytes >> 20 }

    /// Sets `debug_mb`; `EINVAL` outside 1…`maximumBufferMegabytes`.
    /// Shrinking drops the oldest lines at once.
    public static func setBufferMegabytes(_ megabytes: Int) throws(LustreError) {
        guard (1...maximumBufferMegabytes).contains(megabytes) else {
            throw LustreError.invalid("debug_mb=\(megabytes): must be between 1 and \(maximumBufferMegabytes)")
        }
        ring.setCapacity(bytes: megabytes << 20)
    }

    /// The ring's lines, oldest first, in `lctl dk` format
    /// (`subsys:mask:cpu:secs.usecs:stack:pid:extpid:(file:line:func()) msg`).
    /// With `clear`, the ring is emptied atomically with the read (`lctl dk`
    /// clears, `lctl dk --keep`… does not).
    public static func dump(clear: Bool = false) -> [String] {
        ring.dump(clear: clear)
    }

    /// Empties the ring (`lctl clear`).
    public static func clear() {
        ring.clear()
    }

    /// Keeps one message: appends it to the ring and writes it to stderr.
    /// Callers have already checked `isEnabled`; `CDEBUG` and friends do.
    public static func log(_ mask: DebugMask, _ message: String,
                           file: StaticString, function: StaticString, line: UInt) {
        log(mask, message, file: "\(file)", function: "\(function)", line: line)
    }

    /// Same as the `StaticString` form, for callers (the swift-log handler)
    /// that only have `String` locations.
    public static func log(_ mask: DebugMask, _ message: String,
                           file: String, function: String, line: UInt) {
        let record = Record(mask: mask, message: message, file: baseName(file),
                            function: function, line: line,
                            pid: currentThreadID(), time: WallClock.now(),
                            cpu: Int(sched_getcpu()))
        ring.append(record.debugLogLine)
        guard mask.rawValue & printk.rawValue != 0 else { return }
        let text = record.consoleLine
        text.utf8CString.withUnsafeBufferPointer { buf in
            // One write(2) per line so concurrent lines do not interleave.
            _ = Glibc.write(2, buf.baseAddress, buf.count - 1)
        }
    }

    /// Registers `debug`, `printk` and `debug_mb` in `tree`.
    static func registerParams(in tree: ParamTree) {
        try? tree.register("printk", get: { printk.description },
                           set: { text throws(LustreError) in printk = try DebugMask.parse(text, relativeTo: printk) })
        try? tree.register("debug", get: { mask.description },
                           set: { try setMask($0) })
        try? tree.register("debug_mb", get: { String(bufferMegabytes) },
                           set: { text in
                               guard let value = parseCInteger(text), let mb = Int(exactly: value) else {
                                   throw LustreError.invalid("debug_mb='\(text.trimmingWhitespace())': not a number")
                               }
                               try setBufferMegabytes(mb)
                           })
    }

    // MARK: - Storage

    /// `alwaysKept` as a literal, so the inlined check reads no lazily
    /// initialised global (a test holds it equal to `alwaysKept`).
    @inlinable
    static var alwaysKeptRaw: UInt32 { 0x0206_0500 }

    static let ring = DebugRing(capacityBytes: defaultBufferMegabytes << 20)

    // MARK: - Formatting

    /// One message with everything needed to print it both ways.
    struct Record {
        var mask: DebugMask
        var message: String
        var file: String
        var function: String
        var line: UInt
        var pid: Int32
        var time: WallClock.Time
        var cpu: Int

        /// The syslog priority and Lustre's console prefix for this kind.
        var priority: (level: Int, prefix: String) {
            if mask.contains(.emerg) { return (0, "LustreError") }
            if mask.contains(.error) { return (3, "LustreError") }
            if mask.contains(.neterror) { return (3, "LNetError") }
            if mask.contains(.warning) { return (4, "Lustre") }
            if mask.contains(.console) { return (5, "Lustre") }
            if mask.contains(.info) { return (6, "Lustre") }
            return (7, "Lustre")
        }

        private var text: String {
            message.hasSuffix("\n") ? String(message.dropLast()) : message
        }

        private var location: String { "\(file):\(line):\(function.hasSuffix(")") ? function : function + "()")" }

        /// The stderr line: `<3>LustreError: 1234:0:(file.swift:42:fn()) msg`;
        /// console messages carry no location, as in Lustre.
        var consoleLine: String {
            let (level, prefix) = priority
            if mask.contains(.console) && !mask.contains(.error) && !mask.contains(.warning) {
                return "<\(level)>\(prefix): \(text)\n"
            }
            return "<\(level)>\(prefix): \(pid):0:(\(location)) \(text)\n"
        }

        /// The `lctl dk` line (subsystem 0: this port keeps no subsystem mask).
        var debugLogLine: String {
            let usecs = String(time.nanoseconds / 1000)
            let padded = String(repeating: "0", count: max(0, 6 - usecs.count)) + usecs
            return "\(hex8(0)):\(hex8(mask.rawValue)):\(cpu).0:\(time.seconds).\(padded):0:\(pid):0:(\(location)) \(text)\n"
        }
    }

    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func currentThreadID() -> Int32 {
        cfs_gettid()
    }
}

/// `%08x`.
func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
