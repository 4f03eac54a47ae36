import LibCFS
import NIOCore

/// One directory entry as `readdir` returns it (Lustre's `lu_dirent`): the name, the FID it
/// names, its `DT_*` type and the cookie to resume the listing after it.
public struct MDTDirEntry: Sendable, Equatable {
    public var name: String
    public var fid: LustreFID
    /// `DT_REG` 8, `DT_DIR` 4, `DT_LNK` 10, ... (`DT_UNKNOWN` 0).
    public var type: UInt8
    /// Passing this cookie to the next `readdir` continues after this entry.
    public var cookie: UInt64

    /// Longest name (`NAME_MAX`).
    public static let maxNameLength = 255

    public init(name: String, fid: LustreFID, type: UInt8, cookie: UInt64) {
        self.name = name
        self.fid = fid
        self.type = type
        self.cookie = cookie
    }

    /// FID (16), cookie (8), type (1), name length (2), name bytes.
    public func encode(into buffer: inout ByteBuffer) {
        fid.encode(into: &buffer)
        buffer.writeInteger(cookie, endianness: .little)
        buffer.writeInteger(type)
        buffer.writeInteger(UInt16(name.utf8.count), endianness: .little)
        buffer.writeString(name)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let fid = try LustreFID(decoding: &buffer)
        guard let cookie = buffer.readInteger(endianness: .little, as: UInt64.self),
              let type = buffer.readInteger(as: UInt8.self),
              let length = buffer.readInteger(endianness: .little, as: UInt16.self)
        else { throw .protocolError("truncated directory entry") }
        guard length > 0, Int(length) <= Self.maxNameLength else {
            throw .protocolError("directory entry name of \(length) bytes")
        }
        guard let bytes = buffer.readBytes(length: Int(length)) else {
            throw .protocolError("directory entry name of \(length) bytes is truncated")
        }
        guard let name = String(validating: bytes, as: UTF8.self) else {
            throw .protocolError("directory entry name is not valid UTF-8")
        }
        self.init(name: name, fid: fid, type: type, cookie: cookie)
    }
}
