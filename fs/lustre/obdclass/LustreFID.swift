import LibCFS
import NIOCore

/// A Lustre file identifier, `[seq:oid:ver]`: names every file and directory
/// of the filesystem for its lifetime, independently of its path.
public struct LustreFID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var sequence: UInt64
    public var objectID: UInt32
    public var version: UInt32

    /// First sequence handed to normal files (`FID_SEQ_NORMAL`).
    public static let firstNormalSequence: UInt64 = 0x2_0000_0400
    public static let zero = LustreFID(sequence: 0, objectID: 0, version: 0)
    public static let wireSize = 16

    public init(sequence: UInt64, objectID: UInt32, version: UInt32 = 0) {
        self.sequence = sequence
        self.objectID = objectID
        self.version = version
    }

    /// Printed as Lustre prints it: `[0x200000400:0x1:0x0]`.
    public var description: String {
        "[0x\(String(sequence, radix: 16)):0x\(String(objectID, radix: 16)):0x\(String(version, radix: 16))]"
    }

    /// Parses `[0x200000400:0x1:0x0]`, with or without the brackets.
    public init(parsing text: String) throws(LustreError) {
        var body = Substring(text)
        if body.hasPrefix("[") && body.hasSuffix("]") { body = body.dropFirst().dropLast() }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        func number(_ part: Substring) -> UInt64? {
            part.hasPrefix("0x") ? UInt64(part.dropFirst(2), radix: 16) : UInt64(part)
        }
        guard parts.count == 3, let sequence = number(parts[0]), let oid = number(parts[1]),
              let version = number(parts[2]), oid <= UInt32.max, version <= UInt32.max
        else { throw .invalid("invalid FID '\(text)': expected [0xSEQ:0xOID:0xVER]") }
        self.init(sequence: sequence, objectID: UInt32(oid), version: UInt32(version))
    }

    public static func < (lhs: LustreFID, rhs: LustreFID) -> Bool {
        (lhs.sequence, lhs.objectID, lhs.version) < (rhs.sequence, rhs.objectID, rhs.version)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(sequence, endianness: .little)
        buffer.writeInteger(objectID, endianness: .little)
        buffer.writeInteger(version, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let sequence = buffer.readInteger(endianness: .little, as: UInt64.self),
              let oid = buffer.readInteger(endianness: .little, as: UInt32.self),
              let version = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated FID") }
        self.init(sequence: sequence, objectID: oid, version: version)
    }
}
