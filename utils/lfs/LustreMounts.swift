import LibCFS
import LustreCompat

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The Lustre client mounts of this node (`fuse.lustre` in /proc/self/mounts) and which one holds
/// a path: where `lfs` sends its xattr requests.
enum LustreMounts {
    struct Mount: Equatable {
        /// `127.0.0.1@tcp:/testfs`, or `127.0.0.1@tcp:/testfs/SUBDIR` for a fileset.
        var source: String
        var mountpoint: String
        /// The filesystem's name: what follows `:/` up to the fileset's path, if any.
        var fsname: String {
            guard let colon = source.firstRange(of: ":/") else { return source }
            return source[colon.upperBound...].split(separator: "/").first.map(String.init) ?? source
        }
    }

    static func all() -> [Mount] {
        MountTable.entries(ofType: "fuse.lustre").map { Mount(source: $0.source, mountpoint: $0.mountpoint) }
    }

    /// The mount holding `path`, or every Lustre mount without one (`lfs df [PATH]`, `lfs check
    /// KIND [PATH]`, `lfs osts [PATH]`).
    static func selected(by path: String?) throws(LustreError) -> [Mount] {
        guard let path else { return all() }
        return [try containing(path)]
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
}
