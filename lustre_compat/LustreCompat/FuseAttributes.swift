internal import CFuse3
import Glibc

/// A timestamp as FUSE carries it: seconds and nanoseconds since the epoch.
public struct FuseTime: Hashable, Sendable {
    public var seconds: Int64
    public var nanoseconds: UInt32

    public init(seconds: Int64 = 0, nanoseconds: UInt32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    init(_ spec: timespec) {
        self.init(seconds: Int64(spec.tv_sec), nanoseconds: UInt32(clamping: spec.tv_nsec))
    }

    var timespec: Glibc.timespec { Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }
}

/// An inode's attributes in the kernel's terms (the fields of `struct stat` FUSE uses).
/// `mode` carries the file type bits (`S_IFREG`, `S_IFDIR`, …).
public struct FuseAttributes: Hashable, Sendable {
    public var inode: UInt64 = 0
    public var mode: UInt32 = 0
    public var nlink: UInt32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var rdev: UInt32 = 0
    public var size: UInt64 = 0
    /// 512-byte blocks.
    public var blocks: UInt64 = 0
    /// The preferred I/O size (`st_blksize`): tools like `cp` read and write this much at once.
    public var blockSize: UInt32 = 4096
    public var atime = FuseTime()
    public var mtime = FuseTime()
    public var ctime = FuseTime()

    public init() {}

    var stat: Glibc.stat {
        var st = Glibc.stat()
        st.st_ino = UInt(inode)
        st.st_mode = mode
        st.st_nlink = UInt(nlink)
        st.st_uid = uid
        st.st_gid = gid
        st.st_rdev = UInt(rdev)
        st.st_size = Int(clamping: size)
        st.st_blocks = Int(clamping: blocks)
        st.st_blksize = Int(blockSize)
        st.st_atim = atime.timespec
        st.st_mtim = mtime.timespec
        st.st_ctim = ctime.timespec
        return st
    }
}

/// What `lookup`, `mkdir`, `create`, … answer: the node the kernel is to remember (its lookup
/// count grows by one with each such reply), its attributes and how long both may be cached.
public struct FuseEntry: Hashable, Sendable {
    public var nodeID: UInt64
    public var generation: UInt64 = 0
    public var attributes: FuseAttributes
    /// Seconds the kernel may cache the attributes.
    public var attributeTimeout: Double
    /// Seconds the kernel may cache the name → node binding.
    public var entryTimeout: Double

    public init(nodeID: UInt64, generation: UInt64 = 0, attributes: FuseAttributes,
                attributeTimeout: Double, entryTimeout: Double) {
        self.nodeID = nodeID
        self.generation = generation
        self.attributes = attributes
        self.attributeTimeout = attributeTimeout
        self.entryTimeout = entryTimeout
    }

    /// A negative entry: "no such name", cacheable for `timeout` seconds.
    public static func negative(timeout: Double) -> FuseEntry {
        FuseEntry(nodeID: 0, attributes: FuseAttributes(), attributeTimeout: 0, entryTimeout: timeout)
    }

    var parameter: fuse_entry_param {
        var parameter = fuse_entry_param()
        parameter.ino = fuse_ino_t(nodeID)
        parameter.generation = generation
        parameter.attr = attributes.stat
        parameter.attr_timeout = attributeTimeout
        parameter.entry_timeout = entryTimeout
        return parameter
    }
}
