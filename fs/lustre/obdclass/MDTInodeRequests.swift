import LibCFS
import NIOCore

/// `REINT_OPEN` of an existing file: `flags` are the `open(2)` flags.
public struct MDTOpenRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.reint
    public static let reint: MDTReintOpcode? = .open
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var flags: Int32

    public init(credentials: MDTCredentials, fid: LustreFID, flags: Int32) {
        self.credentials = credentials
        self.fid = fid
        self.flags = flags
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        buffer.writeInteger(flags, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        flags = try buffer.readWireInteger("open flags")
    }
}

/// `MDS_CLOSE`: closes open `handle`, with the size and blocks the client learnt from the OSTs.
public struct MDTCloseRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.close
    public var credentials: MDTCredentials
    public var handle: UInt64
    public var size: UInt64?
    public var blocks: UInt64?
    /// The mtime of the client's last change to the file (Lustre's close carries the inode's
    /// times): writes go to the OSTs, so the MDS hears of them here.
    public var mtime: MDTTime?

    public init(credentials: MDTCredentials, handle: UInt64, size: UInt64?, blocks: UInt64?, mtime: MDTTime? = nil) {
        self.credentials = credentials
        self.handle = handle
        self.size = size
        self.blocks = blocks
        self.mtime = mtime
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        buffer.writeInteger(handle, endianness: .little)
        buffer.writeInteger(UInt32((size == nil ? 0 : 1) | (blocks == nil ? 0 : 2) | (mtime == nil ? 0 : 4)),
                            endianness: .little)
        buffer.writeInteger(size ?? 0, endianness: .little)
        buffer.writeInteger(blocks ?? 0, endianness: .little)
        mtime?.encode(into: &buffer)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        handle = try buffer.readWireInteger("open handle")
        let valid: UInt32 = try buffer.readWireInteger("close valid bits")
        guard valid <= 7 else { throw .protocolError("close valid bits 0x\(String(valid, radix: 16))") }
        let size: UInt64 = try buffer.readWireInteger("size")
        let blocks: UInt64 = try buffer.readWireInteger("blocks")
        self.size = valid & 1 != 0 ? size : nil
        self.blocks = valid & 2 != 0 ? blocks : nil
        self.mtime = valid & 4 != 0 ? try MDTTime(decoding: &buffer) : nil
    }
}

/// `MDS_SETLAYOUT`: a directory's default layout, or the layout of an empty file without objects.
public struct MDTSetLayoutRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.setLayout
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var layout: LustreLayout

    public init(credentials: MDTCredentials, fid: LustreFID, layout: LustreLayout) {
        self.credentials = credentials
        self.fid = fid
        self.layout = layout
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        buffer.writeWireLayout(layout)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        guard let layout = try buffer.readWireLayout("layout") else { throw .invalid("setlayout without a layout") }
        self.layout = layout
    }
}

/// `REINT_SETATTR`: changes what `change.valid` names on `fid` (chmod, chown, truncate, utimes).
public struct MDTSetattrRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.reint
    public static let reint: MDTReintOpcode? = .setattr
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var change: MDTSetattr

    public init(credentials: MDTCredentials, fid: LustreFID, change: MDTSetattr) {
        self.credentials = credentials
        self.fid = fid
        self.change = change
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        change.encode(into: &buffer)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        change = try MDTSetattr(decoding: &buffer)
    }
}
