#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore

/// `MDS_BATCH`: several MDT requests in one RPC, as Lustre 2.16 batches statahead's lookups
/// (`batch_update_request`, LU-14139). Each item is an opcode and the record that opcode's own
/// RPC would carry; the reply answers each item in order with its own status and reply buffer,
/// so one missing name does not fail the others.
///
/// Only requests that need no replay travel in a batch (`batchable`): lookups, getattrs, and
/// closes that carry no size (the MDS refuses those that do). A batch has no transno: a close's
/// only lasting effect, destroying an unlinked file at its last close, is redone from `PENDING/`
/// when an MDS restarts, so nothing in a batch needs replaying.
///
/// Wire form (little-endian): `magic u32 | count u32`, then per item `opcode u32 | length u32 |
/// record`. The reply: `magic u32 | count u32`, then per item `status i32 | length u32 | buffer`.
public struct MDTBatchRequest: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var opcode: MDTOpcode
        /// The request record (`MDTRequestRecord.encoded()`).
        public var record: ByteBuffer

        public init<R: MDTRequestRecord>(_ record: R) {
            precondition(MDTBatchRequest.batchable.contains(R.opcode), "\(R.opcode) cannot be batched")
            opcode = R.opcode
            self.record = record.encoded()
        }

        init(opcode: MDTOpcode, record: ByteBuffer) {
            self.opcode = opcode
            self.record = record
        }
    }

    /// Lustre's `BUT_REQUEST_MAGIC`.
    public static let magic: UInt32 = 0xBADE_0001
    /// The opcodes a batch may carry: lookups, getattrs and closes.
    public static let batchable: Set<MDTOpcode> = [.getattr, .getattrName, .close]

    public var items: [Item]

    public init(items: [Item]) { self.items = items }

    public func encoded() -> ByteBuffer {
        MDTBatchFrames.encode(magic: Self.magic, items.map { ($0.opcode.rawValue, $0.record) })
    }

    /// Decodes a batch, refusing a wrong magic, more than `MDTWireLimits.maxBatchItems` items,
    /// an opcode that may not be batched, lengths past the end, and stray bytes.
    public init(decoding buffer: ByteBuffer) throws(LustreError) {
        items = try MDTBatchFrames.decode(buffer, magic: Self.magic, what: "batch") { (index, tag, record) throws(LustreError) in
            guard let opcode = MDTOpcode(rawValue: tag), Self.batchable.contains(opcode) else {
                throw .notSupported("opcode \(tag) in batch item \(index)")
            }
            return Item(opcode: opcode, record: record)
        }
    }
}

/// The reply to an `MDS_BATCH`: per item, in the request's order, its status (0 or a negative
/// errno) and its reply buffer (empty on error).
public struct MDTBatchReply: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var status: Int32
        public var buffer: ByteBuffer

        public init(status: Int32, buffer: ByteBuffer = ByteBuffer()) {
            self.status = status
            self.buffer = buffer
        }
    }

    public static let magic: UInt32 = 0xBADE_0002

    public var items: [Item]

    public init(items: [Item]) { self.items = items }

    public func encoded() -> ByteBuffer {
        MDTBatchFrames.encode(magic: Self.magic, items.map { (UInt32(bitPattern: $0.status), $0.buffer) })
    }

    public init(decoding buffer: ByteBuffer) throws(LustreError) {
        items = try MDTBatchFrames.decode(buffer, magic: Self.magic, what: "batch reply") { (_, tag, reply) throws(LustreError) in
            Item(status: Int32(bitPattern: tag), buffer: reply)
        }
    }
}

/// The framing both directions of `MDS_BATCH` share: magic, count, then per item a 32-bit tag
/// (opcode or status) and a length-prefixed buffer.
enum MDTBatchFrames {
    static func encode(magic: UInt32, _ items: [(tag: UInt32, bytes: ByteBuffer)]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(magic, endianness: .little)
        buffer.writeInteger(UInt32(items.count), endianness: .little)
        for item in items {
            buffer.writeInteger(item.tag, endianness: .little)
            buffer.writeInteger(UInt32(item.bytes.readableBytes), endianness: .little)
            buffer.writeImmutableBuffer(item.bytes)
        }
        return buffer
    }

    /// The items of `buffer`, each made by `item` from its index, tag and bytes (a slice, not a
    /// copy); the count is checked against `MDTWireLimits.maxBatchItems` before anything is
    /// allocated, and stray bytes after the last item are refused.
    static func decode<Item>(_ buffer: ByteBuffer, magic expected: UInt32, what: String,
                             _ item: (Int, UInt32, ByteBuffer) throws(LustreError) -> Item) throws(LustreError) -> [Item] {
        var body = buffer
        let magic: UInt32 = try body.readWireInteger("\(what) magic")
        guard magic == expected else {
            throw .protocolError("\(what) magic 0x\(String(magic, radix: 16)) (expected 0x\(String(expected, radix: 16)))")
        }
        let count: UInt32 = try body.readWireInteger("\(what) count")
        guard count <= MDTWireLimits.maxBatchItems else {
            throw .protocolError("\(what) of \(count) items (at most \(MDTWireLimits.maxBatchItems))")
        }
        var items: [Item] = []
        items.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let tag: UInt32 = try body.readWireInteger("tag of \(what) item \(index)")
            let length: UInt32 = try body.readWireInteger("length of \(what) item \(index)")
            guard let bytes = body.readSlice(length: Int(length)) else {
                throw .protocolError("\(what) item \(index) of \(length) bytes is truncated")
            }
            items.append(try item(index, tag, bytes))
        }
        try body.expectWireEnd(what)
        return items
    }
}
