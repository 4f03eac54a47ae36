import LibCFS
import NIOCore

/// Names an MDT operation whose request is one of the plain shapes below, so that operations
/// with the same fields share one record type (`MDTFIDRequest<MDTOperations.Getattr>`, ...).
public protocol MDTOperation: Sendable {
    static var opcode: MDTOpcode { get }
    static var reint: MDTReintOpcode? { get }
}

extension MDTOperation {
    public static var reint: MDTReintOpcode? { nil }
}

/// The operations whose requests are plain shapes.
public enum MDTOperations {
    /// `MDS_GET_ROOT`: the FID of the filesystem's root directory.
    public enum GetRoot: MDTOperation { public static let opcode = MDTOpcode.getRoot }
    /// `MDS_STATFS`: space and inodes of the MDT.
    public enum Statfs: MDTOperation { public static let opcode = MDTOpcode.statfs }
    /// `MDS_SYNC`: commits everything the MDT did so far.
    public enum Sync: MDTOperation { public static let opcode = MDTOpcode.sync }
    /// `SEQ_QUERY`: a sequence of its own for the client's new FIDs (`MDTSequenceReply`).
    public enum SeqQuery: MDTOperation { public static let opcode = MDTOpcode.seqQuery }
    /// `MDS_GETATTR`: the attributes of `fid`.
    public enum Getattr: MDTOperation { public static let opcode = MDTOpcode.getattr }
    /// `MDS_READLINK`: the target of symlink `fid`.
    public enum Readlink: MDTOperation { public static let opcode = MDTOpcode.readlink }
    /// `MDS_FID2PATH`: the path of `fid` from the root.
    public enum Fid2Path: MDTOperation { public static let opcode = MDTOpcode.fid2path }
    /// `MDS_LISTXATTR`: the names of `fid`'s extended attributes.
    public enum Listxattr: MDTOperation { public static let opcode = MDTOpcode.listxattr }
    /// `MDS_GETATTR_NAME`: looks `name` up in `parent`.
    public enum Lookup: MDTOperation { public static let opcode = MDTOpcode.getattrName }
    /// `REINT_UNLINK`: removes the non-directory `name` from `parent`.
    public enum Unlink: MDTOperation {
        public static let opcode = MDTOpcode.reint
        public static let reint: MDTReintOpcode? = .unlink
    }
    /// `REINT_RMENTRY`: removes the empty directory `name` from `parent` (rmdir).
    public enum Rmdir: MDTOperation {
        public static let opcode = MDTOpcode.reint
        public static let reint: MDTReintOpcode? = .rmentry
    }
    /// `MDS_GETXATTR`: the value of extended attribute `name` of `fid`.
    public enum Getxattr: MDTOperation { public static let opcode = MDTOpcode.getxattr }
    /// `MDS_REMOVEXATTR`: removes extended attribute `name` of `fid`.
    public enum Removexattr: MDTOperation { public static let opcode = MDTOpcode.removexattr }
}

public typealias MDTGetRootRequest = MDTCredentialsRequest<MDTOperations.GetRoot>
public typealias MDTStatfsRequest = MDTCredentialsRequest<MDTOperations.Statfs>
public typealias MDTSyncRequest = MDTCredentialsRequest<MDTOperations.Sync>
public typealias MDTSeqQueryRequest = MDTCredentialsRequest<MDTOperations.SeqQuery>
public typealias MDTGetattrRequest = MDTFIDRequest<MDTOperations.Getattr>
public typealias MDTReadlinkRequest = MDTFIDRequest<MDTOperations.Readlink>
public typealias MDTFid2PathRequest = MDTFIDRequest<MDTOperations.Fid2Path>
public typealias MDTListxattrRequest = MDTFIDRequest<MDTOperations.Listxattr>
public typealias MDTLookupRequest = MDTEntryRequest<MDTOperations.Lookup>
public typealias MDTUnlinkRequest = MDTEntryRequest<MDTOperations.Unlink>
public typealias MDTRmdirRequest = MDTEntryRequest<MDTOperations.Rmdir>
public typealias MDTGetxattrRequest = MDTXattrNameRequest<MDTOperations.Getxattr>
public typealias MDTRemovexattrRequest = MDTXattrNameRequest<MDTOperations.Removexattr>

/// A request that carries only the caller's credentials.
public struct MDTCredentialsRequest<Operation: MDTOperation>: MDTRequestRecord {
    public static var opcode: MDTOpcode { Operation.opcode }
    public static var reint: MDTReintOpcode? { Operation.reint }
    public var credentials: MDTCredentials

    public init(credentials: MDTCredentials) { self.credentials = credentials }

    public func encode(into buffer: inout ByteBuffer) { credentials.encode(into: &buffer) }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
    }
}

/// A request about one file or directory, `fid`.
public struct MDTFIDRequest<Operation: MDTOperation>: MDTRequestRecord {
    public static var opcode: MDTOpcode { Operation.opcode }
    public static var reint: MDTReintOpcode? { Operation.reint }
    public var credentials: MDTCredentials
    public var fid: LustreFID

    public init(credentials: MDTCredentials, fid: LustreFID) {
        self.credentials = credentials
        self.fid = fid
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
    }
}

/// A request about the entry `name` of directory `parent`.
public struct MDTEntryRequest<Operation: MDTOperation>: MDTRequestRecord {
    public static var opcode: MDTOpcode { Operation.opcode }
    public static var reint: MDTReintOpcode? { Operation.reint }
    public var credentials: MDTCredentials
    public var parent: LustreFID
    public var name: String

    public init(credentials: MDTCredentials, parent: LustreFID, name: String) {
        self.credentials = credentials
        self.parent = parent
        self.name = name
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        parent.encode(into: &buffer)
        buffer.writeWireString(name)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        parent = try buffer.readWireFID("parent FID")
        name = try buffer.readWireName()
    }
}

/// A request about extended attribute `name` of `fid`.
public struct MDTXattrNameRequest<Operation: MDTOperation>: MDTRequestRecord {
    public static var opcode: MDTOpcode { Operation.opcode }
    public static var reint: MDTReintOpcode? { Operation.reint }
    public var credentials: MDTCredentials
    public var fid: LustreFID
    public var name: String

    public init(credentials: MDTCredentials, fid: LustreFID, name: String) {
        self.credentials = credentials
        self.fid = fid
        self.name = name
    }

    public func encode(into buffer: inout ByteBuffer) {
        credentials.encode(into: &buffer)
        fid.encode(into: &buffer)
        buffer.writeWireString(name)
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        credentials = try MDTCredentials(decoding: &buffer)
        fid = try buffer.readWireFID("FID")
        name = try buffer.readXattrName()
    }
}
