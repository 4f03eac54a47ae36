import Glibc
import LibCFS

/// `lov_objid` on the MDT root, as Lustre keeps it: an array of UInt64 little-endian indexed by
/// OST index, each the last object id the MDT handed out on that OST (0: none yet).
///
/// Written whole to `lov_objid.tmp`, `fdatasync`ed, renamed over `lov_objid` and the directory
/// `fsync`ed, so a crash leaves either the old or the new array, never a mix.
enum LODObjectIDFile {
    static let name = "lov_objid"
    /// OST indexes above this are refused (Lustre's LOV_ALL_STRIPES bound).
    static let maxOSTIndex: UInt32 = 0xfffe

    /// Reads the array; a missing file is an empty array (a new MDT).
    static func read(root: String) throws(LustreError) -> [UInt64] {
        let path = "\(root)/\(name)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return [] }
            throw LustreError.fromErrno("open \(path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("stat \(path)") }
        let size = Int(st.st_size)
        guard size % 8 == 0, size / 8 <= Int(maxOSTIndex) + 1 else {
            throw LustreError(errno: EUCLEAN, "\(path): \(size) bytes is not an array of OST object ids")
        }
        var values = [UInt64](repeating: 0, count: size / 8)
        var done = 0
        while done < size {
            let got = values.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw got < 0 ? LustreError.fromErrno("read \(path)") : LustreError(errno: EIO, "short read of \(path)") }
            done += got
        }
        return values.map { UInt64(littleEndian: $0) }
    }

    /// Replaces the array durably. Blocking: call it on an OS thread.
    static func write(root: String, _ values: [UInt64]) -> LustreError? {
        let path = "\(root)/\(name)"
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return LustreError.fromErrno("create \(temporary)") }
        let bytes = values.map(\.littleEndian)
        let size = bytes.count * 8
        let written = bytes.withUnsafeBytes { size == 0 ? 0 : Glibc.write(fd, $0.baseAddress, size) }
        guard written == size, fdatasync(fd) == 0 else {
            let error = written < 0 || written == size ? LustreError.fromErrno("write \(temporary)")
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
