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
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.magic, endianness: .little)
        buffer.writeInteger(UInt32(items.count), endianness: .little)
        for item in items {
            buffer.writeInteger(item.opcode.rawValue, endianness: .little)
            buffer.writeInteger(UInt32(item.record.readableBytes), endianness: .little)
            var record = item.record
            buffer.writeBuffer(&record)
        }
        return buffer
    }

    /// Decodes a batch, refusing a wrong magic, more than `MDTWireLimits.maxBatchItems` items,
    /// an opcode that may not be batched, lengths past the end, and stray bytes.
    public init(decoding buffer: ByteBuffer) throws(LustreError) {
        var body = buffer
        let magic: UInt32 = try body.readWireInteger("batch magic")
        guard magic == Self.magic else {
            throw .protocolError("batch magic 0x\(String(magic, radix: 16)) (expected 0x\(String(Self.magic, radix: 16)))")
        }
        let count: UInt32 = try body.readWireInteger("batch count")
        guard count <= MDTWireLimits.maxBatchItems else {
            throw .protocolError("batch of \(count) requests (at most \(MDTWireLimits.maxBatchItems))")
        }
        var items: [Item] = []
        items.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let raw: UInt32 = try body.readWireInteger("opcode of batch item \(index)")
            guard let opcode = MDTOpcode(rawValue: raw), Self.batchable.contains(opcode) else {
                throw .notSupported("opcode \(raw) in batch item \(index)")
            }
            let length: UInt32 = try body.readWireInteger("length of batch item \(index)")
            guard let record = body.readSlice(length: Int(length)) else {
                throw .protocolError("batch item \(index) of \(length) bytes is truncated")
            }
            items.append(Item(opcode: opcode, record: record))
        }
        try body.expectWireEnd("batch request")
        self.items = items
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
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.magic, endianness: .little)
        buffer.writeInteger(UInt32(items.count), endianness: .little)
        for item in items {
            buffer.writeInteger(item.status, endianness: .little)
            buffer.writeInteger(UInt32(item.buffer.readableBytes), endianness: .little)
            var reply = item.buffer
            buffer.writeBuffer(&reply)
        }
        return buffer
    }

    public init(decoding buffer: ByteBuffer) throws(LustreError) {
        var body = buffer
        let magic: UInt32 = try body.readWireInteger("batch reply magic")
        guard magic == Self.magic else {
            throw .protocolError("batch reply magic 0x\(String(magic, radix: 16)) (expected 0x\(String(Self.magic, radix: 16)))")
        }
        let count: UInt32 = try body.readWireInteger("batch reply count")
        guard count <= MDTWireLimits.maxBatchItems else {
            throw .protocolError("batch reply of \(count) items (at most \(MDTWireLimits.maxBatchItems))")
        }
        var items: [Item] = []
        items.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let status: Int32 = try body.readWireInteger("status of batch reply item \(index)")
            let length: UInt32 = try body.readWireInteger("length of batch reply item \(index)")
            guard let reply = body.readSlice(length: Int(length)) else {
                throw .protocolError("batch reply item \(index) of \(length) bytes is truncated")
            }
            items.append(Item(status: status, buffer: reply))
        }
        try body.expectWireEnd("batch reply")
        self.items = items
    }
}
