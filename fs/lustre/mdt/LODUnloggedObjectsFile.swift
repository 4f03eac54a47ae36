import Glibc
import LibCFS

/// `lov_objid_unlogged` on the MDT root: object id ranges handed out to creates whose MDT log
/// record was not yet written when `lov_objid` was last written (and, until the MDT finishes
/// its log replay, the ids handed out since the previous start). At the next start, every id of
/// these ranges that the MDT's log replay does not note in use is an orphan: LOD destroys it.
///
/// Format: records of 24 bytes, little-endian: OST index (UInt32), zero (UInt32), first id
/// (UInt64), last id (UInt64). Written like `lov_objid` (temporary file, fdatasync, rename,
/// directory fsync).
enum LODUnloggedObjectsFile {
    static let name = "lov_objid_unlogged"
    static let recordSize = 24

    /// Reads the ranges; a missing file is none.
    static func read(root: String) throws(LustreError) -> [UInt32: [ClosedRange<UInt64>]] {
        let path = "\(root)/\(name)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return [:] }
            throw LustreError.fromErrno("open \(path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("stat \(path)") }
        let size = Int(st.st_size)
        guard size % recordSize == 0, size <= 64 << 20 else {
            throw LustreError(errno: EUCLEAN, "\(path): \(size) bytes is not a list of object id ranges")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw got < 0 ? LustreError.fromErrno("read \(path)") : LustreError(errno: EIO, "short read of \(path)") }
            done += got
        }
        var ranges: [UInt32: [ClosedRange<UInt64>]] = [:]
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < size {
                let index = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                let first = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                let last = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
                if first <= last, index <= LODObjectIDFile.maxOSTIndex { ranges[index, default: []].append(first...last) }
                offset += recordSize
            }
        }
        return ranges
    }

    /// Replaces the list durably (removes the file when empty). Blocking: call it on an OS thread.
    static func write(root: String, _ ranges: [(index: UInt32, range: ClosedRange<UInt64>)]) -> LustreError? {
        let path = "\(root)/\(name)"
        if ranges.isEmpty {
            guard unlink(path) == 0 || errno == ENOENT else { return LustreError.fromErrno("remove \(path)") }
            return nil
        }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return LustreError.fromErrno("create \(temporary)") }
        var bytes = [UInt8](repeating: 0, count: ranges.count * recordSize)
        bytes.withUnsafeMutableBytes { raw in
            for (n, entry) in ranges.enumerated() {
                raw.storeBytes(of: entry.index.littleEndian, toByteOffset: n * recordSize, as: UInt32.self)
                raw.storeBytes(of: entry.range.lowerBound.littleEndian, toByteOffset: n * recordSize + 8, as: UInt64.self)
                raw.storeBytes(of: entry.range.upperBound.littleEndian, toByteOffset: n * recordSize + 16, as: UInt64.self)
            }
        }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fdatasync(fd) == 0 else {
            let error = written < 0 || written == bytes.count ? LustreError.fromErrno("write \(temporary)")
                                                              : LustreError(errno: EIO, "short write of \(temporary)")
            close(fd)
            return error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { return LustreError.fromErrno("rename \(temporary)") }
        let dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return LustreError.fromErrno("open \(root)") }
        defer { close(dfd) }
        return fsync(dfd) == 0 ? nil : LustreError.fromErrno("fsync \(root)")
    }
}
