import LibCFS
import NIOCore

/// An object's attributes as they travel in OST RPCs (Lustre's `obdo`): which
/// fields are meaningful is said by `valid`, with Lustre's `OBD_MD_*` bits.
public struct ObdAttributes: Equatable, Sendable {
    public struct Valid: OptionSet, Sendable, Hashable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let id = Valid(rawValue: 0x0000_0001)        // OBD_MD_FLID
        public static let atime = Valid(rawValue: 0x0000_0002)     // OBD_MD_FLATIME
        public static let mtime = Valid(rawValue: 0x0000_0004)     // OBD_MD_FLMTIME
        public static let ctime = Valid(rawValue: 0x0000_0008)     // OBD_MD_FLCTIME
        public static let size = Valid(rawValue: 0x0000_0010)      // OBD_MD_FLSIZE
        public static let blocks = Valid(rawValue: 0x0000_0020)    // OBD_MD_FLBLOCKS
        public static let blockSize = Valid(rawValue: 0x0000_0040) // OBD_MD_FLBLKSZ
        public static let mode = Valid(rawValue: 0x0000_0080)      // OBD_MD_FLMODE
        public static let uid = Valid(rawValue: 0x0000_0200)       // OBD_MD_FLUID
        public static let gid = Valid(rawValue: 0x0000_0400)       // OBD_MD_FLGID
        public static let flags = Valid(rawValue: 0x0000_0800)     // OBD_MD_FLFLAGS
        public static let fid = Valid(rawValue: 0x0000_4000)       // OBD_MD_FLFID: parent FID and stripe
        public static let cksum = Valid(rawValue: 0x0010_0000)     // OBD_MD_FLCKSUM
        public static let groupID = Valid(rawValue: 0x0100_0000)   // OBD_MD_FLGROUP
    }

    public var valid: Valid = []
    public var id = OSTObjectID(objectID: 0)
    /// The file this object is a stripe of, and which stripe (`filter_fid`).
    public var parentFID = LustreFID.zero
    public var stripeIndex: UInt32 = 0
    public var stripeCount: UInt32 = 0
    public var size: UInt64 = 0
    /// 512-byte blocks allocated.
    public var blocks: UInt64 = 0
    public var blockSize: UInt32 = 0
    /// Seconds since the epoch.
    public var atime: Int64 = 0
    public var mtime: Int64 = 0
    public var ctime: Int64 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var mode: UInt32 = 0
    public var flags: UInt32 = 0

    public static let wireSize = 8 + 16 + 16 + 4 + 4 + 8 + 8 + 4 + 8 * 3 + 4 * 5

    public init() {}

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(valid.rawValue, endianness: .little)
        id.encode(into: &buffer)
        parentFID.encode(into: &buffer)
        buffer.writeInteger(stripeIndex, endianness: .little)
        buffer.writeInteger(stripeCount, endianness: .little)
        buffer.writeInteger(size, endianness: .little)
        buffer.writeInteger(blocks, endianness: .little)
        buffer.writeInteger(blockSize, endianness: .little)
        buffer.writeInteger(atime, endianness: .little)
        buffer.writeInteger(mtime, endianness: .little)
        buffer.writeInteger(ctime, endianness: .little)
        buffer.writeInteger(uid, endianness: .little)
        buffer.writeInteger(gid, endianness: .little)
        buffer.writeInteger(mode, endianness: .little)
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.wireSize,
              let valid = buffer.readInteger(endianness: .little, as: UInt64.self)
        else { throw .protocolError("truncated obdo") }
        self.valid = Valid(rawValue: valid)
        self.id = try OSTObjectID(decoding: &buffer)
        self.parentFID = try LustreFID(decoding: &buffer)
        // Lengths were checked above, so these reads cannot fail.
        stripeIndex = buffer.readInteger(endianness: .little)!
        stripeCount = buffer.readInteger(endianness: .little)!
        size = buffer.readInteger(endianness: .little)!
        blocks = buffer.readInteger(endianness: .little)!
        blockSize = buffer.readInteger(endianness: .little)!
        atime = buffer.readInteger(endianness: .little)!
        mtime = buffer.readInteger(endianness: .little)!
        ctime = buffer.readInteger(endianness: .little)!
        uid = buffer.readInteger(endianness: .little)!
        gid = buffer.readInteger(endianness: .little)!
        mode = buffer.readInteger(endianness: .little)!
        flags = buffer.readInteger(endianness: .little)!
        _ = buffer.readInteger(endianness: .little, as: UInt32.self)
    }
}
