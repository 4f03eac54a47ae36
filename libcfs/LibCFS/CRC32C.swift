import CLibCFS

/// CRC32C (Castagnoli), Lustre's default bulk checksum (`checksum_type` crc32c).
///
/// Uses the CPU's `crc32` instruction (x86-64 SSE4.2) with three interleaved
/// streams when the CPU has it, and slice-by-8 tables otherwise; both give
/// the same value.
///
/// ```swift
/// var crc = CRC32C()
/// crc.update(header)
/// crc.update(payload)
/// let value = crc.value
/// ```
public struct CRC32C: Sendable, Hashable {
    /// Whether this CPU computes CRC32C with a dedicated instruction.
    public static let isHardwareAccelerated: Bool = cfs_cpu_has_crc32c() != 0

    // The raw register, pre-inverted; `value` does the final inversion.
    @usableFromInline var register: UInt32 = 0xFFFF_FFFF

    /// A checksum of zero bytes so far.
    @inlinable public init() {}

    /// Adds `bytes` to the checksum.
    @inlinable
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        register = CRC32C.advance(register, bytes)
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
        return isHardwareAccelerated
            ? cfs_crc32c_hw(register, base, bytes.count)
            : cfs_crc32c_sw(register, base, bytes.count)
    }

    /// The table path alone, so tests can hold it against the hardware path.
    static func tableAdvance(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return register }
        return cfs_crc32c_sw(register, base, bytes.count)
    }

    /// The hardware path alone (the table path on CPUs without the instruction).
    static func hardwareAdvance(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return register }
        return cfs_crc32c_hw(register, base, bytes.count)
    }
}

/// Runs `body` on the bytes of `sequence`, copying only when the sequence has
/// no contiguous storage of its own.
@inlinable
func withBytes<R>(of sequence: some Sequence<UInt8>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    if let result = sequence.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return Array(sequence).withUnsafeBytes(body)
}
