import CLibCFS

/// CRC32 as zlib and IEEE 802.3 define it (`checksum_type` crc32).
///
/// Slice-by-8 tables; kept for peers and tools that ask for crc32.
public struct CRC32: Sendable, Hashable {
    @usableFromInline var register: UInt32 = 0xFFFF_FFFF

    /// A checksum of zero bytes so far.
    @inlinable public init() {}

    /// Adds `bytes` to the checksum.
    @inlinable
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        register = CRC32.advance(register, bytes)
    }

    /// Adds `bytes` to the checksum.
    @inlinable
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        withBytes(of: bytes) { update($0) }
    }

    /// The checksum of everything added so far.
    @inlinable public var value: UInt32 { ~register }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~advance(0xFFFF_FFFF, bytes)
    }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        withBytes(of: bytes) { checksum($0) }
    }

    @usableFromInline
    static func advance(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return register }
        return cfs_crc32_sw(register, base, bytes.count)
    }
}
