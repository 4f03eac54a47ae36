import LibCFS
import NIOCore

/// One piece of a bulk read or write as the client describes it (`niobuf_remote`): where in the
/// object and how long. The pieces of one RPC follow each other in its single bulk buffer.
public struct OSTNiobuf: Equatable, Sendable {
    /// Byte offset in the object.
    public var offset: UInt64
    /// Bytes in this piece.
    public var length: UInt32
    /// `OBD_BRW_*` flags; only `softSync` is interpreted.
    public var flags: UInt32

    /// `OBD_BRW_SOFT_SYNC`: the client is pinning much uncommitted data, the OST should commit soon.
    public static let softSync: UInt32 = 0x4000

    /// `sizeof(struct niobuf_remote)`.
    public static let wireSize = 16

    public init(offset: UInt64, length: UInt32, flags: UInt32 = 0) {
        self.offset = offset
        self.length = length
        self.flags = flags
    }

    /// The first byte past the piece, or nil when `offset + length` overflows.
    public var end: UInt64? {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        return overflow ? nil : end
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(offset, endianness: .little)
        buffer.writeInteger(length, endianness: .little)
        buffer.writeInteger(flags, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let offset = buffer.readInteger(endianness: .little, as: UInt64.self),
              let length = buffer.readInteger(endianness: .little, as: UInt32.self),
              let flags = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated niobuf_remote") }
        self.init(offset: offset, length: length, flags: flags)
    }

    /// The array of a BRW request's second buffer.
    public static func encode(_ niobufs: [OSTNiobuf]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: niobufs.count * wireSize)
        for niobuf in niobufs { niobuf.encode(into: &buffer) }
        return buffer
    }

    /// Decodes a whole niobuf array, refusing more than `OSTBRWLimits.maxPieces` entries before
    /// decoding any, and a length that is not a whole number of entries.
    public static func decodeArray(_ buffer: ByteBuffer) throws(LustreError) -> [OSTNiobuf] {
        var buffer = buffer
        let count = buffer.readableBytes / wireSize
        guard buffer.readableBytes % wireSize == 0, count > 0 else {
            throw .protocolError("niobuf array of \(buffer.readableBytes) bytes")
        }
        guard count <= OSTBRWLimits.maxPieces else {
            throw .invalid("\(count) niobufs in one BRW (at most \(OSTBRWLimits.maxPieces))")
        }
        var niobufs: [OSTNiobuf] = []
        niobufs.reserveCapacity(count)
        for _ in 0..<count { niobufs.append(try OSTNiobuf(decoding: &buffer)) }
        return niobufs
    }
}

/// What one BRW (bulk read/write) RPC may carry.
public enum OSTBRWLimits {
    /// Total bytes of one RPC: `max_pages_per_rpc` at its largest, 1024 pages (`PTLRPC_MAX_BRW_SIZE`).
    public static let maxBytes = 4 << 20
    /// Pieces in one RPC: one per page at most (`PTLRPC_MAX_BRW_PAGES`).
    public static let maxPieces = 1024
    /// The largest object an OST holds: ext4's limit for files with 4 KiB blocks (16 TiB less one
    /// block), as osd-ldiskfs reports `maxbytes`.
    public static let maxObjectSize: UInt64 = (16 << 40) - 4096
    /// `OBD_OBJECT_EOF`: "to the end of the object" in punch and sync ranges.
    public static let objectEOF: UInt64 = .max
}
