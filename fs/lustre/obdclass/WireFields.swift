import LibCFS
import NIOCore

/// Variable-length fields of the MDT and MGS wire records: a little-endian length before the
/// bytes, and a cap checked before anything is allocated, so a decoder answers a lying length
/// with an error instead of a huge allocation or a trap.
extension ByteBuffer {
    /// Writes a UInt32 length then the UTF-8 bytes of `text`.
    mutating func writeWireString(_ text: String) {
        writeInteger(UInt32(text.utf8.count), endianness: .little)
        writeString(text)
    }

    /// Writes a UInt32 length then `bytes`.
    mutating func writeWireBytes(_ bytes: [UInt8]) {
        writeInteger(UInt32(bytes.count), endianness: .little)
        writeBytes(bytes)
    }

    /// Reads what `writeWireString` wrote, refusing more than `max` bytes or invalid UTF-8.
    mutating func readWireString(max: Int, _ what: String) throws(LustreError) -> String {
        let bytes = try readWireBytes(max: max, what)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .protocolError("\(what) is not valid UTF-8")
        }
        return text
    }

    /// Reads what `writeWireBytes` wrote, refusing more than `max` bytes.
    mutating func readWireBytes(max: Int, _ what: String) throws(LustreError) -> [UInt8] {
        guard let length = readInteger(endianness: .little, as: UInt32.self) else {
            throw .protocolError("truncated length of \(what)")
        }
        guard length <= max else { throw .protocolError("\(what) of \(length) bytes exceeds the \(max)-byte cap") }
        guard let bytes = readBytes(length: Int(length)) else {
            throw .protocolError("\(what) of \(length) bytes is truncated")
        }
        return bytes
    }

    /// Reads a little-endian integer or says which field was cut short.
    mutating func readWireInteger<T: FixedWidthInteger>(_ what: String, as: T.Type = T.self) throws(LustreError) -> T {
        guard let value = readInteger(endianness: .little, as: T.self) else {
            throw .protocolError("truncated \(what)")
        }
        return value
    }

    /// Reads a count of following items, refusing more than `max` before anything is reserved.
    mutating func readWireCount(max: Int, _ what: String) throws(LustreError) -> Int {
        let count: UInt32 = try readWireInteger("count of \(what)")
        guard count <= max else { throw .protocolError("\(count) \(what) exceeds the cap of \(max)") }
        return Int(count)
    }

    /// Writes an optional layout: a UInt32 length (0 for none), then its binary form.
    mutating func writeWireLayout(_ layout: LustreLayout?) {
        guard let layout else {
            writeInteger(UInt32(0), endianness: .little)
            return
        }
        let encoded = layout.encoded()
        writeInteger(UInt32(encoded.readableBytes), endianness: .little)
        writeImmutableBuffer(encoded)
    }

    /// Reads what `writeWireLayout` wrote.
    mutating func readWireLayout(_ what: String) throws(LustreError) -> LustreLayout? {
        let length: UInt32 = try readWireInteger("length of \(what)")
        if length == 0 { return nil }
        guard length <= LustreLayout.maxEncodedSize else {
            throw .protocolError("\(what) of \(length) bytes exceeds the \(LustreLayout.maxEncodedSize)-byte cap")
        }
        guard var slice = readSlice(length: Int(length)) else { throw .protocolError("\(what) is truncated") }
        return try LustreLayout(decoding: &slice)
    }

    /// Refuses bytes left over after a record: a sender and receiver disagreeing on the layout.
    func expectWireEnd(_ what: String) throws(LustreError) {
        guard readableBytes == 0 else { throw .protocolError("\(readableBytes) stray bytes after \(what)") }
    }
}
