import LibCFS
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A file's or directory's attributes as the MDT reports them (the useful part of Lustre's
/// `mdt_body`). `mode` carries the file type bits (`S_IFREG`, `S_IFDIR`, `S_IFLNK`, ...).
/// For a regular file `size` and `blocks` are what the MDS knows (set at close); a client with the
/// file open merges the OST objects' sizes instead.
public struct MDTAttributes: Equatable, Sendable {
    public var fid: LustreFID = .zero
    public var mode: UInt32 = 0
    public var nlink: UInt32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var rdev: UInt32 = 0
    public var size: UInt64 = 0
    /// 512-byte blocks.
    public var blocks: UInt64 = 0
    public var atime = MDTTime()
    public var mtime = MDTTime()
    public var ctime = MDTTime()
    /// Inode flags (`FS_*_FL`), 0 for none.
    public var flags: UInt32 = 0
    /// What the MDS tells about the inode beyond its fields (0 from an MDS that tells nothing).
    public var hints: MDTAttributeHints = []

    public static let wireSize = 16 + 4 * 5 + 8 * 2 + 3 * MDTTime.wireSize + 4 + 4

    public init() {}

    public var isDirectory: Bool { mode & 0o170000 == 0o040000 }
    public var isRegular: Bool { mode & 0o170000 == 0o100000 }
    public var isSymlink: Bool { mode & 0o170000 == 0o120000 }

    public func encode(into buffer: inout ByteBuffer) {
        fid.encode(into: &buffer)
        buffer.writeInteger(mode, endianness: .little)
        buffer.writeInteger(nlink, endianness: .little)
        buffer.writeInteger(uid, endianness: .little)
        buffer.writeInteger(gid, endianness: .little)
        buffer.writeInteger(rdev, endianness: .little)
        buffer.writeInteger(size, endianness: .little)
        buffer.writeInteger(blocks, endianness: .little)
        atime.encode(into: &buffer)
        mtime.encode(into: &buffer)
        ctime.encode(into: &buffer)
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeInteger(hints.rawValue, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.wireSize else { throw .protocolError("truncated MDT attributes") }
        fid = try LustreFID(decoding: &buffer)
        mode = buffer.readInteger(endianness: .little)!
        nlink = buffer.readInteger(endianness: .little)!
        uid = buffer.readInteger(endianness: .little)!
        gid = buffer.readInteger(endianness: .little)!
        rdev = buffer.readInteger(endianness: .little)!
        size = buffer.readInteger(endianness: .little)!
        blocks = buffer.readInteger(endianness: .little)!
        atime = try MDTTime(decoding: &buffer)
        mtime = try MDTTime(decoding: &buffer)
        ctime = try MDTTime(decoding: &buffer)
        flags = buffer.readInteger(endianness: .little)!
        hints = MDTAttributeHints(rawValue: buffer.readInteger(endianness: .little)!)
    }
}

/// Facts about an inode the MDS adds to its attributes so a client need not ask for them.
public struct MDTAttributeHints: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The inode has no `security.selinux` xattr: `ls -l` asks every file for its label, and a
    /// client may answer `ENODATA` itself for as long as it trusts these attributes.
    public static let noSELinuxLabel = MDTAttributeHints(rawValue: 1 << 0)

    /// The xattr `noSELinuxLabel` speaks of.
    public static let selinuxLabelName = "security.selinux"
}

/// A timestamp with nanoseconds, as `struct timespec`.
public struct MDTTime: Hashable, Sendable, Comparable {
    public var seconds: Int64
    public var nanoseconds: UInt32

    public static let wireSize = 12

    public init(seconds: Int64 = 0, nanoseconds: UInt32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// A `stat` time (`st_atim`, `st_mtim`, `st_ctim`).
    public init(_ time: timespec) {
        self.init(seconds: Int64(time.tv_sec), nanoseconds: UInt32(time.tv_nsec))
    }

    /// The wall clock now (a client's change, a server's "now" in setattr).
    public static func now() -> MDTTime {
        let time = WallClock.now()
        return MDTTime(seconds: time.seconds, nanoseconds: UInt32(time.nanoseconds))
    }

    public static func < (lhs: MDTTime, rhs: MDTTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(seconds, endianness: .little)
        buffer.writeInteger(nanoseconds, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let seconds = buffer.readInteger(endianness: .little, as: Int64.self),
              let nanoseconds = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated timestamp") }
        guard nanoseconds < 1_000_000_000 else { throw .protocolError("timestamp with \(nanoseconds) ns") }
        self.init(seconds: seconds, nanoseconds: nanoseconds)
    }
}

/// Who asks: the caller's uid, gid and supplementary groups, sent with every MDT request so the
/// MDS enforces permissions (Lustre's `mdt_body` fsuid/fsgid/suppgids, and identity upcall).
public struct MDTCredentials: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]

    public static let root = MDTCredentials(uid: 0, gid: 0)
    /// More supplementary groups than this is a protocol error (NGROUPS_MAX is 65536; Lustre
    /// sends two and looks the rest up; we send them all, capped).
    public static let maxGroups = 1024

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// Whether the caller is in `gid`, as primary or supplementary group.
    public func isMember(of gid: UInt32) -> Bool { self.gid == gid || groups.contains(gid) }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(uid, endianness: .little)
        buffer.writeInteger(gid, endianness: .little)
        buffer.writeInteger(UInt32(groups.count), endianness: .little)
        for group in groups { buffer.writeInteger(group, endianness: .little) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let uid = buffer.readInteger(endianness: .little, as: UInt32.self),
              let gid = buffer.readInteger(endianness: .little, as: UInt32.self),
              let count = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated credentials") }
        guard count <= Self.maxGroups else { throw .protocolError("\(count) supplementary groups (at most \(Self.maxGroups))") }
        guard buffer.readableBytes >= Int(count) * 4 else { throw .protocolError("truncated group list") }
        var groups: [UInt32] = []
        groups.reserveCapacity(Int(count))
        for _ in 0..<count { groups.append(buffer.readInteger(endianness: .little)!) }
        self.init(uid: uid, gid: gid, groups: groups)
    }
}
