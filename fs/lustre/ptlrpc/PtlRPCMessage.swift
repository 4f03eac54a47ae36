import LibCFS
import NIOCore

/// A PtlRPC request or reply: Lustre's `lustre_msg_v2` with its `ptlrpc_body`
/// folded into one fixed header, followed by typed buffers that the layer
/// above encodes (an obdo, a niobuf array, a target name).
public struct PtlRPCMessage: Sendable, Equatable {
    public static let magic: UInt32 = 0x0bd0_0bd3   // LUSTRE_MSG_MAGIC_V2
    public static let version: UInt32 = 0x0003_0003
    /// At most this many buffers in one message.
    public static let maxBuffers = 16
    static let fixedSize = 116

    /// `MSG_*` flags.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Sent again with the same xid after a timeout or reconnect.
        public static let resent = Flags(rawValue: 0x0002)
        /// Replayed after a server restart (transno already assigned).
        public static let replay = Flags(rawValue: 0x0004)
        /// The bulk rides in the message itself, as its last buffer, instead of a separate LNet
        /// GET or PUT (Lustre's short I/O, `OBD_FL_SHORT_IO`): in a request, the client asks for
        /// it (a write carries its data); in a reply, the server did it (a read's data). Saves a
        /// round trip for a small write and a message, a descriptor and a wake-up for a small read.
        public static let shortIO = Flags(rawValue: 0x0100)
    }

    public var opcode: UInt32
    /// 0 or a negative errno in replies.
    public var status: Int32 = 0
    public var flags: Flags = []
    /// The import's connection count, so a server can drop requests from a stale connection.
    public var connectionCount: UInt32 = 0
    /// The timeout the client gave this request, in seconds.
    public var timeout: UInt32 = 0
    /// How long the server took to handle it, in microseconds (adaptive timeouts).
    public var serviceTime: UInt32 = 0
    /// Bulk checksum type (`OBD_CKSUM_*` bit) and value, verified by the receiver.
    public var bulkChecksumType: UInt32 = 0
    public var bulkChecksum: UInt32 = 0
    public var xid: UInt64
    public var transno: UInt64 = 0
    public var lastCommitted: UInt64 = 0
    /// Every xid at or below this one has its reply at the client: the server may forget them.
    public var lastXid: UInt64 = 0
    /// The export cookie the server handed out at connect.
    public var handle: UInt64 = 0
    /// The job the request is done for (`jobid_var`), at most 31 bytes.
    public var jobID: String = ""
    public var buffers: [ByteBuffer]

    public init(opcode: UInt32, xid: UInt64, buffers: [ByteBuffer] = []) {
        self.opcode = opcode
        self.xid = xid
        self.buffers = buffers
    }

    public var encodedSize: Int {
        Self.fixedSize + 4 * buffers.count + buffers.reduce(0) { $0 + Self.padded($1.readableBytes) }
    }

    static func padded(_ length: Int) -> Int { (length + 7) & ~7 }

    public func encode(into out: inout ByteBuffer) {
        out.writeInteger(Self.magic, endianness: .little)
        out.writeInteger(Self.version, endianness: .little)
        out.writeInteger(opcode, endianness: .little)
        out.writeInteger(status, endianness: .little)
        out.writeInteger(flags.rawValue, endianness: .little)
        out.writeInteger(connectionCount, endianness: .little)
        out.writeInteger(timeout, endianness: .little)
        out.writeInteger(serviceTime, endianness: .little)
        out.writeInteger(bulkChecksumType, endianness: .little)
        out.writeInteger(bulkChecksum, endianness: .little)
        out.writeInteger(xid, endianness: .little)
        out.writeInteger(transno, endianness: .little)
        out.writeInteger(lastCommitted, endianness: .little)
        out.writeInteger(lastXid, endianness: .little)
        out.writeInteger(handle, endianness: .little)
        // 32 bytes, NUL-padded, at most 31 of them the job id.
        let jobBytes = jobID.isEmpty ? 0 : out.writeBytes(jobID.utf8.prefix(31))
        out.writeRepeatingByte(0, count: 32 - jobBytes)
        out.writeInteger(UInt32(buffers.count), endianness: .little)
        for buffer in buffers { out.writeInteger(UInt32(buffer.readableBytes), endianness: .little) }
        for buffer in buffers {
            out.writeImmutableBuffer(buffer)
            out.writeRepeatingByte(0, count: Self.padded(buffer.readableBytes) - buffer.readableBytes)
        }
    }

    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var out = allocator.buffer(capacity: encodedSize)
        encode(into: &out)
        return out
    }

    /// Decodes a whole message; buffers are slices of `input`, not copies.
    /// Any byte string gives a message or a typed error, never a trap.
    public init(decoding input: ByteBuffer) throws(LustreError) {
        var input = input
        guard input.readableBytes >= Self.fixedSize,
              let magic = input.readInteger(endianness: .little, as: UInt32.self),
              let version = input.readInteger(endianness: .little, as: UInt32.self),
              let opcode = input.readInteger(endianness: .little, as: UInt32.self),
              let status = input.readInteger(endianness: .little, as: Int32.self),
              let flags = input.readInteger(endianness: .little, as: UInt32.self),
              let connectionCount = input.readInteger(endianness: .little, as: UInt32.self),
              let timeout = input.readInteger(endianness: .little, as: UInt32.self),
              let serviceTime = input.readInteger(endianness: .little, as: UInt32.self),
              let checksumType = input.readInteger(endianness: .little, as: UInt32.self),
              let checksum = input.readInteger(endianness: .little, as: UInt32.self),
              let xid = input.readInteger(endianness: .little, as: UInt64.self),
              let transno = input.readInteger(endianness: .little, as: UInt64.self),
              let lastCommitted = input.readInteger(endianness: .little, as: UInt64.self),
              let lastXid = input.readInteger(endianness: .little, as: UInt64.self),
              let handle = input.readInteger(endianness: .little, as: UInt64.self)
        else { throw .protocolError("truncated PtlRPC message (\(input.readableBytes) bytes)") }
        // The job id is read in place, not through an array: this runs for every request and reply.
        let jobLength = input.withUnsafeReadableBytes { $0.prefix(32).firstIndex(of: 0) ?? min(32, $0.count) }
        let jobID = jobLength == 0 ? "" : input.getString(at: input.readerIndex, length: jobLength) ?? ""
        input.moveReaderIndex(forwardBy: 32)
        guard let count = input.readInteger(endianness: .little, as: UInt32.self) else {
            throw .protocolError("truncated PtlRPC message (\(input.readableBytes) bytes)")
        }
        guard magic == Self.magic else {
            throw .protocolError("bad PtlRPC magic 0x\(String(magic, radix: 16))")
        }
        guard version == Self.version else {
            throw .protocolError("unsupported PtlRPC version 0x\(String(version, radix: 16))")
        }
        guard count <= Self.maxBuffers else {
            throw .protocolError("PtlRPC message with \(count) buffers (at most \(Self.maxBuffers))")
        }
        // The lengths are read from a slice (no array of them): this runs for every request and reply.
        guard var lengths = input.readSlice(length: 4 * Int(count)) else {
            throw .protocolError("truncated PtlRPC buffer lengths")
        }
        var buffers: [ByteBuffer] = []
        buffers.reserveCapacity(Int(count))
        while let length32 = lengths.readInteger(endianness: .little, as: UInt32.self) {
            let length = Int(length32)
            guard length <= input.readableBytes, Self.padded(length) <= input.readableBytes + 7,
                  let buffer = input.readSlice(length: length)
            else { throw .protocolError("PtlRPC buffer of \(length) bytes overruns the message") }
            input.moveReaderIndex(forwardBy: min(Self.padded(length) - length, input.readableBytes))
            buffers.append(buffer)
        }
        self.opcode = opcode
        self.status = status
        self.flags = Flags(rawValue: flags)
        self.connectionCount = connectionCount
        self.timeout = timeout
        self.serviceTime = serviceTime
        self.bulkChecksumType = checksumType
        self.bulkChecksum = checksum
        self.xid = xid
        self.transno = transno
        self.lastCommitted = lastCommitted
        self.lastXid = lastXid
        self.handle = handle
        self.jobID = jobID
        self.buffers = buffers
    }

    /// Buffer `index`, or EPROTO naming what was missing.
    public func buffer(_ index: Int, _ what: String) throws(LustreError) -> ByteBuffer {
        guard index < buffers.count else {
            throw .protocolError("PtlRPC opcode \(opcode) lacks buffer \(index) (\(what))")
        }
        return buffers[index]
    }
}
