import LibCFS
import NIOCore

/// The optional second buffer of an `OST_CREATE`: with it the request precreates a batch of
/// objects in the obdo's sequence (as the MDS's OSP does), without it one object of the obdo's id
/// is created. The reply carries the count actually made and the obdo the last id.
public struct OSTPrecreateCount: Equatable, Sendable {
    public var count: UInt32

    public static let wireSize = 8
    /// Objects one precreate may ask for (`OST_MAX_PRECREATE`).
    public static let maximum: UInt32 = 20_000

    public init(count: UInt32) { self.count = count }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(count, endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: Self.wireSize)
        encode(into: &buffer)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.wireSize,
              let count = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated precreate count") }
        buffer.moveReaderIndex(forwardBy: 4)
        self.count = count
    }
}
