import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The object index's storage: one table file per FID sequence, `oi/0x<seq>`, holding a
/// fixed-size record per object id at `oid × recordSize`, so an insert, a removal or a lookup is
/// one `pwrite`/`pread` in the page cache (ldiskfs keeps its OI in IAM index files for the same
/// reason). A record names the inode by its ext4 file handle (handle type, inode number,
/// generation): `open_by_handle_at` opens it wherever renames moved it, and a freed inode reads
/// as stale (`ESTALE`) instead of aliasing a reused inode number. Sequences are `width` object
/// ids wide, so a table is at most a few MiB and mostly sparse.
///
/// Records are file data, not journalled metadata: a power loss can lose a record written after
/// the last checkpoint while the name it indexes survives. That is safe because the checkpoint
/// `syncfs`es the tables before it trims the MDT log, and replaying a create record writes its OI
/// record again (`MDTTree`'s create finds its own labelled inode by name).
final class MDTObjectIndexTable: Sendable {
    /// Bytes per record: magic, FID version, handle length, handle (type first).
    static let recordSize = 64
    static let maximumHandle = recordSize - 12
    private static let magic: UInt32 = 0x4F49_5231 // "OIR1"

    private let directoryFD: Int32
    private let tables = Mutex<[UInt64: Int32]>([:])
    /// Tables written since the last `takeDirty()`.
    private let dirty = Mutex<Set<Int32>>([])

    /// Opens (creating if needed) `oi/` under the target root `rootFD`.
    init(rootFD: Int32) throws(LustreError) {
        if mkdirat(rootFD, "oi", 0o700) != 0 && errno != EEXIST { throw LustreError.fromErrno("mkdir oi") }
        directoryFD = openat(rootFD, "oi", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw LustreError.fromErrno("open oi") }
    }

    deinit {
        tables.withLock { $0.values.forEach { _ = Glibc.close($0) } }
        Glibc.close(directoryFD)
    }

    static func tableName(_ sequence: UInt64) -> String { "0x" + String(sequence, radix: 16) }

    /// A bucket directory of the first OI format: two hex digits.
    static func bucketName(_ bucket: Int) -> String {
        let text = String(bucket, radix: 16)
        return text.count == 1 ? "0" + text : text
    }

    /// The table of `sequence`, opened once; nil if it does not exist and `create` is false.
    private func table(_ sequence: UInt64, create: Bool) throws(LustreError) -> Int32? {
        if let fd = tables.withLock({ $0[sequence] }) { return fd }
        let fd = openat(directoryFD, Self.tableName(sequence), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o600)
        guard fd >= 0 else {
            if errno == ENOENT && !create { return nil }
            throw LustreError.fromErrno("open OI table \(Self.tableName(sequence))")
        }
        return tables.withLock { tables in
            if let raced = tables[sequence] {
                Glibc.close(fd)
                return raced
            }
            tables[sequence] = fd
            return fd
        }
    }

    private static func offset(_ fid: LustreFID) -> off_t { off_t(fid.objectID) * off_t(recordSize) }

    /// Records `handle` (as `MDTSyscalls.handle(of:)` gives it) for `fid`, replacing any record.
    func insert(_ fid: LustreFID, handle: [UInt8]) throws(LustreError) {
        guard handle.count <= Self.maximumHandle else {
            throw LustreError(errno: EOVERFLOW, "file handle of \(handle.count) bytes does not fit an OI record")
        }
        let fd = try table(fid.sequence, create: true)!
        var record = [UInt8](repeating: 0, count: Self.recordSize)
        record.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Self.magic.littleEndian, as: UInt32.self)
            raw.storeBytes(of: fid.version.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt16(handle.count).littleEndian, toByteOffset: 8, as: UInt16.self)
            handle.withUnsafeBytes { raw.baseAddress!.advanced(by: 12).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        guard pwrite(fd, record, record.count, Self.offset(fid)) == record.count else {
            throw LustreError.fromErrno("OI insert \(fid)")
        }
        dirty.withLock { _ = $0.insert(fd) }
    }

    /// The descriptors of the tables written since the last call (to `fdatasync`; they stay open
    /// as long as this table).
    func takeDirty() -> [Int32] {
        dirty.withLock { dirty in
            defer { dirty.removeAll(keepingCapacity: true) }
            return Array(dirty)
        }
    }

    /// Removes the record of `fid` (absent is fine).
    func remove(_ fid: LustreFID) throws(LustreError) {
        guard let fd = try table(fid.sequence, create: false) else { return }
        let zeros = [UInt8](repeating: 0, count: Self.recordSize)
        guard pwrite(fd, zeros, zeros.count, Self.offset(fid)) == zeros.count else {
            throw LustreError.fromErrno("OI remove \(fid)")
        }
        dirty.withLock { _ = $0.insert(fd) }
    }

    /// The handle recorded for `fid`, nil without a record (or with one of another version).
    func handle(of fid: LustreFID) throws(LustreError) -> [UInt8]? {
        guard let fd = try table(fid.sequence, create: false) else { return nil }
        var record = [UInt8](repeating: 0, count: Self.recordSize)
        let n = pread(fd, &record, record.count, Self.offset(fid))
        guard n >= 0 else { throw LustreError.fromErrno("OI lookup \(fid)") }
        guard n == record.count, let (version, handle) = try Self.decode(record[...], fid) else { return nil }
        return version == fid.version ? handle : nil
    }

    /// The FID version and handle in a record, nil for an empty slot; `fid` names it in errors.
    private static func decode(_ record: ArraySlice<UInt8>, _ fid: @autoclosure () -> LustreFID) throws(LustreError)
        -> (version: UInt32, handle: [UInt8])? {
        let (magic, version, length) = record.withUnsafeBytes { raw in
            (UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)),
             UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
             Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self))))
        }
        guard magic != 0 else { return nil }
        guard magic == Self.magic, length >= 4, length <= maximumHandle else {
            throw .protocolError("OI record of \(fid()) is corrupt")
        }
        let start = record.startIndex + 12
        return (version, Array(record[start..<start + length]))
    }

    /// Every FID with a record, table by table (for the checker), skipping the tables' holes.
    func allRecords() throws(LustreError) -> [LustreFID] {
        let sequences = try MDTTree.names(in: directoryFD).compactMap { name in
            name.hasPrefix("0x") ? UInt64(name.dropFirst(2), radix: 16) : nil
        }
        var fids: [LustreFID] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        for sequence in sequences.sorted() {
            guard let fd = try table(sequence, create: false) else { continue }
            var position = lseek(fd, 0, SEEK_DATA)
            while position >= 0 {
                position -= position % off_t(Self.recordSize)
                let n = pread(fd, &chunk, chunk.count, position)
                guard n > 0 else { break }
                for at in stride(from: 0, to: n - Self.recordSize + 1, by: Self.recordSize) {
                    let oid = UInt32(truncatingIfNeeded: (Int64(position) + Int64(at)) / Int64(Self.recordSize))
                    let slot = chunk[at..<at + Self.recordSize]
                    if let (version, _) = try Self.decode(slot, LustreFID(sequence: sequence, objectID: oid)) {
                        fids.append(LustreFID(sequence: sequence, objectID: oid, version: version))
                    }
                }
                position = lseek(fd, position + off_t(n), SEEK_DATA)
            }
        }
        return fids
    }

    /// Moves the records of the first OI format (`oi/<oid % 256>/0x<seq>:0x<oid>:0x<ver>` fast
    /// symlinks whose target is the handle in hex, in 256 buckets made together) into the
    /// tables, then removes them: targets formatted before the tables keep their index.
    func migrateSymlinkBuckets() throws(LustreError) {
        guard faccessat(directoryFD, Self.bucketName(0), F_OK, 0) == 0 else { return }
        var migrated = 0
        var records: [(bucket: String, name: String)] = []
        for bucket in (0..<256).map(Self.bucketName) {
            let bucketFD = openat(directoryFD, bucket, O_PATH | O_DIRECTORY | O_CLOEXEC)
            guard bucketFD >= 0 else { continue }
            defer { Glibc.close(bucketFD) }
            for name in try MDTTree.names(in: bucketFD) {
                records.append((bucket, name))
                guard let fid = try? LustreFID(parsing: name) else { continue }
                var buffer = [UInt8](repeating: 0, count: 300)
                let n = buffer.withUnsafeMutableBufferPointer { raw in
                    raw.withMemoryRebound(to: CChar.self) { readlinkat(bucketFD, name, $0.baseAddress!, $0.count) }
                }
                guard n > 0, n % 2 == 0 else { continue }
                let handle = stride(from: 0, to: n, by: 2).compactMap { UInt8(String(decoding: buffer[$0..<$0 + 2], as: UTF8.self), radix: 16) }
                guard handle.count == n / 2 else { continue }
                try insert(fid, handle: handle)
                migrated += 1
            }
        }
        // The tables are durable before the symlinks go.
        try tables.withLock { tables throws(LustreError) in
            for fd in tables.values where fsync(fd) != 0 { throw LustreError.fromErrno("fsync OI table") }
        }
        for (bucket, name) in records { _ = unlinkat(directoryFD, bucket + "/" + name, 0) }
        for bucket in (0..<256).map(Self.bucketName) { _ = unlinkat(directoryFD, bucket, AT_REMOVEDIR) }
        CDEBUG(.info, "OI: moved \(migrated) records from symlink buckets into tables")
    }
}
