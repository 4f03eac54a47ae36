internal import CFuse3
import Glibc

/// A `readdir` answer being filled: entries in the kernel's `fuse_dirent` form, up to the size the
/// kernel asked for. Each entry carries the offset to resume *after* it (a directory cookie), which
/// the kernel hands back as `offset` in the next `readdir`.
public struct FuseDirectoryBuffer: ~Copyable {
    private let request: FuseRequest
    private let storage: UnsafeMutableRawPointer
    /// Bytes the kernel accepts in one answer.
    public let capacity: Int
    /// Bytes filled so far.
    public private(set) var count = 0

    /// An empty buffer for an answer of at most `capacity` bytes to `request`.
    public init(for request: FuseRequest, capacity: Int) {
        self.request = request
        self.capacity = max(0, capacity)
        storage = .allocate(byteCount: max(1, self.capacity), alignment: 8)
    }

    deinit { storage.deallocate() }

    /// Appends one entry; false (and nothing added) once it does not fit.
    /// - Parameters:
    ///   - inode: the entry's inode number (`d_ino`).
    ///   - mode: its file type bits (only `S_IFMT` is used).
    ///   - nextOffset: where a later `readdir` resumes after this entry (non-zero).
    public mutating func add(name: String, inode: UInt64, mode: UInt32, nextOffset: UInt64) -> Bool {
        var st = Glibc.stat()
        st.st_ino = UInt(inode)
        st.st_mode = mode
        let remaining = capacity - count
        let needed = name.withCString { cName in
            fuse_add_direntry(request.raw, (storage + count).assumingMemoryBound(to: CChar.self), remaining,
                              cName, &st, off_t(Int64(bitPattern: nextOffset)))
        }
        guard needed <= remaining else { return false }
        count += needed
        return true
    }

    /// Sends the entries (none means end of directory) and consumes the buffer.
    public consuming func reply() {
        _ = fuse_reply_buf(request.raw, storage.assumingMemoryBound(to: CChar.self), count)
    }
}
