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

    /// A checksum of this type fed piece by piece: for bytes that are not all in memory at once
    /// (a bulk gathered from several buffers).
    public struct Running: Sendable {
        private enum Sum: Sendable {
            case crc32(CRC32)
            case adler(Adler32)
            case crc32c(CRC32C)
        }
        private var sum: Sum

        public init(_ type: ChecksumType) {
            switch type {
            case .crc32: sum = .crc32(CRC32())
            case .adler: sum = .adler(Adler32())
            case .crc32c: sum = .crc32c(CRC32C())
            }
        }

        /// Adds `bytes`, which follow everything added so far.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            switch sum {
            case .crc32(var s): s.update(bytes); sum = .crc32(s)
            case .adler(var s): s.update(bytes); sum = .adler(s)
            case .crc32c(var s): s.update(bytes); sum = .crc32c(s)
            }
        }

        /// The checksum of everything added so far.
        public var value: UInt32 {
            switch sum {
            case .crc32(let s): s.value
            case .adler(let s): s.value
            case .crc32c(let s): s.value
            }
        }
    }

    /// The checksum of the concatenation of `buffers` (the pages of one bulk RPC).
    public func checksum(_ buffers: some Sequence<UnsafeRawBufferPointer>) -> UInt32 {
        var running = Running(self)
        for buffer in buffers { running.update(buffer) }
        return running.value
    }

    /// The checksum of one buffer.
    public func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        checksum(CollectionOfOne(bytes))
    }
}
