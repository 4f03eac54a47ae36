import LibCFS

/// Little-endian reading of the MDT's on-disk records with every length checked: a short or
/// corrupt record is an `EPROTO` error, never a trap.
struct MDTByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(LustreError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .protocolError("record truncated at byte \(offset)") }
        var value = T.zero
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    mutating func readBytes(length: Int) throws(LustreError) -> [UInt8] {
        guard length >= 0, remaining >= length else { throw .protocolError("record truncated at byte \(offset)") }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func readString(length: Int) throws(LustreError) -> String {
        let raw = try readBytes(length: length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .protocolError("name is not UTF-8") }
        return text
    }

    mutating func skip(_ count: Int) throws(LustreError) { _ = try readBytes(length: count) }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString16(_ text: String) {
        appendLittleEndian(UInt16(text.utf8.count))
        append(contentsOf: text.utf8)
    }

    mutating func appendBytes32(_ data: [UInt8]) {
        appendLittleEndian(UInt32(data.count))
        append(contentsOf: data)
    }
}
