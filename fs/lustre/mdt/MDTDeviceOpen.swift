import Glibc
import LibCFS
import ObdClass

extension MDTDevice {
    /// Opens `fid` for `owner` (an export): checks access for `flags` (`O_RDONLY`/`O_WRONLY`/
    /// `O_RDWR`, `O_TRUNC` needs write) and returns the attributes, the layout and a handle for
    /// `close`. An open file stays readable after its last name goes. `made`: the attributes of
    /// the file the create of this open intent just made; that open gets the access it asked for
    /// whatever mode the file was given (POSIX; `cp` of a read-only file, git's 0444 objects), and
    /// answers with them. `again`: a client opens again after this MDS restarted a file it held
    /// open (Lustre's open replay); its owner (or root) gets the access it had, as the open made
    /// before the restart may have been a creator's, whatever the mode says; an unlinked file
    /// waiting in `PENDING/` for its last close opens too.
    public func open(_ fid: LustreFID, flags: Int32, credentials: MDTCredentials, owner: UInt64,
                     made: MDTAttributes? = nil, again: Bool = false) async throws(LustreError)
        -> (MDTAttributes, LustreLayout?, handle: UInt64) {
        let object = try inode(fid)
        let access = flags & O_ACCMODE
        if object.isDirectory && (access != O_RDONLY || flags & O_TRUNC != 0) {
            throw LustreError(errno: EISDIR, "open \(fid) for writing")
        }
        var mask: UInt32 = 0
        if access == O_RDONLY || access == O_RDWR { mask |= MDTPermission.read }
        if access == O_WRONLY || access == O_RDWR || flags & O_TRUNC != 0 { mask |= MDTPermission.write }
        // The creator's open answers with the attributes its create took, unless the layout changes below.
        var answer = made
        var known: Glibc.stat?
        if made == nil {
            let st = try object.stat()
            let ownerAgain = again && (credentials.uid == 0 || credentials.uid == st.st_uid)
            if !ownerAgain { try MDTPermission.check(credentials, st, mask, "open \(fid)") }
            known = st
        }
        var layout = object.isDirectory ? nil : try tree.layout(of: object)
        if object.isRegular && layout?.isInstantiated != true && mask & MDTPermission.write != 0 {
            known = nil  // the layout xattr changes ctime
            answer = nil
            // A file made by mknod gets its objects at its first open for writing, as in Lustre.
            do {
                _ = try await instantiateLayout(object, layout ?? LustreLayout(), ownerOnly: nil)
            } catch where error.errno == EEXIST {
                // Another open instantiated it meanwhile.
            }
            layout = try tree.layout(of: object)
        }
        let attributes: MDTAttributes
        if let answer { attributes = answer } else { attributes = try self.attributes(object, stat: known) }
        let handle = openFiles.withLock { table -> UInt64 in
            let handle = table.nextHandle
            table.nextHandle += 1
            table.handles[handle] = MDTOpenTable.Handle(fid: fid, owner: owner, flags: flags)
            table.openCount[fid, default: 0] += 1
            return handle
        }
        if again { recovery.withLock { $0.reopened += 1 } }
        return (attributes, layout, handle)
    }

    /// Closes `handle`; a regular file's `size`/`blocks` as the client knows them, and the
    /// `mtime` of the client's last write through it, are recorded (one logged setattr). The
    /// last close of an unlinked file destroys it and its objects.
    public func close(handle: UInt64, size: UInt64?, blocks: UInt64?, mtime: MDTTime? = nil,
                      owner: UInt64) async throws(LustreError) -> UInt64 {
        let closed = openFiles.withLock { table -> (MDTOpenTable.Handle, Bool)? in
            guard let entry = table.handles[handle], entry.owner == owner else { return nil }
            table.handles.removeValue(forKey: handle)
            let count = table.openCount[entry.fid, default: 1] - 1
            if count > 0 {
                table.openCount[entry.fid] = count
                return (entry, false)
            }
            table.openCount.removeValue(forKey: entry.fid)
            return (entry, table.orphans.remove(entry.fid) != nil)
        }
        guard let (entry, destroy) = closed else { throw LustreError(errno: EBADF, "no open handle \(handle)") }
        return try await finishClose(entry.fid, size: size, blocks: blocks, mtime: mtime, destroy: destroy)
    }

    private func finishClose(_ fid: LustreFID, size: UInt64?, blocks: UInt64?, mtime: MDTTime?,
                             destroy: Bool) async throws(LustreError) -> UInt64 {
        // Most closes change nothing (the client wrote nothing): no inode to find.
        if !destroy && size == nil { return 0 }
        guard let object = try tree.oi.inode(fid) else { return 0 }
        if destroy {
            let objects = try tree.layout(of: object)?.objects ?? []
            return try await locked([fid]) { () async throws(LustreError) in
                try await logged { () async throws(LustreError) in
                    let record = MDTLogRecord.destroyOrphan(fid: fid, objects: objects)
                    let (transno, _) = try await commit(record)
                    await allocatorEffects(of: record, replay: false)
                    return transno
                }
            }
        }
        guard let size, object.isRegular else { return 0 }
        return try await locked([fid]) { () async throws(LustreError) in
            let current = try tree.xattr(object, tree.somName).flatMap { try? MDTSizeOnMDS(decoding: $0) }
            let newBlocks = blocks ?? current?.blocks ?? (size + 511) / 512
            var change = MDTSetattr(valid: .size, size: size)
            if current == MDTSizeOnMDS(size: size, blocks: newBlocks) { change.valid = [] }
            // The writes went to the OSTs: their mtime comes with the close, by the client's
            // clock (sent only when the client wrote since it last told one).
            if let mtime {
                change.valid.insert(.mtime)
                change.mtime = mtime
            }
            guard !change.valid.isEmpty else { return 0 }
            // The size goes into an xattr, whose write moves the backing inode's ctime; but a
            // close changes nothing a user did, so the file keeps the ctime it showed (the
            // writes' mtime when later), as Lustre's close sets the client's ctime. Otherwise a
            // file read right after it was written (tar -c after tar -x, whose setattrs come
            // before its close) sees its ctime move under it: "file changed as we read it".
            var shown = object.visibleCtime(try object.stat())
            if let mtime { shown = max(shown, mtime) }
            let transno = try await logged { () async throws(LustreError) in
                try await commit(.setattr(fid: fid, change: change, blocks: newBlocks)).transno
            }
            object.noteSizeRecorded(shown: shown, backing: MDTTime(try object.stat().st_ctim))
            return transno
        }
    }

    /// Closes every handle of `owner` (its export is gone), without size updates.
    public func closeAll(owner: UInt64) async {
        let handles = openFiles.withLock { table in table.handles.filter { $0.value.owner == owner }.map(\.key) }
        for handle in handles { _ = try? await close(handle: handle, size: nil, blocks: nil, owner: owner) }
    }
}
