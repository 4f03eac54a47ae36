import Glibc
import LibCFS
import NIOCore
import ObdClass

extension MDTDevice {
    /// The attributes of `fid` (`ESTALE` if unknown).
    public func getattr(_ fid: LustreFID) async throws(LustreError) -> MDTAttributes {
        try attributes(try inode(fid))
    }

    /// The entry `name` of the directory `parent` (search permission needed). "." and ".." are
    /// answered too.
    public func lookup(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> MDTAttributes {
        let (directory, st) = try self.directory(parent)
        try MDTPermission.check(credentials, st, MDTPermission.execute, "lookup in \(parent)")
        if name == "." { return try attributes(directory) }
        if name == ".." {
            guard parent != rootFID, let up = try tree.links(of: directory).first?.parent else { return try attributes(directory) }
            return try attributes(try inode(up))
        }
        try MDTPermission.checkName(name)
        var entryStat: Glibc.stat?
        guard let found = try child(directory, name, stat: &entryStat) else {
            throw LustreError(errno: ENOENT, "\(name) in \(parent)")
        }
        return try attributes(found, stat: entryStat)
    }

    /// A file's layout (with its objects), or a directory's default layout; nil if none.
    public func layout(of fid: LustreFID) async throws(LustreError) -> LustreLayout? {
        try tree.layout(of: try inode(fid))
    }

    /// The target of the symlink `fid` (`EINVAL` for anything else).
    public func readlink(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> String {
        let link = try inode(fid)
        guard link.isSymlink else { throw .invalid("\(fid) is not a symlink") }
        var buffer = [CChar](repeating: 0, count: MDTCreateKind.maxSymlinkLength + 1)
        let n = readlinkat(link.fd, "", &buffer, buffer.count)
        guard n >= 0 else { throw LustreError.fromErrno("readlink \(fid)") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Changes mode, owner, group, times, or (files) the size known to the MDS, with POSIX
    /// rules: chmod by the owner or root, chown by root, chgrp by the owner to one of their
    /// groups, explicit times by the owner or root, "now" also by a writer, size by a writer.
    public func setattr(_ fid: LustreFID, _ change: MDTSetattr,
                        credentials: MDTCredentials) async throws(LustreError) -> (MDTAttributes, UInt64) {
        let object = try inode(fid)
        return try await locked([fid]) { () async throws(LustreError) in
            let st = try object.stat()
            let isOwner = credentials.uid == 0 || credentials.uid == st.st_uid
            var resolved = MDTSetattr()
            var blocks: UInt64 = 0
            if change.valid.contains(.uid) && change.uid != st.st_uid {
                guard credentials.uid == 0 else { throw LustreError(errno: EPERM, "chown of \(fid): only root") }
            }
            if change.valid.contains(.uid) {
                resolved.valid.insert(.uid)
                resolved.uid = change.uid
            }
            if change.valid.contains(.gid) {
                if change.gid != st.st_gid && credentials.uid != 0 {
                    guard credentials.uid == st.st_uid, credentials.isMember(of: change.gid) else {
                        throw LustreError(errno: EPERM, "chgrp of \(fid) to \(change.gid)")
                    }
                }
                resolved.valid.insert(.gid)
                resolved.gid = change.gid
            }
            if change.valid.contains(.mode) {
                guard isOwner else { throw LustreError(errno: EPERM, "chmod of \(fid): not the owner") }
                var mode = change.mode & 0o7777
                let group = change.valid.contains(.gid) ? change.gid : st.st_gid
                if credentials.uid != 0 && !credentials.isMember(of: group) { mode &= ~UInt32(S_ISGID) }
                resolved.valid.insert(.mode)
                resolved.mode = mode
            }
            // As the kernel does for a local file: a chown drops setuid and setgid (the latter
            // only where it means set-group-ID, with group execute), whoever asks, unless the
            // same change sets the mode; a write or truncate by a user other than root does,
            // through the client's `killSUIDGID`.
            let chown = !change.valid.isDisjoint(with: [.uid, .gid]) && !change.valid.contains(.mode)
            if !object.isDirectory && (chown || change.valid.contains(.killSUIDGID)) {
                let mode = resolved.valid.contains(.mode) ? resolved.mode : UInt32(st.st_mode) & 0o7777
                var killed = mode & ~UInt32(S_ISUID)
                if killed & UInt32(S_IXGRP) != 0 { killed &= ~UInt32(S_ISGID) }
                if killed != mode {
                    if !chown && !isOwner {
                        try MDTPermission.check(credentials, st, MDTPermission.write, "write \(fid)")
                    }
                    resolved.valid.insert(.mode)
                    resolved.mode = killed
                }
            }
            if change.valid.contains(.size) {
                if object.isDirectory { throw LustreError(errno: EISDIR, "truncate of directory \(fid)") }
                guard object.isRegular else { throw .invalid("truncate of \(fid): not a regular file") }
                try MDTPermission.check(credentials, st, MDTPermission.write, "truncate \(fid)")
                resolved.valid.insert(.size)
                resolved.size = change.size
                let old = try tree.xattr(object, tree.somName).flatMap { try? MDTSizeOnMDS(decoding: $0) }
                blocks = change.size == 0 ? 0 : min(old?.blocks ?? 0, (change.size + 511) / 512)
            }
            let now = MDTTime.now()
            for (explicit, current, flag) in [(MDTSetattr.Valid.atime, MDTSetattr.Valid.atimeNow, MDTSetattr.Valid.atime),
                                              (.mtime, .mtimeNow, .mtime)] {
                guard change.valid.contains(explicit) || change.valid.contains(current) else { continue }
                if change.valid.contains(explicit) && !change.valid.contains(current) {
                    guard isOwner else { throw LustreError(errno: EPERM, "setting times of \(fid): not the owner") }
                } else if !isOwner {
                    try MDTPermission.check(credentials, st, MDTPermission.write, "touch \(fid)")
                }
                resolved.valid.insert(flag)
                let value = change.valid.contains(current) ? now : (flag == .atime ? change.atime : change.mtime)
                if flag == .atime { resolved.atime = value } else { resolved.mtime = value }
            }
            if change.valid.contains(.ctime) && resolved.valid.isEmpty && !isOwner {
                try MDTPermission.check(credentials, st, MDTPermission.write, "touch \(fid)")
            }
            guard !resolved.valid.isEmpty else { return (try attributes(object), 0) }
            let (transno, _) = try await logged { () async throws(LustreError) in
                try await commit(.setattr(fid: fid, change: resolved, blocks: blocks))
            }
            return (try attributes(object), transno)
        }
    }

    /// Space and inodes of the MDT's own volume.
    public func statfs() throws(LustreError) -> ObdStatfs {
        var vfs = statvfs()
        guard fstatvfs(rootFD, &vfs) == 0 else { throw LustreError.fromErrno("statfs \(rootPath)") }
        var result = ObdStatfs()
        result.type = ObdStatfs.ext4Magic
        result.blocks = UInt64(vfs.f_blocks)
        result.blocksFree = UInt64(vfs.f_bfree)
        result.blocksAvailable = UInt64(vfs.f_bavail)
        result.files = UInt64(vfs.f_files)
        result.filesFree = UInt64(vfs.f_ffree)
        result.blockSize = UInt32(vfs.f_frsize)
        result.nameLength = 255
        result.maxBytes = UInt64(Int64.max)
        result.fsid = String(target.uuid.prefix(39))
        return result
    }

    /// The path of `fid` relative to the root ("dir/file", "" for the root), by its first name.
    public func fid2path(_ fid: LustreFID) async throws(LustreError) -> String {
        var components: [String] = []
        var current = fid
        for _ in 0..<4096 {
            if current == rootFID { return components.reversed().joined(separator: "/") }
            guard let object = try tree.oi.inode(current) else { throw LustreError(errno: ENOENT, "no such FID \(current)") }
            guard let link = try tree.links(of: object).first else {
                throw LustreError(errno: ENOENT, "\(fid) has no name (unlinked)")
            }
            components.append(link.name)
            current = link.parent
        }
        throw LustreError(errno: ELOOP, "path of \(fid) is too deep")
    }

    /// Sets a directory's default layout (an all-default layout removes it), or gives an empty
    /// object-less file its layout (objects allocated now); `EEXIST` for a file that has one.
    public func setLayout(_ fid: LustreFID, _ layout: LustreLayout,
                          credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        let object = try inode(fid)
        var settings = layout
        settings.objects = []
        settings.fid = .zero
        try settings.validateSettings()
        if object.isDirectory {
            return try await locked([fid]) { () async throws(LustreError) in
                try MDTPermission.checkOwner(credentials, try object.stat(), "set the default layout of \(fid)")
                let clear = settings.stripeSize == 0 && settings.stripeCount == 0
                    && settings.stripeOffset == LustreLayout.stripeOffsetAny
                let present = try tree.xattr(object, tree.lovName) != nil
                if clear && !present { return 0 }
                let value: [UInt8]? = clear ? nil : Array(settings.encoded().readableBytesView)
                return try await logged { () async throws(LustreError) in
                    try await commit(.setxattr(fid: fid, name: tree.lovName, value: value)).transno
                }
            }
        }
        guard object.isRegular else { throw .invalid("a layout only applies to files and directories") }
        return try await instantiateLayout(object, settings, ownerOnly: credentials)
    }

    /// Allocates the objects of the object-less file `object` (settings completed from its
    /// directory) and records its layout; `ownerOnly`: the caller must own the file.
    func instantiateLayout(_ object: MDTInode, _ settings: LustreLayout,
                           ownerOnly credentials: MDTCredentials?) async throws(LustreError) -> UInt64 {
        let fid = object.fid
        guard try tree.layout(of: object)?.isInstantiated != true else {
            throw LustreError(errno: EEXIST, "\(fid) already has a layout")
        }
        var parent = tree.root
        if let link = try tree.links(of: object).first, let found = try tree.oi.inode(link.parent) { parent = found }
        let resolved = try resolveLayout(settings, parent: parent)
        var allocated = try await allocator.allocate(for: fid, layout: resolved)
        allocated.fid = fid
        let instantiated = allocated
        var recorded = false
        do throws(LustreError) {
            return try await locked([fid]) { () async throws(LustreError) in
                if let credentials {
                    try MDTPermission.checkOwner(credentials, try object.stat(), "set the layout of \(fid)")
                }
                guard try tree.layout(of: object)?.isInstantiated != true else {
                    throw LustreError(errno: EEXIST, "\(fid) already has a layout")
                }
                return try await logged { () async throws(LustreError) in
                    try await commit(.setxattr(fid: fid, name: tree.lovName,
                                               value: Array(instantiated.encoded().readableBytesView))) {
                        recorded = true
                        allocator.noteLogged(instantiated.objects)
                    }.transno
                }
            }
        } catch {
            if !recorded { try? await allocator.destroy(instantiated.objects, of: fid) }
            throw error
        }
    }
}

