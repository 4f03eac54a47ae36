import CLibCFS

/// Adler-32 as zlib defines it (`checksum_type` adler).
public struct Adler32: Sendable, Hashable {
    @usableFromInline var state: UInt32 = 1

    /// A checksum of zero bytes so far (value 1).
    @inlinable public init() {}

    /// Adds `bytes` to the checksum.
    @inlinable
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        state = Adler32.advance(state, bytes)
    }

    /// Adds `bytes` to the checksum.
    @inlinable
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        withBytes(of: bytes) { update($0) }
    }

    /// The checksum of everything added so far.
    @inlinable public var value: UInt32 { state }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        advance(1, bytes)
    }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        withBytes(of: bytes) { checksum($0) }
    }

    @usableFromInline
    static func advance(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return state }
        return cfs_adler32(state, base, bytes.count)
    }
}
