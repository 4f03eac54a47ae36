/// The opcodes of the MDT service (`enum mds_cmd` in `lustre_idl.h`). Where Lustre has the
/// operation its number is kept, so a packet capture reads the same; operations Lustre carries
/// differently (fid2path through `MDS_GET_INFO`, readlink through `MDS_GETATTR`, readdir as pages
/// of `lu_dirent` over bulk) have numbers of their own from 0x4d01 up (0x4d is 'M').
public enum MDTOpcode: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case getattr = 33
    /// Lookup of a name in a directory.
    case getattrName = 34
    case close = 35
    /// Namespace changes; the `MDTReintOpcode` in the record says which.
    case reint = 36
    case connect = 38
    case disconnect = 39
    case getRoot = 40
    case statfs = 41
    case sync = 44
    case getxattr = 49
    case setxattr = 50
    /// Several lookups or getattrs in one request (Lustre 2.16's batched statahead).
    case batch = 63
    case readlink = 0x4d01
    case fid2path = 0x4d02
    /// A page of directory entries from a cookie (hash) on.
    case readdir = 0x4d03
    case listxattr = 0x4d04
    case removexattr = 0x4d05
    /// Sets a directory's default layout or an empty file's layout (`lfs setstripe`).
    case setLayout = 0x4d06
    case ping = 400
    /// `SEQ_QUERY`: a sequence of FIDs for the client to allocate from (Lustre's FID client).
    case seqQuery = 700

    public var description: String {
        switch self {
        case .getattr: "mds_getattr"
        case .getattrName: "mds_getattr_lock"
        case .close: "mds_close"
        case .reint: "mds_reint"
        case .connect: "mds_connect"
        case .disconnect: "mds_disconnect"
        case .getRoot: "mds_get_root"
        case .statfs: "mds_statfs"
        case .sync: "mds_sync"
        case .getxattr: "mds_getxattr"
        case .setxattr: "mds_setxattr"
        case .batch: "mds_batch"
        case .readlink: "mds_readlink"
        case .fid2path: "mds_fid2path"
        case .readdir: "mds_readdir"
        case .listxattr: "mds_listxattr"
        case .removexattr: "mds_removexattr"
        case .setLayout: "mds_setlayout"
        case .ping: "obd_ping"
        case .seqQuery: "seq_query"
        }
    }
}

/// The namespace changes carried by `MDS_REINT` (`enum mds_reint_t`, Lustre's numbers). The
/// sub-opcode is the first 4 bytes of the request record.
public enum MDTReintOpcode: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case setattr = 1
    case create = 2
    case link = 3
    case unlink = 4
    case rename = 5
    case open = 6
    /// Removal of a directory entry that is a directory (rmdir).
    case rmentry = 8

    public var description: String {
        switch self {
        case .setattr: "reint_setattr"
        case .create: "reint_create"
        case .link: "reint_link"
        case .unlink: "reint_unlink"
        case .rename: "reint_rename"
        case .open: "reint_open"
        case .rmentry: "reint_rmentry"
        }
    }
}

/// Caps of the MDT wire records, checked before anything is allocated.
public enum MDTWireLimits {
    /// `NAME_MAX`: longer names are `ENAMETOOLONG`.
    public static let maxNameLength = 255
    /// Longest extended attribute name (`XATTR_NAME_MAX`).
    public static let maxXattrNameLength = 255
    /// Largest extended attribute value (`XATTR_SIZE_MAX`).
    public static let maxXattrValueLength = 64 << 10
    /// Most names a listxattr reply carries.
    public static let maxXattrNames = 4096
    /// Most entries one readdir reply carries.
    public static let maxDirEntries = 4096
    /// Longest path fid2path answers.
    public static let maxPathLength = 64 << 10
    /// Most requests one `MDS_BATCH` carries.
    public static let maxBatchItems = 256
}
