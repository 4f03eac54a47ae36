internal import CExt2fs
import Glibc
import LibCFS

/// An unmounted ext2/3/4 filesystem image or device, edited through libext2fs.
///
/// What `mkfs.lustre` and `tunefs.lustre` need without mounting: the volume label
/// (`FSNAME-OSTxxxx`), and small files such as `CONFIGS/mountdata`.  Paths are absolute within
/// the volume ("/CONFIGS/mountdata"; the leading slash is optional).  Not thread-safe (libext2fs
/// is not): use one volume from one task.  Changes reach the disk at `close()` (or deinit,
/// which cannot report errors: call `close()`).
public final class Ext2Volume {
    private var fs: ext2_filsys?
    /// The image or device path.
    public let path: String
    /// Whether the volume was opened for writing.
    public let isWritable: Bool

    /// com_err keeps a process-wide list of error tables; registering ext2's once makes
    /// `error_message` say "Ext2 directory block not found" rather than "Unknown code ext2 …".
    private static let errorTable: Void = initialize_ext2_error_table()

    /// Opens the filesystem at `path`; refuses (EBUSY) a mounted one when `writable`, since
    /// writing under a mounted kernel filesystem corrupts it.
    public init(path: String, writable: Bool = false) throws(LustreError) {
        _ = Self.errorTable
        self.path = path
        self.isWritable = writable
        if writable {
            var mountFlags: Int32 = 0
            try Self.check(ext2fs_check_if_mounted(path, &mountFlags), "check mount of \(path)")
            if mountFlags & Int32(EXT2_MF_MOUNTED) != 0 {
                throw LustreError(errno: EBUSY, "\(path) is mounted")
            }
        }
        var handle: ext2_filsys?
        let flags = (writable ? EXT2_FLAG_RW : 0) | EXT2_FLAG_64BITS
        try Self.check(ext2fs_open(path, Int32(flags), 0, 0, lc_ext2_unix_io_manager(), &handle), "open \(path)")
        fs = handle
        if writable {
            // Allocating inodes and blocks needs the bitmaps in memory.
            try check(ext2fs_read_bitmaps(handle), "read bitmaps of \(path)")
        }
    }

    deinit {
        if fs != nil { _ = ext2fs_close_free(&fs) }
    }

    /// Writes back everything changed (superblock, bitmaps, inodes) and releases the volume.
    public func close() throws(LustreError) {
        guard fs != nil else { return }
        let rc = ext2fs_close_free(&fs)
        fs = nil
        try check(rc, "close \(path)")
    }

    /// The volume label (at most 16 bytes), as `e2label` shows it.
    public var label: String {
        guard let fs = fs else { return "" }
        return withUnsafeBytes(of: fs.pointee.super.pointee.s_volume_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Sets the volume label; EINVAL if longer than 16 bytes.
    public func setLabel(_ label: String) throws(LustreError) {
        let fs = try writableHandle("set label")
        let bytes = Array(label.utf8)
        guard bytes.count <= 16 else { throw LustreError.invalid("label \"\(label)\" is longer than 16 bytes") }
        withUnsafeMutableBytes(of: &fs.pointee.super.pointee.s_volume_name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: bytes)
        }
        ext2fs_mark_super_dirty(fs)
    }

    /// Whether `path` names anything on the volume.
    public func exists(_ path: String) throws(LustreError) -> Bool {
        try resolve(path) != nil
    }

    /// Creates directory `path` and any missing parents (like `mkdir -p`).
    public func mkdir(_ path: String) throws(LustreError) {
        let fs = try writableHandle("mkdir \(path)")
        var directory = ext2_ino_t(EXT2_ROOT_INO)
        for name in Self.components(path) {
            if let existing = try lookup(name, in: directory) {
                if ext2fs_check_directory(fs, existing) != 0 {
                    throw LustreError(errno: ENOTDIR, "mkdir \(path): \(name) is not a directory")
                }
                directory = existing
                continue
            }
            try withRoomIn(directory, "mkdir \(path)") { () -> errcode_t in ext2fs_mkdir(fs, directory, 0, name) }
            guard let created = try lookup(name, in: directory) else {
                throw LustreError(errno: EIO, "mkdir \(path): \(name) vanished after creation")
            }
            directory = created
        }
    }

    /// Creates or replaces regular file `path` with `bytes`; its directory must exist.
    public func write(_ path: String, _ bytes: [UInt8]) throws(LustreError) {
        let fs = try writableHandle("write \(path)")
        var names = Self.components(path)
        guard let name = names.popLast() else { throw LustreError(errno: EISDIR, "write \(path)") }
        let parentPath = "/" + names.joined(separator: "/")
        guard let parent = try resolve(parentPath) else { throw LustreError(errno: ENOENT, "write \(path): no \(parentPath)") }
        if ext2fs_check_directory(fs, parent) != 0 { throw LustreError(errno: ENOTDIR, "write \(path): \(parentPath)") }

        let ino: ext2_ino_t
        if let existing = try lookup(name, in: parent) {
            var inode = ext2_inode()
            try check(ext2fs_read_inode(fs, existing, &inode), "write \(path): read inode")
            guard inode.i_mode & 0o170000 == 0o100000 else {
                throw LustreError(errno: EISDIR, "write \(path): not a regular file")
            }
            ino = existing
        } else {
            ino = try createRegularFile(name, in: parent, context: "write \(path)")
        }

        var file: ext2_file_t?
        try check(ext2fs_file_open(fs, ino, Int32(EXT2_FILE_WRITE), &file), "write \(path): open")
        var failure: LustreError?
        // Truncate first so a shorter replacement leaves no stale tail blocks.
        var rc = ext2fs_file_set_size2(file, 0)
        if rc == 0 {
            rc = bytes.withUnsafeBytes { raw -> errcode_t in
                var done = 0
                while done < raw.count {
                    var written: UInt32 = 0
                    let chunk = UInt32(Swift.min(raw.count - done, 1 << 30))
                    let rc = ext2fs_file_write(file, raw.baseAddress! + done, chunk, &written)
                    if rc != 0 { return rc }
                    if written == 0 { return errcode_t(EIO) }
                    done += Int(written)
                }
                return 0
            }
        }
        if rc == 0 { rc = ext2fs_file_set_size2(file, ext2_off64_t(bytes.count)) }
        if rc != 0 { failure = Self.error(rc, "write \(path)") }
        let closed = ext2fs_file_close(file)
        if let failure { throw failure }
        try check(closed, "write \(path): close")
    }

    /// The contents of regular file `path`.
    public func read(_ path: String) throws(LustreError) -> [UInt8] {
        guard let fs = fs else { throw LustreError(errno: EBADF, "read \(path): volume closed") }
        guard let ino = try resolve(path) else { throw LustreError(errno: ENOENT, "read \(path)") }
        var file: ext2_file_t?
        try check(ext2fs_file_open(fs, ino, 0, &file), "read \(path): open")
        defer { _ = ext2fs_file_close(file) }
        var size: UInt64 = 0
        try check(ext2fs_file_get_lsize(file, &size), "read \(path): size")
        guard size <= UInt64(Int32.max) else { throw LustreError(errno: EFBIG, "read \(path): \(size) bytes") }
        var rc: errcode_t = 0
        let contents = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            while count < buffer.count {
                var got: UInt32 = 0
                rc = ext2fs_file_read(file, buffer.baseAddress! + count, UInt32(buffer.count - count), &got)
                if rc != 0 || got == 0 { break }
                count += Int(got)
            }
        }
        try check(rc, "read \(path)")
        guard contents.count == Int(size) else { throw LustreError(errno: EIO, "read \(path): short read") }
        return contents
    }

    // MARK: Internals

    private func writableHandle(_ what: String) throws(LustreError) -> ext2_filsys {
        guard let fs = fs else { throw LustreError(errno: EBADF, "\(what): volume closed") }
        guard isWritable else { throw LustreError(errno: EROFS, "\(what): \(path) opened read-only") }
        return fs
    }

    private static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    /// The inode `path` names, or nil if nothing does.
    private func resolve(_ path: String) throws(LustreError) -> ext2_ino_t? {
        guard let fs = fs else { throw LustreError(errno: EBADF, "lookup \(path): volume closed") }
        var ino = ext2_ino_t(0)
        let root = ext2_ino_t(EXT2_ROOT_INO)
        let rc = ext2fs_namei(fs, root, root, "/" + Self.components(path).joined(separator: "/"), &ino)
        if rc == EXT2_ET_FILE_NOT_FOUND { return nil }
        try check(rc, "lookup \(path)")
        return ino
    }

    private func lookup(_ name: String, in directory: ext2_ino_t) throws(LustreError) -> ext2_ino_t? {
        var ino = ext2_ino_t(0)
        let rc = ext2fs_lookup(fs, directory, name, Int32(name.utf8.count), nil, &ino)
        if rc == EXT2_ET_FILE_NOT_FOUND { return nil }
        try check(rc, "lookup \(name)")
        return ino
    }

    /// Runs `body`, growing `directory` by a block and retrying once if it is full.
    private func withRoomIn(_ directory: ext2_ino_t, _ context: String, _ body: () -> errcode_t) throws(LustreError) {
        var rc = body()
        if rc == EXT2_ET_DIR_NO_SPACE {
            try check(ext2fs_expand_dir(fs, directory), "\(context): expand directory")
            rc = body()
        }
        try check(rc, context)
    }

    /// Allocates, links and initialises an empty 0644 regular file, the way e2fsprogs'
    /// create_inode.c does (extent header when the volume uses extents).
    private func createRegularFile(_ name: String, in parent: ext2_ino_t, context: String) throws(LustreError) -> ext2_ino_t {
        let fs = try writableHandle(context)
        var ino = ext2_ino_t(0)
        try check(ext2fs_new_inode(fs, parent, Int32(LINUX_S_IFREG | 0o644), nil, &ino), "\(context): allocate inode")
        try withRoomIn(parent, "\(context): link") { () -> errcode_t in
            ext2fs_link(fs, parent, name, ino, Int32(EXT2_FT_REG_FILE))
        }
        ext2fs_inode_alloc_stats2(fs, ino, 1, 0)
        var inode = ext2_inode()
        inode.i_mode = UInt16(LINUX_S_IFREG | 0o644)
        inode.i_links_count = 1
        let now = UInt32(truncatingIfNeeded: time(nil))
        inode.i_atime = now
        inode.i_ctime = now
        inode.i_mtime = now
        if ext2fs_has_feature_extents(fs.pointee.super) != 0 {
            var handle: ext2_extent_handle_t?
            try check(ext2fs_extent_open2(fs, ino, &inode, &handle), "\(context): extent header")
            ext2fs_extent_free(handle)
        }
        try check(ext2fs_write_new_inode(fs, ino, &inode), "\(context): write inode")
        return ino
    }

    private func check(_ code: errcode_t, _ context: @autoclosure () -> String) throws(LustreError) {
        if code != 0 { throw Self.error(code, context()) }
    }

    private static func check(_ code: errcode_t, _ context: @autoclosure () -> String) throws(LustreError) {
        if code != 0 { throw error(code, context()) }
    }

    /// A libext2fs error code as a LustreError: system errnos pass through, the ext2 codes
    /// that have an obvious errno get it, the rest are EIO; the message is com_err's.
    private static func error(_ code: errcode_t, _ context: String) -> LustreError {
        let errno: Int32
        switch code {
        case 1..<4096: errno = Int32(code)
        case EXT2_ET_FILE_NOT_FOUND: errno = ENOENT
        case EXT2_ET_NO_DIRECTORY: errno = ENOTDIR
        case EXT2_ET_FILE_EXISTS: errno = EEXIST
        case EXT2_ET_RO_FILSYS: errno = EROFS
        case EXT2_ET_DIR_NO_SPACE, EXT2_ET_BLOCK_ALLOC_FAIL, EXT2_ET_INODE_ALLOC_FAIL: errno = ENOSPC
        case EXT2_ET_BAD_MAGIC, EXT2_ET_SB_CSUM_INVALID, EXT2_ET_UNSUPP_FEATURE, EXT2_ET_RO_UNSUPP_FEATURE:
            errno = EINVAL
        default: errno = EIO
        }
        return LustreError(errno: errno, "\(context): \(String(cString: error_message(code)))")
    }
}
