import LibCFS
import NIOCore

/// An OST object's identifier (`ost_id`): a sequence and an object id within
/// it. Objects live at `O/<seq>/d<oid % 32>/<oid>` on the OST.
public struct OSTObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var sequence: UInt64
    public var objectID: UInt64

    /// The sequence of objects allocated by MDT0000 (`FID_SEQ_OST_MDT0`).
    public static let mdt0Sequence: UInt64 = 0
    public static let wireSize = 16

    public init(sequence: UInt64 = OSTObjectID.mdt0Sequence, objectID: UInt64) {
        self.sequence = sequence
        self.objectID = objectID
    }

    /// Printed as Lustre's `DOSTID`: `0x0:34`.
    public var description: String { "0x\(String(sequence, radix: 16)):\(objectID)" }

    /// The object's path below the target root.
    public var path: String { "O/\(sequence)/d\(objectID % 32)/\(objectID)" }

    public static func < (lhs: OSTObjectID, rhs: OSTObjectID) -> Bool {
        (lhs.sequence, lhs.objectID) < (rhs.sequence, rhs.objectID)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(sequence, endianness: .little)
        buffer.writeInteger(objectID, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let sequence = buffer.readInteger(endianness: .little, as: UInt64.self),
              let oid = buffer.readInteger(endianness: .little, as: UInt64.self)
        else { throw .protocolError("truncated OST object id") }
        self.init(sequence: sequence, objectID: oid)
    }
}
