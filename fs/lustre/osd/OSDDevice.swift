import Glibc
import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import Synchronization

/// An object storage device: OST objects as files of an ext4 directory, Lustre's osd-ldiskfs.
///
/// Objects live at `<root>/O/<seq>/d<oid % 32>/<oid>`; their data moves through the I/O engine
/// (io_uring, libaio or sync threads), straight from and into `ByteBuffer` memory.  Every change
/// gets a transaction number; a background committer runs `syncfs` and advances
/// `lastCommitted`, telling registered callbacks (the OFD turns that into `last_committed` in
/// replies).  `precreate` makes its `LAST_ID` durable before returning, so an object id is never
/// handed out twice, even across a crash.
///
/// All methods are safe to call concurrently from any task.  Call `close()` when done.
public final class OSDDevice: Sendable {
    /// Lustre's largest OST object (ldiskfs with 4 KiB blocks): 16 TiB less one block.
    public static let maxObjectSize: UInt64 = (1 << 44) - 4096
    /// Longest single read: a hard cap, checked before anything is allocated (Lustre's largest
    /// bulk is 16 MiB).
    public static let maxReadLength = 256 << 20
    /// Most objects one `precreate` makes.
    public static let maxPrecreate = 1 << 20

    /// The directory the device was opened on.
    public let root: String
    let rootFD: Int32
    let engine: any IOEngine
    let options: Options
    let cache: OSDObjectCache
    let lastIDs: OSDLastIDTable
    let committer: OSDCommitter
    /// The bulk I/O histograms (`brw_stats`): the OSD tallies each file I/O, the OFD each BRW.
    public let brwStats = OSDBRWStats()
    /// `readcache_max_io_mb`: reads longer than this bypass the page cache (`Options.readCacheMaxIOMB`).
    public let readCacheMaxIOMB: Tunable<Int>
    private let transnoFD: Int32
    private let allocator = ByteBufferAllocator()
    private let background = Mutex<Task<Void, Never>?>(nil)
    private let closed = Atomic<Bool>(false)
    /// Set once `trusted.*` xattrs are refused: the FID goes to `user.lustre.fid` from then on.
    private let userXattr = Atomic<Bool>(false)
    /// Set once `O_DIRECT` opens are refused (tmpfs and the like): bulk goes buffered.
    private let directRefused = Atomic<Bool>(false)

    /// Opens the OSD on the ext4 directory `root` (the mounted target, or a development directory).
    ///
    /// Reads `last_transno` and every `O/<seq>/LAST_ID` (checked against the objects present),
    /// starts the I/O engine and the background committer.
    public static func open(root: String, options: Options = .init()) async throws(LustreError) -> OSDDevice {
        // Every read allocates its buffer: fresh mmap'd memory would cost a page fault per 4 KiB
        // on each one.  Process-wide, as LNet sets it too; this covers Lustre's 16 MiB bulk plus
        // the O_DIRECT alignment slack.
        MemoryTuning.keepLargeAllocationsOnHeap(upTo: (16 << 20) + (64 << 10))
        let engine = try makeIOEngine(kind: options.engine, queueDepth: options.queueDepth)
        do {
            return try await open(root: root, options: options, engine: engine)
        } catch {
            engine.shutdown()
            throw error
        }
    }

    /// Opens with a given engine (tests wrap one to watch what reaches it).
    static func open(root: String, options: Options, engine: any IOEngine) async throws(LustreError) -> OSDDevice {
        let rootFD = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw LustreError.fromErrno("open OSD root \(root)") }
        var transnoFD: Int32 = -1
        do {
            transnoFD = try OSDFiles.open("last_transno", in: rootFD, flags: O_RDWR | O_CREAT, what: "last_transno")
            let lastTransno = try await OSDFiles.readCounter(transnoFD, engine: engine) ?? 0
            let lastIDs = try await OSDLastIDTable(root: rootFD, engine: engine)
            let device = OSDDevice(root: root, rootFD: rootFD, transnoFD: transnoFD, engine: engine,
                                   options: options, lastIDs: lastIDs, lastTransno: lastTransno)
            device.startCommitter()
            CDEBUG(.info, "OSD \(root): engine \(engine.kind), last_transno \(lastTransno)")
            return device
        } catch {
            if transnoFD >= 0 { Glibc.close(transnoFD) }
            Glibc.close(rootFD)
            throw error
        }
    }

    private init(root: String, rootFD: Int32, transnoFD: Int32, engine: any IOEngine, options: Options,
                 lastIDs: OSDLastIDTable, lastTransno: UInt64) {
        self.root = root
        self.rootFD = rootFD
        self.transnoFD = transnoFD
        self.engine = engine
        self.options = options
        self.cache = OSDObjectCache(capacity: options.objectCacheSize)
        self.readCacheMaxIOMB = Tunable(options.readCacheMaxIOMB, range: 0...(Self.maxReadLength >> 20), unit: .mebibytes)
        self.lastIDs = lastIDs
        self.committer = OSDCommitter(lastTransno: lastTransno)
    }

    deinit {
        background.withLock { $0?.cancel() }
        if !closed.load(ordering: .acquiring) {
            engine.shutdown()
            Glibc.close(transnoFD)
            Glibc.close(rootFD)
        }
    }

    /// Commits what is outstanding, then stops the committer and the engine.  Later calls fail
    /// with `ESHUTDOWN`.  Idempotent.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let task = background.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        do {
            _ = try await commit()
        } catch {
            CERROR("OSD \(root): final commit failed: \(error)")
        }
        cache.removeAll()
        lastIDs.removeAll()
        engine.shutdown()
        // Closed here, not at deinit, so the volume can be unmounted right after.
        Glibc.close(transnoFD)
        Glibc.close(rootFD)
    }

    /// The I/O engine in use.
    public var engineKind: IOEngineKind { engine.kind }

    // MARK: Transactions

    /// The highest transaction number known durable.
    public var lastCommitted: UInt64 { committer.lastCommitted }

    /// The last transaction number handed out.
    public var lastTransno: UInt64 { committer.lastAssigned }

    /// Registers `callback`, called with the new `lastCommitted` after each commit that advances
    /// it, in increasing order, from the committing task (keep it short).
    public func addCommitCallback(_ callback: @escaping @Sendable (UInt64) -> Void) {
        committer.addCallback(callback)
    }

    /// Commits now: everything completed before the call is durable when it returns.
    /// Concurrent callers share one `syncfs`.  Returns `lastCommitted`.
    public func sync() async throws(LustreError) -> UInt64 {
        guard !closed.load(ordering: .acquiring) else { throw LustreError(errno: ESHUTDOWN, "OSD \(root) is closed") }
        return try await commit()
    }

    private func commit() async throws(LustreError) -> UInt64 {
        try await committer.commit { [self] (target: UInt64) async throws(LustreError) -> Void in
            try await lastIDs.persistDirty()
            try await OSDFiles.writeCounter(target, to: transnoFD, engine: engine)
            let rootFD = self.rootFD
            let rc = await runOnOSThread(named: "osd-sync") { () -> Int32 in syncfs(rootFD) == 0 ? 0 : errno }
            if rc != 0 { throw LustreError(errno: rc, "syncfs \(root)") }
        }
    }

    private func startCommitter() {
        let interval = options.commitInterval
        guard interval > 0 else { return }
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                guard !Task.isCancelled, let self else { return }
                guard self.committer.lastAssigned > self.committer.lastCommitted else { continue }
                do {
                    _ = try await self.commit()
                } catch {
                    CERROR("OSD \(self.root): commit failed: \(error)")
                }
            }
        }
        background.withLock { $0 = task }
    }

    // MARK: Object ids

    /// The highest object id handed out (or present) in `sequence`; 0 if none.
    public func lastID(sequence: UInt64) -> UInt64 {
        lastIDs.existingEntry(sequence)?.last ?? 0
    }

    /// Creates `count` empty objects after `LAST_ID` of `sequence` and returns their ids.
    ///
    /// `LAST_ID` covering them is durable (`fdatasync`, shared with concurrent callers) before
    /// this returns, so an id it returned is never handed out again, even after a crash.
    public func precreate(sequence: UInt64, count: Int) async throws(LustreError) -> ClosedRange<UInt64> {
        guard count > 0, count <= Self.maxPrecreate else {
            throw LustreError.invalid("precreate \(count) objects in sequence \(sequence) (1...\(Self.maxPrecreate))")
        }
        let entry = try await lastIDs.entry(sequence)
        let range = try entry.reserve(UInt64(count))
        for oid in range {
            let id = OSTObjectID(sequence: sequence, objectID: oid)
            do {
                Glibc.close(try createFile(id, exclusive: false))
            } catch {
                throw error.adding(context: "precreate")
            }
        }
        try await entry.persist(engine: engine)
        return range
    }

    // MARK: Objects

    /// Creates object `id` with `attributes` (mode, uid/gid, times, size, parent FID as their
    /// valid bits say) and returns its transno.  `EEXIST` if it exists.
    public func create(_ id: OSTObjectID, attributes: ObdAttributes) async throws(LustreError) -> UInt64 {
        try checkOpen()
        let entry = try await lastIDs.entry(id.sequence)
        let fd = try createFile(id, exclusive: true)
        let handle = OSDObjectHandle(fd: fd, directFD: openDirect(id))
        do {
            try apply(attributes, to: handle.fd, id)
        } catch {
            unlinkat(rootFD, id.path, 0)
            throw error
        }
        entry.observe(id.objectID)
        // Replacing: a handle cached for an earlier object of the same id is stale.
        _ = cache.insert(id, handle, replacing: true)
        return committer.assign()
    }

    /// Destroys object `id` and returns the transno.  `ENOENT` if absent.  I/O already in
    /// flight on it completes on the unlinked inode.
    public func destroy(_ id: OSTObjectID) async throws(LustreError) -> UInt64 {
        try checkOpen()
        cache.remove(id)
        guard unlinkat(rootFD, id.path, 0) == 0 else {
            throw LustreError.fromErrno("destroy object \(id) (\(id.path))")
        }
        return committer.assign()
    }

    /// The attributes of object `id`: size, blocks (512-byte units), blksize, times, uid/gid/mode,
    /// and the parent FID and stripe index if the object has them.
    public func getattr(_ id: OSTObjectID) async throws(LustreError) -> ObdAttributes {
        try checkOpen()
        let handle = try handle(for: id)
        var st = stat()
        guard fstat(handle.fd, &st) == 0 else { throw LustreError.fromErrno("getattr object \(id) (\(id.path))") }
        var attributes = ObdAttributes()
        attributes.valid = [.id, .size, .blocks, .blockSize, .atime, .mtime, .ctime, .mode, .uid, .gid]
        attributes.id = id
        attributes.size = UInt64(st.st_size)
        attributes.blocks = UInt64(st.st_blocks)
        attributes.blockSize = UInt32(truncatingIfNeeded: st.st_blksize)
        attributes.atime = Int64(st.st_atim.tv_sec)
        attributes.mtime = Int64(st.st_mtim.tv_sec)
        attributes.ctime = Int64(st.st_ctim.tv_sec)
        attributes.mode = UInt32(st.st_mode)
        attributes.uid = st.st_uid
        attributes.gid = st.st_gid
        if let ff = readFilterFID(handle.fd) {
            attributes.valid.insert(.fid)
            attributes.parentFID = ff.parent
            attributes.stripeIndex = ff.stripeIndex
            attributes.stripeCount = ff.stripeCount
        }
        return attributes
    }

    /// Changes what `attributes.valid` names: atime/mtime, uid/gid, mode, size (truncate or
    /// extend), parent FID and stripe (`OBD_MD_FLFID`).  Returns the transno.  ctime is the
    /// kernel's to set.
    public func setattr(_ id: OSTObjectID, _ attributes: ObdAttributes) async throws(LustreError) -> UInt64 {
        try checkOpen()
        let handle = try handle(for: id)
        try apply(attributes, to: handle.fd, id)
        return committer.assign()
    }

    // MARK: Data

    /// Writes `pieces` to object `id` as one batch submitted to the engine, straight from the
    /// buffers' memory (no copy), and returns one transno for all of them.
    ///
    /// With `directWrites` (or `directIO`), pieces whose memory, offset and length are 4 KiB-aligned
    /// bypass the page cache; the rest go buffered.
    ///
    /// `mayBlock`: the caller may wait on its own thread (nothing queues behind it); writes of at
    /// most `blockingWriteLimit` bytes in all then go to the page cache with `pwrite` here,
    /// without the engine's round trip through its workers and reaper.
    ///
    /// `reserved`: bytes of the volume's free space this write must leave alone (the grant the
    /// OST holds for clients' cached writes, `OFDGrant`); nil: no space check, the caller set
    /// the room aside (ext4 alone may refuse the write). `volume`: the caller's `statfs()` of
    /// just before, used for the space check (nil: taken here).
    public func write(_ id: OSTObjectID, pieces: [(offset: UInt64, data: ByteBuffer)], mayBlock: Bool = false,
                      reserved: UInt64? = 0, volume: OSDStatfs? = nil) async throws(LustreError) -> UInt64 {
        try checkOpen()
        var total = 0
        for piece in pieces {
            try checkRange(id, piece.offset, UInt64(piece.data.readableBytes), "write")
            total += piece.data.readableBytes
        }
        let handle = try handle(for: id)
        if let reserved { try checkSpace(handle.fd, pieces, total: total, reserved: reserved, volume: volume, id) }
        if mayBlock && total <= Self.blockingWriteLimit {
            for piece in pieces where piece.data.readableBytes > 0 {
                brwStats.startIO(.write, bytes: piece.data.readableBytes)
                defer { brwStats.endIO(.write) }
                try piece.data.withUnsafeReadableBytes { bytes throws(LustreError) in
                    var written = 0
                    while written < bytes.count {
                        let n = pwrite(handle.fd, bytes.baseAddress! + written, bytes.count - written,
                                       off_t(piece.offset) + off_t(written))
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else { throw LustreError.fromErrno("write object \(id) (\(id.path))") }
                        written += n
                    }
                }
            }
            return committer.assign()
        }
        var operations = [IOOperation]()
        var storages = [Unmanaged<AnyObject>]()
        operations.reserveCapacity(pieces.count)
        storages.reserveCapacity(pieces.count)
        for piece in pieces where piece.data.readableBytes > 0 {
            piece.data.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
                // The retain keeps the memory alive (and unmoved: nobody mutates it) until the
                // kernel is done with it, whatever the caller does with its buffers meanwhile.
                storages.append(storage.retain())
                let fd = Self.isAligned(bytes.baseAddress, piece.offset, bytes.count) && handle.directFD >= 0
                    ? handle.directFD : handle.fd
                operations.append(.write(fd: fd, from: bytes, at: Int64(piece.offset)))
            }
        }
        defer { for storage in storages { storage.release() } }
        for operation in operations { brwStats.startIO(.write, bytes: operation.buffer.count) }
        let results = await engine.submit(operations)
        for _ in operations { brwStats.endIO(.write) }
        for (operation, result) in zip(operations, results) {
            switch result {
            case .success(let written) where written < operation.buffer.count:
                // Short (rare: a signal, or a transfer cap): finish through the page cache,
                // where the remainder's alignment does not matter.
                let rest = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(operation.buffer)[written...])
                do {
                    try await engine.writeAll(fd: handle.fd, from: rest, at: operation.offset + Int64(written))
                } catch {
                    throw error.adding(context: "write object \(id) (\(id.path))")
                }
            case .success:
                break
            case .failure(let error):
                throw error.adding(context: "write object \(id) (\(id.path))")
            }
        }
        return committer.assign()
    }

    /// Reads up to `length` bytes of object `id` at `offset`: short at end of file, zeros in
    /// holes.  The engine reads straight into the returned buffer's memory; a read longer than
    /// `readcache_max_io_mb` (or any aligned one with `directIO`) goes to the disk with `O_DIRECT`.
    ///
    /// `mayBlock`: the caller may wait for the disk on its own thread (nothing queues behind
    /// it). A small read (at most `blockingReadLimit`) that misses the page cache is then read
    /// with `pread` here instead of through the engine, whose completion costs a wake-up of
    /// its reaper and another of the caller (two of the four a cold 4 KiB read paid).
    public func read(_ id: OSTObjectID, offset: UInt64, length: Int,
                     mayBlock: Bool = false) async throws(LustreError) -> ByteBuffer {
        try checkOpen()
        guard length >= 0, length <= Self.maxReadLength else {
            throw LustreError.invalid("read object \(id): length \(length) (0...\(Self.maxReadLength))")
        }
        try checkRange(id, offset, UInt64(length), "read")
        let handle = try handle(for: id)
        if length == 0 { return allocator.buffer(capacity: 0) }
        let direct = handle.directFD >= 0 && (options.directIO || length > readCacheMaxIOMB.value << 20)
        // O_DIRECT wants an aligned start, length and address: read the covering aligned span
        // into an aligned spot of the buffer and expose only the asked-for bytes (no copy).
        let alignedOffset = direct ? offset & ~UInt64(4095) : offset
        let head = Int(offset - alignedOffset)
        let span = direct ? (head + length + 4095) & ~4095 : length
        var buffer = allocator.buffer(capacity: span + (direct ? 4096 : 0))
        // Mutable access first: it makes the storage unique, so it cannot move under the kernel.
        let base = buffer.withVeryUnsafeMutableBytes { $0.baseAddress! }
        let storage = buffer.withVeryUnsafeBytesWithStorageManagement { _, storage in storage.retain() }
        defer { storage.release() }
        let start = direct ? (4096 - Int(bitPattern: base) % 4096) % 4096 : 0
        let target = UnsafeMutableRawBufferPointer(start: base + start, count: span)
        var done = 0
        // At the end of the object a read stops short; the engine is then not asked again.
        var atEnd = false
        if !direct {
            // Bytes already in the page cache are copied here, on the caller's thread: no trip to
            // the engine's threads and back. RWF_NOWAIT makes the kernel stop (EAGAIN, or a short
            // count) where it would wait for the disk; the engine reads the rest.
            var vector = iovec(iov_base: target.baseAddress, iov_len: span)
            let n = preadv2(handle.fd, &vector, 1, off_t(offset), RWF_NOWAIT)
            if n > 0 {
                // Counted as one file I/O only when it moved bytes; a refusal is no I/O.
                brwStats.startIO(.read, bytes: n)
                brwStats.endIO(.read)
                done = n
            }
            if mayBlock && span <= Self.blockingReadLimit {
                while done < span {
                    brwStats.startIO(.read, bytes: span - done)
                    defer { brwStats.endIO(.read) }
                    let n = pread(handle.fd, target.baseAddress! + done, span - done, off_t(offset) + off_t(done))
                    if n < 0 && errno == EINTR { continue }
                    guard n >= 0 else { throw LustreError.fromErrno("read object \(id) (\(id.path))") }
                    if n == 0 {
                        atEnd = true
                        break
                    }
                    done += n
                }
            }
        }
        do throws(LustreError) {
            while done < span && !atEnd {
                brwStats.startIO(.read, bytes: span - done)
                defer { brwStats.endIO(.read) }
                let n = try await engine.read(fd: direct ? handle.directFD : handle.fd,
                                              into: UnsafeMutableRawBufferPointer(rebasing: target[done...]),
                                              at: Int64(alignedOffset) + Int64(done))
                done += n
                // A short O_DIRECT read ends at EOF, and the next offset may be unaligned.
                if n == 0 || (direct && n % 4096 != 0) { break }
            }
        } catch {
            throw error.adding(context: "read object \(id) (\(id.path))")
        }
        let end = Swift.min(done, head + length)
        buffer.moveWriterIndex(to: start + Swift.max(end, 0))
        buffer.moveReaderIndex(to: start + Swift.min(head, end))
        return buffer
    }

    /// Frees the bytes of object `id` in `[start, end)`, keeping its size (`PUNCH_HOLE`); with
    /// `end == UInt64.max`, truncates it to `start` instead.  Returns the transno.
    /// The largest read `read(mayBlock:)` waits for on the caller's thread: a short I/O's worth
    /// and more (a disk read of a few pages), never a bulk stream's megabytes.
    static let blockingReadLimit = 64 << 10
    /// The most bytes `write(mayBlock:)` writes on the caller's thread: short I/O and small
    /// bulk, into the page cache.
    static let blockingWriteLimit = 64 << 10

    public func punch(_ id: OSTObjectID, start: UInt64, end: UInt64) async throws(LustreError) -> UInt64 {
        try checkOpen()
        guard start <= end else { throw LustreError.invalid("punch object \(id): start \(start) > end \(end)") }
        let handle = try handle(for: id)
        if end == UInt64.max {
            try checkRange(id, start, 0, "punch")
            guard ftruncate(handle.fd, off_t(start)) == 0 else {
                throw LustreError.fromErrno("punch object \(id) (\(id.path)) at \(start)")
            }
        } else {
            try checkRange(id, start, end - start, "punch")
            if end > start {
                let mode: FallocateMode = [.keepSize, .punchHole]
                guard Glibc.fallocate(handle.fd, mode.rawValue, off_t(start), off_t(end - start)) == 0 else {
                    throw LustreError.fromErrno("punch object \(id) (\(id.path)) [\(start), \(end))")
                }
            }
        }
        return committer.assign()
    }

    /// Allocates the blocks of object `id` in `[start, end)` (`fallocate(2)`): the object grows to
    /// `end` unless `keepSize`. Returns the transno.
    public func fallocate(_ id: OSTObjectID, start: UInt64, end: UInt64, keepSize: Bool) async throws(LustreError) -> UInt64 {
        try checkOpen()
        guard start < end else { throw LustreError.invalid("fallocate object \(id): empty range [\(start), \(end))") }
        try checkRange(id, start, end - start, "fallocate")
        let handle = try handle(for: id)
        let mode: FallocateMode = keepSize ? .keepSize : []
        guard Glibc.fallocate(handle.fd, mode.rawValue, off_t(start), off_t(end - start)) == 0 else {
            throw LustreError.fromErrno("fallocate object \(id) (\(id.path)) [\(start), \(end))")
        }
        return committer.assign()
    }

    /// The next data (`data`) or hole of object `id` at or after `offset`, as `lseek(2)`'s
    /// `SEEK_DATA`/`SEEK_HOLE` on the object file: `ENXIO` for data past the last, and the end of
    /// the object counts as a hole (`offset` past it: `offset`).
    public func seek(_ id: OSTObjectID, offset: UInt64, data: Bool) throws(LustreError) -> UInt64 {
        try checkOpen()
        try checkRange(id, offset, 0, "seek")
        let handle = try handle(for: id)
        let found = lseek(handle.fd, off_t(offset), data ? SEEK_DATA : SEEK_HOLE)
        if found >= 0 { return UInt64(found) }
        if errno == ENXIO && !data { return offset }
        throw LustreError.fromErrno("seek \(data ? "data" : "hole") of object \(id) (\(id.path)) from \(offset)")
    }

    /// Refuses, before a byte goes, a write of `total` bytes the volume may have no room for (as
    /// Lustre's OFD refuses a write without grant): one failing midway would leave a part of it,
    /// which may extend the object. Far from full this costs one `statfs` (`fstatvfs`). Near full, a write
    /// that stays within the object's allocated bytes (an overwrite of a file without holes)
    /// needs no room and goes on.
    private func checkSpace(_ fd: Int32, _ pieces: [(offset: UInt64, data: ByteBuffer)], total: Int,
                            reserved: UInt64, volume: OSDStatfs?, _ id: OSTObjectID) throws(LustreError) {
        guard total > 0, let volume = volume ?? (try? statfs()) else { return }
        let available = volume.availableBytes
        // The extent tree and block rounding take a little beyond the bytes themselves.
        let (needed, overflow) = (UInt64(total) + UInt64(total) / 64 + Self.spaceMargin).addingReportingOverflow(reserved)
        guard overflow || available < needed else { return }
        var st = Glibc.stat()
        if fstat(fd, &st) == 0, st.st_blocks * 512 >= (st.st_size + 4095) & ~4095,
           pieces.allSatisfy({ $0.offset + UInt64($0.data.readableBytes) <= UInt64(st.st_size) }) {
            return
        }
        throw LustreError(errno: ENOSPC, "write of \(total) bytes to object \(id): \(available) bytes available, "
                          + "\(reserved) of them granted to clients")
    }

    /// Bytes kept free beyond a write's own (`checkSpace`).
    static let spaceMargin: UInt64 = 256 << 10

    /// Space and inodes of the volume.
    public func statfs() throws(LustreError) -> OSDStatfs {
        var st = statvfs()
        guard fstatvfs(rootFD, &st) == 0 else { throw LustreError.fromErrno("statfs \(root)") }
        return OSDStatfs(blockSize: UInt64(st.f_frsize), blocks: UInt64(st.f_blocks),
                         blocksFree: UInt64(st.f_bfree), blocksAvailable: UInt64(st.f_bavail),
                         files: UInt64(st.f_files), filesFree: UInt64(st.f_ffree),
                         nameLength: UInt32(truncatingIfNeeded: st.f_namemax))
    }

    // MARK: Internals

    private func checkOpen() throws(LustreError) {
        if closed.load(ordering: .relaxed) { throw LustreError(errno: ESHUTDOWN, "OSD \(root) is closed") }
    }

    /// Offsets are unsigned on the wire; what the kernel cannot address (2^63 and beyond) or
    /// Lustre would not store (beyond `maxObjectSize`) is EFBIG, arithmetic overflow EINVAL.
    private func checkRange(_ id: OSTObjectID, _ offset: UInt64, _ length: UInt64, _ what: String) throws(LustreError) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow {
            throw LustreError.invalid("\(what) object \(id): offset \(offset) + length \(length) overflows")
        }
        if end > Self.maxObjectSize {
            throw LustreError(errno: EFBIG, "\(what) object \(id): offset \(offset) + length \(length) beyond \(Self.maxObjectSize)")
        }
    }

    private static func isAligned(_ address: UnsafeRawPointer?, _ offset: UInt64, _ count: Int) -> Bool {
        guard let address else { return false }
        return Int(bitPattern: address) % 4096 == 0 && offset % 4096 == 0 && count % 4096 == 0
    }

    /// The open handle of `id`, from the cache or opened now.
    func handle(for id: OSTObjectID) throws(LustreError) -> OSDObjectHandle {
        if let handle = cache.lookup(id) { return handle }
        let fd = try OSDFiles.open(id.path, in: rootFD, flags: O_RDWR, what: "object \(id)")
        return cache.insert(id, OSDObjectHandle(fd: fd, directFD: openDirect(id)))
    }

    /// An `O_DIRECT` descriptor of `id` if direct I/O is on and the filesystem allows it, else -1.
    private func openDirect(_ id: OSTObjectID) -> Int32 {
        guard options.directIO || options.directWrites, !directRefused.load(ordering: .relaxed) else { return -1 }
        let fd = openat(rootFD, id.path, O_RDWR | O_DIRECT | O_CLOEXEC)
        if fd < 0 && errno == EINVAL && !directRefused.exchange(true, ordering: .relaxed) {
            CWARN("OSD \(root): O_DIRECT refused by the filesystem; bulk I/O goes through the page cache")
        }
        return fd
    }

    /// Creates the file of `id` (its `d*` directory on first need) and returns it open.
    private func createFile(_ id: OSTObjectID, exclusive: Bool) throws(LustreError) -> Int32 {
        let flags = O_RDWR | O_CREAT | (exclusive ? O_EXCL : 0)
        for attempt in 0..<2 {
            let fd = openat(rootFD, id.path, flags | O_CLOEXEC, mode_t(0o666))
            if fd >= 0 { return fd }
            let error = errno
            if error == ENOENT && attempt == 0 {
                try OSDFiles.makeDirectories("O/\(id.sequence)/d\(id.objectID % 32)", in: rootFD)
                continue
            }
            throw LustreError(errno: error, "create object \(id) (\(id.path))")
        }
        throw LustreError(errno: ENOENT, "create object \(id) (\(id.path))")
    }

    private func apply(_ attributes: ObdAttributes, to fd: Int32, _ id: OSTObjectID) throws(LustreError) {
        let valid = attributes.valid
        func fail(_ what: String) -> LustreError { LustreError.fromErrno("setattr object \(id) (\(id.path)): \(what)") }
        if valid.contains(.size) {
            guard attributes.size <= Self.maxObjectSize else {
                throw LustreError(errno: EFBIG, "setattr object \(id): size \(attributes.size) beyond \(Self.maxObjectSize)")
            }
            guard ftruncate(fd, off_t(attributes.size)) == 0 else { throw fail("size \(attributes.size)") }
        }
        if valid.contains(.mode) {
            guard fchmod(fd, mode_t(attributes.mode & 0o7777)) == 0 else { throw fail("mode") }
        }
        if !valid.isDisjoint(with: [.uid, .gid]) {
            let uid = valid.contains(.uid) ? uid_t(attributes.uid) : uid_t.max
            let gid = valid.contains(.gid) ? gid_t(attributes.gid) : gid_t.max
            guard fchown(fd, uid, gid) == 0 else { throw fail("owner") }
        }
        // After the truncate, which would otherwise overwrite the mtime just set.
        if !valid.isDisjoint(with: [.atime, .mtime]) {
            let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)  // UTIME_OMIT
            var times = (valid.contains(.atime) ? timespec(tv_sec: Int(attributes.atime), tv_nsec: 0) : omit,
                         valid.contains(.mtime) ? timespec(tv_sec: Int(attributes.mtime), tv_nsec: 0) : omit)
            let rc = withUnsafePointer(to: &times) { pair in
                pair.withMemoryRebound(to: timespec.self, capacity: 2) { futimens(fd, $0) }
            }
            guard rc == 0 else { throw fail("times") }
        }
        if valid.contains(.fid) {
            try writeFilterFID(OSDFilterFID(parent: attributes.parentFID, stripeIndex: attributes.stripeIndex,
                                            stripeCount: attributes.stripeCount), to: fd, id)
        }
    }

    private func writeFilterFID(_ ff: OSDFilterFID, to fd: Int32, _ id: OSTObjectID) throws(LustreError) {
        let bytes = ff.encoded()
        while true {
            let user = userXattr.load(ordering: .relaxed)
            let name = user ? OSDFilterFID.userName : OSDFilterFID.trustedName
            let error = bytes.withUnsafeBytes { OSDXattr.set(fd, name, $0) }
            if error == 0 { return }
            if !user && (error == EPERM || error == EOPNOTSUPP || error == EACCES) {
                if !userXattr.exchange(true, ordering: .relaxed) {
                    CWARN("OSD \(root): trusted.* xattrs refused (\(error)); object FIDs go to \(OSDFilterFID.userName)")
                }
                continue
            }
            throw LustreError(errno: error, "setattr object \(id) (\(id.path)): set \(name)")
        }
    }

    private func readFilterFID(_ fd: Int32) -> OSDFilterFID? {
        let names = userXattr.load(ordering: .relaxed)
            ? [OSDFilterFID.userName, OSDFilterFID.trustedName]
            : [OSDFilterFID.trustedName, OSDFilterFID.userName]
        var bytes = [UInt8](repeating: 0, count: 64)
        for name in names {
            let n = bytes.withUnsafeMutableBytes { OSDXattr.get(fd, name, into: $0) }
            if n > 0 {
                return bytes.withUnsafeBytes { OSDFilterFID(decoding: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            }
        }
        return nil
    }
}
