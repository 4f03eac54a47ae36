import Glibc
import LibCFS
import ObdClass

/// What `MDTChecker` found on a target.
public struct MDTCheckReport: Sendable {
    /// One line per problem; empty when the target is consistent.
    public var problems: [String] = []
    /// Every regular file reachable from the root, with its path ("dir/file").
    public var files: [LustreFID: String] = [:]
    /// The layout of every file that has one.
    public var layouts: [LustreFID: LustreLayout] = [:]
    /// Directories and other inodes visited (files included).
    public var inodes = 0
    /// For repair at MDT start-up: OI records that resolve to no live inode or to an inode
    /// unreachable from the root (and not in `PENDING/`), and files whose link xattr does not
    /// list the names found for them (with those names).
    var staleRecords: [LustreFID] = []
    var unreachableRecords: [LustreFID] = []
    var linkMismatches: [LustreFID: [MDTLink]] = [:]
    /// Entries whose FID has no OI record resolving to them (path under `ROOT/`).
    var missingRecords: [LustreFID: String] = [:]

    public var isClean: Bool { problems.isEmpty }
}

/// An offline consistency check of an MDT target root (the MDT part of Lustre's LFSCK): every
/// entry under `ROOT/` carries a FID and its OI record resolves back to it, every OI record
/// resolves to a live inode with that FID, link xattrs match the entries, link counts agree,
/// and no directory is unreachable from the root. Reads only; the MDT must not be running.
public enum MDTChecker {
    public static func check(root: String) throws(LustreError) -> MDTCheckReport {
        let rootFD = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw LustreError.fromErrno("open \(root)") }
        defer { Glibc.close(rootFD) }
        var walker = try Walker(rootFD: rootFD)
        try walker.walk()
        try walker.checkIndex()
        return walker.report
    }

    private struct Seen {
        var ino: ino_t
        var isDirectory: Bool
        var names: [MDTLink] = []
        var nlink: Int
        var links: [MDTLink]
        var path: String
    }

    private struct Walker {
        let rootFD: Int32
        let prefix: String
        var report = MDTCheckReport()
        var seen: [LustreFID: Seen] = [:]
        var subdirectories: [LustreFID: Int] = [:]
        let index: MDTObjectIndex

        init(rootFD: Int32) throws(LustreError) {
            self.rootFD = rootFD
            index = try MDTObjectIndex(rootFD: rootFD, migrating: false)
            let rootPath = MDTSyscalls.procPath(rootFD) + "/" + MDTTree.rootDirectory
            guard access(rootPath, F_OK) == 0 else { throw LustreError(errno: ENOENT, "no ROOT directory: not an MDT target") }
            if case .success = MDTSyscalls.getxattr(rootPath, "trusted.lma") {
                prefix = "trusted."
            } else if case .success = MDTSyscalls.getxattr(rootPath, "user.lustre.lma") {
                prefix = "user.lustre."
            } else {
                prefix = "trusted."
                report.problems.append("ROOT: no FID")
            }
        }

        func fid(_ path: String) -> LustreFID? {
            guard case .success(let bytes) = MDTSyscalls.getxattr(path, prefix + "lma", noFollow: true) else { return nil }
            return try? MDTLMA(decoding: bytes).fid
        }

        func links(_ path: String) -> [MDTLink]? {
            guard case .success(let bytes) = MDTSyscalls.getxattr(path, prefix + "link", noFollow: true) else { return nil }
            return try? MDTLinkXattr.decode(bytes)
        }

        /// The inode the OI record of `fid` resolves to: its stat, or why not.
        func resolve(_ fid: LustreFID) -> Result<Glibc.stat, LustreError> {
            let found: [UInt8]?
            do { found = try index.handle(of: fid) } catch { return .failure(error) }
            guard let bytes = found else { return .failure(LustreError(errno: ENOENT, "no OI record")) }
            switch MDTSyscalls.open(handle: bytes, mountFD: rootFD, flags: O_PATH | O_NOFOLLOW | O_CLOEXEC) {
            case .failure(let error): return .failure(error)
            case .success(let fd):
                defer { Glibc.close(fd) }
                var st = Glibc.stat()
                guard fstat(fd, &st) == 0, st.st_nlink > 0 else { return .failure(LustreError(errno: ESTALE, "inode freed")) }
                return .success(st)
            }
        }

        mutating func walk() throws(LustreError) {
            let rootPath = MDTSyscalls.procPath(rootFD) + "/" + MDTTree.rootDirectory
            let rootFID = MDTFIDSequencer.rootFID
            var st = Glibc.stat()
            guard lstat(rootPath, &st) == 0 else { throw LustreError.fromErrno("stat ROOT") }
            seen[rootFID] = Seen(ino: st.st_ino, isDirectory: true, nlink: Int(st.st_nlink), links: [], path: "")
            if case .failure(let error) = resolve(rootFID) { report.problems.append("ROOT: OI record: \(error)") }
            var stack: [(path: String, relative: String, fid: LustreFID)] = [(rootPath, "", rootFID)]
            while let (path, relative, parentFID) = stack.popLast() {
                guard let dir = opendir(path) else {
                    report.problems.append("\(relative.isEmpty ? "ROOT" : relative): cannot read: \(LustreError.fromErrno())")
                    continue
                }
                var subdirs = 0
                while let entry = Glibc.readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                    if name == "." || name == ".." { continue }
                    let childPath = path + "/" + name
                    let childRelative = relative.isEmpty ? name : relative + "/" + name
                    var cst = Glibc.stat()
                    guard lstat(childPath, &cst) == 0 else { continue }
                    let isDirectory = cst.st_mode & UInt32(S_IFMT) == UInt32(S_IFDIR)
                    if isDirectory { subdirs += 1 }
                    report.inodes += 1
                    guard let fid = fid(childPath) else {
                        report.problems.append("\(childRelative): no FID")
                        continue
                    }
                    let link = MDTLink(parent: parentFID, name: name)
                    if var known = seen[fid] {
                        if known.ino != cst.st_ino {
                            report.problems.append("\(childRelative): FID \(fid) also carried by \(known.path)")
                        } else {
                            known.names.append(link)
                            seen[fid] = known
                        }
                        continue
                    }
                    let links = links(childPath) ?? []
                    if !links.contains(link) {
                        report.problems.append("\(childRelative): link xattr of \(fid) does not name this entry")
                    }
                    switch resolve(fid) {
                    case .failure(let error):
                        report.problems.append("\(childRelative): OI record of \(fid): \(error)")
                        report.missingRecords[fid] = childRelative
                    case .success(let resolved) where resolved.st_ino != cst.st_ino:
                        report.problems.append("\(childRelative): OI record of \(fid) resolves to another inode")
                    default: break
                    }
                    seen[fid] = Seen(ino: cst.st_ino, isDirectory: isDirectory, names: [link], nlink: Int(cst.st_nlink),
                                     links: links, path: childRelative)
                    if cst.st_mode & UInt32(S_IFMT) == UInt32(S_IFREG) {
                        report.files[fid] = childRelative
                        if case .success(let bytes) = MDTSyscalls.getxattr(childPath, prefix + "lov", noFollow: true) {
                            do {
                                report.layouts[fid] = try MDTTree.decodeLayout(bytes)
                            } catch {
                                report.problems.append("\(childRelative): bad layout: \(error)")
                            }
                        }
                    }
                    if isDirectory { stack.append((childPath, childRelative, fid)) }
                }
                closedir(dir)
                subdirectories[parentFID] = subdirs
            }
            for (fid, known) in seen where fid != rootFID {
                if known.isDirectory {
                    let expected = 2 + (subdirectories[fid] ?? 0)
                    if known.nlink != expected {
                        report.problems.append("\(known.path): directory nlink \(known.nlink), expected \(expected)")
                    }
                } else {
                    if known.nlink != known.names.count {
                        report.problems.append("\(known.path): nlink \(known.nlink) but \(known.names.count) names")
                    }
                    if Set(known.links) != Set(known.names) {
                        report.problems.append("\(known.path): link xattr lists \(known.links.count) names, \(known.names.count) found")
                        report.linkMismatches[fid] = known.names
                    }
                }
            }
            let rootExpected = 2 + (subdirectories[rootFID] ?? 0)
            if let rootSeen = seen[rootFID], rootSeen.nlink != rootExpected {
                report.problems.append("ROOT: directory nlink \(rootSeen.nlink), expected \(rootExpected)")
            }
        }

        mutating func checkIndex() throws(LustreError) {
            if faccessat(rootFD, "oi/00", F_OK, 0) == 0 {
                report.problems.append("oi/: records in the first OI format (symlinks); starting the MDS converts them")
            }
            let pending = Set(names(MDTTree.pendingDirectory))
            for name in names(MDTTree.replayDirectory) {
                report.problems.append("REPLAY/\(name): left over by log replay")
            }
            for fid in try index.allRecords() {
                switch resolve(fid) {
                case .failure(let error):
                    report.problems.append("OI record \(fid): stale (\(error))")
                    report.staleRecords.append(fid)
                case .success(let st):
                    if let known = seen[fid] {
                        if known.ino != st.st_ino { report.problems.append("OI record \(fid): resolves to another inode") }
                        continue
                    }
                    if pending.contains(MDTObjectIndex.recordName(fid)) { continue }
                    let kind = st.st_mode & UInt32(S_IFMT) == UInt32(S_IFDIR) ? "directory" : "inode"
                    report.problems.append("OI record \(fid): \(kind) unreachable from ROOT")
                    report.unreachableRecords.append(fid)
                }
            }
        }

        func names(_ directory: String) -> [String] {
            let fd = openat(rootFD, directory, O_PATH | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return [] }
            defer { Glibc.close(fd) }
            return (try? MDTTree.names(in: fd)) ?? []
        }
    }
}
