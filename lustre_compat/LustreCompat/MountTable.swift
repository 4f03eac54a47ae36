#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The mounts of this mount namespace, as `/proc/self/mounts` lists them.
public enum MountTable {
    public struct Entry: Equatable, Sendable {
        /// What is mounted, e.g. `127.0.0.1@tcp:/testfs`.
        public var source: String
        public var mountpoint: String
        /// `fuse.lustre` for Lustre client mounts.
        public var type: String
    }

    /// The mounts of filesystem type `type` (every mount when nil), in mount order.
    public static func entries(ofType type: String? = nil) -> [Entry] {
        guard let file = fopen("/proc/self/mounts", "r") else { return [] }
        defer { fclose(file) }
        var result: [Entry] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            guard fields.count > 2, type == nil || fields[2] == type! else { continue }
            result.append(Entry(source: unescape(fields[0]), mountpoint: unescape(fields[1]), type: String(fields[2])))
        }
        return result
    }

    /// /proc/mounts escapes space, tab, newline and backslash as `\ooo`.
    static func unescape(_ field: Substring) -> String {
        var result = ""
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == "\\", let end = field.index(i, offsetBy: 4, limitedBy: field.endIndex),
               let code = UInt8(field[field.index(after: i)..<end], radix: 8) {
                result.append(Character(Unicode.Scalar(code)))
                i = end
            } else {
                result.append(field[i])
                i = field.index(after: i)
            }
        }
        return result
    }
}
