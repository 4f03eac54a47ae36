import LibCFS
import NIOCore

/// The reply of getattr, lookup, create, open, link and setattr (the useful part of Lustre's
/// `mdt_body` plus the `lov_mds_md` that follows it): the attributes, the layout of a regular file
/// when the operation has one, and the open handle of an open or create-and-open (0 otherwise).
public struct MDTBodyReply: Sendable, Equatable {
    public var attributes: MDTAttributes
    public var layout: LustreLayout?
    public var handle: UInt64

    public init(attributes: MDTAttributes, layout: LustreLayout? = nil, handle: UInt64 = 0) {
        self.attributes = attributes
        self.layout = layout
        self.handle = handle
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        attributes.encode(into: &buffer)
        buffer.writeInteger(handle, endianness: .little)
        buffer.writeWireLayout(layout)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        attributes = try MDTAttributes(decoding: &buffer)
        handle = try buffer.readWireInteger("open handle")
        layout = try buffer.readWireLayout("layout")
        try buffer.expectWireEnd("MDT body reply")
    }
}

/// A text reply: a symlink's target (readlink) or a path (fid2path).
public struct MDTTextReply: Sendable, Equatable {
    public var text: String

    public init(text: String) { self.text = text }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeWireString(text)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        text = try buffer.readWireString(max: MDTWireLimits.maxPathLength, "text reply")
        try buffer.expectWireEnd("text reply")
    }
}

/// The answer to `SEQ_QUERY`: a sequence granted to the asking client alone, whose object ids
/// `1...width` it gives to the files it creates (Lustre's `lu_seq_range` of one sequence). The
/// MDS makes the grant durable before answering, so no other client is ever given it.
public struct MDTSequenceReply: Sendable, Equatable {
    public var sequence: UInt64
    public var width: UInt32

    public init(sequence: UInt64, width: UInt32) {
        self.sequence = sequence
        self.width = width
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(sequence, endianness: .little)
        buffer.writeInteger(width, endianness: .little)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        sequence = try buffer.readWireInteger("sequence")
        width = try buffer.readWireInteger("sequence width")
        try buffer.expectWireEnd("sequence reply")
        guard sequence >= LustreFID.firstNormalSequence, width > 0 else {
            throw .protocolError("sequence 0x\(String(sequence, radix: 16)) of width \(width)")
        }
    }
}

/// The value of an extended attribute (getxattr).
public struct MDTXattrValueReply: Sendable, Equatable {
    public var value: [UInt8]

    public init(value: [UInt8]) { self.value = value }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeWireBytes(value)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        value = try buffer.readWireBytes(max: MDTWireLimits.maxXattrValueLength, "xattr value")
        try buffer.expectWireEnd("xattr value reply")
    }
}

/// The extended attribute names of an inode (listxattr).
public struct MDTNameListReply: Sendable, Equatable {
    public var names: [String]

    public init(names: [String]) { self.names = names }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(names.count), endianness: .little)
        for name in names { buffer.writeWireString(name) }
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let count = try buffer.readWireCount(max: MDTWireLimits.maxXattrNames, "xattr names")
        names = []
        names.reserveCapacity(count)
        for _ in 0..<count {
            names.append(try buffer.readWireString(max: MDTWireLimits.maxXattrNameLength, "xattr name"))
        }
        try buffer.expectWireEnd("xattr name list")
    }
}
