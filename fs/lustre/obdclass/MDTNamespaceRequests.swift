import LibCFS
import NIOCore

/// `REINT_CREATE` (and `REINT_OPEN` with `O_CREAT` folded in): makes `name` in `parent`.
/// `layout` carries requested stripe settings for a file (nil: inherit); `exclusive` false
/// answers an existing regular file instead of `EEXIST`.
public struct MDTCreateRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.reint
    public static let reint: MDTReintOpcode? = .create
    public var credentials: MDTCredentials
    public var parent: LustreFID
    public var name: String
    public var kind: MDTCreateKind
    public var mode: UInt32
    public var layout: LustreLayout?
    public var exclusive: Bool
    /// Open the new regular file too, with these flags (Lustre's open intent on a create): the
    /// reply carries the open handle, and the client saves a round trip.
    public var openFlags: Int32?
    /// The new inode's FID, taken by the client from a sequence the MDS granted it
    /// (`SEQ_QUERY`), as Lustre's clients allocate FIDs; nil lets the MDS allocate one. A
    /// create replayed to an MDS that lost it then makes the file under the FID the client
    /// already knows it by.
    public var fid: LustreFID?
    /// In a create kept for replay: the layout the MDS gave the file, its objects, so an MDS
    /// that lost the create makes it again on the objects the client wrote to (Lustre's replay
    /// of an open-create carries the layout the same way). Set by the client from the reply.
    public var replayLayout: LustreLayout?

    static let exclusiveFlag: UInt32 = 1
    static let openFlag: UInt32 = 2
    static let fidFlag: UInt32 = 4
    static let replayLayoutFlag: UInt32 = 8

    public init(credentials: MDTCredentials, parent: LustreFID, name: String, kind: MDTCreateKind, mode: UInt32,
                layout: LustreLayout?, exclusive: Bool, openFlags: Int32? = nil, fid: LustreFID? = nil) {
        self.credentials = credentials
        self.parent = parent
        self.name = name
        self.kind = kind
        self.mode = mode
        self.layout = layout
        self.exclusive = exclusive
        self.openFlags = openFlags
        self.fid = fid
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        parent.encode(into: &buffer)
        buffer.writeWireString(name)
        kind.encode(into: &buffer)
        buffer.writeInteger(mode, endianness: .little)
        buffer.writeInteger((exclusive ? Self.exclusiveFlag : 0) | (openFlags == nil ? 0 : Self.openFlag)
                                | (fid == nil ? 0 : Self.fidFlag) | (replayLayout == nil ? 0 : Self.replayLayoutFlag),
                            endianness: .little)
        buffer.writeWireLayout(layout)
        if let openFlags { buffer.writeInteger(openFlags, endianness: .little) }
        fid?.encode(into: &buffer)
        if let replayLayout { buffer.writeWireLayout(replayLayout) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        parent = try buffer.readWireFID("parent FID")
        name = try buffer.readWireName()
        kind = try MDTCreateKind(decoding: &buffer)
        mode = try buffer.readWireInteger("mode")
        let flags: UInt32 = try buffer.readWireInteger("create flags")
        guard flags & ~(Self.exclusiveFlag | Self.openFlag | Self.fidFlag | Self.replayLayoutFlag) == 0 else {
            throw .protocolError("create flags 0x\(String(flags, radix: 16))")
        }
        exclusive = flags & Self.exclusiveFlag != 0
        layout = try buffer.readWireLayout("requested layout")
        openFlags = flags & Self.openFlag != 0 ? try buffer.readWireInteger("open flags") : nil
        fid = flags & Self.fidFlag != 0 ? try buffer.readWireFID("new FID") : nil
        replayLayout = flags & Self.replayLayoutFlag != 0 ? try buffer.readWireLayout("replayed layout") : nil
        if flags & Self.replayLayoutFlag != 0 && replayLayout == nil {
            throw .protocolError("create flagged with a replayed layout that is absent")
        }
        if openFlags != nil, case .file = kind {} else if openFlags != nil {
            throw .protocolError("create with an open of something other than a regular file")
        }
    }
}

/// `REINT_RENAME`: `name` in `from` becomes `newName` in `to`, replacing what is there unless
/// `noReplace` (`renameat2`'s `RENAME_NOREPLACE`: `EEXIST` then, decided atomically by the MDS).
/// The flags travel after the names only when set, so a request without them reads as before.
public struct MDTRenameRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.reint
    public static let reint: MDTReintOpcode? = .rename
    /// `RENAME_NOREPLACE` in the flags word.
    public static let noReplaceFlag: UInt32 = 1
    public var credentials: MDTCredentials
    public var from: LustreFID
    public var name: String
    public var to: LustreFID
    public var newName: String
    public var noReplace: Bool

    public init(credentials: MDTCredentials, from: LustreFID, name: String, to: LustreFID, newName: String,
                noReplace: Bool = false) {
        self.credentials = credentials
        self.from = from
        self.name = name
        self.to = to
        self.newName = newName
        self.noReplace = noReplace
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        from.encode(into: &buffer)
        buffer.writeWireString(name)
        to.encode(into: &buffer)
        buffer.writeWireString(newName)
        if noReplace { buffer.writeInteger(Self.noReplaceFlag, endianness: .little) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        from = try buffer.readWireFID("source directory FID")
        name = try buffer.readWireName("source name")
        to = try buffer.readWireFID("target directory FID")
        newName = try buffer.readWireName("target name")
        noReplace = false
        if buffer.readableBytes > 0 {
            let flags: UInt32 = try buffer.readWireInteger("rename flags")
            guard flags & ~Self.noReplaceFlag == 0 else {
                throw .invalid("rename flags 0x\(String(flags, radix: 16)): only RENAME_NOREPLACE is known")
            }
            noReplace = flags & Self.noReplaceFlag != 0
        }
    }
}

/// `REINT_LINK`: a new name `name` in `parent` for the existing `fid`.
public struct MDTLinkRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.reint
    public static let reint: MDTReintOpcode? = .link
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var parent: LustreFID
    public var name: String

    public init(credentials: MDTCredentials, fid: LustreFID, parent: LustreFID, name: String) {
        self.credentials = credentials
        self.fid = fid
        self.parent = parent
        self.name = name
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        parent.encode(into: &buffer)
        buffer.writeWireString(name)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        parent = try buffer.readWireFID("parent FID")
        name = try buffer.readWireName()
    }
}

/// `MDS_READDIR`: up to `maxEntries` entries of directory `fid` after `cookie` (0: from the start).
public struct MDTReaddirRequest: MDTRequestRecord {
    public static let opcode = MDTOpcode.readdir
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var cookie: UInt64
    public var maxEntries: UInt32

    public init(credentials: MDTCredentials, fid: LustreFID, cookie: UInt64, maxEntries: UInt32) {
        self.credentials = credentials
        self.fid = fid
        self.cookie = cookie
        self.maxEntries = maxEntries
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        buffer.writeInteger(cookie, endianness: .little)
        buffer.writeInteger(maxEntries, endianness: .little)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("directory FID")
        cookie = try buffer.readWireInteger("cookie")
        maxEntries = try buffer.readWireInteger("entry count")
        guard (1...UInt32(MDTWireLimits.maxDirEntries)).contains(maxEntries) else {
            throw .invalid("readdir of \(maxEntries) entries (1...\(MDTWireLimits.maxDirEntries))")
        }
    }
}
