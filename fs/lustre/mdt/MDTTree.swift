import Glibc
import LibCFS
import NIOCore
import ObdClass

/// The ext4 tree of an MDT target root, and the idempotent application of log records to it.
///
/// Layout: `ROOT/` (the namespace; its own FID is `MDTFIDSequencer.rootFID`), `PENDING/` (open
/// files whose last name went, named by FID), `REPLAY/` (inodes that log replay moved out of the
/// way, named by FID, put back by later records), `oi/` (the object index), `seq_srv`, `mdt_log`.
///
/// `apply(_:live:)` is the only code that changes the tree. Live (right after the record was
/// appended, with the operation's locks held and its checks done) it makes the change with the
/// fewest syscalls. In replay it first looks at what is there: each record states an absolute
/// post-state (this name binds this FID, this inode has these names and attributes), objects are
/// found by FID through the OI wherever later operations moved them, and a name held by another
/// inode is vacated into `REPLAY/` for the later record that binds that inode again.
final class MDTTree: Sendable {
    let rootFD: Int32
    let oi: MDTObjectIndex
    let pendingFD: Int32
    let replayFD: Int32
    let root: MDTInode
    /// Xattr names of the MDT's own attributes: `trusted.*`, or `user.lustre.*` where the
    /// backing filesystem refuses trusted xattrs.
    let lmaName: String
    let linkName: String
    let lovName: String
    let somName: String
    private let umaskBits: UInt32

    static let rootDirectory = "ROOT"
    static let pendingDirectory = "PENDING"
    static let replayDirectory = "REPLAY"
    /// The SELinux label, remembered per inode so each attributes reply can say it is absent.
    static let selinuxLabelName = MDTAttributeHints.selinuxLabelName
    /// Whether this host's kernel labels the inodes it makes (SELinux active: selinuxfs is
    /// there). Where it does not, a new inode has no label, known without asking.
    static let hostLabelsNewInodes = access("/sys/fs/selinux/enforce", F_OK) == 0

    init(rootFD: Int32, inodeCacheCapacity: Int? = nil) throws(LustreError) {
        self.rootFD = rootFD
        let previous = umask(0o022)
        umask(previous)
        umaskBits = UInt32(previous)
        let probe = MDTSyscalls.setxattr(MDTSyscalls.procPath(rootFD), "trusted.lustre_probe", [1])
        let prefix = probe == 0 ? "trusted." : "user.lustre."
        if probe == 0 { _ = MDTSyscalls.removexattr(MDTSyscalls.procPath(rootFD), "trusted.lustre_probe") }
        lmaName = prefix + "lma"
        linkName = prefix + "link"
        lovName = prefix + "lov"
        somName = prefix + "som"
        oi = try MDTObjectIndex(rootFD: rootFD, cacheCapacity: inodeCacheCapacity)
        pendingFD = try Self.directory(rootFD, Self.pendingDirectory)
        replayFD = try Self.directory(rootFD, Self.replayDirectory)
        var rootFd = openat(rootFD, Self.rootDirectory, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if rootFd < 0 {
            guard errno == ENOENT else { throw LustreError.fromErrno("open ROOT") }
            let staging = Self.rootDirectory + ".new"
            guard mkdirat(rootFD, staging, 0o755) == 0 || errno == EEXIST else { throw LustreError.fromErrno("mkdir ROOT") }
            _ = chmod(MDTSyscalls.procPath(rootFD) + "/" + staging, 0o755)
            let path = MDTSyscalls.procPath(rootFD) + "/" + staging
            let rc = MDTSyscalls.setxattr(path, lmaName, MDTLMA(fid: MDTFIDSequencer.rootFID).encoded())
            guard rc == 0 else { throw LustreError(errno: rc, "set the root FID") }
            guard renameat(rootFD, staging, rootFD, Self.rootDirectory) == 0, fsync(rootFD) == 0 else {
                throw LustreError.fromErrno("install ROOT")
            }
            rootFd = openat(rootFD, Self.rootDirectory, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard rootFd >= 0 else { throw LustreError.fromErrno("open ROOT") }
        }
        root = MDTInode(fd: rootFd, fid: MDTFIDSequencer.rootFID, type: UInt32(S_IFDIR))
        if try oi.inode(MDTFIDSequencer.rootFID) == nil {
            try oi.insert(MDTFIDSequencer.rootFID, fd: rootFd)
        }
        oi.remember(root)
    }

    deinit {
        Glibc.close(pendingFD)
        Glibc.close(replayFD)
    }

    private static func directory(_ rootFD: Int32, _ name: String) throws(LustreError) -> Int32 {
        guard mkdirat(rootFD, name, 0o700) == 0 || errno == EEXIST else { throw LustreError.fromErrno("mkdir \(name)") }
        let fd = openat(rootFD, name, O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(name)") }
        return fd
    }

    // MARK: reading

    /// The FID an inode carries, nil when it has none.
    func fid(at path: String) throws(LustreError) -> LustreFID? {
        switch MDTSyscalls.getxattr(path, lmaName) {
        case .success(let bytes): return try MDTLMA(decoding: bytes).fid
        case .failure(let error):
            if error.errno == ENODATA { return nil }
            throw error
        }
    }

    /// An xattr of the inode, nil when absent; the MDT's own (size, layout, names) from what the
    /// inode remembers when it can.
    func xattr(_ inode: MDTInode, _ name: String) throws(LustreError) -> [UInt8]? {
        let slot = cachedSlot(name)
        var generation: UInt64 = 0
        if let slot {
            let known = inode.cached(slot)
            if let value = known.value { return value }
            generation = known.generation
        }
        switch inode.getxattr(name) {
        case .success(let bytes):
            if let slot { inode.fill(slot, bytes, generation: generation) }
            return bytes
        case .failure(let error):
            if error.errno == ENODATA {
                if let slot { inode.fill(slot, nil, generation: generation) }
                return nil
            }
            throw error.adding(context: "\(inode.fid)")
        }
    }

    /// The slot in which an inode remembers the xattr `name`, nil for one it does not keep.
    func cachedSlot(_ name: String) -> MDTInode.CachedXattr? {
        if name == somName { return .sizeOnMDS }
        if name == lovName { return .layout }
        if name == linkName { return .links }
        if name == Self.selinuxLabelName { return .selinuxLabel }
        return nil
    }

    /// Remembers the MDT xattrs of an inode `finish` just labelled from `r`.
    private func labelled(_ inode: MDTInode, _ r: MDTCreateRecord) -> MDTInode {
        inode.stored(.links, MDTLinkXattr.encode([MDTLink(parent: r.parent, name: r.name)]), succeeded: true)
        inode.stored(.layout, r.layout.isEmpty ? nil : r.layout, succeeded: true)
        inode.stored(.sizeOnMDS, nil, succeeded: true)
        if !Self.hostLabelsNewInodes { inode.stored(.selinuxLabel, nil, succeeded: true) }
        return inode
    }

    func links(of inode: MDTInode) throws(LustreError) -> [MDTLink] {
        guard let bytes = try xattr(inode, linkName) else { return [] }
        return try MDTLinkXattr.decode(bytes)
    }

    func layout(of inode: MDTInode) throws(LustreError) -> LustreLayout? {
        guard let bytes = try xattr(inode, lovName) else { return nil }
        return try Self.decodeLayout(bytes)
    }

    static func decodeLayout(_ bytes: [UInt8]) throws(LustreError) -> LustreLayout {
        var buffer = ByteBuffer(bytes: bytes)
        return try LustreLayout(decoding: &buffer)
    }

    /// An entry of a directory: its inode (opened `O_PATH`), stat, and FID (nil when it carries
    /// none: a create cut short by a crash).
    struct Entry {
        var fd: Int32
        var st: Glibc.stat
        var fid: LustreFID?
        var isDirectory: Bool { st.st_mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    }

    /// Looks `name` up in the directory `dirFD`; nil when absent. The caller owns `fd`.
    func entry(_ dirFD: Int32, _ name: String) throws(LustreError) -> Entry? {
        let fd = openat(dirFD, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LustreError.fromErrno("lookup \(name)")
        }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else {
            let error = LustreError.fromErrno("stat \(name)")
            Glibc.close(fd)
            throw error
        }
        do throws(LustreError) {
            return Entry(fd: fd, st: st, fid: try fid(at: MDTSyscalls.procPath(fd)))
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    // MARK: applying records

    /// Applies `record`; returns the inode it created, if any. See the type's comment.
    @discardableResult
    func apply(_ record: MDTLogRecord, live: Bool) throws(LustreError) -> MDTInode? {
        switch record {
        case .create(let r):
            return try create(r, live: live)
        case .link(let fid, let parent, let name, let links):
            guard let inode = try oi.inode(fid) else { return nil }
            if let parentInode = try oi.inode(parent) {
                if live {
                    guard linkat(inode.fd, "", parentInode.fd, name, MDTSyscalls.atEmptyPath) == 0 else {
                        throw LustreError.fromErrno("link \(name)")
                    }
                } else {
                    try bind(parentInode, name, inode)
                }
            }
            try setLinks(inode, links)
        case .unlink(let r):
            try unlink(r, live: live)
        case .rename(let from, let name, let to, let newName, let fid, let isDirectory, let links, let overwritten):
            try rename(from: from, name: name, to: to, newName: newName, fid: fid, isDirectory: isDirectory,
                       links: links, overwritten: overwritten, live: live)
        case .setattr(let fid, let change, let blocks):
            guard let inode = try oi.inode(fid) else { return nil }
            try setattr(inode, change, blocks: blocks)
        case .setxattr(let fid, let name, let value):
            guard let inode = try oi.inode(fid) else { return nil }
            let rc = inode.setxattr(name, value)
            if let slot = cachedSlot(name) { inode.stored(slot, value, succeeded: rc == 0 || (value == nil && rc == ENODATA)) }
            guard rc == 0 || (value == nil && rc == ENODATA) else { throw LustreError(errno: rc, "xattr \(name) of \(fid)") }
        case .destroyOrphan(let fid, _):
            try removeHoldingNames(fid, isDirectory: false)
            try oi.remove(fid)
        }
        return nil
    }

    private func create(_ r: MDTCreateRecord, live: Bool) throws(LustreError) -> MDTInode {
        let parent = try oi.inode(r.parent)
        let type = r.mode & UInt32(S_IFMT)
        if !live {
            if let existing = try oi.inode(r.fid) {
                if let parent { try bind(parent, r.name, existing) }
                try setLinks(existing, parent == nil ? [] : [MDTLink(parent: r.parent, name: r.name)])
                return existing
            }
            if let parent, let occupant = try entry(parent.fd, r.name) {
                defer { Glibc.close(occupant.fd) }
                if occupant.fid == r.fid {
                    // This create's own inode, whose OI record a power loss took (records are
                    // table data, made durable by commits and checkpoints, not by the journal).
                    try oi.insert(r.fid, fd: occupant.fd)
                    if let inode = try oi.inode(r.fid) {
                        try setLinks(inode, [MDTLink(parent: r.parent, name: r.name)])
                        return inode
                    }
                }
                if occupant.fid == nil && occupant.st.st_mode & UInt32(S_IFMT) == type && type != UInt32(S_IFREG) {
                    // This create, cut short between making the inode and labelling it.
                    let fd = dup(occupant.fd)
                    try finish(fd: fd, r, useFD: false)
                    let inode = labelled(MDTInode(fd: fd, fid: r.fid, type: type), r)
                    oi.remember(inode)
                    return inode
                }
                try displace(parent.fd, r.name, occupant)
            }
        }
        let dirFD = parent?.fd ?? replayFD
        let name = parent == nil ? MDTObjectIndex.recordName(r.fid) : r.name
        let permissions = r.mode & 0o7777
        let fd: Int32
        switch type {
        case UInt32(S_IFREG):
            fd = openat(dirFD, ".", MDTSyscalls.oTmpfile | O_WRONLY | O_CLOEXEC, permissions)
            guard fd >= 0 else { throw LustreError.fromErrno("create \(r.name)") }
            do throws(LustreError) {
                try finish(fd: fd, r, useFD: true)
                guard linkat(fd, "", dirFD, name, MDTSyscalls.atEmptyPath) == 0 else {
                    throw LustreError.fromErrno("link \(r.name)")
                }
            } catch {
                Glibc.close(fd)
                throw error
            }
        default:
            let rc: Int32
            switch type {
            case UInt32(S_IFDIR): rc = mkdirat(dirFD, name, permissions)
            case UInt32(S_IFLNK): rc = symlinkat(r.symlinkTarget, dirFD, name)
            default: rc = mknodat(dirFD, name, r.mode, dev_t(r.rdev))
            }
            guard rc == 0 else { throw LustreError.fromErrno("create \(r.name)") }
            // A directory is held open for reading, so its xattrs need no procfs path.
            let isDirectory = type == UInt32(S_IFDIR)
            fd = openat(dirFD, name, (isDirectory ? O_RDONLY | O_DIRECTORY : O_PATH) | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw LustreError.fromErrno("open \(r.name)") }
            do throws(LustreError) {
                try finish(fd: fd, r, useFD: isDirectory)
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
        // Made here: a regular file `O_WRONLY`, a directory `O_RDONLY`, anything else `O_PATH`.
        let pathOnly = type != UInt32(S_IFREG) && type != UInt32(S_IFDIR)
        let inode = labelled(MDTInode(fd: fd, fid: r.fid, type: type, pathOnly: pathOnly), r)
        oi.remember(inode)
        return inode
    }

    /// Owner, mode, FID, names and layout of a new inode, then its OI record.
    private func finish(fd: Int32, _ r: MDTCreateRecord, useFD: Bool) throws(LustreError) {
        let type = r.mode & UInt32(S_IFMT)
        if r.uid != 0 || r.gid != 0 {
            guard fchownat(fd, "", r.uid, r.gid, MDTSyscalls.atEmptyPath | AT_SYMLINK_NOFOLLOW) == 0 else {
                throw LustreError.fromErrno("chown \(r.name)")
            }
        }
        if type != UInt32(S_IFLNK) && (r.mode & umaskBits != 0 || r.mode & 0o7000 != 0 || r.uid != 0 || r.gid != 0) {
            let rc = useFD ? fchmod(fd, r.mode & 0o7777) : chmod(MDTSyscalls.procPath(fd), r.mode & 0o7777)
            guard rc == 0 else { throw LustreError.fromErrno("chmod \(r.name)") }
        }
        var xattrs: [(String, [UInt8])] = [(lmaName, MDTLMA(fid: r.fid).encoded()),
                                           (linkName, MDTLinkXattr.encode([MDTLink(parent: r.parent, name: r.name)]))]
        if !r.layout.isEmpty { xattrs.append((lovName, r.layout)) }
        let path = MDTSyscalls.procPath(fd)
        for (name, value) in xattrs {
            let rc = useFD ? MDTSyscalls.fsetxattr(fd, name, value) : MDTSyscalls.setxattr(path, name, value)
            guard rc == 0 else { throw LustreError(errno: rc, "set \(name) of \(r.name)") }
        }
        try oi.insert(r.fid, fd: fd)
    }

    private func unlink(_ r: MDTUnlinkRecord, live: Bool) throws(LustreError) {
        let parent = try oi.inode(r.parent)
        switch r.disposition {
        case .keep:
            try unbind(parent, r.name, r.fid, isDirectory: r.isDirectory, keepsInode: true, live: live)
            if let inode = try oi.inode(r.fid) { try setLinks(inode, r.links) }
        case .orphan where live:
            guard let parent else { throw LustreError(errno: ESTALE, "unlink: parent \(r.parent) is gone") }
            guard renameat(parent.fd, r.name, pendingFD, MDTObjectIndex.recordName(r.fid)) == 0 else {
                throw LustreError.fromErrno("orphan \(r.name)")
            }
            if let inode = try oi.inode(r.fid) { try setLinks(inode, []) }
        case .orphan:
            // Replayed, an orphan goes to PENDING/ as it did live (from its name, or from
            // REPLAY/ where an earlier record held it), or stays there: the client holding it
            // open opens it again after the restart, and its last close or the orphan grace
            // destroys it (`MDTDevice.keepOrphansForRecovery`). Gone already: a later record
            // destroyed it.
            guard let inode = try oi.inode(r.fid) else { return }
            let held = MDTObjectIndex.recordName(r.fid)
            if let parent, let occupant = try entry(parent.fd, r.name) {
                Glibc.close(occupant.fd)
                if occupant.fid == r.fid {
                    // Replay of its create may have bound the name again to the inode already in
                    // PENDING/: then the name just goes (rename between two links of one inode
                    // does nothing).
                    var st = Glibc.stat()
                    let inPending = fstatat(pendingFD, held, &st, AT_SYMLINK_NOFOLLOW) == 0
                    let rc = inPending ? unlinkat(parent.fd, r.name, 0) : renameat(parent.fd, r.name, pendingFD, held)
                    guard rc == 0 else { throw LustreError.fromErrno("replay orphan \(r.name)") }
                }
            }
            if renameat(replayFD, held, pendingFD, held) != 0 && errno != ENOENT {
                throw LustreError.fromErrno("replay orphan \(held)")
            }
            try setLinks(inode, [])
        case .destroy:
            try unbind(parent, r.name, r.fid, isDirectory: r.isDirectory, keepsInode: false, live: live)
            if !live {
                do throws(LustreError) {
                    try removeHoldingNames(r.fid, isDirectory: r.isDirectory)
                } catch where r.isDirectory && error.errno == ENOTEMPTY {
                    // Entries an earlier record failed to move out are still in it: it stays in
                    // REPLAY/ and goes with the leftovers. Its record still ends here, so it loses
                    // its OI record below and is never put back at its old name.
                }
            }
            try oi.remove(r.fid)
        }
    }

    private func rename(from: LustreFID, name: String, to: LustreFID, newName: String, fid: LustreFID,
                        isDirectory: Bool, links: [MDTLink], overwritten: MDTUnlinkRecord?,
                        live: Bool) throws(LustreError) {
        guard let inode = try oi.inode(fid) else {
            // The renamed inode is gone (a later record destroyed it), but the record's
            // post-state still holds: the destination no longer names `overwritten`.
            if !live, let overwritten { try unlink(overwritten, live: false) }
            return
        }
        let source = try oi.inode(from)
        let target = try oi.inode(to)
        if live {
            guard let source, let target else { throw LustreError(errno: ESTALE, "rename: a parent is gone") }
            if let overwritten, overwritten.disposition == .orphan, let victim = try oi.inode(overwritten.fid) {
                guard linkat(victim.fd, "", pendingFD, MDTObjectIndex.recordName(overwritten.fid),
                             MDTSyscalls.atEmptyPath) == 0 else { throw LustreError.fromErrno("orphan \(newName)") }
            }
            guard renameat(source.fd, name, target.fd, newName) == 0 else { throw LustreError.fromErrno("rename \(name)") }
            if let overwritten {
                switch overwritten.disposition {
                case .keep:
                    if let victim = try oi.inode(overwritten.fid) { try setLinks(victim, overwritten.links) }
                case .orphan:
                    if let victim = try oi.inode(overwritten.fid) { try setLinks(victim, []) }
                case .destroy:
                    try oi.remove(overwritten.fid)
                }
            }
        } else {
            if let overwritten { try unlink(overwritten, live: false) }
            if let target {
                try bind(target, newName, inode)
            } else if isDirectory {
                // The new parent is gone: a later record removed it, so this directory had moved
                // on or gone by then. It leaves its old place for REPLAY/, where the later record
                // that moves or removes it finds it.
                try hold(inode)
            }
            if !isDirectory { try unbind(source, name, fid, isDirectory: false, keepsInode: true, live: false) }
        }
        try setLinks(inode, links)
    }

    func setLinks(_ inode: MDTInode, _ links: [MDTLink]) throws(LustreError) {
        let value = MDTLinkXattr.encode(links)
        let rc = inode.setxattr(linkName, value)
        inode.stored(.links, value, succeeded: rc == 0)
        guard rc == 0 else { throw LustreError(errno: rc, "set the names of \(inode.fid)") }
    }

    private func setattr(_ inode: MDTInode, _ change: MDTSetattr, blocks: UInt64) throws(LustreError) {
        if change.valid.contains(.uid) || change.valid.contains(.gid) {
            let uid = change.valid.contains(.uid) ? change.uid : UInt32.max
            let gid = change.valid.contains(.gid) ? change.gid : UInt32.max
            guard fchownat(inode.fd, "", uid, gid, MDTSyscalls.atEmptyPath | AT_SYMLINK_NOFOLLOW) == 0 else {
                throw LustreError.fromErrno("chown \(inode.fid)")
            }
        }
        if change.valid.contains(.mode) && !inode.isSymlink {
            let rc = inode.chmod(change.mode & 0o7777)
            guard rc == 0 else { throw LustreError(errno: rc, "chmod \(inode.fid)") }
        }
        if change.valid.contains(.size) && inode.isRegular {
            let value = MDTSizeOnMDS(size: change.size, blocks: blocks).encoded()
            let rc = inode.setxattr(somName, value)
            inode.stored(.sizeOnMDS, value, succeeded: rc == 0)
            guard rc == 0 else { throw LustreError(errno: rc, "set the size of \(inode.fid)") }
        }
        let times = change.valid.intersection([.atime, .mtime])
        if !times.isEmpty {
            func spec(_ set: Bool, _ time: MDTTime) -> timespec {
                set ? timespec(tv_sec: Int(time.seconds), tv_nsec: Int(time.nanoseconds))
                    : timespec(tv_sec: 0, tv_nsec: Int((1 << 30) - 2))   // UTIME_OMIT
            }
            let rc = inode.setTimes([spec(times.contains(.atime), change.atime), spec(times.contains(.mtime), change.mtime)])
            guard rc == 0 else { throw LustreError(errno: rc, "utimes \(inode.fid)") }
        }
    }

    // MARK: replay primitives

    /// Makes `name` in `parent` refer to `inode` (replay): a directory is moved from wherever it
    /// is, another inode gets one more name; an inode already there is vacated first.
    private func bind(_ parent: MDTInode, _ name: String, _ inode: MDTInode) throws(LustreError) {
        let own = try inode.stat()
        if let occupant = try entry(parent.fd, name) {
            defer { Glibc.close(occupant.fd) }
            if occupant.st.st_ino == own.st_ino { return }
            try displace(parent.fd, name, occupant)
        }
        if inode.isDirectory {
            guard let (holder, oldName, heldOpen) = try location(of: inode, ino: own.st_ino) else {
                throw LustreError(errno: EUCLEAN, "replay: directory \(inode.fid) is nowhere")
            }
            defer { withExtendedLifetime(heldOpen) {} }
            if renameat(holder, oldName, parent.fd, name) != 0 {
                // EINVAL: the new parent is inside this directory, where a record replayed
                // earlier put it and a later one takes it out again. Hold the branch in between
                // in REPLAY/ until then.
                guard errno == EINVAL, try detachBranch(below: inode, ino: own.st_ino, leadingTo: parent),
                      renameat(holder, oldName, parent.fd, name) == 0
                else { throw LustreError.fromErrno("replay move \(name)") }
            }
        } else {
            guard linkat(inode.fd, "", parent.fd, name, MDTSyscalls.atEmptyPath) == 0 else {
                throw LustreError.fromErrno("replay link \(name)")
            }
            let holding = MDTObjectIndex.recordName(inode.fid)
            if let held = try entry(replayFD, holding) {
                Glibc.close(held.fd)
                if held.st.st_ino == own.st_ino { _ = unlinkat(replayFD, holding, 0) }
            }
        }
    }

    /// Moves a directory from wherever it is to `REPLAY/<fid>` (replay).
    private func hold(_ inode: MDTInode) throws(LustreError) {
        let own = try inode.stat()
        guard let (holder, oldName, heldOpen) = try location(of: inode, ino: own.st_ino) else { return }
        defer { withExtendedLifetime(heldOpen) {} }
        let holding = MDTObjectIndex.recordName(inode.fid)
        if holder == replayFD && oldName == holding { return }
        guard renameat(holder, oldName, replayFD, holding) == 0 else { throw LustreError.fromErrno("replay hold \(oldName)") }
    }

    /// Moves the child of `directory` whose subtree holds `descendant` into `REPLAY/`; false
    /// when `descendant` is not below `directory`.
    private func detachBranch(below directory: MDTInode, ino: ino_t, leadingTo descendant: MDTInode) throws(LustreError) -> Bool {
        var current = openat(descendant.fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw LustreError.fromErrno("open \(descendant.fid)") }
        defer { Glibc.close(current) }
        for _ in 0..<4096 {
            var own = Glibc.stat()
            let up = openat(current, "..", O_PATH | O_DIRECTORY | O_CLOEXEC)
            guard up >= 0 else { throw LustreError.fromErrno("open .. of \(descendant.fid)") }
            var above = Glibc.stat()
            guard fstat(current, &own) == 0, fstat(up, &above) == 0 else {
                Glibc.close(up)
                throw LustreError.fromErrno("stat .. of \(descendant.fid)")
            }
            if above.st_ino == own.st_ino {   // the top of the tree: not below `directory`
                Glibc.close(up)
                return false
            }
            if above.st_ino == ino {
                Glibc.close(up)
                for name in try Self.names(in: directory.fd) {
                    guard let child = try entry(directory.fd, name) else { continue }
                    defer { Glibc.close(child.fd) }
                    if child.st.st_ino == own.st_ino {
                        try displace(directory.fd, name, child)
                        return true
                    }
                }
                return false
            }
            Glibc.close(current)
            current = up
        }
        return false
    }

    /// Where a directory is: `REPLAY/<fid>`, the name its link xattr gives, or (the xattr lagging
    /// a rename a crash cut short) the entry for it in the directory its `..` names. The last
    /// element keeps the holding directory open while the caller renames out of it.
    private func location(of inode: MDTInode, ino: ino_t) throws(LustreError) -> (Int32, String, MDTInode?)? {
        let holding = MDTObjectIndex.recordName(inode.fid)
        if let held = try entry(replayFD, holding) {
            Glibc.close(held.fd)
            if held.st.st_ino == ino { return (replayFD, holding, nil) }
        }
        for link in try links(of: inode) {
            guard let parent = try oi.inode(link.parent), let found = try entry(parent.fd, link.name) else { continue }
            Glibc.close(found.fd)
            // The parent stays open (the caller holds it) while the caller renames out of it.
            if found.st.st_ino == ino { return (parent.fd, link.name, parent) }
        }
        // A directory's link xattr can lag its place: a crash between a rename and the xattr
        // write that follows it. Its `..` still names where it is; find its entry there.
        guard inode.isDirectory else { return nil }
        let up = openat(inode.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard up >= 0 else { return nil }
        let holder = MDTInode(fd: up, fid: .zero, type: UInt32(S_IFDIR), pathOnly: false)
        guard let found = try Self.entries(in: up).first(where: { $0.ino == UInt64(ino) }) else { return nil }
        return (up, found.name, holder)
    }

    /// Moves an inode out of the way into `REPLAY/` (or drops this one of its several names).
    private func displace(_ dirFD: Int32, _ name: String, _ occupant: Entry) throws(LustreError) {
        if !occupant.isDirectory && occupant.st.st_nlink > 1 {
            guard unlinkat(dirFD, name, 0) == 0 else { throw LustreError.fromErrno("replay unlink \(name)") }
            return
        }
        let holding = occupant.fid.map(MDTObjectIndex.recordName) ?? "ino-\(occupant.st.st_ino)"
        guard renameat(dirFD, name, replayFD, holding) == 0 else { throw LustreError.fromErrno("replay displace \(name)") }
    }

    /// Removes `name` from `parent` if it still names `fid` (in replay: checked first).
    /// `keepsInode`: the record leaves the inode alive under other names. In replay those names
    /// may not be there yet (later records bind them again), so the last name of such an inode
    /// becomes a holding name in `REPLAY/` rather than going: an inode without names is freed
    /// by ext4, and the records that need it later would find nothing.
    private func unbind(_ parent: MDTInode?, _ name: String, _ fid: LustreFID, isDirectory: Bool,
                        keepsInode: Bool, live: Bool) throws(LustreError) {
        guard let parent else { return }
        if !live {
            guard let occupant = try entry(parent.fd, name) else { return }
            Glibc.close(occupant.fd)
            guard occupant.fid == fid else { return }
            if keepsInode && !isDirectory && occupant.st.st_nlink <= 1 {
                guard renameat(parent.fd, name, replayFD, MDTObjectIndex.recordName(fid)) == 0 else {
                    throw LustreError.fromErrno("replay hold \(name)")
                }
                return
            }
        }
        if unlinkat(parent.fd, name, isDirectory ? AT_REMOVEDIR : 0) == 0 { return }
        if !live && errno == ENOTEMPTY {
            // Not empty in replay: entries that later records move elsewhere; keep them reachable.
            guard renameat(parent.fd, name, replayFD, MDTObjectIndex.recordName(fid)) == 0 else {
                throw LustreError.fromErrno("replay rmdir \(name)")
            }
            return
        }
        throw LustreError.fromErrno("unlink \(name)")
    }

    /// Empties `REPLAY/` once a replay has finished: what no record bound again is not in the
    /// namespace. A file with other names only loses its holding name; anything else is removed
    /// with its OI record (a directory with its contents). Returns the FIDs removed with the OST
    /// objects of their layouts, for the caller to destroy.
    func clearReplayLeftovers() throws(LustreError) -> [(LustreFID, [LayoutObject])] {
        try restoreReplayLeftovers()
        var removed: [(LustreFID, [LayoutObject])] = []
        try clear(directory: replayFD, removed: &removed)
        return removed
    }

    /// Puts what `REPLAY/` holds back under the names its link xattr gives, where those names
    /// are free. Every record sets the link xattr of the inodes it touches to their post-state,
    /// so after a replay the xattr is the last word on where an inode belongs, even when the
    /// record that last placed it came before the checkpoint and is not in the log.
    private func restoreReplayLeftovers() throws(LustreError) {
        for _ in 0..<3 {
            var restored = 0
            for holding in try Self.names(in: replayFD) {
                guard let held = try entry(replayFD, holding) else { continue }
                defer { Glibc.close(held.fd) }
                guard let fid = held.fid, let inode = try oi.inode(fid), try inode.stat().st_ino == held.st.st_ino
                else { continue }
                for link in try links(of: inode) {
                    guard link.parent != fid, let parent = try oi.inode(link.parent), parent.isDirectory else { continue }
                    if let occupant = try entry(parent.fd, link.name) {
                        Glibc.close(occupant.fd)
                        continue
                    }
                    do throws(LustreError) {
                        try bind(parent, link.name, inode)
                        restored += 1
                    } catch {
                        CDEBUG(.warning, "replay: \(fid) could not go back to \(link.name) in \(link.parent): \(error)")
                    }
                    if inode.isDirectory { break }
                }
            }
            if restored == 0 { return }
        }
    }

    private func clear(directory dirFD: Int32, removed: inout [(LustreFID, [LayoutObject])]) throws(LustreError) {
        for name in try Self.names(in: dirFD) {
            guard let occupant = try entry(dirFD, name) else { continue }
            defer { Glibc.close(occupant.fd) }
            var objects: [LayoutObject] = []
            if occupant.isDirectory {
                let child = openat(dirFD, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw LustreError.fromErrno("open \(name)") }
                defer { Glibc.close(child) }
                try clear(directory: child, removed: &removed)
                guard unlinkat(dirFD, name, AT_REMOVEDIR) == 0 else { throw LustreError.fromErrno("remove \(name)") }
            } else {
                if occupant.st.st_nlink <= 1, occupant.fid != nil,
                   case .success(let bytes) = MDTSyscalls.getxattr(MDTSyscalls.procPath(occupant.fd), lovName),
                   let layout = try? Self.decodeLayout(bytes), layout.isInstantiated {
                    objects = layout.objects
                }
                guard unlinkat(dirFD, name, 0) == 0 else { throw LustreError.fromErrno("remove \(name)") }
                if occupant.st.st_nlink > 1 { continue }
            }
            if let fid = occupant.fid {
                try oi.remove(fid)
                removed.append((fid, objects))
            }
        }
    }

    /// The entries of a directory, name and inode number (`.` and `..` left out).
    static func entries(in dirFD: Int32) throws(LustreError) -> [(name: String, ino: UInt64)] {
        let fd = openat(dirFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open directory") }
        guard let dir = fdopendir(fd) else {
            Glibc.close(fd)
            throw LustreError.fromErrno("open directory")
        }
        defer { closedir(dir) }
        var entries: [(name: String, ino: UInt64)] = []
        while let entry = Glibc.readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { entries.append((name, UInt64(entry.pointee.d_ino))) }
        }
        return entries
    }

    /// The names in a directory (`.` and `..` left out).
    static func names(in dirFD: Int32) throws(LustreError) -> [String] { try entries(in: dirFD).map(\.name) }

    /// Removes `PENDING/<fid>` and `REPLAY/<fid>`.
    private func removeHoldingNames(_ fid: LustreFID, isDirectory: Bool) throws(LustreError) {
        let name = MDTObjectIndex.recordName(fid)
        for dirFD in [pendingFD, replayFD] {
            if unlinkat(dirFD, name, isDirectory ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT {
                if errno == EISDIR || errno == ENOTDIR {
                    _ = unlinkat(dirFD, name, isDirectory ? 0 : AT_REMOVEDIR)
                } else {
                    throw LustreError.fromErrno("remove \(name)")
                }
            }
        }
    }
}
