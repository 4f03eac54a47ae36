import LLite
import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The FUSE filesystem of a Lustre mount: each kernel request becomes `LustreClient` calls in a
/// Swift task, answered from there (the libfuse thread returns at the task's first suspension).
///
/// Permissions are the MDS's business (the mount runs without `default_permissions`): every
/// request carries the caller's uid, gid and supplementary groups as `MDTCredentials`.
final class LustreFuseFileSystem: FuseOperations {
    let client: LustreClient
    let nodes: NodeTable
    let handles = OpenFileTable()
    /// Seconds the kernel may cache attributes and names: there are no DLM locks to revoke its
    /// cache, so this bounds how stale another client's change can look.
    let attributeTimeout: Double
    let entryTimeout: Double
    /// The mounted fileset's path below the filesystem's root with a trailing "/" (empty when the
    /// root is mounted): what `fid2path` answers drop, as paths are told relative to the mount.
    let filesetPrefix: String
    /// `user_xattr`: whether `user.*` attributes may be used.
    let userXattr: Bool
    /// `direct_io`: regular files are opened with `FOPEN_DIRECT_IO` (no page cache).
    let directIO: Bool
    /// `direct_writes` (the default): files opened write-only, or read-write while empty, are
    /// opened with `FOPEN_DIRECT_IO` once the kernel granted `FUSE_DIRECT_IO_ALLOW_MMAP`
    /// (Linux 6.6, which also drops the pages other opens cached of a range such a write changes).
    let directWritesWanted: Bool
    private let directWrites = Atomic<Bool>(false)
    /// Job ids of calling processes (`jobid_var`), cached by pid.
    let jobIDs = JobIDProcessTable()
    /// The FUSE session, for notifications to the kernel (set once mounted).
    private let session = Mutex<FuseLowLevelSession?>(nil)

    /// Seconds attributes and names are cached by default (also how long the client's statahead
    /// results may answer: `LustreClient.Options.statAheadLifetime`).
    static let defaultTimeout: Double = 1

    /// `root`: the directory mounted (a fileset's, `fileset` its names below the filesystem's
    /// root; the root itself when nil).
    init(client: LustreClient, root: LustreFID? = nil, fileset: [String] = [], userXattr: Bool = true,
         directIO: Bool = false, directWrites: Bool = false,
         attributeTimeout: Double = defaultTimeout, entryTimeout: Double = defaultTimeout) {
        self.client = client
        self.filesetPrefix = fileset.isEmpty ? "" : fileset.joined(separator: "/") + "/"
        self.userXattr = userXattr
        self.directIO = directIO
        self.directWritesWanted = directWrites
        self.nodes = NodeTable(root: root ?? client.rootFID)
        self.attributeTimeout = attributeTimeout
        self.entryTimeout = entryTimeout
    }

    /// The session serving this filesystem (notifications to the kernel go through it).
    func attach(_ session: FuseLowLevelSession) {
        self.session.withLock { $0 = session }
    }

    func initialized(_ connection: FuseConnection) {
        directWrites.store(directWritesWanted && connection.directIOAllowMmap, ordering: .releasing)
    }

    /// Whether an open with `flags` of a file `empty` at open bypasses the page cache: every
    /// open under `direct_io`; under `direct_writes` write-only opens, and read-write opens of an
    /// empty file (created, truncated, or not written yet: a writer's, as fio's and IOR's). A
    /// write-only descriptor is never read, and an empty file has nothing cached to read, so the
    /// page cache would mostly cost the writes a copy (dd through the mount spent a fifth of the
    /// machine's CPU filling pages no one read). Other opens' cached pages and shared mappings
    /// stay coherent: the kernel drops the pages such a write changes.
    private func bypassesPageCache(_ flags: Int32, empty: Bool) -> Bool {
        guard !directIO else { return true }
        let access = flags & O_ACCMODE
        return (access == O_WRONLY || (access == O_RDWR && empty)) && directWrites.load(ordering: .acquiring)
    }

    // MARK: plumbing

    /// Runs `body` in a task working for the calling process's job (every RPC it causes carries
    /// the job id); a thrown error becomes the request's errno. The task starts on the FUSE
    /// thread and leaves it at its first real suspension (the RPC's wait): no hop to the pool
    /// before the request is sent, and a read of data already read ahead is answered from here
    /// (a negative lookup: median 343 -> 305 µs, docs/performance.md, Client).
    ///
    /// After its first wait the task goes on on the loop that reads the MDS's replies
    /// (`LustreClient.metadataTaskExecutor`), so a reply resumes it there instead of waking a
    /// pool thread; requests that move file data (`carriesData`) stay on the pool, as their
    /// copies would hold up the loop.
    private func serve(_ request: FuseRequest, carriesData: Bool = false,
                       _ body: @escaping @Sendable () async throws(LustreError) -> Void) {
        let caller = request.caller
        let jobID = jobIDs.jobID(pid: caller.pid, uid: caller.uid, gid: caller.gid)
        Task.immediate(executorPreference: carriesData ? nil : client.metadataTaskExecutor) {
            await PtlRPCJobID.$current.withValue(jobID) {
                do throws(LustreError) {
                    try await body()
                } catch {
                    CDEBUG(.vfstrace, "request failed: \(error)")
                    request.reply(error: error.errno)
                }
            }
        }
    }

    /// `fid`'s path relative to the mount: below a fileset, its path there (`ENOENT` for a file
    /// outside it, as Lustre answers; the fileset's own directory is "").
    private func mountedPath(of fid: LustreFID) async throws(LustreError) -> String {
        let path = try await client.fid2path(fid)
        guard !filesetPrefix.isEmpty else { return path }
        if path + "/" == filesetPrefix { return "" }
        guard path.hasPrefix(filesetPrefix) else { throw LustreError(errno: ENOENT, "\(fid) is outside the fileset") }
        return String(path.dropFirst(filesetPrefix.count))
    }

    private func credentials(_ request: FuseRequest) -> MDTCredentials {
        let caller = request.caller
        // Root passes every check; the groups cost a /proc read, so they are asked for others only.
        let groups = caller.uid == 0 ? [] : request.supplementaryGroups().filter { $0 != caller.gid }
        return MDTCredentials(uid: caller.uid, gid: caller.gid, groups: groups)
    }

    /// An entry reply's node for `attributes`, found in `parent` (a directory's "..", when given).
    private func entry(_ attributes: MDTAttributes, parent: LustreFID? = nil) -> FuseEntry {
        let node = nodes.remember(attributes.fid)
        nodes.told(node, size: attributes.size, blocks: attributes.blocks, mtime: attributes.mtime)
        if attributes.isDirectory, let parent { nodes.noteParent(node, parent) }
        return FuseEntry(nodeID: node, attributes: AttributeMapping.fuse(attributes),
                         attributeTimeout: attributeTimeout, entryTimeout: entryTimeout)
    }

    /// Replies to a getattr or setattr of `node` with `attributes`.
    private func replyAttributes(_ request: FuseRequest, node: UInt64, _ attributes: MDTAttributes) {
        nodes.told(node, size: attributes.size, blocks: attributes.blocks, mtime: attributes.mtime)
        request.reply(attributes: AttributeMapping.fuse(attributes), timeout: attributeTimeout)
    }

    private func replyEntry(_ request: FuseRequest, _ attributes: MDTAttributes, parent: LustreFID? = nil) {
        request.reply(entry: entry(attributes, parent: parent))
    }

    // MARK: namespace

    func lookup(_ request: FuseRequest, parent: UInt64, name: String) {
        serve(request) { [self] () throws(LustreError) in
            let parentFID = try nodes.fid(of: parent)
            let attributes = try await client.lookup(parent: parentFID, name: name, credentials: credentials(request))
            replyEntry(request, attributes, parent: parentFID)
        }
    }

    func forget(node: UInt64, lookups: UInt64) {
        nodes.forget(node, lookups: lookups)
    }

    func getattr(_ request: FuseRequest, node: UInt64, file: FuseFileInfo?) {
        serve(request) { [self] () throws(LustreError) in
            let attributes = try await client.getattr(try nodes.fid(of: node), credentials: credentials(request))
            replyAttributes(request, node: node, attributes)
        }
    }

    func setattr(_ request: FuseRequest, node: UInt64, change: FuseSetattr, file: FuseFileInfo?) {
        serve(request) { [self] () throws(LustreError) in
            let fid = try nodes.fid(of: node)
            let credentials = credentials(request)
            var mdtChange = AttributeMapping.mdt(change)
            // The kernel leaves dropping setuid/setgid to us (FUSE_CAP_HANDLE_KILLPRIV); the MDS
            // does at a chown, a truncate by others than root asks for it.
            if mdtChange.valid.contains(.size) && credentials.uid != 0 { mdtChange.valid.insert(.killSUIDGID) }
            // A truncate of a file open here goes through the open file, so its cached pages agree.
            if mdtChange.valid.contains(.size),
               let open = (try? file.map { f throws(LustreError) in try handles.file(f.handle) }) ?? handles.anyFile(for: fid) {
                try await open.file.truncate(mdtChange.size)
                mdtChange.valid.remove(.size)
                if mdtChange.valid.subtracting(.killSUIDGID).isEmpty {
                    mdtChange.valid.insert(.mtimeNow)
                }
            }
            let attributes = try await client.setattr(fid, mdtChange, credentials: credentials)
            replyAttributes(request, node: node, attributes)
        }
    }

    /// `access(2)` from the attributes, with POSIX's rules; the MDS still checks every real operation.
    func access(_ request: FuseRequest, node: UInt64, mask: Int32) {
        serve(request) { [self] () throws(LustreError) in
            let credentials = credentials(request)
            let attributes = try await client.getattr(try nodes.fid(of: node), credentials: credentials)
            request.reply(error: AccessCheck.allows(attributes, credentials, mask: mask) ? 0 : EACCES)
        }
    }

    func readlink(_ request: FuseRequest, node: UInt64) {
        serve(request) { [self] () throws(LustreError) in
            request.reply(readlink: try await client.readlink(try nodes.fid(of: node), credentials: credentials(request)))
        }
    }

    func mknod(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, rdev: UInt32) {
        serve(request) { [self] () throws(LustreError) in
            let parentFID = try nodes.fid(of: parent)
            let credentials = credentials(request)
            if mode & UInt32(S_IFMT) == UInt32(S_IFREG) {
                let file = try await client.create(parent: parentFID, name: name, mode: mode, credentials: credentials,
                                                   layout: nil, exclusive: true)
                try await file.close()
                replyEntry(request, try await client.getattr(file.fid, credentials: credentials))
                return
            }
            replyEntry(request, try await client.mknod(parent: parentFID, name: name, mode: mode, rdev: rdev,
                                                       credentials: credentials))
        }
    }

    func mkdir(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32) {
        serve(request) { [self] () throws(LustreError) in
            let parentFID = try nodes.fid(of: parent)
            replyEntry(request, try await client.mkdir(parent: parentFID, name: name, mode: mode | UInt32(S_IFDIR),
                                                       credentials: credentials(request)),
                       parent: parentFID)
        }
    }

    func unlink(_ request: FuseRequest, parent: UInt64, name: String) {
        serve(request) { [self] () throws(LustreError) in
            try await client.unlink(parent: try nodes.fid(of: parent), name: name, credentials: credentials(request))
            request.reply(error: 0)
        }
    }

    func rmdir(_ request: FuseRequest, parent: UInt64, name: String) {
        serve(request) { [self] () throws(LustreError) in
            try await client.rmdir(parent: try nodes.fid(of: parent), name: name, credentials: credentials(request))
            request.reply(error: 0)
        }
    }

    func symlink(_ request: FuseRequest, target: String, parent: UInt64, name: String) {
        serve(request) { [self] () throws(LustreError) in
            replyEntry(request, try await client.symlink(parent: try nodes.fid(of: parent), name: name, target: target,
                                                         credentials: credentials(request)))
        }
    }

    func rename(_ request: FuseRequest, parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) {
        // renameat2: RENAME_NOREPLACE is decided by the MDS; RENAME_EXCHANGE (2) and
        // RENAME_WHITEOUT (4) have no MDT counterpart.
        guard flags & ~UInt32(MDTRenameRequest.noReplaceFlag) == 0 else { return request.reply(error: EINVAL) }
        serve(request) { [self] () throws(LustreError) in
            try await client.rename(from: try nodes.fid(of: parent), name: name, to: try nodes.fid(of: newParent),
                                    newName: newName, noReplace: flags & UInt32(MDTRenameRequest.noReplaceFlag) != 0,
                                    credentials: credentials(request))
            request.reply(error: 0)
        }
    }

    func link(_ request: FuseRequest, node: UInt64, newParent: UInt64, newName: String) {
        serve(request) { [self] () throws(LustreError) in
            replyEntry(request, try await client.link(try nodes.fid(of: node), parent: try nodes.fid(of: newParent),
                                                      name: newName, credentials: credentials(request)))
        }
    }

    // MARK: files

    func open(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        serve(request) { [self] () throws(LustreError) in
            let opened = try await client.open(try nodes.fid(of: node), flags: file.flags, credentials: credentials(request))
            let open = OpenFile(file: opened, flags: file.flags)
            if file.flags & O_TRUNC != 0 && file.flags & O_ACCMODE != O_RDONLY {
                do throws(LustreError) {
                    try await dropPrivileges(open, node: node, request: request)
                } catch {
                    _ = try? await opened.close()
                    throw error
                }
            }
            // Close-to-open: the open saw the file as it is now (the MDS, and the OSTs' size). If
            // the kernel holds other attributes (from before another client wrote), it must ask
            // again, or it reads no further than the old size.
            if !nodes.wasTold(node, size: opened.knownSize, mtime: opened.openAttributes.mtime) {
                session.withLock { $0 }?.invalidateAttributes(of: node)
            }
            // A read-only open writes nothing, so its close has nothing to flush: no FLUSH round
            // trip for close(2) to wait on (file locks are the kernel's, so none to drop either).
            request.reply(open: FuseOpenReply(handle: handles.add(open),
                                              directIO: bypassesPageCache(file.flags, empty: opened.knownSize == 0),
                                              noFlush: file.flags & O_ACCMODE == O_RDONLY))
        }
    }

    func create(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, file: FuseFileInfo) {
        serve(request) { [self] () throws(LustreError) in
            let credentials = credentials(request)
            let parentFID = try nodes.fid(of: parent)
            let flags = file.flags & ~(O_CREAT | O_EXCL | O_TRUNC)
            // The kernel asks to create only after its lookup found no such name, so the create
            // is exclusive: the file it makes is empty and the attributes of its open are whole,
            // no getattr or OST glimpse needed. Another client may have made the name since; then,
            // without O_EXCL, that file is opened (and truncated by O_TRUNC) as open(2) would.
            let opened: LustreFile
            var attributes: MDTAttributes
            do throws(LustreError) {
                opened = try await client.create(parent: parentFID, name: name, mode: mode | UInt32(S_IFREG),
                                                 credentials: credentials, layout: nil, exclusive: true, flags: flags)
                attributes = opened.openAttributes
            } catch {
                guard error.errno == EEXIST, file.flags & O_EXCL == 0 else { throw error }
                opened = try await client.create(parent: parentFID, name: name, mode: mode | UInt32(S_IFREG),
                                                 credentials: credentials, layout: nil, exclusive: false,
                                                 flags: flags | (file.flags & O_TRUNC))
                do throws(LustreError) {
                    attributes = try await client.getattr(opened.fid, credentials: credentials)
                } catch {
                    _ = try? await opened.close()
                    throw error
                }
            }
            let handle = handles.add(OpenFile(file: opened, flags: file.flags))
            request.reply(create: entry(attributes),
                          open: FuseOpenReply(handle: handle, directIO: bypassesPageCache(file.flags, empty: attributes.size == 0)))
        }
    }

    func read(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) {
        serve(request, carriesData: true) { [self] () throws(LustreError) in
            let open = try handles.file(file.handle)
            let data = try await open.file.read(offset: offset, length: size)
            data.withUnsafeReadableBytes { request.reply(data: $0) }
        }
    }

    func write(_ request: FuseRequest, node: UInt64, data: UnsafeRawBufferPointer, offset: UInt64, file: FuseFileInfo) {
        // The kernel's buffer is reused once this returns: copy it first.
        var buffer = ByteBufferAllocator().buffer(capacity: data.count)
        buffer.writeBytes(data)
        serve(request, carriesData: true) { [self, buffer] () throws(LustreError) in
            let open = try handles.file(file.handle)
            try await dropPrivileges(open, node: node, request: request)
            open.dirty.store(true, ordering: .relaxed)
            // O_APPEND files append at the end this client knows (LustreFile.write does).
            let written = try await open.file.write(offset: offset, data: buffer)
            request.reply(written: written)
        }
    }

    /// Drops setuid, and setgid with group execute, before the first write (or `O_TRUNC`) through
    /// `open` by a user other than root, as the kernel does for a local file
    /// (`file_remove_privs`); with `FUSE_CAP_HANDLE_KILLPRIV` it leaves that to us. The kernel's
    /// cached mode is dropped with them.
    private func dropPrivileges(_ open: OpenFile, node: UInt64, request: FuseRequest) async throws(LustreError) {
        guard open.mayKeepPrivileges.load(ordering: .relaxed), request.caller.uid != 0,
              open.mayKeepPrivileges.exchange(false, ordering: .relaxed)
        else { return }
        do throws(LustreError) {
            _ = try await client.setattr(open.fid, MDTSetattr(valid: [.killSUIDGID]), credentials: credentials(request))
        } catch {
            open.mayKeepPrivileges.store(true, ordering: .relaxed)
            throw error
        }
        session.withLock { $0 }?.invalidateAttributes(of: node)
    }

    /// `close(2)`: data written through this file goes to the OSTs now, so close reports write
    /// errors as Lustre's does and another client sees the bytes. Nothing written: answered on
    /// the FUSE thread, as `close(2)` waits for it (every write was answered before, so its
    /// `dirty` mark is set by now). Read-only opens send none (`FOPEN_NOFLUSH`).
    func flush(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        guard let open = try? handles.file(file.handle) else { return request.reply(error: 0) }
        guard open.dirty.exchange(false, ordering: .relaxed) else {
            open.file.flushUnwritten()
            return request.reply(error: 0)
        }
        serve(request, carriesData: true) { () throws(LustreError) in
            try await open.file.flush()
            request.reply(error: 0)
        }
    }

    func release(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        serve(request) { [self] () throws(LustreError) in
            guard let open = handles.removeFile(file.handle) else { return request.reply(error: 0) }
            if let closed = try await open.file.close(),
               !nodes.wasTold(node, size: closed.size, blocks: closed.blocks, mtime: closed.mtime) {
                // The kernel holds what a setattr or open while the file was open said: blocks
                // from before the writes reached the OSTs' disks (tar sets times and modes before
                // close(2)). A stat asks again rather than show them (du, tar -c after tar -x).
                session.withLock { $0 }?.invalidateAttributes(of: node)
            }
            request.reply(error: 0)
        }
    }

    func fallocate(_ request: FuseRequest, node: UInt64, mode: Int32, offset: UInt64, length: UInt64,
                   file: FuseFileInfo) {
        serve(request, carriesData: true) { [self] () throws(LustreError) in
            try await handles.file(file.handle).file.fallocate(mode: FallocateMode(rawValue: mode), offset: offset,
                                                               length: length)
            request.reply(error: 0)
        }
    }

    func lseek(_ request: FuseRequest, node: UInt64, offset: UInt64, data: Bool, file: FuseFileInfo) {
        serve(request) { [self] () throws(LustreError) in
            request.reply(seek: try await handles.file(file.handle).file.seek(offset: offset, data: data))
        }
    }

    func fsync(_ request: FuseRequest, node: UInt64, dataOnly: Bool, file: FuseFileInfo) {
        serve(request, carriesData: true) { [self] () throws(LustreError) in
            try await handles.file(file.handle).file.fsync()
            request.reply(error: 0)
        }
    }

    // MARK: directories

    /// `opendir`: the first page of entries is read here, so the listing that follows (`ls`,
    /// `find`, `rm -r` open a directory to read it) starts from it instead of costing a
    /// getattr RPC at open and a readdir RPC after; the MDS's readdir decides read permission
    /// (`EACCES` at open, as POSIX has it) and `ENOTDIR`.
    func opendir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        serve(request) { [self] () throws(LustreError) in
            let directory = OpenDirectory(fid: try nodes.fid(of: node))
            let page = try await client.readdir(directory.fid, cookie: 0, maxEntries: Self.readdirEntries,
                                                credentials: credentials(request))
            directory.cache(start: 0, entries: page.entries, end: page.end)
            request.reply(open: FuseOpenReply(handle: handles.add(directory)))
        }
    }

    /// Entries asked of the MDS per readdir RPC.
    static let readdirEntries = 256

    /// The offsets a listing resumes at after "." and after "..", which the MDS does not list:
    /// its cookies (ext4 hash positions of the entries that follow) start past both, so a
    /// listing resumed at either goes on with the MDS's entries from their start.
    static let afterDot: UInt64 = 1
    static let afterDotDot: UInt64 = 2

    /// Entries from `offset`: "." and ".." first, as every POSIX filesystem lists them (`ls -a`
    /// counts on it), then the MDS's. ".." is the directory this one was last found in; a
    /// directory renamed since shows its old parent there until the kernel looks it up again.
    func readdir(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) {
        serve(request, carriesData: true) { [self] () throws(LustreError) in
            let parentFID = try nodes.fid(of: node)
            let directory = handles.directory(file.handle) ?? OpenDirectory(fid: parentFID)
            var buffer = FuseDirectoryBuffer(for: request, capacity: size)
            var cookie = offset
            if offset <= Self.afterDotDot {
                cookie = 0
                let directoryMode = UInt32(S_IFDIR)
                if offset == 0 {
                    guard buffer.add(name: ".", inode: InodeNumber.flatten(directory.fid), mode: directoryMode,
                                     nextOffset: Self.afterDot) else { return buffer.reply() }
                }
                if offset <= Self.afterDot {
                    let up = nodes.parent(of: node) ?? directory.fid
                    guard buffer.add(name: "..", inode: InodeNumber.flatten(up), mode: directoryMode,
                                     nextOffset: Self.afterDotDot) else { return buffer.reply() }
                }
            }
            var cached = directory.cachedEntries(after: cookie)
            if cached == nil || (cached!.entries.isEmpty && !cached!.end) {
                let page = try await client.readdir(directory.fid, cookie: cookie, maxEntries: Self.readdirEntries,
                                                    credentials: credentials(request))
                directory.cache(start: cookie, entries: page.entries, end: page.end)
                cached = (page.entries[...], page.end)
            }
            for entry in cached!.entries {
                let mode = UInt32(entry.type) << 12
                guard buffer.add(name: entry.name, inode: InodeNumber.flatten(entry.fid), mode: mode,
                                 nextOffset: entry.cookie) else { break }
            }
            buffer.reply()
        }
    }

    func releasedir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        handles.removeDirectory(file.handle)
        request.reply(error: 0)
    }

    // MARK: filesystem

    func statfs(_ request: FuseRequest, node: UInt64) {
        serve(request) { [self] () throws(LustreError) in
            let statfs = try await client.statfs()
            var result = FuseStatfs()
            result.blockSize = UInt64(max(statfs.blockSize, 1))
            result.blocks = statfs.blocks
            result.blocksFree = statfs.blocksFree
            result.blocksAvailable = statfs.blocksAvailable
            result.files = statfs.files
            result.filesFree = statfs.filesFree
            request.reply(statfs: result)
        }
    }

    // MARK: extended attributes (and lfs's virtual ones)

    /// `nouser_xattr` refuses `user.*` as Lustre's client does.
    private func checkUserXattr(_ name: String) throws(LustreError) {
        if !userXattr && name.hasPrefix("user.") { throw LustreError(errno: EOPNOTSUPP, "\(name): mounted nouser_xattr") }
    }

    /// Answers a getxattr with `value`, or its size when asked with size 0.
    private func replyXattr(_ request: FuseRequest, _ value: [UInt8], size: Int) {
        if size == 0 { return request.reply(xattrSize: value.count) }
        guard value.count <= size else { return request.reply(error: ERANGE) }
        request.reply(bytes: value)
    }

    func getxattr(_ request: FuseRequest, node: UInt64, name: String, size: Int) {
        // The kernel asks for security.capability before every write(2) (file_remove_privs: FUSE
        // clears SB_NOSEC, so nothing is remembered); as Lustre's client does (b15587), file
        // capabilities are not kept, and the answer costs no MDS round trip per write.
        if name == VirtualXattr.fileCapabilities { return request.reply(error: ENODATA) }
        serve(request) { [self] () throws(LustreError) in
            try checkUserXattr(name)
            let fid = try nodes.fid(of: node)
            let value: [UInt8]
            switch name {
            case VirtualXattr.layout, VirtualXattr.trustedLayout:
                guard let layout = try await client.getstripe(fid) else {
                    throw LustreError(errno: ENODATA, "\(fid) has no layout")
                }
                let encoded = layout.encoded()
                value = Array(encoded.readableBytesView)
            case VirtualXattr.fid:
                value = Array(fid.description.utf8)
            case VirtualXattr.statfs:
                // lfs df reports a silent MDT as inactive rather than hang on it.
                value = Array(VirtualXattr.statfsText(await client.targetStatfs(mdtTimeout: LustreClient.lazyStatfsTimeout)).utf8)
            case VirtualXattr.check:
                value = Array(VirtualXattr.checkText(await client.checkTargets()).utf8)
            case VirtualXattr.name:
                value = Array(client.name.utf8)
            case VirtualXattr.filesystemDefault:
                var layout = client.filesystemDefaultLayout
                layout.objects = []
                layout.fid = .zero
                value = Array(layout.encoded().readableBytesView)
            case _ where name.hasPrefix(VirtualXattr.fid2pathPrefix):
                let target = try LustreFID(parsing: String(name.dropFirst(VirtualXattr.fid2pathPrefix.count)))
                value = Array(try await mountedPath(of: target).utf8)
            case _ where name.hasPrefix("system.posix_acl_"):
                // No POSIX ACLs (Lustre's noacl): answered here, saving `ls -l` an MDS round trip per file.
                throw LustreError(errno: EOPNOTSUPP, "\(name): ACLs are not supported")
            default:
                value = try await client.getxattr(fid, name: name, credentials: credentials(request))
            }
            replyXattr(request, value, size: size)
        }
    }

    func setxattr(_ request: FuseRequest, node: UInt64, name: String, value: [UInt8], flags: Int32) {
        serve(request) { [self] () throws(LustreError) in
            try checkUserXattr(name)
            if name == VirtualXattr.fileCapabilities {
                throw LustreError(errno: EOPNOTSUPP, "\(name): file capabilities are not kept")
            }
            let fid = try nodes.fid(of: node)
            let credentials = credentials(request)
            if VirtualXattr.isLayout(name), value.isEmpty {
                // An empty layout is a removal, as on Lustre's client.
                return try await removeLayout(request, fid, credentials)
            }
            if VirtualXattr.isLayout(name) || name.hasPrefix(VirtualXattr.setstripePrefix) {
                var bytes = ByteBuffer(bytes: value)
                var layout = try LustreLayout(decoding: &bytes)
                try layout.validateSettings()
                if VirtualXattr.isLayout(name), !layout.objects.isEmpty, layout.stripeOffset == 0 {
                    // A layout copied from another file (its objects with it) names OST 0 as the
                    // first: let the MDS choose, or every copy would start there (Lustre's b=17846).
                    layout.stripeOffset = LustreLayout.stripeOffsetAny
                }
                if name.hasPrefix(VirtualXattr.setstripePrefix) {
                    let child = String(name.dropFirst(VirtualXattr.setstripePrefix.count))
                    _ = try await client.setstripe(parent: fid, name: child, layout: layout, credentials: credentials)
                    return request.reply(error: 0)
                }
                let attributes = try await client.getattr(fid, credentials: credentials)
                if attributes.isDirectory {
                    try await client.setDirectoryStripe(fid, layout: layout, credentials: credentials)
                    return request.reply(error: 0)
                }
                do throws(LustreError) {
                    let settings = Array(layout.encoded().readableBytesView)
                    try await client.setxattr(fid, name: name, value: settings, flags: flags, credentials: credentials)
                } catch where error.errno == EEXIST {
                    // A file's layout is set once, at its first open. rsync -X, tar --xattrs and
                    // cp --preserve=xattr copy lustre.lov onto the file they just created: the set
                    // succeeds and the layout stays (Lustre's ll_setstripe_ea, b=10667).
                }
                return request.reply(error: 0)
            } else if VirtualXattr.isReadOnly(name) {
                throw LustreError(errno: EPERM, "\(name) is read-only")
            }
            try await client.setxattr(fid, name: name, value: value, flags: flags, credentials: credentials)
            request.reply(error: 0)
        }
    }

    func listxattr(_ request: FuseRequest, node: UInt64, size: Int) {
        serve(request) { [self] () throws(LustreError) in
            let names = try await client.listxattr(try nodes.fid(of: node), credentials: credentials(request))
            var value: [UInt8] = []
            for name in names where userXattr || !name.hasPrefix("user.") { value += Array(name.utf8) + [0] }
            replyXattr(request, value, size: size)
        }
    }

    func removexattr(_ request: FuseRequest, node: UInt64, name: String) {
        serve(request) { [self] () throws(LustreError) in
            try checkUserXattr(name)
            let fid = try nodes.fid(of: node)
            if VirtualXattr.isLayout(name) { return try await removeLayout(request, fid, credentials(request)) }
            if VirtualXattr.isReadOnly(name) { throw LustreError(errno: EPERM, "\(name) is read-only") }
            try await client.removexattr(fid, name: name, credentials: credentials(request))
            request.reply(error: 0)
        }
    }

    /// Removes `lustre.lov`: a directory's default layout goes; a file keeps its layout and the
    /// removal succeeds, as on Lustre's client, so that rsync -X, which removes the xattrs the
    /// source lacks, copies into Lustre.
    private func removeLayout(_ request: FuseRequest, _ fid: LustreFID, _ credentials: MDTCredentials)
        async throws(LustreError) {
        if try await client.getattr(fid, credentials: credentials).isDirectory {
            try await client.removexattr(fid, name: VirtualXattr.layout, credentials: credentials)
        }
        request.reply(error: 0)
    }

    // MARK: shutdown

    /// Closes every file the kernel left open (it sends no release once unmounted), flushing
    /// their data. Returns the first error.
    func closeAll() async -> LustreError? {
        var first: LustreError?
        for open in handles.removeAll() {
            do { try await open.file.close() } catch { first = first ?? error }
        }
        return first
    }
}
