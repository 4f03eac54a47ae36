import LibCFS
import NIOCore

/// The reply buffer of a bulk read (`RMF_RCS`): per requested piece, the bytes actually read,
/// fewer than asked at the end of the object. The bulk carries those bytes back to back.
public struct OSTBRWReturnCodes: Equatable, Sendable {
    public var counts: [UInt32]

    public init(counts: [UInt32]) { self.counts = counts }

    public func encode(into buffer: inout ByteBuffer) {
        for count in counts { buffer.writeInteger(count, endianness: .little) }
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: counts.count * 4)
        encode(into: &buffer)
        return buffer
    }

    /// Decodes exactly `expected` counts (one per niobuf sent); anything else is EPROTO.
    public init(decoding buffer: ByteBuffer, expected: Int) throws(LustreError) {
        var buffer = buffer
        guard expected >= 0, buffer.readableBytes == expected * 4 else {
            throw .protocolError("BRW reply with \(buffer.readableBytes / 4) return codes for \(expected) niobufs")
        }
        var counts: [UInt32] = []
        counts.reserveCapacity(expected)
        for _ in 0..<expected { counts.append(buffer.readInteger(endianness: .little)!) }
        self.counts = counts
    }
}
