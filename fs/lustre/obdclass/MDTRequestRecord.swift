#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore

/// One MDT request's record, the first buffer of the request: `MDTCredentials` of the caller,
/// then the operation's fields. For `MDS_REINT` operations the record is preceded by its
/// `MDTReintOpcode` (4 bytes), as Lustre's `mdt_rec_reint` starts with `rr_opcode`.
public protocol MDTRequestRecord: Sendable, Equatable {
    static var opcode: MDTOpcode { get }
    /// The sub-opcode of an `MDS_REINT` operation, nil for other opcodes.
    static var reint: MDTReintOpcode? { get }
    var credentials: MDTCredentials { get }
    /// Writes the fields (without the reint sub-opcode).
    func encode(into buffer: inout ByteBuffer)
    /// Reads the fields (the reint sub-opcode already consumed); refuses stray bytes.
    init(decoding buffer: inout ByteBuffer) throws(LustreError)
}

extension MDTRequestRecord {
    public static var reint: MDTReintOpcode? { nil }

    /// The request's first buffer: the reint sub-opcode if any, then the record.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        if let reint = Self.reint { buffer.writeInteger(reint.rawValue, endianness: .little) }
        encode(into: &buffer)
        return buffer
    }

    /// Decodes a request buffer made by `encoded()`, checking the reint sub-opcode.
    public init(decodingRequest buffer: ByteBuffer) throws(LustreError) {
        var body = buffer
        if let reint = Self.reint {
            let sub: UInt32 = try body.readWireInteger("reint opcode")
            guard sub == reint.rawValue else { throw .protocolError("reint opcode \(sub) where \(reint) was expected") }
        }
        try self.init(decoding: &body)
        try body.expectWireEnd("\(Self.opcode) record")
    }
}

extension ByteBuffer {
    /// Reads a directory entry name: 1...255 bytes of UTF-8 (`ENAMETOOLONG` above).
    mutating func readWireName(_ what: String = "name") throws(LustreError) -> String {
        guard let length = readInteger(endianness: .little, as: UInt32.self) else {
            throw .protocolError("truncated length of \(what)")
        }
        guard length <= MDTWireLimits.maxNameLength else {
            throw LustreError(errno: ENAMETOOLONG, "\(what) of \(length) bytes (at most \(MDTWireLimits.maxNameLength))")
        }
        guard length > 0 else { throw .invalid("empty \(what)") }
        guard let bytes = readBytes(length: Int(length)) else { throw .protocolError("\(what) is truncated") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .protocolError("\(what) is not valid UTF-8")
        }
        return text
    }

    mutating func readWireFID(_ what: String) throws(LustreError) -> LustreFID {
        guard readableBytes >= LustreFID.wireSize else { throw .protocolError("truncated \(what)") }
        return try LustreFID(decoding: &self)
    }
}
