import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The object index (OI): FID → inode. Each FID has a record `oi/<oid % 256>/<seq:oid:ver>`, a
/// fast symlink whose target is the inode's ext4 file handle in hex (inode number and
/// generation), so any object is opened in O(1) by `open_by_handle_at` wherever renames moved it,
/// and a freed inode reads as stale (`ESTALE`) instead of aliasing a reused inode number.
/// Opened inodes stay in an in-memory cache of `O_PATH` descriptors.
final class MDTObjectIndex: Sendable {
    static let bucketCount = 256
    /// Descriptors kept open at most: half the descriptor limit (raised to its hard limit
    /// first; the other half is for connections, logs and OSTs), at most 16384; beyond, an eighth
    /// of the cache is dropped. Every lookup, getattr and create that misses costs an
    /// `open_by_handle_at` or an `openat` and xattr reads, so the cache should hold the working set.
    static let cacheCapacity: Int = {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 128 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return max(64, min(16384, Int(limit.rlim_cur / 2)))
    }()

    /// A descriptor of the target's root directory, for `open_by_handle_at`.
    let mountFD: Int32
    private let buckets: [Int32]
    private let cache = Mutex(Cache())
    /// The device of the target's filesystem (inode numbers are unique within it).
    private let device: UInt64

    /// Open inodes by FID, and those whose number is known by inode number, for lookups that
    /// find a name's inode with one `fstatat`: while an inode is held open here its number
    /// cannot be reused, so a name with that number is that inode.
    private struct Cache {
        var byFID: [LustreFID: MDTInode] = [:]
        var byNumber: [UInt64: MDTInode] = [:]

        mutating func drop(_ inode: MDTInode) {
            inode.stopCaching()
            let number = inode.inodeNumber.load(ordering: .relaxed)
            if number != 0, byNumber[number] === inode { byNumber.removeValue(forKey: number) }
        }
    }

    /// Opens (creating if needed) `oi/` under the target root `rootFD`.
    init(rootFD: Int32) throws(LustreError) {
        mountFD = rootFD
        var st = Glibc.stat()
        guard fstat(rootFD, &st) == 0 else { throw LustreError.fromErrno("stat the target root") }
        device = UInt64(st.st_dev)
        if mkdirat(rootFD, "oi", 0o700) != 0 && errno != EEXIST { throw LustreError.fromErrno("mkdir oi") }
        var fds: [Int32] = []
        for bucket in 0..<Self.bucketCount {
            let name = "oi/" + Self.hex2(bucket)
            if mkdirat(rootFD, name, 0o700) != 0 && errno != EEXIST {
                let error = LustreError.fromErrno("mkdir \(name)")
                fds.forEach { _ = Glibc.close($0) }
                throw error
            }
            let fd = openat(rootFD, name, O_PATH | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                let error = LustreError.fromErrno("open \(name)")
                fds.forEach { _ = Glibc.close($0) }
                throw error
            }
            fds.append(fd)
        }
        buckets = fds
    }

    deinit { buckets.forEach { _ = Glibc.close($0) } }

    static func hex2(_ value: Int) -> String {
        let text = String(value, radix: 16)
        return text.count == 1 ? "0" + text : text
    }

    /// The record's name inside its bucket.
    static func recordName(_ fid: LustreFID) -> String {
        "0x\(String(fid.sequence, radix: 16)):0x\(String(fid.objectID, radix: 16)):0x\(String(fid.version, radix: 16))"
    }

    static func bucket(of fid: LustreFID) -> Int { Int(fid.objectID % UInt32(bucketCount)) }

    private func bucketFD(_ fid: LustreFID) -> Int32 { buckets[Self.bucket(of: fid)] }

    /// Records that `fid` lives in the inode open at `fd` (replacing any older record).
    func insert(_ fid: LustreFID, fd: Int32) throws(LustreError) {
        let handle = try MDTSyscalls.handle(of: fd).get()
        let target = handle.map { Self.hex2(Int($0)) }.joined()
        let name = Self.recordName(fid)
        let dir = bucketFD(fid)
        if symlinkat(target, dir, name) == 0 { return }
        guard errno == EEXIST else { throw LustreError.fromErrno("OI insert \(fid)") }
        guard unlinkat(dir, name, 0) == 0 || errno == ENOENT, symlinkat(target, dir, name) == 0 else {
            throw LustreError.fromErrno("OI replace \(fid)")
        }
    }

    /// Removes the record of `fid` (absent is fine) and its cached descriptor.
    func remove(_ fid: LustreFID) throws(LustreError) {
        forget(fid)
        guard unlinkat(bucketFD(fid), Self.recordName(fid), 0) == 0 || errno == ENOENT else {
            throw LustreError.fromErrno("OI remove \(fid)")
        }
    }

    /// The handle recorded for `fid`, nil without a record.
    func handle(of fid: LustreFID) throws(LustreError) -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: 300)
        let n = readlinkat(bucketFD(fid), Self.recordName(fid), &buffer, buffer.count)
        if n < 0 {
            if errno == ENOENT { return nil }
            throw LustreError.fromErrno("OI lookup \(fid)")
        }
        let text = buffer[0..<n].map { UInt8(bitPattern: $0) }
        guard text.count % 2 == 0 else { throw .protocolError("OI record of \(fid) is corrupt") }
        var bytes: [UInt8] = []
        var i = 0
        while i < text.count {
            guard let byte = UInt8(String(decoding: text[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw .protocolError("OI record of \(fid) is corrupt")
            }
            bytes.append(byte)
            i += 2
        }
        return bytes
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

    /// Caches an inode opened by other means (lookup, create), replacing any other for its FID.
    /// The root stays (`MDTTree.root` is the one that keeps the root's values).
    func remember(_ inode: MDTInode) {
        cache.withLock { cache in
            if cache.byFID.count >= Self.cacheCapacity {
                var evicted: [LustreFID] = []
                for (fid, old) in cache.byFID where fid != MDTFIDSequencer.rootFID {
                    cache.drop(old)
                    evicted.append(fid)
                    if evicted.count >= Self.cacheCapacity / 8 { break }
                }
                for fid in evicted { cache.byFID.removeValue(forKey: fid) }
            }
            if let old = cache.byFID.updateValue(inode, forKey: inode.fid), old !== inode { cache.drop(old) }
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

    /// Every FID with a record (for the checker), bucket by bucket.
    func allRecords() throws(LustreError) -> [LustreFID] {
        var fids: [LustreFID] = []
        for fd in buckets {
            let dirFD = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dirFD >= 0, let dir = fdopendir(dirFD) else { throw LustreError.fromErrno("open OI bucket") }
            defer { closedir(dir) }
            while let entry = Glibc.readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                if let fid = try? LustreFID(parsing: name) { fids.append(fid) }
            }
        }
        return fids
    }
}
