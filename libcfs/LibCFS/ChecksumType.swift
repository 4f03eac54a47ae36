/// The bulk checksum algorithms a client and server can agree on, as in
/// Lustre's `checksum_type` tunable and `OBD_CKSUM_*` bits.
///
/// The raw values are Lustre's wire bits, so a set of supported types can be
/// carried as a bitmask at connect time.
public enum ChecksumType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// CRC32 (zlib / IEEE 802.3), `OBD_CKSUM_CRC32`.
    case crc32 = 0x01
    /// Adler-32, `OBD_CKSUM_ADLER`.
    case adler = 0x02
    /// CRC32C (Castagnoli), `OBD_CKSUM_CRC32C`; hardware assisted on most CPUs.
    case crc32c = 0x04

    /// Lustre's default: crc32c.
    public static let `default`: ChecksumType = .crc32c

    /// The name `lctl` prints and accepts ("crc32", "adler", "crc32c").
    public var name: String {
        switch self {
        case .crc32: "crc32"
        case .adler: "adler"
        case .crc32c: "crc32c"
        }
    }

    /// Same as `name`.
    public var description: String { name }

    /// The type called `name` (exact, lower case, as Lustre spells it), or nil.
    public init?(name: String) {
        guard let found = ChecksumType.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    /// The type called `name`, or `EINVAL` naming the valid choices.
    public static func parse(_ name: String) throws(LustreError) -> ChecksumType {
        let word = name.trimmingWhitespace()
        guard let type = ChecksumType(name: word) else {
            throw LustreError.invalid(
                "unknown checksum type '\(word)', choose one of: \(formatChoices(active: nil))")
        }
        return type
    }

    /// The choices in Lustre's order with the active one bracketed, exactly as
    /// `lctl get_param osc.*.checksum_type` prints them: `crc32 adler [crc32c]`.
    public static func formatChoices(active: ChecksumType?,
                                     supported: [ChecksumType] = ChecksumType.allCases) -> String {
        supported.map { $0 == active ? "[\($0.name)]" : $0.name }.joined(separator: " ")
    }

    /// The checksum of the concatenation of `buffers` (the pages of one bulk RPC).
    public func checksum(_ buffers: some Sequence<UnsafeRawBufferPointer>) -> UInt32 {
        switch self {
        case .crc32:
            var sum = CRC32()
            for buffer in buffers { sum.update(buffer) }
            return sum.value
        case .adler:
            var sum = Adler32()
            for buffer in buffers { sum.update(buffer) }
            return sum.value
        case .crc32c:
            var sum = CRC32C()
            for buffer in buffers { sum.update(buffer) }
            return sum.value
        }
    }

    /// The checksum of one buffer.
    public func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        checksum(CollectionOfOne(bytes))
    }
}
