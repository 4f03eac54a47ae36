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
        var running = ChecksumType.Running(type)
        for part in parts { part.withUnsafeReadableBytes { running.update($0) } }
        return running.value
    }
}
