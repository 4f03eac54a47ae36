import LibCFS
import NIOCore

/// Checksums of bulk data as they travel in PtlRPC messages; the wire value
/// is the `OBD_CKSUM_*` bit, which `ChecksumType`'s raw value already is.
enum BulkChecksum {
    /// The checksum type a message announces, or nil when bulk is unchecked.
    static func type(of message: PtlRPCMessage) -> ChecksumType? {
        ChecksumType(rawValue: message.bulkChecksumType)
    }

    static func wireValue(_ type: ChecksumType) -> UInt32 { type.rawValue }

    static func compute(_ type: ChecksumType, _ data: ByteBuffer) -> UInt32 {
        data.withUnsafeReadableBytes { type.checksum($0) }
    }

    /// The checksum of the concatenation of `parts` (a bulk gathered from several buffers).
    static func compute(_ type: ChecksumType, _ parts: [ByteBuffer]) -> UInt32 {
        if parts.count == 1 { return compute(type, parts[0]) }
        return withReadableBytes(parts[...], []) { type.checksum($0) }
    }

    /// Runs `body` with every part's readable bytes at once (each stays valid only inside its
    /// own `withUnsafeReadableBytes`, hence the nesting).
    private static func withReadableBytes(_ parts: ArraySlice<ByteBuffer>, _ gathered: [UnsafeRawBufferPointer],
                                          _ body: ([UnsafeRawBufferPointer]) -> UInt32) -> UInt32 {
        guard let first = parts.first else { return body(gathered) }
        return first.withUnsafeReadableBytes { bytes in
            withReadableBytes(parts.dropFirst(), gathered + [bytes], body)
        }
    }
}
