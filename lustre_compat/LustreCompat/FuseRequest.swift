internal import CFuse3
import Glibc

/// One request from the kernel, to be answered exactly once with one of the `reply` calls.
///
/// It is a plain value so a handler may capture it in a Swift `Task` and answer from there (the
/// libfuse loop thread returns at once and reads the next request); libfuse's reply functions are
/// thread-safe.
public struct FuseRequest: @unchecked Sendable {
    let raw: fuse_req_t

    init(_ raw: fuse_req_t) { self.raw = raw }

    /// Who asks: the calling process's fsuid, fsgid and pid.
    public var caller: (uid: UInt32, gid: UInt32, pid: Int32) {
        let context = fuse_req_ctx(raw)!.pointee
        return (context.uid, context.gid, context.pid)
    }

    /// The calling process's supplementary groups (from `/proc/PID/task/PID/status`); empty if
    /// the process is gone or the kernel does not say.
    public func supplementaryGroups() -> [UInt32] {
        var groups = [gid_t](repeating: 0, count: 64)
        var count = fuse_req_getgroups(raw, Int32(groups.count), &groups)
        if count > groups.count {
            groups = [gid_t](repeating: 0, count: Int(count))
            count = fuse_req_getgroups(raw, Int32(groups.count), &groups)
        }
        guard count > 0 else { return [] }
        return Array(groups.prefix(Int(min(count, Int32(groups.count)))))
    }

    /// Whether the kernel has interrupted this request (the caller got a signal).
    public var isInterrupted: Bool { fuse_req_interrupted(raw) != 0 }

    /// Fails the request with `errno` (0 means success for requests that carry no data).
    public func reply(error errno: Int32) { _ = fuse_reply_err(raw, errno) }

    /// For requests with nothing to say (forget): releases the request.
    public func replyNone() { fuse_reply_none(raw) }

    public func reply(entry: FuseEntry) {
        var parameter = entry.parameter
        _ = fuse_reply_entry(raw, &parameter)
    }

    public func reply(attributes: FuseAttributes, timeout: Double) {
        var st = attributes.stat
        _ = fuse_reply_attr(raw, &st, timeout)
    }

    public func reply(open: FuseOpenReply) {
        var info = fuse_file_info()
        open.fill(&info)
        _ = fuse_reply_open(raw, &info)
    }

    public func reply(create entry: FuseEntry, open: FuseOpenReply) {
        var parameter = entry.parameter
        var info = fuse_file_info()
        open.fill(&info)
        _ = fuse_reply_create(raw, &parameter, &info)
    }

    /// Answers a read, `getxattr` or `listxattr` with bytes (copied before this returns).
    public func reply(data: UnsafeRawBufferPointer) {
        _ = fuse_reply_buf(raw, data.baseAddress?.assumingMemoryBound(to: CChar.self), data.count)
    }

    public func reply(bytes: [UInt8]) {
        bytes.withUnsafeBytes { reply(data: $0) }
    }

    /// Answers a write with the number of bytes written.
    public func reply(written count: Int) { _ = fuse_reply_write(raw, count) }

    public func reply(statfs: FuseStatfs) {
        var st = statfs.statvfs
        _ = fuse_reply_statfs(raw, &st)
    }

    /// Answers a `getxattr`/`listxattr` size probe (asked with size 0).
    public func reply(xattrSize count: Int) { _ = fuse_reply_xattr(raw, count) }

    public func reply(readlink target: String) { _ = fuse_reply_readlink(raw, target) }

    /// Answers an `lseek` with the offset found.
    public func reply(seek offset: UInt64) { _ = fuse_reply_lseek(raw, off_t(offset)) }
}
