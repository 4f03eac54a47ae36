import Glibc
import LibCFS
import ObdClass

/// An `O_PATH` descriptor of one MDT inode (file, directory, symlink or node), closed when the
/// last holder lets go, so the object index can drop it from its cache while an operation still
/// uses it.
final class MDTInode: Sendable {
    let fd: Int32
    let fid: LustreFID
    /// The `S_IFMT` bits of the inode.
    let type: UInt32

    init(fd: Int32, fid: LustreFID, type: UInt32) {
        self.fd = fd
        self.fid = fid
        self.type = type
    }

    deinit { Glibc.close(fd) }

    var isDirectory: Bool { type == UInt32(S_IFDIR) }
    var isRegular: Bool { type == UInt32(S_IFREG) }
    var isSymlink: Bool { type == UInt32(S_IFLNK) }
    /// Where path-taking calls (xattrs, chmod, utimensat) reach this inode.
    var path: String { MDTSyscalls.procPath(fd) }

    func stat() throws(LustreError) -> Glibc.stat {
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("fstat \(fid)") }
        return st
    }
}
