import Glibc
import LibCFS
import NIOCore
import ObdClass
import Synchronization

/// The object index (OI): FID → inode. Each FID has a record in its sequence's table
/// (`MDTObjectIndexTable`) holding the inode's ext4 file handle, so any object is opened in O(1)
/// by `open_by_handle_at` wherever renames moved it, and a freed inode reads as stale (`ESTALE`)
/// instead of aliasing a reused inode number. Opened inodes stay in an in-memory cache of
/// descriptors.
final class MDTObjectIndex: Sendable {
    /// Descriptors kept open at most by default: half the descriptor limit, at most `maxCached`; beyond, the
    /// oldest `evictionBatch` are dropped. Every lookup, getattr and create that misses costs an
    /// `open_by_handle_at` or an `openat` and xattr reads (mds-survey's lookups and getattrs of
    /// 8 000 files ran 25-45 % slower with 2 000 descriptors cached than with 10 000), so the cache
    /// should hold the working set. The limit is first raised to its hard limit, and as root the
    /// hard limit to `maxCached * 2` (within `fs.nr_open`), as an MDS started by hand inherits a
    /// shell's limit.
    static let defaultCacheCapacity: Int = {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return 128 }
        let wanted = rlim_t(2 * maxCached)
        if limit.rlim_max < wanted && geteuid() == 0 {
            var raised = limit
            raised.rlim_max = min(wanted, systemOpenLimit())
            raised.rlim_cur = raised.rlim_max
            if raised.rlim_max > limit.rlim_max && setrlimit(resource, &raised) == 0 { limit = raised }
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return max(64, min(maxCached, Int(limit.rlim_cur / 2)))
    }()


    /// The cache's bound: each descriptor pins an inode, a dentry and a file in the kernel, about
    /// 1.5 KiB, so 256 Ki of them hold ~400 MiB at most.
    static let maxCached = 262_144

    /// `fs.nr_open`, the most descriptors a process may have (1 Mi when unreadable).
    private static func systemOpenLimit() -> rlim_t {
        guard let bytes = try? DurableFile.readIfPresent("/proc/sys/fs/nr_open", limit: 32),
              let value = rlim_t(String(decoding: bytes.filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") },
                                        as: UTF8.self))
        else { return 1 << 20 }
        return value
    }

    /// Inodes kept open at most (`defaultCacheCapacity` unless set).
    let cacheCapacity: Int
    /// Inodes dropped at once from a full cache, oldest first: an eighth, but no more than 2048,
    /// as their descriptors close under the cache's lock, which every lookup takes.
    let evictionBatch: Int
    /// A descriptor of the target's root directory, for `open_by_handle_at`.
    let mountFD: Int32
    private let table: MDTObjectIndexTable
    private let cache = Mutex(Cache())
    /// The device of the target's filesystem (inode numbers are unique within it).
    private let device: UInt64

    /// Open inodes by FID, and those whose number is known by inode number, for lookups that
    /// find a name's inode with one `fstatat`: while an inode is held open here its number
    /// cannot be reused, so a name with that number is that inode.
    private struct Cache {
        var byFID: [LustreFID: MDTInode] = [:]
        var byNumber: [UInt64: MDTInode] = [:]
        /// FIDs in the order they were cached, oldest first: eviction drops the oldest. (It once
        /// dropped the first entries in `byFID`'s own order, which empties the low buckets of
        /// the hash table and packs the high ones full: lookups then probed long runs, 7% of the
        /// MDS's CPU once 16 Ki files had been created.) Forgotten FIDs stay until evicted or
        /// compacted away.
        var order = CircularBuffer<LustreFID>()

        mutating func drop(_ inode: MDTInode) {
            inode.stopCaching()
            let number = inode.inodeNumber.load(ordering: .relaxed)
            if number != 0, byNumber[number] === inode { byNumber.removeValue(forKey: number) }
        }

        /// Drops the `count` oldest cached inodes (the root stays).
        mutating func evict(_ count: Int) {
            var evicted = 0
            while evicted < count, let fid = order.popFirst() {
                guard fid != MDTFIDSequencer.rootFID, let old = byFID.removeValue(forKey: fid) else { continue }
                drop(old)
                evicted += 1
            }
        }

        /// Notes `fid` as cached now; keeps `order` within twice the capacity by removing the
        /// FIDs no longer cached and all but the newest mention of each.
        mutating func noteCached(_ fid: LustreFID, capacity: Int) {
            order.append(fid)
            guard order.count > 2 * capacity else { return }
            var seen = Set<LustreFID>(minimumCapacity: byFID.count)
            var kept: [LustreFID] = []
            kept.reserveCapacity(byFID.count)
            for fid in order.reversed() where byFID[fid] != nil && seen.insert(fid).inserted { kept.append(fid) }
            order = CircularBuffer(kept.reversed())
        }
    }

    /// Opens (creating if needed) `oi/` under the target root `rootFD`; with `migrating`, records
    /// of the first format (symlinks) move into the tables.
    init(rootFD: Int32, migrating: Bool = true, cacheCapacity: Int? = nil) throws(LustreError) {
        self.cacheCapacity = max(2, cacheCapacity ?? Self.defaultCacheCapacity)
        evictionBatch = max(1, min(self.cacheCapacity / 8, 2048))
        mountFD = rootFD
        var st = Glibc.stat()
        guard fstat(rootFD, &st) == 0 else { throw LustreError.fromErrno("stat the target root") }
        device = UInt64(st.st_dev)
        table = try MDTObjectIndexTable(rootFD: rootFD)
        if migrating { try table.migrateSymlinkBuckets() }
    }

    /// A FID as a file name (`0x<seq>:0x<oid>:0x<ver>`), for the inodes `PENDING/` and `REPLAY/`
    /// hold by FID.
    static func recordName(_ fid: LustreFID) -> String {
        "0x\(String(fid.sequence, radix: 16)):0x\(String(fid.objectID, radix: 16)):0x\(String(fid.version, radix: 16))"
    }

    /// Records that `fid` lives in the inode open at `fd` (replacing any older record).
    func insert(_ fid: LustreFID, fd: Int32) throws(LustreError) {
        let handle = try MDTSyscalls.handle(of: fd).get()
        try table.insert(fid, handle: handle)
    }

    /// Removes the record of `fid` (absent is fine) and its cached descriptor.
    func remove(_ fid: LustreFID) throws(LustreError) {
        forget(fid)
        try table.remove(fid)
    }

    /// The handle recorded for `fid`, nil without a record.
    func handle(of fid: LustreFID) throws(LustreError) -> [UInt8]? { try table.handle(of: fid) }

    /// Makes the records written so far durable (`fdatasync` of the tables written since the
    /// last call, on an OS thread).
    func sync() async throws(LustreError) {
        let dirty = table.takeDirty()
        guard !dirty.isEmpty else { return }
        let rc = await runOnOSThread(named: "mdt-sync") { () -> Int32 in
            for fd in dirty where fdatasync(fd) != 0 { return errno }
            return 0
        }
        guard rc == 0 else { throw LustreError(errno: rc, "fdatasync of the OI") }
    }

    /// The inode of `fid`: from the cache, else through its record. Nil when there is no record
    /// or the recorded inode is gone (a stale record).
    func inode(_ fid: LustreFID) throws(LustreError) -> MDTInode? {
        if let cached = cache.withLock({ $0.byFID[fid] }) { return cached }
        guard let handle = try handle(of: fid) else { return nil }
        let fd: Int32
        switch MDTSyscalls.open(handle: handle, mountFD: mountFD, flags: O_PATH | O_CLOEXEC | O_NOFOLLOW) {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.errno == ESTALE || error.errno == ENOENT { return nil }
            throw error.adding(context: "OI open \(fid)")
        }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0, st.st_nlink > 0 else {
            Glibc.close(fd)
            return nil
        }
        let type = st.st_mode & UInt32(S_IFMT)
        var held = fd
        if type == UInt32(S_IFREG) || type == UInt32(S_IFDIR),
           case .success(let readable) = MDTSyscalls.open(handle: handle, mountFD: mountFD, flags: O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW) {
            // The same inode (the handle holds its generation), open so its xattrs need no
            // procfs path walk.
            Glibc.close(fd)
            held = readable
        }
        let inode = MDTInode(fd: held, fid: fid, type: type)
        inode.inodeNumber.store(UInt64(st.st_ino), ordering: .relaxed)
        remember(inode)
        return inode
    }

    /// Inodes cached now.
    var cachedCount: Int { cache.withLock { $0.byFID.count } }

    /// Caches an inode opened by other means (lookup, create), replacing any other for its FID.
    /// The root stays (`MDTTree.root` is the one that keeps the root's values).
    func remember(_ inode: MDTInode) {
        cache.withLock { cache in
            if cache.byFID.count >= cacheCapacity { cache.evict(evictionBatch) }
            if let old = cache.byFID.updateValue(inode, forKey: inode.fid) {
                if old !== inode { cache.drop(old) }
            } else {
                cache.noteCached(inode.fid, capacity: cacheCapacity)
            }
            let number = inode.inodeNumber.load(ordering: .relaxed)
            if number != 0 { cache.byNumber[number] = inode }
        }
    }

    /// Records the inode number of `inode` (from its `stat`), so lookups find it by number.
    func note(_ inode: MDTInode, _ st: Glibc.stat) {
        guard inode.inodeNumber.load(ordering: .relaxed) == 0 else { return }
        let number = UInt64(st.st_ino)
        inode.inodeNumber.store(number, ordering: .relaxed)
        cache.withLock { cache in
            if cache.byFID[inode.fid] === inode { cache.byNumber[number] = inode }
        }
    }

    func cached(_ fid: LustreFID) -> MDTInode? { cache.withLock { $0.byFID[fid] } }

    /// The cached inode that `st` (a `stat` of some name) describes, if any.
    func cached(_ st: Glibc.stat) -> MDTInode? {
        guard UInt64(st.st_dev) == device else { return nil }
        return cache.withLock { $0.byNumber[UInt64(st.st_ino)] }
    }

    /// The FID of the cached inode numbered `number`, if any (readdir: a directory entry's
    /// number is that inode while the cache holds it open).
    func cachedFID(number: UInt64) -> LustreFID? { cache.withLock { $0.byNumber[number]?.fid } }

    func forget(_ fid: LustreFID) {
        cache.withLock { cache in
            if let old = cache.byFID.removeValue(forKey: fid) { cache.drop(old) }
        }
    }

    /// Every FID with a record (for the checker).
    func allRecords() throws(LustreError) -> [LustreFID] { try table.allRecords() }
}
