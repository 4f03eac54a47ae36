#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore

/// `MDS_SETXATTR`: sets extended attribute `name` of `fid` (`flags`: `XATTR_CREATE`/`XATTR_REPLACE`).
public struct MDTSetxattrRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.setxattr
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var name: String
    public var value: [UInt8]
    public var flags: Int32

    public init(credentials: MDTCredentials, fid: LustreFID, name: String, value: [UInt8], flags: Int32) {
        self.credentials = credentials
        self.fid = fid
        self.name = name
        self.value = value
        self.flags = flags
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        buffer.writeWireString(name)
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeWireBytes(value)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        name = try buffer.readXattrName()
        flags = try buffer.readWireInteger("xattr flags")
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            throw .protocolError("truncated xattr value length")
        }
        guard length <= MDTWireLimits.maxXattrValueLength else {
            throw LustreError(errno: E2BIG, "xattr value of \(length) bytes (at most \(MDTWireLimits.maxXattrValueLength))")
        }
        value = try buffer.readWireBytes(max: MDTWireLimits.maxXattrValueLength, "xattr value")
    }
}

extension ByteBuffer {
    /// An xattr name: 1...255 bytes (`ERANGE` above, as `setxattr(2)` answers).
    mutating func readXattrName() throws(LustreError) -> String {
        guard let length = getInteger(at: readerIndex, endianness: .little, as: UInt32.self) else {
            throw .protocolError("truncated xattr name length")
        }
        guard length <= MDTWireLimits.maxXattrNameLength else {
            throw LustreError(errno: ERANGE, "xattr name of \(length) bytes (at most \(MDTWireLimits.maxXattrNameLength))")
        }
        let name = try readWireString(max: MDTWireLimits.maxXattrNameLength, "xattr name")
        guard !name.isEmpty else { throw .invalid("empty xattr name") }
        return name
    }
}
