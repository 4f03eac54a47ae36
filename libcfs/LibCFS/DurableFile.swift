#if canImport(Glibc)
import Glibc
#endif

/// Small state files read and replaced whole (`lov_objid`, MGS configuration logs, mountdata):
/// a replacement is written to `<path>.tmp`, synced, renamed over `path`, and the directory
/// synced, so a crash leaves the old contents or the new, never a torn file. On a volume with
/// no inode (or block) left for the temporary, a file of at most `inPlaceLimit` bytes is
/// rewritten in place instead: a crash then leaves each 512-byte sector old or new (`lov_objid`'s
/// 8-byte counters stay whole), where failing would stop a full MDT from checkpointing and
/// starting. Blocking: call from an OS thread or at start-up, not from a Swift concurrency
/// thread on a hot path.
public enum DurableFile {
    /// The whole file. `ENOENT` if it is missing; `EFBIG` if it is larger than `limit`, so a
    /// damaged file cannot fill memory.
    public static func read(_ path: String, limit: Int) throws(LustreError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open \(path)") }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .fromErrno("read \(path)")
            }
            if got == 0 { return contents }
            contents += chunk[0..<got]
            guard contents.count <= limit else { throw LustreError(errno: EFBIG, "\(path) is larger than \(limit) bytes") }
        }
    }

    /// The whole file, or nil if there is none.
    public static func readIfPresent(_ path: String, limit: Int) throws(LustreError) -> [UInt8]? {
        do {
            return try read(path, limit: limit)
        } catch where error.errno == ENOENT {
            return nil
        }
    }

    /// Replaces `path` with `bytes` atomically and durably (`temporary` defaults to `<path>.tmp`;
    /// `syncDirectory` false leaves the directory's sync to a caller replacing several files).
    public static func replace(_ path: String, with bytes: [UInt8], temporary: String? = nil,
                               syncDirectory: Bool = true) throws(LustreError) {
        let temporary = temporary ?? path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let error = LustreError.fromErrno("create \(temporary)")
            if [ENOSPC, EDQUOT].contains(error.errno), bytes.count <= inPlaceLimit, try rewrite(path, with: bytes) {
                return
            }
            throw error
        }
        var failure: LustreError? = writeAll(fd, bytes) ? nil : .fromErrno("write \(temporary)")
        if failure == nil, fdatasync(fd) != 0 { failure = .fromErrno("sync \(temporary)") }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = .fromErrno("rename \(temporary) to \(path)") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        if syncDirectory { try Self.syncDirectory(of: path) }
    }

    /// Largest file `replace` rewrites in place when the volume has no room for a temporary.
    public static let inPlaceLimit = 4096

    /// Rewrites the existing `path` in place with `bytes` and syncs it; false if there is none.
    private static func rewrite(_ path: String, with bytes: [UInt8]) throws(LustreError) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return false }
            throw .fromErrno("open \(path)")
        }
        defer { close(fd) }
        guard writeAll(fd, bytes), ftruncate(fd, off_t(bytes.count)) == 0, fdatasync(fd) == 0 else {
            throw .fromErrno("rewrite \(path)")
        }
        return true
    }

    /// Writes `bytes` at the start of `fd`, through short writes and `EINTR`; false with
    /// `errno` set on an error.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if wrote < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += wrote
        }
        return true
    }

    /// Removes `path` durably; a missing file is fine.
    public static func remove(_ path: String) throws(LustreError) {
        guard unlink(path) == 0 else {
            if errno == ENOENT { return }
            throw .fromErrno("remove \(path)")
        }
        try syncDirectory(of: path)
    }

    /// `fsync`s the directory holding `path` (or `path` itself when it is a directory).
    public static func syncDirectory(of path: String) throws(LustreError) {
        var directory = path
        var st = stat()
        if stat(path, &st) != 0 || st.st_mode & S_IFMT != S_IFDIR {
            directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            if directory.isEmpty { directory = "/" }
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open \(directory)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .fromErrno("fsync \(directory)") }
    }
}
