import Glibc
import LibCFS
import NIOCore
import ObdClass

extension MDTDevice {
    // MARK: helpers shared by the operations

    /// The inode of `fid`, or `ESTALE`.
    func inode(_ fid: LustreFID) throws(LustreError) -> MDTInode {
        guard let inode = try tree.oi.inode(fid) else { throw LustreError(errno: ESTALE, "unknown FID \(fid)") }
        return inode
    }

    /// The directory `fid`, or `ESTALE`/`ENOTDIR`.
    func directoryInode(_ fid: LustreFID) throws(LustreError) -> MDTInode {
        let inode = try inode(fid)
        guard inode.isDirectory else { throw LustreError(errno: ENOTDIR, "\(fid) is not a directory") }
        return inode
    }

    /// The directory `fid` with its stat, or `ESTALE`/`ENOTDIR`.
    func directory(_ fid: LustreFID) throws(LustreError) -> (MDTInode, Glibc.stat) {
        let inode = try directoryInode(fid)
        return (inode, try inode.stat())
    }

    /// The attributes of an inode; a regular file's size and blocks are those reported at close.
    /// `known`: a `stat` of the inode the caller just made.
    func attributes(_ inode: MDTInode, stat known: Glibc.stat? = nil) throws(LustreError) -> MDTAttributes {
        let st: Glibc.stat
        if let known { st = known } else { st = try inode.stat() }
        tree.oi.note(inode, st)
        var attributes = MDTAttributes()
        attributes.fid = inode.fid
        attributes.mode = st.st_mode
        // An open file whose last name went lives on in PENDING/ but has no name: nlink 0.
        attributes.nlink = openFiles.withLock { $0.orphans.contains(inode.fid) } ? 0 : UInt32(st.st_nlink)
        attributes.uid = st.st_uid
        attributes.gid = st.st_gid
        attributes.rdev = UInt32(truncatingIfNeeded: st.st_rdev)
        attributes.atime = MDTTime(st.st_atim)
        attributes.mtime = MDTTime(st.st_mtim)
        attributes.ctime = inode.visibleCtime(st)
        if inode.isRegular {
            if let bytes = try tree.xattr(inode, tree.somName) {
                let som = try MDTSizeOnMDS(decoding: bytes)
                attributes.size = som.size
                attributes.blocks = som.blocks
            }
        } else {
            attributes.size = UInt64(st.st_size)
            attributes.blocks = UInt64(st.st_blocks)
        }
        // Read once per cached inode (then remembered, and kept current by every change); if it
        // cannot be read, no hint, and a client that wants the label asks.
        do {
            if try tree.xattr(inode, MDTTree.selinuxLabelName) == nil { attributes.hints.insert(.noSELinuxLabel) }
        } catch {
            CDEBUG(.other, "mdt: \(MDTTree.selinuxLabelName) of \(inode.fid): \(error)")
        }
        return attributes
    }

    /// Looks `name` up in `directory`: the inode (cached in the OI) and its FID, nil if absent or
    /// not yet labelled (a create in progress). An inode the OI holds open is found by the
    /// number `fstatat` gives, without opening the name or reading its FID.
    func child(_ directory: MDTInode, _ name: String) throws(LustreError) -> MDTInode? {
        var unused: Glibc.stat?
        return try child(directory, name, stat: &unused)
    }

    /// `child`, and when the inode was found by number, the `stat` that found it.
    func child(_ directory: MDTInode, _ name: String, stat found: inout Glibc.stat?) throws(LustreError) -> MDTInode? {
        var st = Glibc.stat()
        if fstatat(directory.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            if let known = tree.oi.cached(st) {
                found = st
                return known
            }
        } else if errno == ENOENT {
            return nil
        }
        guard let entry = try tree.entry(directory.fd, name) else { return nil }
        guard let fid = entry.fid else {
            Glibc.close(entry.fd)
            return nil
        }
        if let cached = tree.oi.cached(fid) {
            Glibc.close(entry.fd)
            return cached
        }
        let inode = MDTInode(fd: entry.fd, fid: fid, type: entry.st.st_mode & UInt32(S_IFMT))
        inode.inodeNumber.store(UInt64(entry.st.st_ino), ordering: .relaxed)
        tree.oi.remember(inode)
        return inode
    }

    /// Runs `body` with `keys` locked.
    func locked<T>(_ keys: [LustreFID], _ body: () async throws(LustreError) -> T) async throws(LustreError) -> T {
        let held = await locks.lock(keys)
        defer { locks.unlock(held) }
        return try await body()
    }

    /// Runs `body` as one logged operation (a checkpoint waits for it).
    func logged<T>(_ body: () async throws(LustreError) -> T) async throws(LustreError) -> T {
        await enterLogged()
        defer { log.leave() }
        return try await body()
    }

    /// A file's layout: the requested settings, field by field completed from the parent's
    /// default, the root's default, then `Options.defaultLayout`; the stripe count clamped to
    /// the OSTs there are.
    func resolveLayout(_ requested: LustreLayout?, parent: MDTInode) throws(LustreError) -> LustreLayout {
        var layout = requested ?? LustreLayout()
        layout.objects = []
        layout.fid = .zero
        try layout.validateSettings()
        var sources: [LustreLayout] = []
        if let own = try tree.layout(of: parent) { sources.append(own) }
        if parent.fid != rootFID, let root = try tree.layout(of: tree.root) { sources.append(root) }
        sources.append(options.defaultLayout)
        for source in sources {
            if layout.stripeSize == 0 { layout.stripeSize = source.stripeSize }
            if layout.stripeCount == 0 { layout.stripeCount = source.stripeCount }
            if layout.stripeOffset == LustreLayout.stripeOffsetAny { layout.stripeOffset = source.stripeOffset }
        }
        if layout.stripeSize == 0 { layout.stripeSize = LustreLayout.defaultStripeSize }
        if layout.stripeCount == 0 { layout.stripeCount = 1 }
        let osts = allocator.ostCount
        if layout.stripeCount != LustreLayout.stripeCountAll && osts > 0 && Int(layout.stripeCount) > osts {
            layout.stripeCount = UInt16(osts)
        }
        if layout.stripeOffset != LustreLayout.stripeOffsetAny && osts > 0 && Int(layout.stripeOffset) >= osts {
            throw .invalid("stripe offset \(layout.stripeOffset) is beyond the \(osts) OSTs")
        }
        return layout
    }

    // MARK: create

    /// A sequence of FIDs for one client alone (`SEQ_QUERY`), durable before it is returned.
    public func grantSequence() throws(LustreError) -> (sequence: UInt64, width: UInt32) {
        (try sequencer.grant(), MDTFIDSequencer.width)
    }

    /// Creates a regular file (objects allocated), directory, symlink, or node (fifo, socket,
    /// device) named `name` in `parent`. `layout`: requested stripe settings for a file, the
    /// default layout for a directory. With `exclusive` false an existing regular file is
    /// returned as it is (`O_CREAT` without `O_EXCL`); `created` says which. `fid`: the FID the
    /// client chose from a sequence granted to it (`grantSequence`; nil: one of the MDT's own).
    /// A name that already has that FID is the same create made before (a replay): answered
    /// with what is there. `replayLayout`: in a replayed create of a regular file under a
    /// client's FID, the layout it was given before the MDT lost it; its objects are taken back
    /// (`MDTObjectAllocator.claim`) so the file finds the data its client wrote, or new ones
    /// allocated if one went to another file since.
    public func create(parent: LustreFID, name: String, kind: MDTCreateKind, mode: UInt32,
                       credentials: MDTCredentials, layout: LustreLayout?,
                       exclusive: Bool, fid requested: LustreFID? = nil,
                       replayLayout: LustreLayout? = nil) async throws(LustreError)
        -> (attributes: MDTAttributes, layout: LustreLayout?, transno: UInt64, created: Bool) {
        try MDTPermission.checkName(name)
        var type: UInt32
        var permissions = mode & 0o7777
        switch kind {
        case .file: type = UInt32(S_IFREG)
        case .directory: type = UInt32(S_IFDIR)
        case .symlink(let target):
            guard !target.isEmpty else { throw .invalid("empty symlink target") }
            guard target.utf8.count < MDTCreateKind.maxSymlinkLength, !target.utf8.contains(0) else {
                throw LustreError(errno: ENAMETOOLONG, "symlink target of \(target.utf8.count) bytes")
            }
            type = UInt32(S_IFLNK)
            permissions = 0o777
        case .node:
            type = mode & UInt32(S_IFMT)
            switch type {
            case UInt32(S_IFIFO), UInt32(S_IFSOCK): break
            case UInt32(S_IFCHR), UInt32(S_IFBLK):
                guard credentials.uid == 0 else { throw LustreError(errno: EPERM, "only root makes device nodes") }
            case 0, UInt32(S_IFREG): type = UInt32(S_IFREG)
            default: throw .invalid("node of mode 0o\(String(mode, radix: 8)): not a fifo, socket or device")
            }
        }
        let directory = try directoryInode(parent)
        try checkRoomForCreate(name)
        // O_CREAT without O_EXCL on an existing file allocates nothing; an exclusive create finds
        // an existing name under the lock below (one lookup instead of two).
        if !exclusive, let existing = try child(directory, name) {
            guard type == UInt32(S_IFREG), case .file = kind else {
                throw LustreError(errno: EEXIST, "\(name) exists")
            }
            return try openExisting(existing, directory: directory, credentials: credentials)
        }
        var settings: LustreLayout?
        if type == UInt32(S_IFDIR), let layout {
            var defaults = layout
            defaults.objects = []
            defaults.fid = .zero
            try defaults.validateSettings()
            settings = defaults
        } else if case .file = kind {
            // A regular file made by mknod (`.node`) gets no objects until opened for writing.
            settings = try resolveLayout(layout, parent: directory)
        }
        let fid: LustreFID
        if let requested {
            try sequencer.checkClientFID(requested)
            fid = requested
        } else {
            fid = try sequencer.allocate()
        }
        var instantiated: LustreLayout?
        var recorded = false
        // The objects a replayed create names are claimed under the locks, once the name and
        // the FID are known free: they may hold the client's data and must not be destroyed
        // by the create's own failure paths before then.
        var reclaim: LustreLayout?
        if case .file = kind, requested != nil, let replayLayout, replayLayout.isInstantiated,
           replayLayout.objects.count == Int(replayLayout.stripeCount), (try? replayLayout.validateSettings()) != nil {
            reclaim = replayLayout
        }
        if case .file = kind, let settings, reclaim == nil {
            var allocated = try await allocator.allocate(for: fid, layout: settings)
            allocated.fid = fid
            instantiated = allocated
        }
        do throws(LustreError) {
            // A FID the client chose is locked too: no two creates make it at once.
            return try await locked(requested == nil ? [parent] : [parent, fid]) { () async throws(LustreError) in
                let dirStat = try directory.stat()
                // As Linux: an existing name is EEXIST (or opened) with search permission alone.
                try MDTPermission.check(credentials, dirStat, MDTPermission.execute, "lookup in \(parent)")
                if let existing = try child(directory, name) {
                    if let objects = instantiated?.objects, !objects.isEmpty {
                        try? await allocator.destroy(objects, of: fid)
                    }
                    instantiated = nil
                    if requested == existing.fid {
                        // This very create, made before: a replay of one the MDT kept.
                        return (try attributes(existing), try tree.layout(of: existing), 0, false)
                    }
                    guard !exclusive, type == UInt32(S_IFREG), case .file = kind else {
                        throw LustreError(errno: EEXIST, "\(name) exists")
                    }
                    return try openExisting(existing, directory: directory, credentials: credentials)
                }
                if requested != nil, try tree.oi.inode(fid) != nil {
                    throw LustreError(errno: EEXIST, "\(fid) is in use")
                }
                if var reclaimed = reclaim, let settings {
                    reclaimed.fid = fid
                    if allocator.claim(reclaimed.objects) {
                        instantiated = reclaimed
                    } else {
                        CWARN("\(target): the objects of \(name) (\(fid)), created again by its client's replay, went to "
                              + "other files after the restart: new ones (what was written to it before is lost)")
                        var allocated = try await allocator.allocate(for: fid, layout: settings)
                        allocated.fid = fid
                        instantiated = allocated
                    }
                }
                try MDTPermission.check(credentials, dirStat, MDTPermission.write | MDTPermission.execute,
                                        "create \(name) in \(parent)")
                guard dirStat.st_nlink > 0 else { throw LustreError(errno: ENOENT, "\(parent) was removed") }
                var gid = credentials.gid
                if dirStat.st_mode & UInt32(S_ISGID) != 0 {
                    gid = dirStat.st_gid
                    if type == UInt32(S_IFDIR) { permissions |= UInt32(S_ISGID) }
                } else if permissions & UInt32(S_ISGID) != 0 && credentials.uid != 0 && !credentials.isMember(of: gid) {
                    permissions &= ~UInt32(S_ISGID)
                }
                let layoutBytes = (instantiated ?? settings).map { Array($0.encoded().readableBytesView) } ?? []
                var rdev: UInt32 = 0
                var target = ""
                if case .node(let value) = kind { rdev = value }
                if case .symlink(let value) = kind { target = value }
                let record = MDTCreateRecord(parent: parent, name: name, fid: fid, mode: type | permissions,
                                             uid: credentials.uid, gid: gid, rdev: rdev, symlinkTarget: target,
                                             layout: layoutBytes)
                let (transno, created) = try await logged { () async throws(LustreError) in
                    try await commit(.create(record)) {
                        recorded = true
                        if let objects = instantiated?.objects, !objects.isEmpty { allocator.noteLogged(objects) }
                    }
                }
                guard let created else { throw LustreError(errno: EIO, "create \(name): no inode") }
                instantiated = nil
                return (try attributes(created), type == UInt32(S_IFDIR) ? settings : try tree.layout(of: created), transno,
                        true)
            }
        } catch {
            if !recorded, let objects = instantiated?.objects, !objects.isEmpty { try? await allocator.destroy(objects, of: fid) }
            throw error
        }
    }

    /// Inodes a full MDT keeps for itself: new files are refused (`ENOSPC`) before they take the
    /// last ones, which its own files need (a destroy log segment, a temporary, an OI table).
    static let reservedInodes: UInt64 = 128
    /// Bytes kept the same way, for the log and directories to grow.
    static let reservedBytes: UInt64 = 4 << 20

    /// Refuses a new inode when the target is down to its reserve, before anything is logged.
    private func checkRoomForCreate(_ name: String) throws(LustreError) {
        guard let volume = try? statfs() else { return }
        guard volume.filesFree >= Self.reservedInodes, volume.availableBytes >= Self.reservedBytes else {
            throw LustreError(errno: ENOSPC, "create \(name): \(target) is down to what it keeps for itself "
                              + "(\(volume.filesFree) inodes, \(volume.availableBytes) bytes)")
        }
    }

    private func openExisting(_ existing: MDTInode, directory: MDTInode, credentials: MDTCredentials) throws(LustreError)
        -> (attributes: MDTAttributes, layout: LustreLayout?, transno: UInt64, created: Bool) {
        try MDTPermission.check(credentials, try directory.stat(), MDTPermission.execute, "lookup in \(directory.fid)")
        if existing.isDirectory { throw LustreError(errno: EISDIR, "\(existing.fid) is a directory") }
        guard existing.isRegular else { throw LustreError(errno: EEXIST, "\(existing.fid) exists and is not a file") }
        return (try attributes(existing), try tree.layout(of: existing), 0, false)
    }

    // MARK: unlink, rmdir

    /// Removes the name `name` (not a directory) from `parent`. The last name of a file open
    /// somewhere moves it to `PENDING/` until its last close; otherwise its objects are destroyed.
    public func unlink(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        try await remove(parent: parent, name: name, directory: false, credentials: credentials)
    }

    /// Removes the empty directory `name` from `parent` (`ENOTEMPTY` otherwise).
    public func rmdir(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        try await remove(parent: parent, name: name, directory: true, credentials: credentials)
    }

    private func remove(parent: LustreFID, name: String, directory wantDirectory: Bool,
                        credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        try MDTPermission.checkName(name)
        let directory = try directoryInode(parent)
        for _ in 0..<16 {
            guard let victim = try child(directory, name) else { throw LustreError(errno: ENOENT, "\(name) in \(parent)") }
            if wantDirectory && !victim.isDirectory { throw LustreError(errno: ENOTDIR, "\(name) is not a directory") }
            if !wantDirectory && victim.isDirectory { throw LustreError(errno: EISDIR, "\(name) is a directory") }
            let done: UInt64? = try await locked([parent, victim.fid]) { () async throws(LustreError) -> UInt64? in
                guard let again = try child(directory, name), again.fid == victim.fid else { return nil }
                let dirStat = try directory.stat()
                try MDTPermission.check(credentials, dirStat, MDTPermission.write | MDTPermission.execute,
                                        "remove \(name) from \(parent)")
                let st = try victim.stat()
                try MDTPermission.checkSticky(credentials, directory: dirStat, victim: st, "remove \(name)")
                let record = try unlinkRecord(victim, st, parent: parent, name: name)
                return try await logged { () async throws(LustreError) -> UInt64 in
                    let (transno, _) = try await commit(.unlink(record))
                    if record.disposition == .destroy { tree.oi.forget(victim.fid) }
                    await allocatorEffects(of: .unlink(record), replay: false)
                    return transno
                }
            }
            if let done { return done }
        }
        throw LustreError(errno: EAGAIN, "\(name) in \(parent) keeps changing")
    }

    /// What removing one name of `victim` does: an empty directory or a last name is destroyed
    /// (or orphaned while open), a name among several is just dropped.
    func unlinkRecord(_ victim: MDTInode, _ st: Glibc.stat, parent: LustreFID,
                      name: String) throws(LustreError) -> MDTUnlinkRecord {
        if victim.isDirectory {
            guard victim.fid != rootFID else { throw LustreError(errno: EBUSY, "the root cannot be removed") }
            guard try isEmptyDirectory(victim) else { throw LustreError(errno: ENOTEMPTY, "\(name) is not empty") }
            return MDTUnlinkRecord(parent: parent, name: name, fid: victim.fid, isDirectory: true, links: [],
                                   disposition: .destroy, objects: [])
        }
        var links = try tree.links(of: victim)
        if let index = links.firstIndex(of: MDTLink(parent: parent, name: name)) { links.remove(at: index) }
        if st.st_nlink > 1 {
            return MDTUnlinkRecord(parent: parent, name: name, fid: victim.fid, isDirectory: false, links: links,
                                   disposition: .keep, objects: [])
        }
        let objects = victim.isRegular ? (try tree.layout(of: victim)?.objects ?? []) : []
        let open = openFiles.withLock { table -> Bool in
            guard table.openCount[victim.fid, default: 0] > 0 else { return false }
            table.orphans.insert(victim.fid)
            return true
        }
        return MDTUnlinkRecord(parent: parent, name: name, fid: victim.fid, isDirectory: false, links: [],
                               disposition: open ? .orphan : .destroy, objects: objects)
    }

    func isEmptyDirectory(_ inode: MDTInode) throws(LustreError) -> Bool {
        let fd = openat(inode.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(inode.fid)") }
        defer { Glibc.close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = MDTSyscalls.getdents(fd, buffer)
            guard n >= 0 else { throw LustreError(errno: Int32(-n), "read \(inode.fid)") }
            if n == 0 { return true }
            var offset = 0
            while offset < n {
                let length = Int(buffer.load(fromByteOffset: offset + 16, as: UInt16.self))
                let nameStart = offset + 19
                let first = buffer[nameStart], second = buffer[nameStart + 1], third = buffer[nameStart + 2]
                let isDot = first == UInt8(ascii: ".") && (second == 0 || (second == UInt8(ascii: ".") && third == 0))
                if !isDot { return false }
                offset += length
            }
        }
    }

    // MARK: rename

    /// Renames `name` in `from` to `newName` in `to`, atomically replacing a file or an empty
    /// directory there (its objects destroyed), or with `noReplace` failing with `EEXIST` when
    /// `newName` exists (`RENAME_NOREPLACE`: checked under the same locks as the rename, so no
    /// name made meanwhile is replaced); `EINVAL` moving a directory into its own subtree.
    public func rename(from: LustreFID, name: String, to: LustreFID, newName: String, noReplace: Bool = false,
                       credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        try MDTPermission.checkName(name)
        try MDTPermission.checkName(newName)
        let source = try directoryInode(from)
        let target = try directoryInode(to)
        for _ in 0..<16 {
            guard let moving = try child(source, name) else { throw LustreError(errno: ENOENT, "\(name) in \(from)") }
            let victim = try child(target, newName)
            // As Linux: RENAME_NOREPLACE onto any existing name, itself included, is EEXIST.
            if noReplace && victim != nil { throw LustreError(errno: EEXIST, "\(newName) exists in \(to)") }
            if victim?.fid == moving.fid { return 0 }
            var keys = [from, to, moving.fid]
            if let victim { keys.append(victim.fid) }
            if moving.isDirectory && from != to { keys.append(.zero) }
            let done: UInt64? = try await locked(keys) { () async throws(LustreError) -> UInt64? in
                guard try child(source, name)?.fid == moving.fid, try child(target, newName)?.fid == victim?.fid else {
                    return nil
                }
                let sourceStat = try source.stat(), targetStat = try target.stat(), st = try moving.stat()
                try MDTPermission.check(credentials, sourceStat, MDTPermission.write | MDTPermission.execute,
                                        "rename \(name) from \(from)")
                try MDTPermission.check(credentials, targetStat, MDTPermission.write | MDTPermission.execute,
                                        "rename \(name) into \(to)")
                try MDTPermission.checkSticky(credentials, directory: sourceStat, victim: st, "rename \(name)")
                guard targetStat.st_nlink > 0 else { throw LustreError(errno: ENOENT, "\(to) was removed") }
                var overwritten: MDTUnlinkRecord?
                if let victim {
                    let victimStat = try victim.stat()
                    try MDTPermission.checkSticky(credentials, directory: targetStat, victim: victimStat,
                                                  "replace \(newName)")
                    if moving.isDirectory && !victim.isDirectory {
                        throw LustreError(errno: ENOTDIR, "\(newName) is not a directory")
                    }
                    if !moving.isDirectory && victim.isDirectory {
                        throw LustreError(errno: EISDIR, "\(newName) is a directory")
                    }
                    overwritten = try unlinkRecord(victim, victimStat, parent: to, name: newName)
                }
                if moving.isDirectory {
                    guard moving.fid != rootFID else { throw LustreError(errno: EBUSY, "the root cannot move") }
                    if from != to {
                        try MDTPermission.check(credentials, st, MDTPermission.write, "move directory \(name)")
                        try checkNotAncestor(moving.fid, of: to)
                    }
                }
                var links = try tree.links(of: moving)
                if let index = links.firstIndex(of: MDTLink(parent: from, name: name)) {
                    links[index] = MDTLink(parent: to, name: newName)
                } else {
                    links.append(MDTLink(parent: to, name: newName))
                }
                let record = MDTLogRecord.rename(from: from, name: name, to: to, newName: newName, fid: moving.fid,
                                                 isDirectory: moving.isDirectory, links: links, overwritten: overwritten)
                return try await logged { () async throws(LustreError) -> UInt64 in
                    let (transno, _) = try await commit(record)
                    if let overwritten, overwritten.disposition == .destroy { tree.oi.forget(overwritten.fid) }
                    await allocatorEffects(of: record, replay: false)
                    return transno
                }
            }
            if let done { return done }
        }
        throw LustreError(errno: EAGAIN, "\(name) in \(from) keeps changing")
    }

    /// `EINVAL` if `directory` is `fid` or below it (walking up by link xattrs).
    private func checkNotAncestor(_ fid: LustreFID, of directory: LustreFID) throws(LustreError) {
        var current = directory
        for _ in 0..<4096 {
            if current == fid { throw .invalid("cannot move a directory into its own subtree") }
            if current == rootFID { return }
            guard let parent = try tree.links(of: try inode(current)).first?.parent else { return }
            current = parent
        }
        throw LustreError(errno: ELOOP, "directory chain above \(directory) does not reach the root")
    }

    // MARK: link

    /// Adds the name `name` in `parent` for the existing non-directory `fid`.
    public func link(_ fid: LustreFID, parent: LustreFID, name: String,
                     credentials: MDTCredentials) async throws(LustreError) -> (MDTAttributes, UInt64) {
        try MDTPermission.checkName(name)
        let object = try inode(fid)
        guard !object.isDirectory else { throw LustreError(errno: EPERM, "hard link to a directory") }
        let directory = try directoryInode(parent)
        return try await locked([parent, fid]) { () async throws(LustreError) in
            let dirStat = try directory.stat()
            try MDTPermission.check(credentials, dirStat, MDTPermission.write | MDTPermission.execute,
                                    "link \(name) in \(parent)")
            guard dirStat.st_nlink > 0 else { throw LustreError(errno: ENOENT, "\(parent) was removed") }
            guard try tree.entry(directory.fd, name).map({ Glibc.close($0.fd) }) == nil else {
                throw LustreError(errno: EEXIST, "\(name) exists")
            }
            let st = try object.stat()
            let orphan = openFiles.withLock { $0.orphans.contains(fid) }
            guard st.st_nlink > 0, !orphan else { throw LustreError(errno: ENOENT, "\(fid) was unlinked") }
            var links = try tree.links(of: object)
            guard links.count < MDTLinkXattr.maxLinks else { throw LustreError(errno: EMLINK, "\(fid) has too many names") }
            links.append(MDTLink(parent: parent, name: name))
            let (transno, _) = try await logged { () async throws(LustreError) in
                try await commit(.link(fid: fid, parent: parent, name: name, links: links))
            }
            return (try attributes(object), transno)
        }
    }
}
