internal import CFuse3
import Glibc

/// A `setattr` request: which attributes to change (`chmod`, `chown`, `truncate`, `utimes`) and
/// their new values; values whose bit is absent are meaningless.
public struct FuseSetattr: Hashable, Sendable {
    /// The attributes to change (`FUSE_SET_ATTR_*`).
    public struct Valid: OptionSet, Hashable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let mode = Valid(rawValue: UInt32(FUSE_SET_ATTR_MODE))
        public static let uid = Valid(rawValue: UInt32(FUSE_SET_ATTR_UID))
        public static let gid = Valid(rawValue: UInt32(FUSE_SET_ATTR_GID))
        public static let size = Valid(rawValue: UInt32(FUSE_SET_ATTR_SIZE))
        public static let atime = Valid(rawValue: UInt32(FUSE_SET_ATTR_ATIME))
        public static let mtime = Valid(rawValue: UInt32(FUSE_SET_ATTR_MTIME))
        /// Set atime to the server's current time.
        public static let atimeNow = Valid(rawValue: UInt32(FUSE_SET_ATTR_ATIME_NOW))
        /// Set mtime to the server's current time.
        public static let mtimeNow = Valid(rawValue: UInt32(FUSE_SET_ATTR_MTIME_NOW))
        public static let ctime = Valid(rawValue: UInt32(FUSE_SET_ATTR_CTIME))
    }

    public var valid: Valid
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var atime: FuseTime
    public var mtime: FuseTime
    public var ctime: FuseTime

    init(_ st: Glibc.stat, valid: Int32) {
        self.valid = Valid(rawValue: UInt32(bitPattern: valid))
        mode = st.st_mode
        uid = st.st_uid
        gid = st.st_gid
        size = UInt64(clamping: st.st_size)
        atime = FuseTime(st.st_atim)
        mtime = FuseTime(st.st_mtim)
        ctime = FuseTime(st.st_ctim)
    }
}
