import LibCFS
import NIOCore

/// An attribute change sent to the MDT (the setattr part of Lustre's `mdt_rec_setattr`): which
/// fields to change (`valid`) and their new values. `atimeNow`/`mtimeNow` ask for the server's
/// current time instead of the given value (`utimensat` with `UTIME_NOW`, or `touch`).
public struct MDTSetattr: Sendable, Equatable {
    /// Which fields of the change apply (Lustre's `MDS_ATTR_*` bits where they exist).
    public struct Valid: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let mode = Valid(rawValue: 0x1)
        public static let uid = Valid(rawValue: 0x2)
        public static let gid = Valid(rawValue: 0x4)
        public static let size = Valid(rawValue: 0x8)
        public static let atime = Valid(rawValue: 0x10)
        public static let mtime = Valid(rawValue: 0x20)
        public static let ctime = Valid(rawValue: 0x40)
        public static let atimeNow = Valid(rawValue: 0x80)
        public static let mtimeNow = Valid(rawValue: 0x100)
        /// Drop the setuid bit, and the setgid bit of a group-executable file, of a regular
        /// file (Lustre's `MDS_ATTR_KILL_SUID | MDS_ATTR_KILL_SGID`): sent by the client when a
        /// user other than root writes or truncates it, as the kernel does for a local file.
        /// Allowed to the owner and to whoever may write the file.
        public static let killSUIDGID = Valid(rawValue: 0x200)
        /// Every bit this version knows; others are refused when decoding.
        public static let known = Valid(rawValue: 0x3ff)
    }

    public var valid: Valid
    /// Permission bits (07777); the file type bits are ignored.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var atime: MDTTime
    public var mtime: MDTTime
    public var ctime: MDTTime

    public static let wireSize = 4 * 4 + 8 + 3 * MDTTime.wireSize

    public init(valid: Valid = [], mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0,
                atime: MDTTime = MDTTime(), mtime: MDTTime = MDTTime(), ctime: MDTTime = MDTTime()) {
        self.valid = valid
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(valid.rawValue, endianness: .little)
        buffer.writeInteger(mode, endianness: .little)
        buffer.writeInteger(uid, endianness: .little)
        buffer.writeInteger(gid, endianness: .little)
        buffer.writeInteger(size, endianness: .little)
        atime.encode(into: &buffer)
        mtime.encode(into: &buffer)
        ctime.encode(into: &buffer)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.wireSize else { throw .protocolError("truncated setattr") }
        let bits: UInt32 = buffer.readInteger(endianness: .little)!
        guard Valid(rawValue: bits).subtracting(.known).isEmpty else {
            throw .protocolError("setattr with unknown valid bits 0x\(String(bits, radix: 16))")
        }
        valid = Valid(rawValue: bits)
        mode = buffer.readInteger(endianness: .little)!
        uid = buffer.readInteger(endianness: .little)!
        gid = buffer.readInteger(endianness: .little)!
        size = buffer.readInteger(endianness: .little)!
        atime = try MDTTime(decoding: &buffer)
        mtime = try MDTTime(decoding: &buffer)
        ctime = try MDTTime(decoding: &buffer)
    }
}
