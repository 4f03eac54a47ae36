import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The Lustre client mounts of this node (`fuse.lustre` in /proc/self/mounts) and which one holds
/// a path: where `lfs` sends its xattr requests.
enum LustreMounts {
    struct Mount: Equatable {
        /// `127.0.0.1@tcp:/testfs`.
        var source: String
        var mountpoint: String
        var fsname: String { source.split(separator: "/").last.map(String.init) ?? source }
    }

    static func all() -> [Mount] {
        guard let file = fopen("/proc/self/mounts", "r") else { return [] }
        defer { fclose(file) }
        var result: [Mount] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count > 2, fields[2] == "fuse.lustre" {
                result.append(Mount(source: unescape(fields[0]), mountpoint: unescape(fields[1])))
            }
        }
        return result
    }

    /// The mount holding `path` (which must exist, or its parent must); `ENOTTY`-like error for a
    /// path outside any Lustre mount, as Lustre's lfs reports "not on a Lustre filesystem".
    static func containing(_ path: String) throws(LustreError) -> Mount {
        let resolved = try resolve(path)
        let candidates = all().filter { resolved == $0.mountpoint || resolved.hasPrefix($0.mountpoint == "/" ? "/" : $0.mountpoint + "/") }
        guard let best = candidates.max(by: { $0.mountpoint.count < $1.mountpoint.count }) else {
            throw LustreError(errno: ENOTTY, "'\(path)' is not on a Lustre filesystem")
        }
        return best
    }

    /// The absolute path with symlinks resolved; for a path that does not exist yet, its parent's.
    static func resolve(_ path: String) throws(LustreError) -> String {
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let (parent, name) = split(path)
        guard let real = realpath(parent, nil) else { throw LustreError.fromErrno("'\(path)'") }
        defer { free(real) }
        let base = String(cString: real)
        return base == "/" ? "/" + name : base + "/" + name
    }

    /// `dir/name` → (`dir`, `name`); `name` → (`.`, `name`).
    static func split(_ path: String) -> (parent: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let parent = trimmed[..<slash]
        return (parent.isEmpty ? "/" : String(parent), String(trimmed[trimmed.index(after: slash)...]))
    }

    private static func unescape(_ field: Substring) -> String {
        // /proc/mounts escapes space, tab, newline and backslash as \ooo.
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
