import Glibc

/// What a FUSE low-level filesystem answers. Called on libfuse's loop threads: an implementation
/// must not block there. It captures the `FuseRequest` in a Swift `Task` (or answers at once) and
/// returns; every request is answered exactly once (`forget` needs no answer).
///
/// Node ids are the filesystem's own (`1` is the root); `FuseEntry` replies add one to a node's
/// lookup count and `forget` takes them back. Every operation has a default that answers
/// `ENOSYS`, so a filesystem implements what it supports.
public protocol FuseOperations: AnyObject, Sendable {
    /// The kernel's INIT has been answered with `connection`'s settings; the mount serves from now on.
    func initialized(_ connection: FuseConnection)
    /// The session ended (unmounted): no request follows.
    func destroyed()

    func lookup(_ request: FuseRequest, parent: UInt64, name: String)
    /// The kernel drops `lookups` references to `node` (no answer).
    func forget(node: UInt64, lookups: UInt64)
    func getattr(_ request: FuseRequest, node: UInt64, file: FuseFileInfo?)
    func setattr(_ request: FuseRequest, node: UInt64, change: FuseSetattr, file: FuseFileInfo?)
    func readlink(_ request: FuseRequest, node: UInt64)
    func mknod(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, rdev: UInt32)
    func mkdir(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32)
    func unlink(_ request: FuseRequest, parent: UInt64, name: String)
    func rmdir(_ request: FuseRequest, parent: UInt64, name: String)
    func symlink(_ request: FuseRequest, target: String, parent: UInt64, name: String)
    /// `flags` are `renameat2`'s (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
    func rename(_ request: FuseRequest, parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32)
    func link(_ request: FuseRequest, node: UInt64, newParent: UInt64, newName: String)
    func open(_ request: FuseRequest, node: UInt64, file: FuseFileInfo)
    func create(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, file: FuseFileInfo)
    func read(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo)
    /// `data` is valid only during the call: copy what outlives it.
    func write(_ request: FuseRequest, node: UInt64, data: UnsafeRawBufferPointer, offset: UInt64, file: FuseFileInfo)
    /// One `close(2)` of a descriptor of the open file (there may be several, after `dup`).
    func flush(_ request: FuseRequest, node: UInt64, file: FuseFileInfo)
    /// The last reference to the open file is gone.
    func release(_ request: FuseRequest, node: UInt64, file: FuseFileInfo)
    func fsync(_ request: FuseRequest, node: UInt64, dataOnly: Bool, file: FuseFileInfo)
    /// `fallocate(2)`: `mode` as the syscall's (`FALLOC_FL_*`); `ENOSYS` makes the kernel answer
    /// `EOPNOTSUPP` from then on.
    func fallocate(_ request: FuseRequest, node: UInt64, mode: Int32, offset: UInt64, length: UInt64, file: FuseFileInfo)
    /// `lseek(2)` with `SEEK_DATA` (`data`) or `SEEK_HOLE` (the kernel answers the other
    /// whences itself): answer `reply(seek:)`; `ENOSYS` makes the kernel treat the whole file as
    /// data from then on.
    func lseek(_ request: FuseRequest, node: UInt64, offset: UInt64, data: Bool, file: FuseFileInfo)
    func opendir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo)
    /// Answer with a `FuseDirectoryBuffer` of at most `size` bytes, resuming after `offset`.
    func readdir(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo)
    func releasedir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo)
    func statfs(_ request: FuseRequest, node: UInt64)
    func setxattr(_ request: FuseRequest, node: UInt64, name: String, value: [UInt8], flags: Int32)
    /// `size` 0 asks for the value's size (`reply(xattrSize:)`); otherwise answer the value if it
    /// fits, else `ERANGE`.
    func getxattr(_ request: FuseRequest, node: UInt64, name: String, size: Int)
    /// Names, each NUL-terminated; `size` as for `getxattr`.
    func listxattr(_ request: FuseRequest, node: UInt64, size: Int)
    func removexattr(_ request: FuseRequest, node: UInt64, name: String)
    /// `access(2)`: may the caller `mask` (`R_OK`, `W_OK`, `X_OK`; 0 for existence)? Answer 0 or
    /// `EACCES`. Left `ENOSYS`, the kernel grants every later `access` without asking.
    func access(_ request: FuseRequest, node: UInt64, mask: Int32)
}

extension FuseOperations {
    public func initialized(_ connection: FuseConnection) {}
    public func destroyed() {}
    public func lookup(_ request: FuseRequest, parent: UInt64, name: String) { request.reply(error: ENOSYS) }
    public func forget(node: UInt64, lookups: UInt64) {}
    public func getattr(_ request: FuseRequest, node: UInt64, file: FuseFileInfo?) { request.reply(error: ENOSYS) }
    public func setattr(_ request: FuseRequest, node: UInt64, change: FuseSetattr, file: FuseFileInfo?) { request.reply(error: ENOSYS) }
    public func readlink(_ request: FuseRequest, node: UInt64) { request.reply(error: ENOSYS) }
    public func mknod(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, rdev: UInt32) { request.reply(error: ENOSYS) }
    public func mkdir(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32) { request.reply(error: ENOSYS) }
    public func unlink(_ request: FuseRequest, parent: UInt64, name: String) { request.reply(error: ENOSYS) }
    public func rmdir(_ request: FuseRequest, parent: UInt64, name: String) { request.reply(error: ENOSYS) }
    public func symlink(_ request: FuseRequest, target: String, parent: UInt64, name: String) { request.reply(error: ENOSYS) }
    public func rename(_ request: FuseRequest, parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) { request.reply(error: ENOSYS) }
    public func link(_ request: FuseRequest, node: UInt64, newParent: UInt64, newName: String) { request.reply(error: ENOSYS) }
    public func open(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func create(_ request: FuseRequest, parent: UInt64, name: String, mode: UInt32, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func read(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func write(_ request: FuseRequest, node: UInt64, data: UnsafeRawBufferPointer, offset: UInt64, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func flush(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) { request.reply(error: 0) }
    public func release(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) { request.reply(error: 0) }
    public func fsync(_ request: FuseRequest, node: UInt64, dataOnly: Bool, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func fallocate(_ request: FuseRequest, node: UInt64, mode: Int32, offset: UInt64, length: UInt64,
                          file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func lseek(_ request: FuseRequest, node: UInt64, offset: UInt64, data: Bool, file: FuseFileInfo) {
        request.reply(error: ENOSYS)
    }
    public func opendir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) { request.reply(open: FuseOpenReply(handle: 0)) }
    public func readdir(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) { request.reply(error: ENOSYS) }
    public func releasedir(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) { request.reply(error: 0) }
    public func statfs(_ request: FuseRequest, node: UInt64) { request.reply(error: ENOSYS) }
    public func setxattr(_ request: FuseRequest, node: UInt64, name: String, value: [UInt8], flags: Int32) { request.reply(error: ENOSYS) }
    public func getxattr(_ request: FuseRequest, node: UInt64, name: String, size: Int) { request.reply(error: ENOSYS) }
    public func listxattr(_ request: FuseRequest, node: UInt64, size: Int) { request.reply(error: ENOSYS) }
    public func removexattr(_ request: FuseRequest, node: UInt64, name: String) { request.reply(error: ENOSYS) }
    public func access(_ request: FuseRequest, node: UInt64, mask: Int32) { request.reply(error: ENOSYS) }
}
