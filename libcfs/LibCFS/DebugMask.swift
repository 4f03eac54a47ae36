/// Lustre's debug mask: which kinds of debug message are kept (`lctl get_param
/// debug`, `lctl set_param debug="+net -trace"`).
///
/// Bits, names and order are those of `libcfs_debug.h`, so masks read from a
/// Lustre node mean the same here.
public struct DebugMask: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The mask bits, as in `libcfs_debug` (`D_TRACE` is bit 0).
    public var rawValue: UInt32

    /// The mask with exactly these bits.
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `D_TRACE`: entry/exit markers.
    public static let trace = DebugMask(rawValue: 1 << 0)
    /// `D_INODE`.
    public static let inode = DebugMask(rawValue: 1 << 1)
    /// `D_SUPER`.
    public static let `super` = DebugMask(rawValue: 1 << 2)
    /// `D_IOTRACE`: simple, low-overhead I/O tracing.
    public static let iotrace = DebugMask(rawValue: 1 << 3)
    /// `D_MALLOC`: allocation and free.
    public static let malloc = DebugMask(rawValue: 1 << 4)
    /// `D_CACHE`: cache-related items.
    public static let cache = DebugMask(rawValue: 1 << 5)
    /// `D_INFO`: general information.
    public static let info = DebugMask(rawValue: 1 << 6)
    /// `D_IOCTL`: ioctl (admin request) handling.
    public static let ioctl = DebugMask(rawValue: 1 << 7)
    /// `D_NETERROR`: network errors (`CNETERR`).
    public static let neterror = DebugMask(rawValue: 1 << 8)
    /// `D_NET`: network communications.
    public static let net = DebugMask(rawValue: 1 << 9)
    /// `D_WARNING`: `CWARN`.
    public static let warning = DebugMask(rawValue: 1 << 10)
    /// `D_BUFFS`.
    public static let buffs = DebugMask(rawValue: 1 << 11)
    /// `D_OTHER`.
    public static let other = DebugMask(rawValue: 1 << 12)
    /// `D_DENTRY`.
    public static let dentry = DebugMask(rawValue: 1 << 13)
    /// `D_NETTRACE`.
    public static let nettrace = DebugMask(rawValue: 1 << 14)
    /// `D_PAGE`: bulk page handling.
    public static let page = DebugMask(rawValue: 1 << 15)
    /// `D_DLMTRACE`: lock manager tracing.
    public static let dlmtrace = DebugMask(rawValue: 1 << 16)
    /// `D_ERROR`: `CERROR`.
    public static let error = DebugMask(rawValue: 1 << 17)
    /// `D_EMERG`: `CEMERG`.
    public static let emerg = DebugMask(rawValue: 1 << 18)
    /// `D_HA`: recovery and failover.
    public static let ha = DebugMask(rawValue: 1 << 19)
    /// `D_RPCTRACE`: RPC tracing for distributed debugging.
    public static let rpctrace = DebugMask(rawValue: 1 << 20)
    /// `D_VFSTRACE`.
    public static let vfstrace = DebugMask(rawValue: 1 << 21)
    /// `D_READA`: read-ahead.
    public static let reada = DebugMask(rawValue: 1 << 22)
    /// `D_MMAP`.
    public static let mmap = DebugMask(rawValue: 1 << 23)
    /// `D_CONFIG`: configuration.
    public static let config = DebugMask(rawValue: 1 << 24)
    /// `D_CONSOLE`: `LCONSOLE` messages.
    public static let console = DebugMask(rawValue: 1 << 25)
    /// `D_QUOTA`.
    public static let quota = DebugMask(rawValue: 1 << 26)
    /// `D_SEC`: security.
    public static let sec = DebugMask(rawValue: 1 << 27)
    /// `D_LFSCK`: OI scrub and LFSCK.
    public static let lfsck = DebugMask(rawValue: 1 << 28)
    /// `D_HSM`.
    public static let hsm = DebugMask(rawValue: 1 << 29)
    /// `D_SNAPSHOT`.
    public static let snapshot = DebugMask(rawValue: 1 << 30)
    /// `D_LAYOUT`.
    public static let layout = DebugMask(rawValue: 1 << 31)

    /// Every bit (`debug=all` or `debug=-1`).
    public static let all = DebugMask(rawValue: 0xFFFF_FFFF)

    /// `D_CANTMASK`: kinds that are always kept, whatever the mask says.
    public static let cantMask: DebugMask = [.error, .emerg, .warning, .console]

    /// `LIBCFS_D_DEFAULT`: `ioctl neterror warning error emerg ha config console lfsck`.
    public static let `default`: DebugMask = [.cantMask, .neterror, .ha, .config, .ioctl, .lfsck]

    /// Lustre's bit names, index = bit number (`LIBCFS_DEBUG_MASKS_NAMES`).
    public static let names: [String] = [
        "trace", "inode", "super", "iotrace", "malloc", "cache", "info", "ioctl",
        "neterror", "net", "warning", "buffs", "other", "dentry", "nettrace", "page",
        "dlmtrace", "error", "emerg", "ha", "rpctrace", "vfstrace", "reada", "mmap",
        "config", "console", "quota", "sec", "lfsck", "hsm", "snapshot", "layout",
    ]

    /// The names of the set bits in bit order separated by spaces, or "0" for
    /// the empty mask, as `lctl get_param debug` prints (`libcfs_debug_mask2str`).
    public var description: String {
        if rawValue == 0 { return "0" }
        return (0..<32).filter { rawValue & (1 << $0) != 0 }
            .map { DebugMask.names[$0] }
            .joined(separator: " ")
    }

    /// Parses what `lctl set_param debug=…` accepts, relative to `current`.
    ///
    /// - A plain list (`"net ha"`) replaces the mask; the always-kept kinds
    ///   (`cantMask`) stay set.
    /// - A leading `+` or `-` starts from `current`; an operator applies to
    ///   the names after it up to the next operator (`"+net -trace"`).
    /// - `all`, `default` (and `-all`, `-default`), `none`, and a number
    ///   (`0`, `-1`, `0x…`) are accepted; names are case-insensitive and may
    ///   be separated by spaces or commas.
    ///
    /// - Throws: `LustreError` `EINVAL` quoting the first unknown word; the
    ///   caller's mask is not changed.
    public static func parse(_ text: String, relativeTo current: DebugMask) throws(LustreError) -> DebugMask {
        let trimmed = text.trimmingWhitespace()
        // A bare number is taken as the mask itself, as libcfs_debug_str2mask does.
        if let number = parseCInteger(trimmed), number >= Int64(Int32.min), number <= Int64(UInt32.max) {
            return DebugMask(rawValue: UInt32(truncatingIfNeeded: number))
        }
        if trimmed.lowercased() == "none" { return DebugMask(rawValue: 0) }

        var result = DebugMask.cantMask
        var op: Character? = nil
        var sawToken = false
        var chars = Substring(trimmed)
        while true {
            chars = chars.drop(while: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\n" })
            guard let first = chars.first else { break }
            if first == "+" || first == "-" {
                op = first
                if !sawToken { result = current }   // only a leading operator makes it relative
                chars = chars.dropFirst().drop(while: { $0 == " " || $0 == "\t" })
                if chars.isEmpty {
                    throw LustreError.invalid("debug mask '\(trimmed)': '\(first)' with no name after it")
                }
            }
            let word = chars.prefix(while: { !" \t\n,+-".contains($0) })
            chars = chars.dropFirst(word.count)
            sawToken = true
            let lower = word.lowercased()
            if let bit = DebugMask.names.firstIndex(of: lower) {
                let mask = DebugMask(rawValue: 1 << UInt32(bit))
                if op == "-" { result.subtract(mask) } else { result.formUnion(mask) }
            } else if lower == "all" {
                result = op == "-" ? .cantMask : .all
            } else if lower == "default" {
                switch op {
                case "-": result = result.subtracting(.default).union(.cantMask)
                case "+": result.formUnion(.default)
                default: result = .default
                }
            } else {
                throw LustreError.invalid(
                    "unknown debug mask '\(word)'; mask usage: [+|-]<all|default|type> ...")
            }
        }
        return result
    }
}
