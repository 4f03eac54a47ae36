import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Reads a subtree from the MDS, as the storm's model describes one: every path below `root`
/// with its kind, FID and (for symlinks) target.
enum StormNamespaceWalk {
    private static let dtDirectory: UInt8 = 4
    private static let dtRegular: UInt8 = 8
    private static let dtSymlink: UInt8 = 10

    static func walk(_ mdc: MDCDevice, root: LustreFID) async throws(LustreError) -> [String: StormNode] {
        var found: [String: StormNode] = [:]
        var queue: [(path: String, fid: LustreFID)] = [("", root)]
        while let (path, fid) = queue.popLast() {
            var cookie: UInt64 = 0
            while true {
                let page = try await mdc.readdir(fid, cookie: cookie, maxEntries: 256, credentials: .root)
                for entry in page.entries where entry.name != "." && entry.name != ".." {
                    let child = StormTree.join(path, entry.name)
                    let kind = try await kind(of: entry, mdc)
                    if found[child] != nil { throw LustreError(errno: EIO, "readdir listed \(child) twice") }
                    found[child] = StormNode(kind: kind, fid: entry.fid)
                    if kind == .directory { queue.append((child, entry.fid)) }
                }
                if page.end { break }
                guard let last = page.entries.last, last.cookie != cookie else {
                    throw LustreError(errno: EIO, "readdir of \(fid) made no progress at cookie \(cookie)")
                }
                cookie = last.cookie
            }
        }
        return found
    }

    private static func kind(of entry: MDTDirEntry, _ mdc: MDCDevice) async throws(LustreError) -> StormNode.Kind {
        var type = entry.type
        if type != dtDirectory && type != dtRegular && type != dtSymlink {
            // DT_UNKNOWN, or something the storm never makes: the mode says which.
            let mode = try await mdc.getattr(entry.fid, credentials: .root).mode & 0o170000
            type = mode == 0o040000 ? dtDirectory : mode == 0o120000 ? dtSymlink : mode == 0o100000 ? dtRegular : 0
        }
        switch type {
        case dtDirectory: return .directory
        case dtSymlink: return .symlink(target: try await mdc.readlink(entry.fid, credentials: .root))
        case dtRegular: return .file
        default: throw LustreError(errno: EIO, "\(entry.name) (\(entry.fid)) is neither file, directory nor symlink")
        }
    }
}
